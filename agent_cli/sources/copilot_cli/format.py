"""The Copilot CLI event line, as msgspec structs naming only the fields the counting rules use.

`session-state/<id>/events.jsonl`: one `{type, data, id, parentId, timestamp, agentId?}` per
line (github/copilot-sdk `nodejs/src/generated/session-events.ts`). Content, tool arguments
and results, error messages and file lists are skipped by the decoder, never built.
"""

from __future__ import annotations

from typing import Any

import msgspec

AGENT = "copilot-cli"  # the `agent` of every event, and the registry key
NO_RAW = msgspec.Raw(b"")


class WorkContext(msgspec.Struct):
    cwd: str | None = None
    branch: str | None = None


class ToolError(msgspec.Struct):
    code: Any = None


class Requests(msgspec.Struct):
    count: Any = None
    cost: Any = None


class ModelUsage(msgspec.Struct):
    inputTokens: Any = 0  # includes both cache buckets
    outputTokens: Any = 0
    cacheReadTokens: Any = 0
    cacheWriteTokens: Any = 0
    reasoningTokens: Any = 0


class ModelMetric(msgspec.Struct):
    requests: Requests | None = None
    usage: ModelUsage | None = None
    totalNanoAiu: Any = None


class Data(msgspec.Struct):
    sessionId: str | None = None
    copilotVersion: str | None = None
    context: WorkContext | None = None
    newModel: str | None = None
    model: str | None = None
    outputTokens: Any = None
    toolCallId: str | None = None
    toolName: str | None = None
    success: Any = None
    error: msgspec.Raw = NO_RAW  # only a failed tool's `code` is ever looked at
    errorType: str | None = None
    statusCode: Any = None
    modelMetrics: dict[str, ModelMetric | None] | None = None


class Event(msgspec.Struct):
    type: str | None = None
    id: str | None = None
    timestamp: str | None = None
    agentId: str | None = None
    data: Data | None = None


decode = msgspec.json.Decoder(Event).decode
decode_error = msgspec.json.Decoder(ToolError | None).decode
