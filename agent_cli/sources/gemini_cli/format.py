"""The Gemini CLI session, as msgspec structs that name only the fields the counting rules use.

Two generations: `session-*.json` (one `Session`, rewritten whole) and `*.jsonl` (v0.39+,
one `Line` each: metadata, a message, `{"$set": …}` or `{"$rewindTo": id}`). Content,
thoughts, tool args and results are skipped by the decoder, never built.
"""

from __future__ import annotations

from typing import Any

import msgspec

AGENT = "gemini-cli"  # the `agent` of every event, and the registry key
PROVIDER = "google"
NO_RAW = msgspec.Raw(b"")


class Tokens(msgspec.Struct):
    input: Any = 0
    output: Any = 0
    cached: Any = 0
    thoughts: Any = 0
    tool: Any = 0
    total: Any = 0


class ToolCall(msgspec.Struct):
    id: str | None = None
    name: str | None = None
    status: str | None = None
    timestamp: str | None = None


class Msg(msgspec.Struct):
    id: str | None = None
    type: str | None = None
    timestamp: str | None = None
    model: str | None = None
    tokens: Tokens | None = None
    toolCalls: msgspec.Raw = NO_RAW
    content: msgspec.Raw = NO_RAW  # only an error message's head is ever looked at


class Meta(msgspec.Struct):
    sessionId: str | None = None
    projectHash: str | None = None
    kind: str | None = None
    directories: list[str] | None = None


class Line(Msg):
    """A JSONL line: metadata, a message, or a `$set` / `$rewindTo` record."""

    sessionId: str | None = None
    projectHash: str | None = None
    kind: str | None = None
    directories: list[str] | None = None
    set_: Meta | None = msgspec.field(default=None, name="$set")
    rewind: msgspec.Raw = msgspec.field(default=NO_RAW, name="$rewindTo")


class Session(msgspec.Struct):
    sessionId: str | None = None
    projectHash: str | None = None
    kind: str | None = None
    directories: list[str] | None = None
    messages: list[Msg] | None = None


dec_line = msgspec.json.Decoder(Line).decode
dec_session = msgspec.json.Decoder(Session).decode
dec_tools = msgspec.json.Decoder(list[ToolCall] | None).decode
decode_any = msgspec.json.decode
encode = msgspec.json.encode

CALL_TYPES = ("gemini", "model")
KNOWN_TYPES = ("user", "info", "warning", "error", *CALL_TYPES)
