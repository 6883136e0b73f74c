"""Read OpenCode's SQLite database read-only, safely while OpenCode writes it.

The database is opened with `mode=ro` (never written, never locked for writing; OpenCode
runs it in WAL mode, so a reader sees a consistent snapshot without blocking the writer).
Rows are not appended lines, so the cursor's state is a high-water mark: the largest
`message.time_updated` read (OpenCode bumps it on every update), plus the ids of messages
that were still in progress. A re-read asks for rows updated at or after the mark and for
those open ids; a message whose tokens grew comes back with a higher rank (a revision), one
that did not is a duplicate the ledger drops. A busy or unreadable database is counted and
left for the next scan: the cursor does not move.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from agent_cli.cursor import Cursor
from agent_cli.sources.decode import decode_state
from agent_cli.sources.opencode.format import (
    Cache,
    ErrorData,
    Message,
    MessageError,
    Tokens,
    decode_message,
)
from agent_cli.sources.opencode.record import SessionMeta, ToolRow, pending
from agent_cli.sources.opencode.steps import PartRow, message_facts

CHUNK_ROWS = 2000
MAX_OPEN = 1000  # open (in-progress) messages remembered; more is a crash-looping agent
BUSY_MS = 2000  # wait this long for a lock (a checkpoint, a migration), then try later


Row = tuple[str, str, Message, tuple[int, int]]  # message id, session id, message, indexes


class State(msgspec.Struct):
    """What the cursor keeps between scans (add keys with defaults, never rename)."""

    hw: int = 0  # the largest message.time_updated read
    open: list[str] = msgspec.field(default_factory=list)


_decode_state = msgspec.json.Decoder(State).decode

# A row's JSON as SQLite may read it: a damaged value is an empty object (counted in Python),
# never an error that would fail the whole query.
_J = "(CASE WHEN json_valid(data) THEN data ELSE '{}' END)"

# Sessions touched since the mark, their messages in order (for turn and call indexes), and
# of those the assistant messages updated since the mark or still open.
_MESSAGES = """
WITH want AS (
  SELECT id, session_id FROM message
  WHERE time_updated >= :hw OR id IN (SELECT value FROM json_each(:open))
), ordered AS (
  SELECT id, session_id, time_updated, data, json_extract(J, '$.role') AS role,
    SUM(json_extract(J, '$.role') = 'user') OVER w AS turns,
    SUM(json_extract(J, '$.role') = 'assistant') OVER w AS calls
  FROM message WHERE session_id IN (SELECT session_id FROM want)
  WINDOW w AS (PARTITION BY session_id ORDER BY time_created, id ROWS UNBOUNDED PRECEDING)
)
SELECT id, session_id, time_updated, data, turns, calls FROM ordered
WHERE (role = 'assistant' OR NOT json_valid(data)) AND id IN (SELECT id FROM want)
ORDER BY time_updated, id
""".replace("J", _J)

# The tool, retry and step-finish parts of a batch of messages. Only usage fields are
# extracted, in SQL (a tool's input and output never reach Python): a tool's call id, name,
# status, times and whether its error says the user rejected it; a retry's error name, status
# code and time; a step-finish's tokens and cost.
_PARTS = """
WITH p AS (
  SELECT message_id, id, CASE WHEN json_valid(data) THEN data ELSE '{}' END AS j FROM part
  WHERE message_id IN (SELECT value FROM json_each(?))
)
SELECT message_id, id, json_extract(j, '$.type') AS type,
  json_extract(j, '$.callID'), json_extract(j, '$.tool'), json_extract(j, '$.state.status'),
  json_extract(j, '$.state.time.start'), json_extract(j, '$.state.time.end'),
  instr(substr(json_extract(j, '$.state.error'), 1, 200), 'rejected') > 0,
  json_extract(j, '$.error.name'), json_extract(j, '$.error.data.statusCode'),
  json_extract(j, '$.time.created'),
  json_extract(j, '$.tokens.total'), json_extract(j, '$.tokens.input'),
  json_extract(j, '$.tokens.output'), json_extract(j, '$.tokens.reasoning'),
  json_extract(j, '$.tokens.cache.read'), json_extract(j, '$.tokens.cache.write'),
  json_extract(j, '$.cost')
