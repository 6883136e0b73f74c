"""The spool: one SQLite file holding cursors, the ledger, the outbox and the counters.

    transcript chunk --(one transaction: events + ledger + cursor)--> outbox row
    outbox row --claim (lease)--> in flight --2xx--> deleted (same transaction as the result)
                                            --rejected--> quarantine (counted)
                                            --retry/pause--> released (lease cleared)

Rules: the events of a chunk and the cursor that passes them commit together, so a crash
re-reads at most one chunk and the ledger turns the re-read into duplicates; a grown call
replaces its unsent lower revision; WAL with synchronous=FULL; one writer connection with
explicit BEGIN IMMEDIATE; a lock file (never the database) keeps a second instance out; the
folder is 0700 and every file 0600.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from agent_cli.errors import AlreadyRunning, SpoolError
from agent_cli.ledger import Ledger
from agent_cli.tail import Cursor

DB_NAME = "spool.sqlite"
LOCK_NAME = "agent-cli.lock"
LEASE_SECONDS = 120.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE IF NOT EXISTS sources(
    path TEXT PRIMARY KEY, agent TEXT NOT NULL, "offset" INTEGER NOT NULL,
    generation INTEGER NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, head_len INTEGER NOT NULL,
    head_sha BLOB NOT NULL, marker_sha BLOB NOT NULL, state BLOB, updated_at REAL);
CREATE TABLE IF NOT EXISTS calls(
    key INTEGER PRIMARY KEY, rank INTEGER NOT NULL, revision INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox(
    id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, revision INTEGER NOT NULL,
    agent TEXT NOT NULL, body BLOB NOT NULL, enqueued_at REAL NOT NULL,
    not_before REAL NOT NULL DEFAULT 0, lease_until REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0, UNIQUE(event_id, revision));
CREATE INDEX IF NOT EXISTS outbox_ready ON outbox(not_before, id);
CREATE TABLE IF NOT EXISTS quarantine(
    id INTEGER PRIMARY KEY, event_id TEXT, revision INTEGER, reason TEXT, at REAL, body BLOB);
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""

_encode = msgspec.json.encode


@dataclass(frozen=True, slots=True)
class Row:
    """One outbox row claimed for delivery."""

    id: int
    event_id: str
    revision: int
    body: bytes


def secure_dir(path: Path) -> Path:
    """Create the state folder 0700 (and tighten an existing one)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    return path


