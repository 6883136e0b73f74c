"""The Kimi CLI wire line: msgspec structs naming only the fields the counting rules use.

Kimi Code (MoonshotAI/kimi-code, the TypeScript successor) writes flat records instead:
`{"type": "usage.record", "model": ..., "usage": {...}, "usageScope": ..., "time": <ms>}`.

`wire.jsonl` starts with `{"type": "metadata", "protocol_version": ...}`; every other line is
`{"timestamp": <epoch seconds>, "message": {"type": <WireMessage class>, "payload": {...}}}`.
User input, content parts, tool arguments and outputs are never named: the decoder skips
them (a tool result's `message`, one explanatory sentence, is classified and dropped).
"""

from __future__ import annotations

from typing import Any

import msgspec

AGENT = "kimi-cli"  # the `agent` of every event, and the registry key
NO_RAW = msgspec.Raw(b"")


class TokenUsage(msgspec.Struct):
    input_other: Any = 0
    output: Any = 0
    input_cache_read: Any = 0
    input_cache_creation: Any = 0


class CodeUsage(msgspec.Struct):
    """Kimi Code's TokenUsage (packages/kosong/src/usage.ts): the same four counts."""

    inputOther: Any = 0  # the agent's own field names
    output: Any = 0
    inputCacheRead: Any = 0
    inputCacheCreation: Any = 0


class Envelope(msgspec.Struct):
    type: str | None = None
    payload: msgspec.Raw = NO_RAW


class Record(msgspec.Struct):
    type: str | None = None  # "metadata" on the header line; Kimi Code: the record type
    protocol_version: str | None = None
    timestamp: Any = None
    message: Envelope | None = None
    # Kimi Code (`{"type": "usage.record", "model", "usage", "usageScope", "time"}`)
    model: str | None = None
    usage: CodeUsage | None = None
    usageScope: str | None = None
    time: Any = None  # epoch ms


class Status(msgspec.Struct):
    token_usage: TokenUsage | None = None
    message_id: str | None = None


class Retry(msgspec.Struct):
    n: Any = None
    next_attempt: Any = None
    error_type: str | None = None
    status_code: Any = None


class Function(msgspec.Struct):
    name: str | None = None


class ToolCall(msgspec.Struct):
    id: str | None = None
    function: Function | None = None


class ReturnValue(msgspec.Struct):
    is_error: Any = None
    message: str | None = None  # classified, never kept


class ToolResult(msgspec.Struct):
    tool_call_id: str | None = None
    return_value: ReturnValue | None = None


class Subagent(msgspec.Struct):
    agent_id: str | None = None
    event: Envelope | None = None


dec_record = msgspec.json.Decoder(Record).decode
dec_status = msgspec.json.Decoder(Status).decode
dec_retry = msgspec.json.Decoder(Retry).decode
dec_call = msgspec.json.Decoder(ToolCall).decode
dec_result = msgspec.json.Decoder(ToolResult).decode
dec_sub = msgspec.json.Decoder(Subagent).decode
decode_any = msgspec.json.decode