FROM p WHERE type IN ('tool', 'retry', 'step-finish') ORDER BY message_id, id
"""


def connect(path: str, busy_ms: int = BUSY_MS) -> sqlite3.Connection:
    """A read-only connection (URI `mode=ro`, `query_only`): it can never change the file."""
    uri = Path(path).absolute().as_uri() + "?mode=ro"
    con = sqlite3.connect(uri, uri=True, timeout=busy_ms / 1000, isolation_level=None)
    con.execute("PRAGMA query_only = ON")
    return con


def load_state(raw: bytes | None, skipped: Counter[str]) -> State:
    if not raw:
        return State()
    s = decode_state(_decode_state, raw, skipped)
    return s if s is not None else State()


class DbReader:
    """One read of one database from a cursor's state: yields (facts, state) per chunk."""

    def __init__(
        self,
        con: sqlite3.Connection,
        state: State,
        skipped: Counter[str],
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        self.con = con
        self.chunk_rows = chunk_rows
        self.state = state
        self.skipped = skipped
        self.sessions: dict[str, SessionMeta] = {}

    def is_opencode(self) -> bool:
        rows = self.con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('message', 'part')"
        ).fetchall()
        return len(rows) == 2

    def chunks(self) -> Iterator[tuple[list[object], State]]:
        """Facts of the rows since the state, CHUNK_ROWS at a time, with the state after."""
        st = self.state
        hw, still_open = st.hw, dict.fromkeys(st.open)
        rows = self.con.execute(_MESSAGES, {"hw": st.hw, "open": json.dumps(st.open)})
        batch: list[Row] = []
        for n, (mid, sid, updated, data, turns, calls) in enumerate(rows, 1):
            still_open.pop(mid, None)
            if isinstance(updated, int):
                hw = max(hw, updated)
            row = self._row(mid, sid, data, (to_idx(turns), to_idx(calls) - 1))
            if row is not None:
                batch.append(row)
                if pending(row[2]):
                    still_open[row[0]] = None  # asked for again until OpenCode finishes it
            if n % self.chunk_rows == 0:
                yield self._facts(batch), _state(hw, still_open)
                batch = []
        yield self._facts(batch), _state(hw, still_open)

    def _row(self, mid: object, sid: object, data: object, index: tuple[int, int]) -> Row | None:
        """The row decoded (None, counted, when it is not a message row)."""
        if not isinstance(mid, str) or not isinstance(sid, str) or not isinstance(data, str):
            self.skipped["unrecognized_row"] += 1
            return None
        try:
            m = decode_message(data)
        except Exception:
            self.skipped["unrecognized_row"] += 1
            return None
        return mid, sid, m, index

    def _session(self, sid: str) -> SessionMeta:
        meta = self.sessions.get(sid)
        if meta is None:
            cur = self.con.execute("SELECT * FROM session WHERE id = ?", (sid,))
            row = cur.fetchone()
            cols = [c[0] for c in cur.description or ()]
            d: dict[str, Any] = dict(zip(cols, row, strict=True)) if row else {}
            meta = SessionMeta(_str(d.get("parent_id")), _str(d.get("version")),
                               _str(d.get("directory")))  # fmt: skip
            self.sessions[sid] = meta
        return meta

    def _facts(self, batch: list[Row]) -> list[object]:
        """The batch's calls, each followed by its tool calls and retries (one parts query)."""
        parts: dict[str, list[PartRow]] = {}
        if batch:
            ids = json.dumps([r[0] for r in batch])
            for mid, pid, kind, *f in self.con.execute(_PARTS, (ids,)):
                p = _part(pid, kind, f)
                if p is not None:
                    parts.setdefault(mid, []).append(p)
        out: list[object] = []
        for mid, sid, m, index in batch:
            meta = self._session(sid)
            out.extend(message_facts(mid, sid, m, meta, index, parts.get(mid, []), self.skipped))
        return out


def _part(pid: object, kind: object, f: list[Any]) -> PartRow | None:
    """A part row's usage fields (None for a row without an id)."""
    if not isinstance(pid, str):
        return None
    cid, tool, status, start, end, rej, name, code, created, *tok, cost = f
    if kind == "retry":
        err = MessageError(name=_str(name), data=ErrorData(statusCode=code))
        return PartRow("retry", pid, error=err, created=to_idx(created))
    if kind == "step-finish":
        if all(v is None for v in tok):
            return None  # a step-finish without tokens (as a legacy file without them)
        total, inp, out, rea, cr, cw = tok
        tokens = Tokens(total=total, input=inp, output=out, reasoning=rea, cache=Cache(cr, cw))
        return PartRow("step-finish", pid, tokens=tokens, cost=cost)
    row = ToolRow(_str(cid), _str(tool), _str(status), start, end, bool(rej))
    return PartRow("tool", pid, tool=row)


def to_idx(v: object) -> int:
    return v if isinstance(v, int) else 0


def _str(v: object) -> str | None:
    return v if isinstance(v, str) and v else None


def _state(hw: int, still_open: dict[str, None]) -> State:
    ids = list(still_open)
    return State(hw=hw, open=ids[-MAX_OPEN:])


def read_db(
    path: str,
    cursor: Cursor | None,
    skipped: Counter[str],
    busy_ms: int = BUSY_MS,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[tuple[list[object], bytes]]:
    """Yield (facts, encoded state) chunks of a database; nothing when it cannot be read."""
    try:
        con = connect(path, busy_ms)
    except sqlite3.Error:
        skipped["opencode_database_unreadable"] += 1
        return
    try:
        state = load_state(cursor.state if cursor else None, skipped)
        reader = DbReader(con, state, skipped, chunk_rows)
        con.execute("BEGIN")  # one snapshot for the whole read
        if not reader.is_opencode():
            skipped["not_an_opencode_database"] += 1
            yield [], msgspec.json.encode(State())
            return
        for facts, state in reader.chunks():
            yield facts, msgspec.json.encode(state)
    except sqlite3.Error:
        skipped["opencode_database_unreadable"] += 1  # busy or damaged: the next scan tries again
    finally:
        con.close()