def secure_file(path: Path) -> None:
    """Create `path` if missing and make it 0600."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class Lock:
    """An exclusive flock on a lock file beside the database (never on the database)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> None:
        secure_file(self.path)
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise AlreadyRunning(
                f"Another agent-cli start is already using {self.path.parent}; "
                "stop it first or use another --home."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Spool:
    """The durable state of a shipper; one writer per state folder."""

    def __init__(self, folder: Path, clock: Callable[[], float] = time.time,
                 readonly: bool = False) -> None:
        self.folder = folder
        self.clock = clock
        self.path = folder / DB_NAME
        self.hold_seconds = 0.0  # how long an unsettled call waits before it may be sent
        try:
            if readonly:
                self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                          isolation_level=None, timeout=5)
            else:
                secure_dir(folder)
                secure_file(self.path)
                self.db = sqlite3.connect(self.path, isolation_level=None, timeout=5,
                                          check_same_thread=False)
                self._setup()
        except sqlite3.Error as e:
            raise SpoolError(f"Cannot open the spool {self.path}: {e}.") from None
        self.ledger = Ledger(self)

    def _setup(self) -> None:
        db = self.db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(_SCHEMA)
        for suffix in ("-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                os.chmod(p, 0o600)
        # Single process: leases left by a killed run are void.
        db.execute("UPDATE outbox SET lease_until = 0 WHERE lease_until > 0")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- ledger store (called inside `commit`'s transaction) --------------------------
    def get(self, key: int) -> tuple[int, int] | None:
        row = self.db.execute("SELECT rank, revision FROM calls WHERE key = ?", (key,)).fetchone()
        return None if row is None else (row[0], row[1])

    def put(self, key: int, rank: int, revision: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO calls(key, rank, revision) VALUES (?, ?, ?)",
                        (key, rank, revision))

    # -- cursors --------------------------------------------------------------------
    def cursor(self, path: str) -> Cursor | None:
        row = self.db.execute(
            'SELECT "offset", generation, dev, ino, size, mtime_ns, head_len, head_sha, '
            "marker_sha, state FROM sources WHERE path = ?", (path,)).fetchone()
        if row is None:
            return None
        return Cursor(path, *row)

    def cursors(self) -> dict[str, tuple[int, int]]:
        """Return path -> (size, mtime_ns) of every tracked file (for cheap change checks)."""
        return {p: (s, m) for p, s, m in self.db.execute(
            "SELECT path, size, mtime_ns FROM sources")}

    # -- the one write of a scan -----------------------------------------------------
    def commit(self, agent: str, cursor: Cursor, facts_to_events: Callable[[], list[Any]],
               ) -> int:
        """In one transaction: decide the events (ledger), queue them, move the cursor."""
        now = self.clock()
        with self.transaction() as db:
            events = facts_to_events()
            for ev, hold in events:
                body = _encode(ev)
                rev = ev["revision"]
                if rev:
                    db.execute("DELETE FROM outbox WHERE event_id = ? AND revision < ? "
                               "AND lease_until < ?", (ev["event_id"], rev, now))
                db.execute(
                    "INSERT OR IGNORE INTO outbox(event_id, revision, agent, body, enqueued_at,"
                    " not_before) VALUES (?, ?, ?, ?, ?, ?)",
                    (ev["event_id"], rev, ev["agent"], body, now,
                     now + self.hold_seconds if hold else 0.0))
            db.execute(
                'INSERT OR REPLACE INTO sources(path, agent, "offset", generation, dev, ino, '
                "size, mtime_ns, head_len, head_sha, marker_sha, state, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (cursor.path, agent, cursor.offset, cursor.generation, cursor.dev, cursor.ino,
                 cursor.size, cursor.mtime_ns, cursor.head_len, cursor.head_sha,
                 cursor.marker_sha, cursor.state, now))
        return len(events)

    # -- outbox ----------------------------------------------------------------------
    def depth(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def claim(self, limit: int = 500, max_bytes: int = 1024 * 1024) -> list[Row]:
        """Lease up to `limit` ready rows (oldest first) for one delivery attempt."""
        now = self.clock()
        rows: list[Row] = []
        size = 0
        with self.transaction() as db:
            for rid, eid, rev, body in db.execute(
                    "SELECT id, event_id, revision, body FROM outbox WHERE not_before <= ? "
                    "AND lease_until <= ? ORDER BY id LIMIT ?", (now, now, limit)):
                if rows and size + len(body) > max_bytes:
                    break
                rows.append(Row(rid, eid, rev, body))
                size += len(body) + 1
            db.executemany("UPDATE outbox SET lease_until = ?, attempts = attempts + 1 "
                           "WHERE id = ?", [(now + LEASE_SECONDS, r.id) for r in rows])
        return rows

    def settle(self, delivered: Iterable[int], quarantined: Iterable[tuple[int, str]],
               pending: Iterable[int], success: bool) -> None:
        """Apply a delivery result in one transaction."""
        now = self.clock()
        with self.transaction() as db:
            db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in delivered])
            for rid, reason in quarantined:
                db.execute("INSERT INTO quarantine(event_id, revision, reason, at, body) "
                           "SELECT event_id, revision, ?, ?, body FROM outbox WHERE id = ?",
                           (reason, now, rid))
                db.execute("DELETE FROM outbox WHERE id = ?", (rid,))
                self._bump(f"quarantine.{reason.split(':')[0]}", 1)
            db.executemany("UPDATE outbox SET lease_until = 0 WHERE id = ?",
                           [(i,) for i in pending])
            if success:
                self._set("last_success_at", now)

    # -- counters and meta -------------------------------------------------------------
    def _bump(self, name: str, n: int) -> None:
        self.db.execute("INSERT INTO counters(name, count) VALUES (?, ?) ON CONFLICT(name) "
                        "DO UPDATE SET count = count + excluded.count", (name, n))

    def add_counts(self, prefix: str, counts: dict[str, int]) -> None:
        if not counts:
            return
        with self.transaction():
            for name, n in counts.items():
                self._bump(f"{prefix}.{name}", n)

    def _set(self, k: str, v: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(k, v) VALUES (?, ?)",
                        (k, None if v is None else str(v)))

    def set_meta(self, **values: Any) -> None:
        with self.transaction():
            for k, v in values.items():
                self._set(k, v)

    def meta(self) -> dict[str, str]:
        return {k: v for k, v in self.db.execute("SELECT k, v FROM meta") if v is not None}

    def counters(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT name, count FROM counters ORDER BY name"))

    def oldest_age(self) -> float | None:
        row = self.db.execute("SELECT min(enqueued_at) FROM outbox").fetchone()
        return None if row[0] is None else max(self.clock() - row[0], 0.0)

    def sources_summary(self) -> list[tuple[str, int, int]]:
        """Per agent: files tracked and the sum of their offsets (bytes read)."""
        return list(self.db.execute(
            'SELECT agent, count(*), sum("offset") FROM sources GROUP BY agent ORDER BY agent'))

    def tracked(self) -> Iterator[tuple[str, str, int]]:
        yield from self.db.execute('SELECT agent, path, "offset" FROM sources')
