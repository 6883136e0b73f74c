"""The Claude Code line, as msgspec structs that name only the fields the counting rules use.

Everything else (prompts, thinking, tool input and output, `progress` payloads,
`toolUseResult`) is skipped by the decoder, never built.
"""

from __future__ import annotations

from typing import Any

import msgspec

AGENT = "claude-code"  # the `agent` of every event, and the registry key
NO_RAW = msgspec.Raw(b"")


class Block(msgspec.Struct):
    type: str = ""
    id: str | None = None
    name: str | None = None
    tool_use_id: str | None = None
    is_error: bool | None = None
    content: msgspec.Raw = NO_RAW
    text: msgspec.Raw = NO_RAW


class Message(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    stop_reason: str | None = None
    usage: dict[str, Any] | None = None
    content: list[Block] | str | None = None


class LooseMessage(Message):
    """Fallback when `content` has a shape no version wrote so far: kept undecoded."""

    content: msgspec.Raw = NO_RAW  # type: ignore[assignment]


class Line(msgspec.Struct):
    type: str | None = None
    uuid: str | None = None
    parentUuid: str | None = None
    sessionId: str | None = None
    timestamp: str | None = None
    requestId: str | None = None
    cwd: str | None = None
    gitBranch: str | None = None
    version: str | None = None
    isSidechain: bool | None = None
    agentId: str | None = None
    isMeta: bool | None = None
    isCompactSummary: bool | None = None
    isApiErrorMessage: bool | None = None
    error: msgspec.Raw = NO_RAW
    apiErrorStatus: int | None = None
    apiError: msgspec.Raw = NO_RAW
    subtype: str | None = None
    message: Message | None = None


class LooseLine(Line):
    message: LooseMessage | None = None


decode_strict = msgspec.json.Decoder(Line).decode
decode_loose = msgspec.json.Decoder(LooseLine).decode
decode_blocks = msgspec.json.Decoder(list[Block] | str | None).decode
decode_any = msgspec.json.decode
encode = msgspec.json.encode
