"""Reading what is new into the spool without delivering it: what `report` does first.

The same scan as `start` (cursors, ledger, outbox and history in one transaction per chunk),
with no sink and no key: the events it queues wait in the outbox for the next `start`, so
nothing is read twice and nothing is lost. While a `start` holds the spool it reads them
itself, and the report only reads the history beside it (`history_db`, read-only).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from agent_cli.config import Settings
from agent_cli.enrich import Enricher
from agent_cli.errors import (
    AlreadyRunning,
    ConfigError,
    SpoolCorrupt,
    SpoolError,
    is_corrupt,
    is_full,
)
from agent_cli.history import has_history, prune
from agent_cli.prepare import Builder, Report
from agent_cli.price_probe import pricer_in
from agent_cli.recovery import open_spool
from agent_cli.rerun import forget
from agent_cli.scan import discover, scan, select_sources
from agent_cli.spool import DB_NAME, Lock, Spool, secure_dir
from agent_cli.statedir import room_left


@dataclass
class CatchUp:
    """What the read before a report did."""

    report: Report
    read: bool  # False: a running `start` holds the spool and reads the transcripts itself
    note: str | None = None  # something a person should know (a full disk)


def read_new(settings: Settings, env: dict[str, str] | None = None) -> CatchUp:
    """Scan the chosen agents' transcripts into the spool (no delivery); prune the history
    to the retention setting. Works without an API key."""
    folder = _folder(settings.state_dir)
    lock = Lock(folder)
    try:
        unclean = lock.acquire()
    except AlreadyRunning:
        return CatchUp(Report(), read=False)
    clean = True
    try:
        forget(str(folder))  # what this read changes, the re-run index no longer describes
        spool = open_spool(folder, unclean)
        try:
            return _read(spool, settings, env)
        finally:
            spool.close()
    except BaseException as e:
        clean = not is_corrupt(e)  # the next start checks a spool that failed this way
        raise
    finally:
        lock.release(clean=clean)


def _read(spool: Spool, settings: Settings, env: dict[str, str] | None) -> CatchUp:
    with spool.atomic():
        prune(spool.db, settings.history_days, int(time.time() * 1000))
    pricer = pricer_in(spool.folder)
    builder = Builder(spool.ledger, Report(), None, Enricher(privacy=settings.privacy), pricer)
    files = list(discover(select_sources(settings.agents), settings, env))
    note = None
    try:
        scan(settings, spool, builder, files)
    except sqlite3.OperationalError as e:
        if not is_full(e):
            raise
        note = "the disk holding the spool is full: the newest lines were not read"
    if note is None and room_left(spool.folder):  # the rates probed, for the next run
        builder.preparer.pricer.save()
    for name in ("skipped", "not_emitted", "resets", "worker_failures"):
        counts = getattr(builder.report, name)
        with contextlib.suppress(sqlite3.OperationalError):
            spool.add_counts(name, dict(counts))
    return CatchUp(builder.report, read=True, note=note)


@contextlib.contextmanager
def history_db(folder: Path) -> Iterator[sqlite3.Connection | None]:
    """The spool opened read-only for queries (None when there is no spool yet)."""
    if not (folder / DB_NAME).exists():
        yield None
        return
    try:
        spool = Spool(folder, readonly=True)
    except SpoolCorrupt as e:
        raise SpoolCorrupt(f"{e} The next `agent-cli start` keeps it aside.") from None
    try:
        if not has_history(spool.db):
            raise SpoolError(
                f"The spool {spool.path} has no history yet (an older agent-cli start is "
                "using it): restart `agent-cli start` with this version to upgrade it."
            )
        yield spool.db
    finally:
        spool.db.close()


def _folder(path: Path) -> Path:
    try:
        return secure_dir(path)
    except OSError as e:
        raise ConfigError(
            f"The state folder {path} cannot be used ({e.strerror or e}); "
            "pass another --home (or AGENT_CLI_HOME)."
        ) from None
