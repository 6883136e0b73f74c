"""OpenCode's stored records: only the fields the counting rules use (the rest is skipped).

The same shapes are stored two ways (docs/counting.md, "OpenCode"): a SQLite row's `data`
column (the message or part without its `id`/`sessionID`, which are columns) and a legacy
`storage/message/<ses>/<msg>.json` file (the whole record). Times are epoch milliseconds.
"""

from __future__ import annotations

from typing import Any

import msgspec

AGENT = "opencode"


class Cache(msgspec.Struct):
    read: Any = 0  # Any + common.to_int: a float, a string or null never fails a record
    write: Any = 0


class Tokens(msgspec.Struct):
    total: Any = None
    input: Any = 0
    output: Any = 0
    reasoning: Any = 0
    cache: Cache | None = None


class Times(msgspec.Struct):
    created: Any = None
    completed: Any = None


class PathInfo(msgspec.Struct):
    cwd: str | None = None


class ErrorData(msgspec.Struct):
    statusCode: Any = None


class MessageError(msgspec.Struct):
    name: str | None = None
    data: ErrorData | None = None


class Message(msgspec.Struct):
    """An assistant (or user) message: `message.data` or a legacy message file."""

    role: str | None = None
    id: str | None = None  # only in legacy files (a column in the database)
    sessionID: str | None = None
    modelID: str | None = None
    providerID: str | None = None
    agent: str | None = None
    mode: str | None = None
    path: PathInfo | None = None
    time: Times | None = None
    cost: Any = None
    tokens: Tokens | None = None
    error: MessageError | None = None


class Session(msgspec.Struct):
    """A legacy `storage/session/<project>/<ses>.json` (the database has columns instead)."""

    id: str | None = None
    parentID: str | None = None
    version: str | None = None
    directory: str | None = None


class ToolTime(msgspec.Struct):
    start: Any = None
    end: Any = None


class ToolState(msgspec.Struct):
    status: Any = None
    time: ToolTime | None = None
    error: Any = None  # read only to classify (see record.rejected); never kept


class Part(msgspec.Struct):
    """A legacy `storage/part/<msg>/<prt>.json`: `tool`, `retry` and `step-finish` are used."""

    type: str | None = None
    id: str | None = None
    callID: str | None = None
    tool: str | None = None
    state: ToolState | None = None
    error: MessageError | None = None  # a retry part's APIError
    time: Times | None = None
    tokens: Tokens | None = None  # a step-finish part's
    cost: Any = None


class PartType(msgspec.Struct):
    type: Any = None


decode_message = msgspec.json.Decoder(Message).decode
decode_session = msgspec.json.Decoder(Session).decode
decode_part = msgspec.json.Decoder(Part).decode
decode_part_type = msgspec.json.Decoder(PartType).decode
