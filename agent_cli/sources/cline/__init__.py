"""Cline, Roo Code and Kilo Code: one package, one `Source` per agent (extension id).

Classic tasks (Cline <= 4.0.1, Roo Code, Kilo Code <= 5): `<editor>/User/globalStorage/
<extension id>/tasks/<task id>/ui_messages.json` for every VS Code fork and OS (`discover`),
one JSON array rewritten whole. Cline >= 4.1 (extension and CLI) writes SDK sessions,
`~/.cline/data/sessions/<id>/<id>.messages.json`, also rewritten whole.

Counting rules (docs/counting.md):
- one llm_call per `say: api_req_started` with counts (placeholders wait for the rewrite that
  fills them); the oldest Cline's `api_req_finished` counts belong to the start before it;
  the id is task id + the message's `ts`, never a position;
- `tokensIn` is mapped per agent and date (`tokens`): the uncached part, or the whole prompt
  with cacheReads and cacheWrites split out; output = tokensOut (reasoning not recorded apart);
- cost: the recorded `cost` (Cline's or the provider's figure) -> `cost_source` "agent";
- a restore's `deleted_api_reqs` / `api_req_deleted`: only the part not already counted, as
  one `session_delta`;
  Cline's `subagent_usage` batch: one `session_delta`, is_subagent; Roo/Kilo
  `condense_context`: a call with only its cost;
- model: the message's `modelInfo`, else the model stamped before the next request
  (`task_metadata.json`, or `<model>` in Roo/Kilo prompts); cwd: `taskHistory.json` (Cline) or
  `history_item.json` (Roo/Kilo), which also gives a subtask's parent;
- SDK sessions: one call per assistant message with `metrics` (inputTokens includes the
  cache), id = message id + ts (a fork's copied history counts once); tool calls from
  `tool_use` / `tool_result` blocks.
Only usage fields are decoded: `request` (the prompt), texts, tool inputs and results never are.
"""

from agent_cli.sources.cline.source import Cline, ClineFamily, KiloCode, RooCode

__all__ = ["Cline", "ClineFamily", "KiloCode", "RooCode"]
