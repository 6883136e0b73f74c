"""The pipeline: sources -> facts -> (ledger, enrich, price) -> events -> a target.

`scan()` reads every new complete line of every transcript once, in discovery order, and
hands each chunk's events and the cursor that passes them to a target in one call, so a
spool can commit both in one transaction. Dry-run is the same scan with a target that prints
events and keeps its state in memory.
"""

from __future__ import annotations

import functools
import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any, NamedTuple, Protocol

from agent_cli import sources as sources_mod
from agent_cli.config import Settings
from agent_cli.enrich import Enricher
from agent_cli.errors import ConfigError
from agent_cli.events import (
    TOKEN_FIELDS,
    CallFact,
    Place,
    ToolFact,
    encode_llm_call,
    encode_tool_call,
    llm_call_body,
)
from agent_cli.ledger import Drop, Ledger, MemoryStore, Store, alias_key, key_of
from agent_cli.pricing import Pricer
from agent_cli.sources import Source, SourceFile
from agent_cli.tail import Cursor


@dataclass
class Report:
    """What a scan did: the dry-run summary and the numbers `start --once` logs."""

    files: int = 0
    files_read: int = 0
    bytes_read: int = 0
    llm_calls: int = 0
    error_calls: int = 0
    tool_calls: int = 0
    revisions: int = 0
    tokens: Counter[str] = field(default_factory=Counter)
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    not_emitted: Counter[str] = field(default_factory=Counter)
    resets: Counter[str] = field(default_factory=Counter)
    by_agent: Counter[str] = field(default_factory=Counter)
    partial_lines: int = 0  # files ending in a line still being written (read once complete)


class Target(Protocol):
    """Where a scan's results go: a spool, or stdout for dry-run."""

    ledger: Ledger

    def cursor(self, path: str) -> Cursor | None: ...
    def seen(self, path: str) -> tuple[int, int] | None: ...
    def flush(self) -> None: ...
    def commit(self, agent: str, cursor: Cursor, build: Callable[[], list[Admitted]]) -> int: ...


class CallSummary(NamedTuple):
    """What the run's summary needs of a call: its tokens (TOKEN_FIELDS order), cost, failure."""

    tokens: tuple[int, ...]
    cost_usd: float | None
    failed: bool


class Prepared(NamedTuple):
    """A fact made an event, before the ledger decides (built in worker processes too).

    A NamedTuple: cheap to build by the million and to pickle back from a worker.
    """

    key: int  # the ledger key
    rank: int  # grows with the call's usage (0 for a tool call)
    alias: int | None  # the ledger key of a call's message id (/btw replays)
    sidechain: bool
    event_id: str
    agent: str
    body: bytes  # a tool call's whole encoding; a call's tail for events.llm_call_body
    hold: bool  # a call whose output is not final yet
    call: CallSummary | None  # None for a tool call


class Admitted(NamedTuple):
    """An event the ledger let through, encoded at its revision."""

    key: int
    event_id: str
    revision: int
    agent: str
    body: bytes
    hold: bool


class Preparer:
    """Facts -> prepared events: --since, enrichment, price, the allow-listed encoding.

    It holds no ledger, so it can run in worker processes; each keeps its own caches.
    """

    def __init__(
        self, since: str | None, enricher: Enricher | None = None, pricer: Pricer | None = None
    ) -> None:
        self.since = since
        self.enricher = enricher or Enricher()
        self.pricer = pricer or Pricer()
        self.not_emitted: Counter[str] = Counter()

    def prepare(self, facts: Iterable[object]) -> list[Prepared]:
        out: list[Prepared] = []
        for f in facts:
            if not isinstance(f, (CallFact, ToolFact)):
                continue
            if self.since and f.timestamp[:10] < self.since:
                self.not_emitted["before_since"] += 1
                continue
            place = self.enricher.place(f.context)
            if isinstance(f, CallFact):
                out.append(self._call(f, place))
            else:
                body = encode_tool_call(f, place)
                key = key_of(f.event_id)
                out.append(Prepared(key, 0, None, False, f.event_id, f.agent, body, False, None))
        return out

    def _call(self, f: CallFact, place: Place) -> Prepared:
        u = f.usage
        cost = self.pricer.cost(f.model, f.provider, u, f.speed)
        tokens = (
            u.input_tokens,
            u.output_tokens,
            u.cache_read_tokens,
            u.cache_creation_tokens,
            u.cache_creation_1h_tokens,
            u.reasoning_tokens,
        )
        return Prepared(
            key=key_of(f.event_id),
            rank=f.rank,
            alias=alias_key(f.agent, f.alias) if f.alias else None,
            sidechain=f.is_sidechain,
            event_id=f.event_id,
            agent=f.agent,
            body=encode_llm_call(f, place, cost),
            hold=not f.output_final,
            call=CallSummary(tokens, cost, f.status == "error"),
        )


