"""One message's last record in a file, and its form in the JSONL reader's persisted state.

`to_json` / `from_json` are the stored format (a positional list, in the spool's cursor
state): the order of the fields must not change, or stored states stop loading.
"""

from __future__ import annotations

from typing import Any


class Record:
    """One message's last record in a file, in a JSON-able form."""

    __slots__ = (
        "call_index",
        "dur",
        "err",
        "id",
        "model",
        "session",
        "tokens",
        "tools",
        "ts",
        "turn",
        "type",
    )
    call_index: int | None
    dur: int | None
    err: str | None
    id: str
    model: str | None
    session: str | None
    tokens: list[int] | None
    tools: list[list[Any]]
    ts: str | None
    turn: int
    type: str

    def to_json(self) -> list[Any]:
        return [
            self.id,
            self.session,
            self.type,
            self.ts,
            self.model,
            self.tokens,
            self.tools,
            self.call_index,
            self.turn,
            self.dur,
            self.err,
        ]

    @classmethod
    def from_json(cls, v: list[Any]) -> Record:
        r = cls()
        (
            r.id,
            r.session,
            r.type,
            r.ts,
            r.model,
            r.tokens,
            r.tools,
            r.call_index,
            r.turn,
            r.dur,
            r.err,
        ) = v
        return r
