"""The Grok Build line (`sessions/**/updates.jsonl`): only the fields the counting rules use.

A line is an ACP notification: `{"timestamp", "method", "params": {"sessionId", "update":
{"sessionUpdate", ...}, "_meta": {"eventId", "agentTimestampMs"}}}`. Usage rides on
`sessionUpdate == "turn_completed"` (one turn, `usage.modelUsage` per billed model); tool calls
on `tool_call` / `tool_call_update`. Message chunks, tool inputs and outputs are skipped by the
decoder, never built.
"""

from __future__ import annotations

from typing import Any

import msgspec

AGENT = "grok-build"
PROVIDER = "xai"
TICKS_PER_USD = 10_000_000_000  # costUsdTicks: 1e10 ticks = $1


class ModelRow(msgspec.Struct):
    inputTokens: Any = 0
    outputTokens: Any = 0
    cachedReadTokens: Any = 0
    cacheCreationTokens: Any = 0
    reasoningTokens: Any = 0
    totalTokens: Any = None
    modelCalls: Any = None
    apiDurationMs: Any = None
    costUsdTicks: Any = None
    costIsPartial: Any = None


class TurnUsage(ModelRow):
    modelUsage: dict[str, ModelRow] | None = None
    usageIsIncomplete: Any = None


class Update(msgspec.Struct):
    sessionUpdate: str | None = None
    usage: TurnUsage | None = None
    prompt_id: str | None = None
    stop_reason: str | None = None
    toolCallId: str | None = None
    tool_call_id: str | None = None
    status: str | None = None
    kind: str | None = None


class Meta(msgspec.Struct):
    eventId: str | None = None
    agentTimestampMs: Any = None


class Params(msgspec.Struct):
    sessionId: str | None = None
    update: Update | None = None
    meta: Meta | None = msgspec.field(default=None, name="_meta")


class Line(msgspec.Struct):
    timestamp: Any = None
    method: str | None = None
    params: Params | None = None


class SummaryInfo(msgspec.Struct):
    cwd: str | None = None


class Summary(msgspec.Struct):
    info: SummaryInfo | None = None
    git_root_dir: str | None = None
    head_branch: str | None = None
    current_model_id: str | None = None
    parent_session_id: str | None = None


class SubagentMeta(msgspec.Struct):
    child_session_id: str | None = None


dec_line = msgspec.json.Decoder(Line).decode
dec_summary = msgspec.json.Decoder(Summary).decode
dec_subagent = msgspec.json.Decoder(SubagentMeta).decode
encode = msgspec.json.encode