class Builder:
    """Facts -> events a target may take: prepare, then let the ledger decide (admit)."""

    def __init__(
        self,
        ledger: Ledger,
        report: Report,
        since: str | None,
        enricher: Enricher | None = None,
        pricer: Pricer | None = None,
    ) -> None:
        self.ledger = ledger
        self.report = report
        self.since = since
        self.preparer = Preparer(since, enricher, pricer)
        self._prev_tokens: dict[int, tuple[int, ...]] = {}  # by ledger key, for revisions

    def build(self, facts: Iterable[object]) -> list[Admitted]:
        """Prepare and admit in this process (tail polls, small backfills, tests)."""
        prepared = self.preparer.prepare(facts)
        self.report.not_emitted.update(self.preparer.not_emitted)
        self.preparer.not_emitted.clear()
        return self.admit(prepared)

    def admit(self, prepared: list[Prepared]) -> list[Admitted]:
        """Let the ledger decide each event's revision (or drop it); count the report."""
        keys = [p.key for p in prepared] + [p.alias for p in prepared if p.alias is not None]
        self.ledger.prefetch(keys)
        out: list[Admitted] = []
        for key, rank, alias, side, eid, agent, body, hold, call in prepared:
            if call is None:
                decision = self.ledger.offer_tool(key)
                if isinstance(decision, Drop):
                    self.report.not_emitted[decision.reason] += 1
                    continue
                self.report.tool_calls += 1
                out.append(Admitted(key, eid, 0, agent, body, hold))
                continue
            decision = self.ledger.offer_call(key, rank, alias, side)
            if isinstance(decision, Drop):
                self.report.not_emitted[decision.reason] += 1
                continue
            rev = decision.revision
            self._count_call(key, agent, rev, call)
            out.append(Admitted(key, eid, rev, agent, llm_call_body(eid, rev, body), hold))
        return out

    def _count_call(self, key: int, agent: str, rev: int, summary: CallSummary) -> None:
        r = self.report
        now, cost, failed = summary
        t = r.tokens
        if rev == 0:
            r.llm_calls += 1
            r.by_agent[agent] += 1
            r.error_calls += failed
            for name, a in zip(TOKEN_FIELDS, now, strict=True):
                t[name] += a
        else:
            r.revisions += 1
            before = self._prev_tokens.get(key, _ZERO)
            for name, a, b in zip(TOKEN_FIELDS, now, before, strict=True):
                t[name] += a - b
        if cost is None:
            r.unpriced_calls += 1
        else:
            r.cost_usd += cost
        # A later revision replaces these tokens in the summary (the server keeps the last).
        # Bounded: a long-running daemon must not grow; an evicted call that grows again
        # only makes the local summary (not the events) count its first revision twice.
        prev = self._prev_tokens
        prev[key] = now
        if len(prev) > _PREV_MAX:
            del prev[next(iter(prev))]


_ZERO = (0,) * len(TOKEN_FIELDS)
_PREV_MAX = 200_000  # calls whose tokens the summary remembers, for revisions


def select_sources(agents: tuple[str, ...]) -> list[Source]:
    """Return the sources to read; raise ConfigError for an unknown agent name."""
    known = sources_mod.registry()
    for a in agents:
        if a not in known:
            raise ConfigError(f"Unknown agent {a!r}; choose from: {', '.join(sorted(known))}.")
    return [s for name, s in known.items() if not agents or name in agents]


def discover(
    srcs: list[Source], settings: Settings, env: dict[str, str] | None = None
) -> Iterator[tuple[Source, SourceFile]]:
    """Yield every transcript file of the chosen sources, skipping files older than --since."""
    env = dict(os.environ) if env is None else env
    floor = _since_ns(settings)
    for src in srcs:
        for sf in src.discover(env):
            if floor and sf.mtime_ns < floor:
                continue  # not written since the date: it cannot hold a newer call
            yield src, sf


def _since_ns(settings: Settings) -> int:
    if settings.since is None:
        return 0
    from datetime import UTC, datetime, time

    return int(datetime.combine(settings.since, time(), tzinfo=UTC).timestamp() * 1e9)


