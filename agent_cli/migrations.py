"""The spool's schema, as steps keyed on SQLite's `user_version`.

`MIGRATIONS[i]` takes a database from `user_version` i to i + 1; SCHEMA_VERSION is their
count. `migrate` applies the pending steps, each in its own transaction that also sets
`user_version`, so a crash mid-upgrade leaves the previous version whole and the next start
resumes from it. A step is never edited once released: a change is a new step at the end.
A spool newer than this code is refused, never touched: its rows may mean something else.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from agent_cli.atomic import atomic
from agent_cli.errors import SpoolError

Migration = Callable[[sqlite3.Connection], None]

# Schema 1, as the first release wrote it. IF NOT EXISTS: a version-0 file may already hold
# these tables (a crash between creating them and setting user_version).
_V1 = (
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT)",
    """CREATE TABLE IF NOT EXISTS sources(
    path TEXT PRIMARY KEY, agent TEXT NOT NULL, "offset" INTEGER NOT NULL,
    generation INTEGER NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, head_len INTEGER NOT NULL,
    head_sha BLOB NOT NULL, marker_sha BLOB NOT NULL, state BLOB, updated_at REAL)""",
    """CREATE TABLE IF NOT EXISTS calls(
    key INTEGER PRIMARY KEY, rank INTEGER NOT NULL, revision INTEGER NOT NULL)""",
    # No unique index: the ledger emits each (event_id, revision) once, in the transaction
    # that queues it. `ekey` (the ledger key) finds lower revisions to replace; a small
    # integer index keeps inserts and deletes cheap.
    """CREATE TABLE IF NOT EXISTS outbox(
    id INTEGER PRIMARY KEY AUTOINCREMENT, ekey INTEGER NOT NULL, event_id TEXT NOT NULL,
    revision INTEGER NOT NULL, agent TEXT NOT NULL, body BLOB NOT NULL,
    enqueued_at REAL NOT NULL, not_before REAL NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS outbox_ekey ON outbox(ekey)",
    """CREATE TABLE IF NOT EXISTS quarantine(
    id INTEGER PRIMARY KEY, event_id TEXT, revision INTEGER, reason TEXT, at REAL, body BLOB)""",
    "CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, count INTEGER NOT NULL)",
)


def _create_v1(db: sqlite3.Connection) -> None:
    # One statement at a time: executescript would COMMIT the step's transaction first.
    for statement in _V1:
        db.execute(statement)


# Schema 2: delivery state per sink. Every outbox row gets a mask of the sinks that still
# have to send it; schema 1 had one sink, the Sutrace endpoint, which becomes bit 1 and takes
# over the backoff and pause that schema 1 kept in `meta`.
_SINK_STATE_FROM_META = {
    "failures": "consecutive_failures",
    "backoff_until": "backoff_until",
    "pause_reason": "pause_reason",
    "pause_detail": "pause_detail",
    "last_attempt_at": "last_attempt_at",
    "last_status": "last_status",
    "last_success_at": "last_success_at",
}
FIRST_SINK = "sutrace"


