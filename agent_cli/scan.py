"""Scanning: discover transcript files, read their new lines, and commit each chunk to a target.

`scan()` reads every new complete line of every transcript once, in discovery order, and
hands each chunk's events and the cursor that passes them to a target in one call, so a
spool can commit both in one transaction. A large backfill is read and prepared in worker
processes forked after imports (module `workers`); the ledger and every commit stay here.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import replace
from typing import NamedTuple, Protocol, cast

from agent_cli import sources as sources_mod
from agent_cli import workers
from agent_cli.config import Settings
from agent_cli.cursor import Cursor, covers, stricter
from agent_cli.errors import ConfigError
from agent_cli.ledger import Ledger, MemoryStore, Store
from agent_cli.prepare import Admitted, Builder, Prepared, Report
from agent_cli.pricing import Rows
from agent_cli.sinks import Outgoing, Sink
from agent_cli.sources import Source, SourceFile

log = logging.getLogger("agent_cli")


class Target(Protocol):
    """Where a scan's results go: a spool, or stdout for dry-run."""

    ledger: Ledger

    def cursor(self, path: str) -> Cursor | None: ...
    def seen(self, path: str) -> tuple[int, int, str | None] | None: ...
    def flush(self) -> None: ...
    def chunk(self, agent: str, cursor: Cursor) -> AbstractContextManager[list[Admitted]]:
        """A chunk's transaction: events put in the yielded list commit with `cursor`."""
        ...


# Names people type for an agent, besides its own.
ALIASES = {
    "claude": "claude-code",
    "gemini": "gemini-cli",
    "codex-cli": "codex",
    "copilot": "copilot-cli",
    "qwen": "qwen-code",
    "kimi": "kimi-cli",
    "grok": "grok-build",
    "roo": "roo-code",
    "kilo": "kilo-code",
}


def select_sources(agents: tuple[str, ...]) -> list[Source]:
    """Return the sources to read; raise ConfigError for an unknown agent name."""
    known = sources_mod.registry()
    wanted = {ALIASES.get(a, a) for a in agents}
    for a in sorted(wanted):
        if a not in known:
            raise ConfigError(f"Unknown agent {a!r}; choose from: {', '.join(sorted(known))}.")
    return [s for name, s in known.items() if not wanted or name in wanted]


def discover(
    srcs: list[Source],
    settings: Settings,
    env: Mapping[str, str] | None = None,
    older: list[int] | None = None,
    found: Callable[[str, int, int], None] | None = None,
) -> Iterator[tuple[Source, SourceFile]]:
    """Yield every transcript file of the chosen sources, skipping files older than --since
    (counted in `older[0]` when given: a person told "nothing found" wants to know).

    `found(path, size, mtime_ns)` hears of every file, those older than --since too."""
    env = dict(os.environ) if env is None else env
    floor = _since_ns(settings)
    for src in srcs:
        for sf in src.discover(env):
            if found is not None:
                found(sf.path, sf.size, sf.mtime_ns)
            if floor and sf.mtime_ns < floor:
                if older is not None:
                    older[0] += 1
                continue  # not written since the date: it cannot hold a newer call
            yield src, sf


def _since_ns(settings: Settings) -> int:
    if settings.since is None:
        return 0
    from datetime import UTC, datetime, time

    return int(datetime.combine(settings.since, time(), tzinfo=UTC).timestamp() * 1e9)


_AHEAD = 6  # files in flight per worker: bounds what waits in memory


def scan(
    settings: Settings,
    target: Target,
    builder: Builder,
    files: Iterable[tuple[Source, SourceFile]],
    should_stop: Callable[[], bool] = lambda: False,
    on_file: Callable[[SourceFile], None] | None = None,
) -> Report:
    """Read the new lines of every file into the target; return the builder's report.

    Files are committed in discovery order (the counting rules rely on it: a `/btw` replay
    is read after its original). A large backfill is read and prepared (decode, enrich,
    price, encode) by `settings.workers` forked processes where forking is safe; the ledger
    and every commit stay here.
    """
    report = builder.report
    todo, floors = _todo(target, files, builder.since, report)
    new_bytes = sum(sf.size - (cur.offset if cur else 0) for _, sf, cur in todo)
    readings: Generator[tuple[Source, SourceFile, Iterable[PreparedChunk]], None, None]
    if settings.workers > 1 and len(todo) > 1 and new_bytes >= settings.parallel_min_bytes:
        readings = _prepare_parallel(todo, settings, builder, should_stop)
    else:
        readings = (
            (src, sf, _prepare_here(src, sf, cur, settings, builder)) for src, sf, cur in todo
        )
    try:
        with closing(readings):  # a scan that stops early stops the workers now
            _commit(readings, target, builder, floors, should_stop, on_file)
    finally:
        builder.preparer.pricer.release()  # a daemon must not keep a price prober between polls
    target.flush()
    return report


def _commit(
    readings: Iterable[tuple[Source, SourceFile, Iterable[PreparedChunk]]],
    target: Target,
    builder: Builder,
    floors: dict[str, str | None],
    should_stop: Callable[[], bool],
    on_file: Callable[[SourceFile], None] | None,
) -> None:
    """Admit and commit each file's chunks, in order, each with the cursor that passes it."""
    report = builder.report
    for src, sf, chunks in readings:
        if should_stop():
            break
        report.files_read += 1
        for cursor, reset, partial, nbytes, prepared in chunks:
            if reset:
                report.resets[reset] += 1
            report.partial_lines += partial
            cursor = replace(cursor, since=floors[sf.path])
            with target.chunk(src.agent, cursor) as events:
                events.extend(builder.admit(prepared))
            report.bytes_read += nbytes
            if should_stop():
                break
        if on_file is not None:
            on_file(sf)