PARALLEL_MIN_BYTES = 64 * 1024 * 1024  # a smaller backfill is not worth starting workers
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
    price, encode) by `settings.workers` processes; the ledger and every commit stay here.
    """
    report = builder.report
    todo = []
    for src, sf in files:
        report.files += 1
        if target.seen(sf.path) == (sf.size, sf.mtime_ns):
            continue  # unchanged since the last scan: not even opened
        todo.append((src, sf, target.cursor(sf.path)))
    new_bytes = sum(sf.size - (cur.offset if cur else 0) for _, sf, cur in todo)
    if settings.workers > 1 and len(todo) > 1 and new_bytes >= PARALLEL_MIN_BYTES:
        readings = _prepare_parallel(todo, settings, builder, should_stop)
    else:
        readings = (
            (src, sf, _prepare_here(src, sf, cur, settings, builder)) for src, sf, cur in todo
        )
    for src, sf, chunks in readings:
        if should_stop():
            break
        report.files_read += 1
        for cursor, reset, partial, nbytes, prepared in chunks:
            if reset:
                report.resets[reset] += 1
            report.partial_lines += partial
            target.commit(src.agent, cursor, functools.partial(builder.admit, prepared))
            report.bytes_read += nbytes
            if should_stop():
                break
        if on_file is not None:
            on_file(sf)
    target.flush()
    return report


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


_worker_preparer: Preparer | None = None


def prepare_file(
    agent: str, path: str, cursor: Cursor | None, since: str | None, max_line: int
) -> tuple[list[PreparedChunk], Counter[str], Counter[str]]:
    """In a worker process: read and prepare one file's chunks (pickled back)."""
    global _worker_preparer
    if _worker_preparer is None or _worker_preparer.since != since:
        _worker_preparer = Preparer(since)
    prep = _worker_preparer
    skipped: Counter[str] = Counter()
    src = sources_mod.registry()[agent]
    chunks = [
        PreparedChunk(c.cursor, c.reset_reason, c.partial, c.bytes_read, prep.prepare(c.facts))
        for c in src.read(path, cursor, skipped, max_line)
    ]
    not_emitted = Counter(prep.not_emitted)
    prep.not_emitted.clear()
    return chunks, skipped, not_emitted


def _prepare_parallel(
    todo: list[tuple[Source, SourceFile, Cursor | None]],
    settings: Settings,
    builder: Builder,
    should_stop: Callable[[], bool],
) -> Iterator[tuple[Source, SourceFile, Iterable[PreparedChunk]]]:
    """Prepare files in worker processes; yield them in order as they complete."""
    import multiprocessing

    # spawn, not fork: a forked child would inherit the spool's SQLite connection and lock.
    ctx = multiprocessing.get_context("spawn")
    report = builder.report
    with ProcessPoolExecutor(settings.workers, mp_context=ctx) as pool:
        pending: deque[tuple[Source, SourceFile, Cursor | None, Future[Any]]] = deque()
        it = iter(todo)
        try:
            while True:
                while len(pending) < _AHEAD * settings.workers:
                    nxt = next(it, None)
                    if nxt is None:
                        break
                    src, sf, cur = nxt
                    pending.append(
                        (
                            src,
                            sf,
                            cur,
                            pool.submit(
                                prepare_file,
                                src.agent,
                                sf.path,
                                cur,
                                builder.since,
                                settings.max_line_bytes,
                            ),
                        )
                    )
                if not pending or should_stop():
                    break
                src, sf, cur, fut = pending.popleft()
                try:
                    chunks, skipped, not_emitted = fut.result()
                except Exception:  # a worker that died: this file is read here instead
                    yield src, sf, _prepare_here(src, sf, cur, settings, builder)
                    continue
                report.skipped.update(skipped)
                report.not_emitted.update(not_emitted)
                yield src, sf, chunks
        finally:
            for *_, fut in pending:
                fut.cancel()


class PrintTarget:
    """The dry-run target: events to a stream as JSON Lines, state in memory only."""

    def __init__(self, out: IO[bytes], store: Store | None = None) -> None:
        self.out = out
        self.ledger = Ledger(store or MemoryStore())

    def cursor(self, path: str) -> Cursor | None:
        return None

    def seen(self, path: str) -> tuple[int, int] | None:
        return None

    def flush(self) -> None:
        self.out.flush()

    def commit(self, agent: str, cursor: Cursor, build: Callable[[], list[Admitted]]) -> int:
        events = build()
        if events:
            self.out.write(b"\n".join(e.body for e in events) + b"\n")
        return len(events)


def dry_run(
    settings: Settings,
    out: IO[bytes],
    env: dict[str, str] | None = None,
    on_file: Callable[[SourceFile], None] | None = None,
) -> Report:
    """Print every event that would be sent; send and store nothing."""
    srcs = select_sources(settings.agents)
    target = PrintTarget(out)
    builder = Builder(target.ledger, Report(), settings.since_iso())
    report = scan(settings, target, builder, discover(srcs, settings, env), on_file=on_file)
    out.flush()
    return report
