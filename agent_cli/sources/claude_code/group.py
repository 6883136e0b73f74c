"""One API response assembled from its lines, and its form in the reader's persisted state.

`to_json` / `from_json` are the stored format (a positional list, in the spool's cursor
state): the order of the fields must not change, or stored states stop loading.
"""

from __future__ import annotations

from typing import Any

from agent_cli.events import Context, Usage


class Group:
    """The lines of one API response seen so far in this file."""

    __slots__ = (
        "agent_id",
        "alias",
        "call_index",
        "ctx",
        "eid",
        "final",
        "first_parent",
        "is_side",
        "key",
        "last_ts",
        "model",
        "rank",
        "session",
        "speed",
        "stop",
        "ts",
        "turn",
        "usage",
    )
    agent_id: str | None
    alias: str | None
    call_index: int
    ctx: Context
    eid: str
    final: bool
    first_parent: str | None  # timestamp of the record the response answers
    is_side: bool
    key: tuple[str, ...]
    last_ts: str
    model: str | None
    rank: int
    session: str | None
    speed: str | None
    stop: str | None
    ts: str
    turn: int
    usage: Usage

    def to_json(self) -> list[Any]:
        u = self.usage
        c = self.ctx
        return [
            self.eid,
            self.alias,
            self.is_side,
            self.agent_id,
            self.session,
            self.model,
            [
                u.input_tokens,
                u.output_tokens,
                u.cache_read_tokens,
                u.cache_creation_tokens,
                u.cache_creation_1h_tokens,
            ],
            self.rank,
            self.ts,
            self.final,
            self.first_parent,
            self.last_ts,
            [c.cwd, c.git_branch, c.agent_version],
            self.speed,
            self.turn,
            self.call_index,
            self.stop,
            list(self.key),
        ]

    @classmethod
    def from_json(cls, v: list[Any]) -> Group:
        g = cls()
        (
            g.eid,
            g.alias,
            g.is_side,
            g.agent_id,
            g.session,
            g.model,
            u,
            g.rank,
            g.ts,
            g.final,
            g.first_parent,
            g.last_ts,
            c,
            g.speed,
            g.turn,
            g.call_index,
            g.stop,
            key,
        ) = v
        g.key = tuple(key)
        g.usage = Usage(u[0], u[1], u[2], u[3], u[4], 0)
        g.ctx = Context(cwd=c[0], git_branch=c[1], agent_version=c[2])
        return g
