"""Claude Code: `projects/**/*.jsonl` under $CLAUDE_CONFIG_DIR, ~/.config/claude, ~/.claude.

Counting rules (DESIGN.md, research/claude-format.md §3.4, docs/counting.md):
- only top-level `type == "assistant"` lines with `message.usage` are calls; one response is
  several lines sharing `message.id` + `requestId` (the id alone without a request id): keep
  the line with the largest usage, its stop_reason says whether output is final;
- `progress` payloads and `toolUseResult.usage` are never decoded, so never counted;
- `<synthetic>` lines with `isApiErrorMessage` are failed calls: status error, zero tokens;
- tool_use blocks are matched to tool_result blocks by id and become tool calls;
- sidechain lines are subagent calls; `/btw` replays (a sidechain line reusing a parent's
  message id with another request id) are dropped by the pipeline's ledger via `alias`.

Modules: `format` (the structs), `reader` (the counting rules and state), `group` (an open
response and its stored form), `errors` (error codes), `discover` (where and in what order),
`source` (the `Source`).
"""

from __future__ import annotations

from agent_cli.sources.claude_code.discover import roots
from agent_cli.sources.claude_code.errors import classify_api_error, classify_tool_error
from agent_cli.sources.claude_code.format import AGENT
from agent_cli.sources.claude_code.reader import ClaudeReader
from agent_cli.sources.claude_code.source import ClaudeCode

__all__ = [
    "AGENT",
    "ClaudeCode",
    "ClaudeReader",
    "classify_api_error",
    "classify_tool_error",
    "roots",
]
