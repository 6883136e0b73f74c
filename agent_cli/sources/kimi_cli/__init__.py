"""Kimi CLI: `sessions/<workdir md5>/<session>/wire.jsonl` (and `subagents/<id>/wire.jsonl`)
under $KIMI_SHARE_DIR or ~/.kimi.

Counting rules (docs/counting.md, "Kimi CLI"):
- a call is a `StatusUpdate` record with `token_usage` (one per LLM step, written after
  the step): `input_other` is uncached input, `input_cache_read`, `input_cache_creation`,
  `output` (reasoning inside, not split out); kosong's Gemini adapter stores the prompt
  count, cache inside, as `input_other`, which is corrected when the model's provider is
  Gemini/Vertex;
- the model is not in the wire file: it is resolved from the share folder's config when
  the file is read (`share`), so it can be wrong (docs/counting.md says when);
- a `StepRetry` is a failed attempt: an error event with no tokens, the code from its HTTP
  status and exception class; no cost is recorded (genai-prices prices the tokens);
- a subagent's records are in its own file and, wrapped in `SubagentEvent`, in its
  parent's: both give the same ids (the response's `message_id` and the usage), so a call
  counts once; without a `message_id` the copy is skipped when the subagent's file exists;
- tools: `ToolCall` matched by id to `ToolResult` (`return_value.is_error`), claimed by
  the step's `StatusUpdate`; latency from the call record to the result record.

Event ids have no session id in them: a fork (`session_fork`) copies records verbatim
into a new session, and its calls count once.
"""

from agent_cli.sources.kimi_cli.discover import share_dir
from agent_cli.sources.kimi_cli.format import AGENT
from agent_cli.sources.kimi_cli.reader import KimiReader
from agent_cli.sources.kimi_cli.source import KimiCli

__all__ = ["AGENT", "KimiCli", "KimiReader", "share_dir"]
