"""Recovery: a damaged spool is moved aside (kept for a person) and a new one started.

The transcripts are the source of truth: a new spool reads them all again, and the
deterministic ids make whatever is sent twice harmless (the server keeps one copy). The old
file keeps what only it had (events not yet delivered whose transcript is gone) for a person
to look at. A file is checked page by page (`PRAGMA quick_check`) when the last run did not
end cleanly or the file is small; otherwise the first reads of a run (the outbox and the
cursors) find a damaged file, and a run that meets one later leaves the lock marked so the
next start checks it.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from agent_cli.errors import SpoolCorrupt, is_corrupt
from agent_cli.spool import DB_NAME, Spool

log = logging.getLogger("agent_cli")

VERIFY_BELOW_BYTES = 32 * 1024 * 1024  # a page check this small costs well under 0.1 s


def open_spool(folder: Path, last_run_unclean: bool) -> Spool:
    """Open the spool in `folder` for a `start`; a damaged one is moved aside and replaced."""
    path = folder / DB_NAME
    verify = last_run_unclean or (path.exists() and path.stat().st_size < VERIFY_BELOW_BYTES)
    try:
        return _probe(Spool(folder, verify=verify))
    except SpoolCorrupt as e:
        kept = move_aside(folder)
        log.error(
            "the spool was damaged (%s); kept as %s; a new one is started and the transcripts "
            "are read again (ids make anything sent twice harmless)",
            e,
            kept.name,
        )
        spool = Spool(folder)
        spool.set_meta(recovered_at=time.time(), recovered_from=kept.name, recovered_why=str(e))
        return spool


def _probe(spool: Spool) -> Spool:
    """Read the outbox and the cursors once, as the run is about to (a damaged page there
    shows now, not halfway through the run)."""
    try:
        spool.rows()
        spool.seen("")
    except sqlite3.DatabaseError as e:
        spool.db.close()
        if is_corrupt(e):
            raise SpoolCorrupt(f"The spool {spool.path} is damaged: {e}.") from None
        raise
    return spool


def move_aside(folder: Path) -> Path:
    """Rename the spool and its -wal and -shm files to `spool.sqlite.damaged-<time>`."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    kept = folder / f"{DB_NAME}.damaged-{stamp}"
    for suffix in ("", "-wal", "-shm"):
        src = folder / f"{DB_NAME}{suffix}"
        if src.exists():
            src.rename(folder / f"{kept.name}{suffix}")
    return kept
