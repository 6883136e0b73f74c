"""Codex CLI: `sessions/**/rollout-*.jsonl` and `archived_sessions/` under $CODEX_HOME or ~/.codex.

Counting rules (DESIGN.md, research/other-formats.md §1.5, docs/counting.md):
- a call is a `token_count` event whose cumulative `info.total_token_usage` grew; its usage
  is the growth. Repeats (about half of all token_counts) and `info: null` are not calls; a
  counter that goes backwards falls back to `last_token_usage`;
- a forked or subagent file first replays its parent: the first session_meta is the file's
  own, and the token_counts before the file's own first turn_context (or in the replay burst
  stamped within a second of that session_meta) only set the baseline;
- cached input is part of input, reasoning part of output;
- tool calls are `function_call` / `custom_tool_call` / `local_shell_call` items matched to
  their outputs by call_id; `exec_command_end` and `patch_apply_end` refine the status.

Event ids: the natural key of a call is the token_count line's timestamp plus the cumulative
total after the growth (all six fields), without the thread id. Byte-identical copies (the
same rollout in sessions/ and archived_sessions/, a .jsonl.zst of it) and branch copies that
keep the parent's lines with their original timestamps get the same ids and count once; a
subagent replay, which re-stamps the lines, never emits (baseline). Tool ids are the call_id.

Only the fields named in the structs of `format` are decoded: messages, reasoning, arguments
and outputs are skipped by the decoder (an output's first and last bytes are searched for an
exit code, and nothing of it is kept).

Modules: `format` (the structs and record kinds), `reader` (calls: the counting rules and
state), `tools` (tool calls and their status), `discover` (where and in what order),
`source` (the `Source`, and `.jsonl.zst` rollouts read whole).
"""

from __future__ import annotations

from agent_cli.sources.codex.discover import root
from agent_cli.sources.codex.format import AGENT
from agent_cli.sources.codex.reader import CodexReader
from agent_cli.sources.codex.source import Codex
from agent_cli.sources.codex.tools import _MAX_PENDING_TOOLS, tool_status

__all__ = ["AGENT", "_MAX_PENDING_TOOLS", "Codex", "CodexReader", "root", "tool_status"]
