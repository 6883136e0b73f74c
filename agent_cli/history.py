"""The local history: a compact copy of every event the spool queued, for `report`.

One row per event (table `history`, keyed by the ledger key), written in the transaction that
queues the event in the outbox; a revision replaces its earlier row. Rows are built from the
queued body itself, the allow-listed event, so nothing the contract leaves out can get in.
Strings are interned (table `hnames`): a row is integers, about 120 bytes with its index.
Delivery never deletes a row, nor does a transcript that disappears; only the retention
setting does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import msgspec

from agent_cli.ledger import key_of
from agent_cli.sources.common import ms

# Schema of the step that adds the history (`migrations`); kept here beside its writer.
TABLES = (
    "CREATE TABLE hnames(id INTEGER PRIMARY KEY, s TEXT NOT NULL UNIQUE)",
    """CREATE TABLE history(
    ekey INTEGER PRIMARY KEY, revision INTEGER NOT NULL, kind INTEGER NOT NULL,
    ts INTEGER NOT NULL, agent INTEGER, agent_version INTEGER, session INTEGER,
    parent_session INTEGER, agent_id INTEGER, is_subagent INTEGER, turn_index INTEGER,
    call_index INTEGER, provider INTEGER, model INTEGER, input INTEGER, output INTEGER,
    cache_read INTEGER, cache_creation INTEGER, cache_1h INTEGER, reasoning INTEGER,
    output_final INTEGER, cost_usd REAL, cost_source INTEGER, granularity INTEGER,
    billed_quantity REAL, billed_unit INTEGER, duration_ms INTEGER, status INTEGER,
    error_code INTEGER, repo_path INTEGER, repo_name INTEGER, git_branch INTEGER,
    host INTEGER, user INTEGER, call_key INTEGER, tool_name INTEGER)""",
    "CREATE INDEX history_ts ON history(ts)",
)
LLM, TOOL = 0, 1
COLUMNS = (
    "ekey", "revision", "kind", "ts", "agent", "agent_version", "session", "parent_session",
    "agent_id", "is_subagent", "turn_index", "call_index", "provider", "model", "input",
    "output", "cache_read", "cache_creation", "cache_1h", "reasoning", "output_final",
    "cost_usd", "cost_source", "granularity", "billed_quantity", "billed_unit", "duration_ms",
    "status", "error_code", "repo_path", "repo_name", "git_branch", "host", "user",
    "call_key", "tool_name",
)  # fmt: skip
_INSERT = (
    f"INSERT OR REPLACE INTO history({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)
_NAMES_MAX = 100_000  # interned strings cached in memory; past it the cache starts again


class _Event(msgspec.Struct):
    """The fields of an event the history keeps (both kinds; absent ones stay None)."""

    kind: str
    timestamp: str
    revision: int = 0
    agent: str | None = None
    agent_version: str | None = None
    session_id: str | None = None
    parent_session_id: str | None = None
    agent_id: str | None = None
    is_subagent: bool | None = None
    turn_index: int | None = None
    call_index: int | None = None
    provider: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    cache_creation_1h_tokens: int | None = None
    reasoning_tokens: int | None = None
    output_final: bool | None = None
    cost_usd: float | None = None
    cost_source: str | None = None
    granularity: str | None = None
    billed_quantity: float | None = None
    billed_unit: str | None = None
    duration_ms: int | None = None
    status: str | None = None
    error_code: str | None = None
    repo_path: str | None = None
    repo_name: str | None = None
    git_branch: str | None = None
    host: str | None = None
    user: str | None = None
    call_event_id: str | None = None
    tool_name: str | None = None


_decode = msgspec.json.Decoder(_Event).decode


class HistoryWriter:
    """Turns queued events into history rows, in the caller's transaction.

    The interned-name cache may hold ids a rolled-back transaction created: `forget()` after
    a rollback (the spool does, with the rest of a voided group).
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._names: dict[str, int] = {}

    def forget(self) -> None:
        self._names.clear()

    def name(self, s: str | None) -> int | None:
        """The id of an interned string (created on first use); None stays None."""
        if s is None:
            return None
        got = self._names.get(s)
        if got is not None:
            return got
        if len(self._names) >= _NAMES_MAX:
            self._names.clear()
        row = self.db.execute("SELECT id FROM hnames WHERE s = ?", (s,)).fetchone()
        got = row[0] if row else self.db.execute("INSERT INTO hnames(s) VALUES (?)", (s,)).lastrowid
        assert got is not None
        self._names[s] = got
        return got

    def add(self, events: Iterable[tuple[int, bytes]]) -> int:
        """Write (ledger key, encoded event) pairs; a later revision replaces the row.

        An event whose body does not decode or whose timestamp does not parse is left out
        (the preparer already refused those); returns the rows written."""
        rows = [r for r in (self._row(key, body) for key, body in events) if r is not None]
        self.db.executemany(_INSERT, rows)
        return len(rows)

    def _row(self, key: int, body: bytes) -> tuple[Any, ...] | None:
        try:
            e = _decode(body)
        except msgspec.DecodeError:
            return None
        ts = ms(e.timestamp)
        if ts is None:
            return None
        call = key_of(e.call_event_id) if e.call_event_id else None
        # The strings interned in this order (first use assigns ids): a cached one costs a
        # dict lookup here, not a call of `name` (18 a row, once per event of a backfill).
        get, name = self._names.get, self.name
        i = [
            None if v is None else (got if (got := get(v)) is not None else name(v))
            for v in (e.agent, e.agent_version, e.session_id, e.parent_session_id, e.agent_id,
                      e.provider, e.model, e.cost_source, e.granularity, e.billed_unit,
                      e.status, e.error_code, e.repo_path, e.repo_name, e.git_branch, e.host,
                      e.user, e.tool_name)
        ]  # fmt: skip
        return (
            key, e.revision, TOOL if e.kind == "tool_call" else LLM, ts, i[0], i[1], i[2], i[3],
            i[4], e.is_subagent, e.turn_index, e.call_index, i[5], i[6], e.input_tokens,
            e.output_tokens, e.cache_read_tokens, e.cache_creation_tokens,
            e.cache_creation_1h_tokens, e.reasoning_tokens, e.output_final, e.cost_usd, i[7],
            i[8], e.billed_quantity, i[9], e.duration_ms, i[10], i[11], i[12], i[13], i[14],
            i[15], i[16], call, i[17],
        )  # fmt: skip


