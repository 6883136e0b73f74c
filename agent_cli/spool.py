"""The spool: one SQLite file holding cursors, the ledger, the outbox and the counters.

    transcript chunk --(one transaction: events + ledger + cursor)--> outbox row
    outbox row --claim (lease, per sink)--> in flight --2xx--> this sink's bit cleared
                                                     --rejected--> quarantine (counted)
                                                     --retry/pause--> released
    a row no sink needs any more is deleted (see `outbox`)

Rules: the events of a chunk and the cursor that passes them commit together, so a crash
re-reads at most one chunk and the ledger turns the re-read into duplicates; a grown call
replaces its unsent lower revision; WAL with synchronous=FULL; one writer connection whose
transactions are `atomic` (BEGIN IMMEDIATE, savepoints when nested) but for the group commit;
the schema is `migrations`, applied on open; a lock file (`statedir`, never the database) keeps
a second instance out; the folder is 0700 and every file 0600. Leases live in memory: one
process owns the spool, and a killed run's leases would be void anyway; persisting them would
cost an fsync per batch.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from agent_cli.atomic import atomic
from agent_cli.cursor import Cursor, clamp64, unwrap64, wrap64
from agent_cli.errors import SpoolCorrupt, SpoolError, is_corrupt
from agent_cli.history import HistoryWriter
from agent_cli.ledger import Ledger, SqliteStore
from agent_cli.migrations import FIRST_SINK, MIGRATIONS, Migration, check_readable, migrate
from agent_cli.outbox import STATE_FIELDS, SinkQueue, SinkState
from agent_cli.outbox import Row as Row

# Re-exported: `shipper` and the tests import these from here.
from agent_cli.statedir import Lock as Lock
from agent_cli.statedir import readonly_uri
from agent_cli.statedir import secure_dir as secure_dir
from agent_cli.statedir import secure_file as secure_file

DB_NAME = "spool.sqlite"
GROUP_OPS = 20_000  # events + cursors per group commit
GROUP_SECONDS = 0.2  # bounds the work a kill throws away, and keeps progress under kill loops
PENDING_ROWS = 2000  # outbox rows a group holds in memory before writing them (~2 MB)
_INSERT_OUTBOX = ("INSERT INTO outbox(ekey, event_id, revision, agent, body, enqueued_at, "
                  "not_before, sinks) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")  # fmt: skip
_INSERT_SOURCE = (
    'INSERT OR REPLACE INTO sources(path, agent, "offset", generation, dev, ino, size, mtime_ns, '
    "head_len, head_sha, marker_sha, state, updated_at, since) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_IN_CHUNK = 500  # ids per "IN (...)" list, well under SQLite's variable limit


class Spool:
    """The durable state of a shipper; one writer per state folder."""

    def __init__(
        self,
        folder: Path,
        clock: Callable[[], float] = time.time,
        readonly: bool = False,
        migrations: Sequence[Migration] = MIGRATIONS,
        group_ops: int = GROUP_OPS,
        group_seconds: float = GROUP_SECONDS,
        verify: bool = False,
    ) -> None:
        """Open the spool in `folder`, creating or upgrading it to `migrations` (a test seam).

        `readonly` (`status`, beside a running `start`) never writes: see `check_readable`.
        `group_ops` and `group_seconds` bound a group commit (see `chunk`). `verify` reads
        every page first (`PRAGMA quick_check`). A damaged file raises SpoolCorrupt.
        """
        self.folder = folder
        self.clock = clock
        self.path = folder / DB_NAME
        self.hold_seconds = 0.0  # how long an unsettled call waits before it may be sent
        self.group_ops = group_ops
        self.group_seconds = group_seconds
        self._seen: dict[str, tuple[int, int, str | None]] | None = None
        self.queues: dict[str, SinkQueue] = {}  # the sinks new events are queued for
        self._mask = 0
        self._group = False  # a transaction of chunks is open (see `commit`)
        self._rows: list[tuple[Any, ...]] = []  # its outbox rows and cursors not yet written
        self._cursors: list[tuple[Any, ...]] = []
        self._group_ops = 0
        self._group_start = 0.0
        try:
            if readonly:
                uri, path = True, readonly_uri(self.path)
            else:
                secure_dir(folder)
                secure_file(self.path)
                uri, path = False, str(self.path)
            self.db = sqlite3.connect(
                path, uri=uri, isolation_level=None, timeout=5, check_same_thread=readonly
            )
        except sqlite3.Error as e:
            raise SpoolError(f"Cannot open the spool {self.path}: {e}.") from None
        try:
            if verify:
                found = self.db.execute("PRAGMA quick_check(1)").fetchone()
                if not found or found[0] != "ok":
                    raise SpoolCorrupt(f"The spool {self.path} is damaged ({found}).")
            check = check_readable if readonly else self._setup
            self.schema = check(self.db, migrations)
            self.ledger_store = SqliteStore(self.db)
            self.ledger = Ledger(self.ledger_store)
            self.history = HistoryWriter(self.db)
            if not readonly:
                self.attach([FIRST_SINK])
        except BaseException as e:
            self.db.close()
            if isinstance(e, sqlite3.Error):  # e.g. "file is not a database"
                kind = SpoolCorrupt if is_corrupt(e) else SpoolError
                raise kind(f"Cannot open the spool {self.path}: {e}.") from None
            raise

    def attach(self, names: Sequence[str]) -> list[SinkQueue]:
        """Queue new events for these sinks (a new name gets the next free bit); return their
        queues. Rows still pending for a sink not named stay, for when it is named again."""
        with self.atomic() as db:
            bits = dict(db.execute("SELECT name, bit FROM sinks"))
            for name in names:
                if name not in bits:
                    bits[name] = max(bits.values(), default=0) * 2 or 1
                    db.execute("INSERT INTO sinks(name, bit) VALUES (?, ?)", (name, bits[name]))
        self.queues = {n: SinkQueue(self, n, bits[n]) for n in names}
        self._mask = 0
        for q in self.queues.values():
            self._mask |= q.bit
        return list(self.queues.values())

    def queue(self, name: str = FIRST_SINK) -> SinkQueue:
        return self.queues[name]

    def sink_states(self) -> list[tuple[str, int, SinkState]]:
        """Every sink the spool knows, with its bit and persisted state."""
        rows = self.db.execute(
            f"SELECT name, bit, {', '.join(STATE_FIELDS)} FROM sinks ORDER BY bit"
        )
        return [(r[0], r[1], SinkState(*r[2:])) for r in rows]

    def oldest_age(self, bit: int) -> float | None:
        """Seconds the first row still pending for the sink with `bit` has waited."""
        row = self.db.execute(
            "SELECT enqueued_at FROM outbox WHERE sinks & ? ORDER BY id LIMIT 1", (bit,)
        ).fetchone()
        return None if row is None else max(self.clock() - row[0], 0.0)

    def pending_for(self, bit: int) -> int:
        """Rows the sink with `bit` has still to send (a full scan: callers keep the count)."""
        if self._single_sink():
            # count(*) walks the smallest b-tree; a mask test reads every row, bodies and all
            return self.rows()
        query = "SELECT count(*) FROM outbox WHERE sinks & ?"
        return int(self.db.execute(query, (bit,)).fetchone()[0])

    def _single_sink(self) -> bool:
        return int(self.db.execute("SELECT count(*) FROM sinks").fetchone()[0]) == 1

    @property
    def leased(self) -> set[int]:
        """Rows some sink has in flight."""
        return set().union(*(q.leased for q in self.queues.values()))

    def _setup(self, db: sqlite3.Connection, migrations: Sequence[Migration]) -> int:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
        # A backfill writes ~100 MB per GB of history: fewer, larger checkpoints, and a page
        # cache big enough for the ledger's random keys. The WAL is truncated on close.
        db.execute("PRAGMA cache_size=-8192")
        db.execute("PRAGMA wal_autocheckpoint=8192")
        db.execute("PRAGMA journal_size_limit=67108864")
        schema = migrate(db, migrations)
        for suffix in ("-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                os.chmod(p, 0o600)
        return schema

    def close(self) -> None:
        self.flush()
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()

    @contextlib.contextmanager
    def atomic(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A transaction (BEGIN IMMEDIATE ... COMMIT), or a savepoint when nested.

        The outermost level first commits an open group of chunks (`flush`). An exception
        undoes its own level only: caught inside an outer block, the outer writes stay.
        `durable=False` skips the fsync of the outermost commit (a nested level commits with
        its outermost, so there it changes nothing). Only for writes whose loss is harmless: a
        later durable commit syncs the WAL in order, and a lost delivery receipt only means
        those events are sent again (the server dedups by id). Events and cursors always
        commit durably.
        """
        self.flush()
        if self.db.in_transaction:
            with atomic(self.db) as db:
                yield db
            return
        if not durable:
            self.db.execute("PRAGMA synchronous=NORMAL")
        try:
            with atomic(self.db) as db:
                yield db
        finally:
            if not durable:
                self.db.execute("PRAGMA synchronous=FULL")

    transaction = atomic  # the name callers used before nesting

    # -- cursors --------------------------------------------------------------------
    def cursor(self, path: str) -> Cursor | None:
        self._write_pending()
        row = self.db.execute(
            'SELECT "offset", generation, dev, ino, size, mtime_ns, head_len, head_sha, '
            "marker_sha, state, since FROM sources WHERE path = ?",
            (path,),
        ).fetchone()
        if row is None:
            return None
        offset, generation, dev, ino, *rest = row
        return Cursor(path, offset, generation, unwrap64(dev), unwrap64(ino), *rest)

    def seen(self, path: str) -> tuple[int, int, str | None] | None:
        """(size, mtime_ns, since) of a file when its cursor was stored: unchanged files are
        skipped. Kept in memory (one query for all files): an idle poll costs no SQL per file.
        """
        if self._seen is None:
            rows = self.db.execute("SELECT path, size, mtime_ns, since FROM sources")
            self._seen = {p: (s, m, since) for p, s, m, since in rows}
        return self._seen.get(path)

    # -- the one write of a scan -----------------------------------------------------
    # The group commit is the one transaction not run by `atomic`: it stays open across many
    # chunks (files), which one `with` block cannot span. A failed chunk voids the whole
    # group, as a crash would, and with it the in-memory views of that group (`_void_group`).
    @contextlib.contextmanager
    def chunk(self, agent: str, cursor: Cursor) -> Iterator[list[Any]]:
        """One chunk's transaction: decide its events, queue them and move the cursor.

        The caller lets the ledger decide the chunk's events inside the block (the ledger
        reads and writes this spool, in this transaction) and puts them in the yielded list;
        leaving the block queues them, the ledger's decisions and the cursor, together.
        Chunks are group-committed: the transaction stays open over several chunks until
        `group_ops` rows or `group_seconds`, or `flush()`, which writes its rows (a statement
        per table) and commits; a crash rolls back the group (read again). Not in `atomic()`.
        """
        now = self.clock()
        if not self._group:
            self.db.execute("BEGIN IMMEDIATE")
            self._group, self._group_ops, self._group_start = True, 0, time.monotonic()
        events: list[Any] = []
        try:
            yield events
            self._enqueue(events, now)
            self.ledger_store.end_chunk()
            self._write_cursor(agent, cursor, now)
        except BaseException:
            self._void_group()
            raise
        if self._seen is not None:
            self._seen[cursor.path] = (cursor.size, cursor.mtime_ns, cursor.since)
        if len(self._rows) >= PENDING_ROWS:
            self._write_pending()
        self._group_ops += 1 + len(events)
        elapsed = time.monotonic() - self._group_start
        if self._group_ops >= self.group_ops or elapsed >= self.group_seconds:
            self.flush()

    def flush(self) -> None:
        """Commit the open group of chunks, if any (durably)."""
        if self._group:
            self._write_pending()
            self._group = False
            try:
                self.db.execute("COMMIT")
            except BaseException:
                self._void_group()
                raise
            self.ledger_store.committed()

    def _write_pending(self) -> None:
        """Write the open group's rows, one statement per table (a read must see them)."""
        if not self._group:  # nothing is pending outside a group
            return
        try:
            self.db.executemany(_INSERT_OUTBOX, self._rows)
            self._rows.clear()
            self.ledger_store.write()
            self.db.executemany(_INSERT_SOURCE, self._cursors)
            self._cursors.clear()
        except BaseException:
            self._void_group()
            raise

    def _void_group(self) -> None:
        self._group = False
        self._rows.clear()
        self._cursors.clear()
        self._seen = None  # what it said about this group is void
        for q in self.queues.values():
            q.forget_depth()
        self.ledger_store.clear()
        self.history.forget()  # names it interned in this group are rolled back too
        if self.db.in_transaction:  # an I/O or full-disk error may have rolled back already
            self.db.execute("ROLLBACK")

    def _enqueue(self, events: list[Any], now: float) -> None:
        rows = self._rows
        hold_until, mask = now + self.hold_seconds, self._mask
        for ekey, eid, rev, ev_agent, body, hold in events:
            if rev:  # the grown call replaces its unsent lower revisions
                self._drop_stale(self.db, ekey, rev)  # (those of this very group included)
            rows.append((ekey, eid, rev, ev_agent, body, now, hold_until if hold else 0.0, mask))
        for q in self.queues.values():
            q.added(len(events))
        # the history copy commits with the outbox rows, in this very transaction
        self.history.add((e[0], e[4]) for e in events)

    def _drop_stale(self, db: sqlite3.Connection, ekey: int, rev: int) -> None:
        self._write_pending()
        leased = self.leased
        stale = [
            (i, mask)
            for i, mask in db.execute(
                "SELECT id, sinks FROM outbox WHERE ekey = ? AND revision < ?", (ekey, rev)
            )
            if i not in leased
        ]
        db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i, _ in stale])
        for q in self.queues.values():
            q.added(-sum(1 for _, mask in stale if mask & q.bit))

    def _write_cursor(self, agent: str, c: Cursor, now: float) -> None:
        self._cursors.append(
            (c.path, agent, c.offset, c.generation, wrap64(c.dev), wrap64(c.ino), c.size,
             clamp64(c.mtime_ns), c.head_len, c.head_sha, c.marker_sha, c.state, now, c.since)
        )  # fmt: skip

    # -- outbox (each sink's part: `outbox.SinkQueue`) ------------------------------
    def depth(self) -> int:
        """Rows the slowest attached sink has still to send (the backlog the cap bounds)."""
        return max((q.depth() for q in self.queues.values()), default=0)

    def rows(self) -> int:
        """Rows in the outbox, whichever sinks they wait for."""
        self._write_pending()
        return int(self.db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    # -- counters and meta -------------------------------------------------------------
    def bump(self, name: str, n: int) -> None:
        """Add `n` to a counter (inside the caller's transaction)."""
        self.db.execute(
            "INSERT INTO counters(name, count) VALUES (?, ?) ON CONFLICT(name) "
            "DO UPDATE SET count = count + excluded.count",
            (name, n),
        )

    def add_counts(self, prefix: str, counts: dict[str, int]) -> None:
        if not counts:
            return
        with self.atomic():
            for name, n in counts.items():
                self.bump(f"{prefix}.{name}", n)

    def set_meta_if_changed(self, **values: Any) -> None:
        """`set_meta` for the values that differ from what is stored (no write otherwise)."""
        stored = self.meta()
        changed = {
            k: v for k, v in values.items() if stored.get(k) != (None if v is None else str(v))
        }
        if changed:
            self.set_meta(**changed)

    def set_meta(self, **values: Any) -> None:
        rows = [(k, None if v is None else str(v)) for k, v in values.items()]
        with self.atomic():
            self.db.executemany("INSERT OR REPLACE INTO meta(k, v) VALUES (?, ?)", rows)

    def meta(self) -> dict[str, str]:
        return {k: v for k, v in self.db.execute("SELECT k, v FROM meta") if v is not None}

    def counters(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT name, count FROM counters ORDER BY name"))

    def tracked(self) -> Iterator[tuple[str, str, int]]:
        yield from self.db.execute('SELECT agent, path, "offset" FROM sources')