def _todo(
    target: Target, files: Iterable[tuple[Source, SourceFile]], since: str | None, report: Report
) -> tuple[list[tuple[Source, SourceFile, Cursor | None]], dict[str, str | None]]:
    """The files to read, from where, and the --since floor each one's cursor will carry.

    A file unchanged since its cursor is not even opened. One read under a later --since
    than this run's (or any, when this run has none) is read again from the start: what
    that run held back is read now; the ledger makes the rest duplicates, never re-sent.
    """
    todo: list[tuple[Source, SourceFile, Cursor | None]] = []
    floors: dict[str, str | None] = {}
    for src, sf in files:
        if sf.path not in report.paths:
            report.paths.add(sf.path)
            report.files_by_agent[sf.agent] += 1
        seen = target.seen(sf.path)
        if seen is not None and seen[:2] == (sf.size, sf.mtime_ns) and covers(seen[2], since):
            continue  # unchanged since the last scan: not even opened
        cur = target.cursor(sf.path)
        if cur is not None and not covers(cur.since, since):
            report.rereads["since"] += 1
            cur = None
        floors[sf.path] = since if cur is None else stricter(cur.since, since)
        todo.append((src, sf, cur))
    return todo, floors


# what a child tells of a file after its chunks: lines skipped, facts not emitted, new rates
_Counts = tuple[Counter[str], Counter[str], Rows]


class PreparedChunk(NamedTuple):
    """A chunk of a file read and prepared: what `scan` commits with its cursor."""

    cursor: Cursor
    reset_reason: str | None
    partial: bool  # the file ends in a line still being written
    bytes_read: int
    prepared: list[Prepared]


def _prepare_here(
    src: Source, sf: SourceFile, cur: Cursor | None, settings: Settings, builder: Builder
) -> Iterator[PreparedChunk]:
    """Read and prepare a file's chunks lazily, in this process."""
    prep = builder.preparer
    for c in src.read(sf.path, cur, builder.report.skipped, settings.max_line_bytes):
        prepared = prep.prepare(c.facts)
        builder.report.not_emitted.update(prep.not_emitted)
        prep.not_emitted.clear()
        yield PreparedChunk(c.cursor, c.reset_reason, c.partial, c.bytes_read, prepared)


def _prepare_parallel(
    todo: list[tuple[Source, SourceFile, Cursor | None]],
    settings: Settings,
    builder: Builder,
    should_stop: Callable[[], bool],
) -> Generator[tuple[Source, SourceFile, Iterable[PreparedChunk]], None, None]:
    """Prepare files in children forked now (module `workers`); yield them in order.

    A file a child did not hand back is read here and counted in `worker_failures`. Where
    forking is not safe (other threads, no fork), every file is read here."""
    why = workers.cannot_fork()
    if why is not None:
        log.info("reading in one process (%s)", why)
        for src, sf, cur in todo:
            yield src, sf, _prepare_here(src, sf, cur, settings, builder)
        return
    report = builder.report

    def job(i: int) -> Iterator[object]:  # in a child: `todo` and the preparer are its copies
        src, sf, cur = todo[i]
        skipped: Counter[str] = Counter()
        prep = builder.preparer
        for c in src.read(sf.path, cur, skipped, settings.max_line_bytes):
            yield PreparedChunk(c.cursor, c.reset_reason, c.partial, c.bytes_read,
                                prep.prepare(c.facts))  # fmt: skip
        not_emitted = Counter(prep.not_emitted)  # the child's own counter: this file's part
        prep.not_emitted.clear()
        cache = prep.pricer.cache
        yield skipped, not_emitted, cache.take_new() if cache is not None else {}

    cache = builder.preparer.pricer.cache
    builder.preparer.pricer.preload()  # once here, not once per child
    sizes = [sf.size - (cur.offset if cur else 0) for _, sf, cur in todo]
    pool = workers.Pool(settings.workers, job, sizes, ahead=_AHEAD, should_stop=should_stop)
    with pool:
        try:
            for i, items in pool.results():
                src, sf, cur = todo[i]
                if items is None:  # a child that died or failed: this file is read here
                    if should_stop():
                        return
                    yield src, sf, _prepare_here(src, sf, cur, settings, builder)
                    continue
                skipped, not_emitted, rates = cast(_Counts, items.pop())
                report.skipped.update(skipped)
                report.not_emitted.update(not_emitted)
                if cache is not None:
                    cache.add(rates)  # the rates a child probed, saved with this run's
                yield src, sf, cast(list[PreparedChunk], items)
        finally:
            report.worker_failures.update(pool.failed)


class SinkTarget:
    """A target with its state in memory only, handing each chunk's events to a sink at once.

    Dry-run is the pipeline with this target and the stdout sink: the same scan, ledger and
    encoding as `start`, with nothing stored.
    """

    def __init__(self, sink: Sink, store: Store | None = None) -> None:
        self.sink = sink
        self.ledger = Ledger(store or MemoryStore())

    def cursor(self, path: str) -> Cursor | None:
        return None

    def seen(self, path: str) -> tuple[int, int, str | None] | None:
        return None

    def flush(self) -> None:
        pass

    @contextmanager
    def chunk(self, agent: str, cursor: Cursor) -> Iterator[list[Admitted]]:
        events: list[Admitted] = []
        yield events
        if events:
            self.sink.send(
                [Outgoing(i, e.event_id, e.revision, e.body) for i, e in enumerate(events)]
            )