def _sinks_v2(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE outbox ADD COLUMN sinks INTEGER NOT NULL DEFAULT 1")
    db.execute("ALTER TABLE quarantine ADD COLUMN sink TEXT")
    db.execute(
        """CREATE TABLE sinks(
    name TEXT PRIMARY KEY, bit INTEGER NOT NULL UNIQUE, failures INTEGER NOT NULL DEFAULT 0,
    backoff_until REAL NOT NULL DEFAULT 0, pause_reason TEXT, pause_detail TEXT,
    last_attempt_at REAL, last_status INTEGER, last_success_at REAL)"""
    )
    db.execute("INSERT INTO sinks(name, bit) VALUES (?, 1)", (FIRST_SINK,))
    meta = dict(db.execute("SELECT k, v FROM meta WHERE v IS NOT NULL"))
    for column, key in _SINK_STATE_FROM_META.items():
        if key in meta:  # text; the columns' INTEGER/REAL affinity stores it as a number
            db.execute(f"UPDATE sinks SET {column} = ? WHERE name = ?", (meta[key], FIRST_SINK))
    db.executemany("DELETE FROM meta WHERE k = ?", [(k,) for k in _SINK_STATE_FROM_META.values()])
    db.execute("UPDATE quarantine SET sink = ?", (FIRST_SINK,))


def _since_v3(db: sqlite3.Connection) -> None:
    # Schema 3: the --since floor a file was read under, so that a later run with an earlier
    # or no --since reads again what was held back (schema 2 dropped it for good).
    db.execute("ALTER TABLE sources ADD COLUMN since TEXT")


def _copies_v4(db: sqlite3.Connection) -> None:
    # Schema 4: the full event ids of copies counted before their originals (ledger.py,
    # "Copies"), so that an original read later can supersede them.
    db.execute("CREATE TABLE copies(key INTEGER PRIMARY KEY, event_id BLOB NOT NULL)")


def _history_v5(db: sqlite3.Connection) -> None:
    # Schema 5: the local history `report` reads (see `history`), with the events still in
    # the outbox copied in; those an older spool already delivered are not there to copy.
    from agent_cli.history import create

    create(db)


def _otlp_v6(db: sqlite3.Connection) -> None:
    # Schema 6: the OTLP sink's cumulative metrics (`sinks.otlp_metrics`): what each call
    # has counted so far (a revision adds only its growth) and every series' running total,
    # so counters stay monotonic across restarts. `key` is the first 8 bytes of the event
    # id, as a signed int.
    db.execute(
        """CREATE TABLE otlp_counted(
    key INTEGER PRIMARY KEY, revision INTEGER NOT NULL, input INTEGER NOT NULL,
    output INTEGER NOT NULL, cache_read INTEGER NOT NULL, cache_creation INTEGER NOT NULL,
    cost REAL NOT NULL, error INTEGER NOT NULL, timed INTEGER NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE otlp_series(
    metric TEXT NOT NULL, attrs TEXT NOT NULL, start REAL NOT NULL, value NOT NULL,
    hist TEXT, PRIMARY KEY(metric, attrs))"""
    )


MIGRATIONS: tuple[Migration, ...] = (
    _create_v1,
    _sinks_v2,
    _since_v3,
    _copies_v4,
    _history_v5,
    _otlp_v6,
)
SCHEMA_VERSION = len(MIGRATIONS)
# The oldest schema a read-only open (`status`) accepts as it is: everything it reads exists
# since then. A step that changes what `status` reads raises it.
READABLE_FROM = 2  # status reads the per-sink state of schema 2


def version(db: sqlite3.Connection) -> int:
    """Return the database's `user_version` (0 for a new file)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _path(db: sqlite3.Connection) -> str:
    row = db.execute("PRAGMA database_list").fetchone()
    return str(row[2]) if row and row[2] else "(in memory)"


def _newer(db: sqlite3.Connection, found: int, known: int) -> SpoolError:
    return SpoolError(
        f"The spool {_path(db)} was written by a newer agent-cli (schema {found}; this one "
        f"reads up to {known}): upgrade agent-cli, or use another --home."
    )


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring `db` to `len(migrations)`, one transaction per step; return the version.

    Raises SpoolError, changing nothing, if the file is newer than `migrations`. A failing
    step rolls back to the version before it and its exception propagates.
    """
    target = len(migrations)
    found = version(db)
    if found > target:
        raise _newer(db, found, target)
    while found < target:
        with atomic(db):
            found = version(db)  # again under the write lock: another opener may have won
            if found >= target:
                break
            migrations[found](db)
            found += 1
            db.execute(f"PRAGMA user_version = {found}")  # commits with the step, or not at all
    return found


def check_readable(db: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """For a read-only open: return the version if this code can read it as it is.

    Never writes. A newer file is refused as in `migrate`; one older than READABLE_FROM
    (in practice a file no `start` has finished creating) asks for a `start`, which upgrades.
    """
    known = len(migrations)
    found = version(db)
    if found > known:
        raise _newer(db, found, known)
    if found < min(READABLE_FROM, known):
        raise SpoolError(
            f"The spool {_path(db)} has schema {found}, older than this agent-cli reads "
            f"({known}): run `agent-cli start` once to upgrade it."
        )
    return found
