"""The Qwen Code chat record, as msgspec structs naming only the fields the counting rules use.

`projects/<sanitized cwd>/chats/<sessionId>.jsonl`: one `ChatRecord` per line (QwenLM/qwen-code
`packages/core/src/services/chatRecordingService.ts`). The message content, tool arguments
and results, and system payloads are skipped by the decoder, never built; an assistant
message's parts and a `ui_telemetry` payload are decoded lazily for function-call ids and API
errors only.
"""

from __future__ import annotations

from typing import Any

import msgspec

AGENT = "qwen-code"  # the `agent` of every event, and the registry key
NO_RAW = msgspec.Raw(b"")


class UsageMetadata(msgspec.Struct):
    promptTokenCount: Any = 0  # includes the cached part
    candidatesTokenCount: Any = 0
    cachedContentTokenCount: Any = 0
    thoughtsTokenCount: Any = 0
    toolUsePromptTokenCount: Any = 0
    totalTokenCount: Any = 0


class ForkedFrom(msgspec.Struct):
    sessionId: str | None = None
    messageUuid: str | None = None


class ToolCallResult(msgspec.Struct):
    callId: str | None = None
    status: str | None = None
    errorType: str | None = None


class Record(msgspec.Struct):
    uuid: str | None = None
    sessionId: str | None = None
    timestamp: str | None = None
    type: str | None = None
    subtype: str | None = None
    provenance: str | None = None
    cwd: str | None = None
    version: str | None = None
    gitBranch: str | None = None
    model: str | None = None
    usageMetadata: UsageMetadata | None = None
    message: msgspec.Raw = NO_RAW
    toolCallResult: ToolCallResult | None = None
    systemPayload: msgspec.Raw = NO_RAW
    agentId: str | None = None
    isSidechain: bool | None = None
    forkedFrom: ForkedFrom | None = None


class FunctionCall(msgspec.Struct):
    id: str | None = None
    name: str | None = None


class Part(msgspec.Struct):
    functionCall: FunctionCall | None = None


class Content(msgspec.Struct):
    parts: list[Part] | None = None


class UiEvent(msgspec.Struct):
    name: str | None = msgspec.field(default=None, name="event.name")
    model: str | None = None
    status_code: Any = None
    error_type: str | None = None


class UiPayload(msgspec.Struct):
    uiEvent: UiEvent | None = None


decode = msgspec.json.Decoder(Record).decode
decode_content = msgspec.json.Decoder(Content).decode
decode_ui = msgspec.json.Decoder(UiPayload).decode
