"""The pi session line: msgspec structs naming only the fields the counting rules use.

A line is one entry of the session tree (`type`, `id`, `parentId`, `timestamp`); the first
is the `session` header. Message text, thinking, tool arguments and results are never
named, so the decoder skips them without building them.
"""

from __future__ import annotations

from typing import Any

import msgspec

AGENT = "pi"  # the `agent` of every event, and the registry key
NO_RAW = msgspec.Raw(b"")


class Usage(msgspec.Struct):
    input: Any = 0
    output: Any = 0
    cacheRead: Any = 0  # the agent's own field names
    cacheWrite: Any = 0
    cacheWrite1h: Any = 0
    reasoning: Any = 0
    totalTokens: Any = 0
    cost: Any = None  # {input, output, cacheRead, cacheWrite, total}: only `total` is read


class Part(msgspec.Struct):
    """A content block: only a toolCall's id and name are read."""

    type: str | None = None
    id: str | None = None
    name: str | None = None


class Message(msgspec.Struct):
    role: str | None = None
    api: str | None = None
    provider: str | None = None
    model: str | None = None
    responseModel: str | None = None
    responseId: str | None = None
    usage: Usage | None = None
    stopReason: str | None = None
    errorMessage: Any = None  # classified, never kept
    timestamp: Any = None  # Unix ms: when the request started (assistant), or was made
    content: msgspec.Raw = NO_RAW  # decoded only for an assistant's toolCall blocks
    toolCallId: str | None = None
    toolName: str | None = None
    isError: Any = None


class Entry(msgspec.Struct):
    type: str | None = None
    id: str | None = None
    timestamp: str | None = None
    # the session header
    version: Any = None
    cwd: str | None = None
    parentSession: str | None = None  # a path: only its file name's uuid is kept
    # model_change
    provider: str | None = None
    modelId: str | None = None
    # message
    message: Message | None = None


decode = msgspec.json.Decoder(Entry).decode
decode_parts = msgspec.json.Decoder(list[Part]).decode
