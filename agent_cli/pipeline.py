"""The pipeline: what `cli` calls, and the only module that wires the stages together.

    sources -> scan -> prepare (allow-list, enrich, price) -> ledger -> target -> sink

`dry_run` runs it with the stdout sink and a throw-away state; `start_once` backfills into the
spool and drains it; `start_forever` backfills, then follows the transcripts and ships until
stopped; `status` reads the spool. A `Session` (module `session`) owns what a `start` holds
open (the lock, the spool, the sinks and the log) and closes it in reverse order.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from agent_cli.catchup import CatchUp, history_db, read_new
from agent_cli.config import Settings
from agent_cli.prepare import Builder, Report
from agent_cli.price_probe import pricer_in
from agent_cli.scan import SinkTarget, discover, scan, select_sources
from agent_cli.session import Interrupted, RunResult, Session, enricher_for
from agent_cli.sinks import Sink
from agent_cli.sinks.stdout import StdoutSink
from agent_cli.sources import SourceFile
from agent_cli.sources.unread import unread
from agent_cli.status import Status, read_status

if TYPE_CHECKING:
    import httpx

    from agent_cli.report import Result
    from agent_cli.report_query import Query
    from agent_cli.rerun import Recorder

__all__ = [
    "Interrupted",
    "Report",
    "RunResult",
    "Session",
    "Status",
    "dry_run",
    "report",
    "report_session",
    "start_forever",
    "start_once",
    "status",
    "where",
]


def dry_run(
    settings: Settings,
    out: IO[bytes],
    env: dict[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Print every event that would be sent (JSON Lines on `out`); send and store nothing.

    `progress(done, total)` is told of each file read (for a bar on a terminal)."""
    srcs = select_sources(settings.agents)
    sink = StdoutSink(out)
    target = SinkTarget(sink)
    # the price cache of the state folder is read, never written: a dry-run stores nothing
    pricer = pricer_in(settings.state_dir)
    builder = Builder(target.ledger, Report(), settings.since_iso(), enricher_for(settings), pricer)
    older = [0]
    files = list(discover(srcs, settings, env, older))
    builder.report.older_than_since = older[0]
    counter = _Counter(len(files), progress)
    report = scan(settings, target, builder, files, on_file=counter.file_done)
    counter.finish()
    sink.close()
    report.unread = unread(srcs, report.files_by_agent, os.environ if env is None else env)
    return report


class _Counter:
    """Files done of a known total, for a progress callback (None: nobody listens)."""

    def __init__(self, total: int, progress: Callable[[int, int], None] | None) -> None:
        self.total, self.done, self.progress = total, 0, progress

    def file_done(self, _: SourceFile) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    def finish(self) -> None:
        if self.progress is not None and self.total:
            self.progress(self.total, self.total)  # unchanged files were skipped, not counted


def where(settings: Settings, env: dict[str, str] | None = None) -> list[str]:
    """The folders the chosen sources look in (for a user whose dry-run found nothing)."""
    env = dict(os.environ) if env is None else env
    return [w for src in select_sources(settings.agents) for w in src.where(env)]


def status(settings: Settings) -> Status:
    """The spool's health, read without the lock (works while `start` runs)."""
    found = read_status(settings.state_dir)
    return dataclasses.replace(found, log=str(settings.log_file)) if found.initialized else found


def start_once(
    settings: Settings,
    *,
    client: httpx.Client | None = None,
    env: dict[str, str] | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
    sinks: list[Sink] | None = None,
    say: Callable[[str], None] | None = None,
    index: Recorder | None = None,
) -> RunResult:
    """`start --once`: backfill into the spool, deliver until empty or --drain-timeout.

    `say` is told, a line at a time, what a person at a terminal wants to see (the drain);
    `index` collects the re-run index (module `rerun`; the command line passes one)."""
    once = dataclasses.replace(settings, once=True)
    with Session(once, client=client, stop=stop, sinks=sinks, say=say, index=index) as s:
        return s.backfill_and_drain(env, progress)


def start_forever(
    settings: Settings,
    *,
    client: httpx.Client | None = None,
    env: dict[str, str] | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
    sinks: list[Sink] | None = None,
    say: Callable[[str], None] | None = None,
) -> RunResult:
    """`start`: backfill, then follow the transcripts and ship until `stop` is set.

    `say` gets a start line and then a one-line summary every SUMMARY_SECONDS."""
    daemon = dataclasses.replace(settings, once=False)
    with Session(daemon, client=client, stop=stop, sinks=sinks, say=say) as s:
        return s.backfill_and_follow(env, progress)


def report(
    settings: Settings,
    query: Query,
    env: dict[str, str] | None = None,
    views: dict[str, tuple[str, ...]] | None = None,
) -> tuple[CatchUp, Result, dict[str, Result]]:
    """`report`: read what is new (no delivery, no key), then group the history as asked;
    `views` names more groupings of the same events (the HTML page's charts)."""
    from agent_cli.report import build
    from agent_cli.report_sql import Grouper

    caught = read_new(settings, env)
    asked = [query] + [
        dataclasses.replace(query, by=by, order="", breakdown=False)
        for by in (views or {}).values()
    ]
    with history_db(settings.state_dir) as db:
        if db is None:
            results, notes = [build([], q) for q in asked], []
        else:
            grouper = Grouper(db, query)  # SQLite groups: the report costs no Python per event
            results, notes = [grouper.result(q) for q in asked], _history_notes(db, query)
    result = results[0]
    result.notes += notes + ([caught.note] if caught.note else [])
    return caught, result, dict(zip(views or {}, results[1:], strict=True))


def report_session(
    settings: Settings, query: Query, session: str, env: dict[str, str] | None = None
) -> dict[str, object]:
    """`report session <id>`: read what is new, then the one session's facts."""
    from agent_cli.errors import ConfigError
    from agent_cli.report_session import detail

    read_new(settings, env)
    with history_db(settings.state_dir) as db:
        if db is None:
            raise ConfigError(f"No session {session!r} in the history (it is empty).")
        return detail(db, query, session)


def _history_notes(db: sqlite3.Connection, query: Query) -> list[str]:
    """Where the history starts, when this spool held events before it had one."""
    row = db.execute("SELECT v FROM meta WHERE k = 'history_from'").fetchone()
    if row is None:
        return []
    import datetime as dt

    start = dt.datetime.fromtimestamp(float(row[0]), query.tz).date()
    if query.since is not None and query.since >= start:
        return []
    return [
        f"the history starts on {start}, when this spool was upgraded: events delivered "
        "before then are not in it"
    ]