def create(db: sqlite3.Connection) -> None:
    """The migration step: the tables, then the events still in the outbox copied in.

    Events an older spool already delivered are gone from it and cannot be copied; the time
    of the upgrade is kept (meta `history_from`) so `report` can say where the history starts.
    """
    for statement in TABLES:
        db.execute(statement)
    writer = HistoryWriter(db)
    batch: list[tuple[int, bytes]] = []
    for ekey, body in db.execute("SELECT ekey, body FROM outbox ORDER BY id"):
        batch.append((ekey, body))
        if len(batch) >= 5000:
            writer.add(batch)
            batch.clear()
    writer.add(batch)
    if db.execute("SELECT 1 FROM calls LIMIT 1").fetchone() is not None:
        import time

        db.execute(
            "INSERT OR REPLACE INTO meta(k, v) VALUES ('history_from', ?)", (str(time.time()),)
        )


def prune(db: sqlite3.Connection, keep_days: int | None, now_ms: int) -> int:
    """Delete history rows older than `keep_days` (None: keep everything); return how many."""
    if keep_days is None:
        return 0
    cutoff = now_ms - keep_days * 86_400_000
    return db.execute("DELETE FROM history WHERE ts < ?", (cutoff,)).rowcount


def names(db: sqlite3.Connection) -> dict[int, str]:
    """Every interned string by id (for a reader)."""
    return dict(db.execute("SELECT id, s FROM hnames"))


def has_history(db: sqlite3.Connection) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'history'")
    return row.fetchone() is not None
