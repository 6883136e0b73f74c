"""The pipeline: sources -> facts -> (ledger, enrich, price) -> events -> a target.

`scan()` reads every new complete line of every transcript once, in discovery order, and
hands each chunk's events and the cursor that passes them to a target in one call, so a
spool can commit both in one transaction. Dry-run is the same scan with a target that prints
events and keeps its state in memory.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import msgspec

from agent_cli import sources as sources_mod
from agent_cli.config import Settings
from agent_cli.enrich import Enricher
from agent_cli.errors import ConfigError
from agent_cli.events import TOKEN_FIELDS, CallFact, ToolFact, llm_call, tool_call
from agent_cli.ledger import Ledger, MemoryStore, Store, key_of
from agent_cli.pricing import Pricer
from agent_cli.sources import Source, SourceFile
from agent_cli.tail import Cursor

_encode = msgspec.json.encode


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
    def commit(self, agent: str, cursor: Cursor, build: Callable[[], list[Built]]) -> int: ...


Built = tuple[dict[str, Any], bool]  # an event, and whether it may still grow (hold it)


class Builder:
    """Turn facts into events: ledger decision, enrichment, price; counts into a report."""

    def __init__(self, ledger: Ledger, report: Report, since: str | None,
                 enricher: Enricher | None = None, pricer: Pricer | None = None) -> None:
        self.ledger = ledger
        self.report = report
        self.since = since
        self.enricher = enricher or Enricher()
        self.pricer = pricer or Pricer()
        self._prev_tokens: dict[int, tuple[int, ...]] = {}  # by ledger key, for revisions

    def build(self, facts: Iterable[object]) -> list[Built]:
        """Return the events to emit for these facts, each with its hold flag."""
        out: list[Built] = []
        facts = list(facts)
        self.ledger.prefetch(facts)
        for f in facts:
            if self.since and f.timestamp[:10] < self.since:  # type: ignore[attr-defined]
                self.report.not_emitted["before_since"] += 1
                continue
            if isinstance(f, CallFact):
                ev = self._call(f)
                hold = not f.output_final
            elif isinstance(f, ToolFact):
                ev, hold = self._tool(f), False
            else:
                continue
            if ev is not None:
                out.append((ev, hold))
        return out

    def _call(self, f: CallFact) -> dict[str, Any] | None:
        rev = self.ledger.offer_call(f)
        if isinstance(rev, str):
            self.report.not_emitted[rev] += 1
            return None
        cost = self.pricer.cost(f.model, f.provider, f.usage, f.speed)
        ev = llm_call(f, self.enricher.place(f.context), cost, rev)
        self._count_call(ev, rev)
        return ev

    def _count_call(self, ev: dict[str, Any], rev: int) -> None:
        r = self.report
        now = (ev["input_tokens"], ev["output_tokens"], ev["cache_read_tokens"],
               ev["cache_creation_tokens"], ev["cache_creation_1h_tokens"],
               ev["reasoning_tokens"])
        t = r.tokens
        if rev == 0:
            r.llm_calls += 1
            r.by_agent[ev["agent"]] += 1
            r.error_calls += ev["status"] == "error"
            for name, a in zip(TOKEN_FIELDS, now, strict=True):
                t[name] += a
        else:
            r.revisions += 1
            before = self._prev_tokens.get(key_of(ev["event_id"]), _ZERO)
            for name, a, b in zip(TOKEN_FIELDS, now, before, strict=True):
                t[name] += a - b
        if ev["cost_usd"] is None:
            r.unpriced_calls += 1
        else:
            r.cost_usd += ev["cost_usd"]
        # A later revision replaces these tokens in the summary (the server keeps the last).
        self._prev_tokens[key_of(ev["event_id"])] = now

    def _tool(self, f: ToolFact) -> dict[str, Any] | None:
        rev = self.ledger.offer_tool(f)
        if isinstance(rev, str):
            self.report.not_emitted["duplicate_tool"] += 1
            return None
        self.report.tool_calls += 1
        return tool_call(f, self.enricher.place(f.context))


_ZERO = (0,) * len(TOKEN_FIELDS)


def select_sources(agents: tuple[str, ...]) -> list[Source]:
    """Return the sources to read; raise ConfigError for an unknown agent name."""
    known = sources_mod.registry()
    for a in agents:
        if a not in known:
            raise ConfigError(f"Unknown agent {a!r}; choose from: {', '.join(sorted(known))}.")
    return [s for name, s in known.items() if not agents or name in agents]


def discover(srcs: list[Source], settings: Settings,
             env: dict[str, str] | None = None) -> Iterator[tuple[Source, SourceFile]]:
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


def scan(settings: Settings, target: Target, builder: Builder,
         files: Iterable[tuple[Source, SourceFile]],
         should_stop: Callable[[], bool] = lambda: False,
         on_file: Callable[[SourceFile], None] | None = None) -> Report:
    """Read the new lines of every file into the target; return the builder's report."""
    report = builder.report
    for src, sf in files:
        if should_stop():
            break
        report.files += 1
        if target.seen(sf.path) == (sf.size, sf.mtime_ns):
            continue  # unchanged since the last scan: not even opened
        cur = target.cursor(sf.path)
        report.files_read += 1
        for chunk in src.read(sf.path, cur, report.skipped, settings.max_line_bytes):
            if chunk.reset_reason:
                report.resets[chunk.reset_reason] += 1
            report.partial_lines += chunk.partial
            target.commit(src.agent, chunk.cursor, functools.partial(builder.build, chunk.facts))
            report.bytes_read += chunk.bytes_read
            if should_stop():
                break
        if on_file is not None:
            on_file(sf)
    target.flush()
    return report


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

    def commit(self, agent: str, cursor: Cursor, build: Callable[[], list[Built]]) -> int:
        events = build()
        if events:
            self.out.write(b"\n".join(_encode(e) for e, _ in events) + b"\n")
        return len(events)


def dry_run(settings: Settings, out: IO[bytes], env: dict[str, str] | None = None,
            on_file: Callable[[SourceFile], None] | None = None) -> Report:
    """Print every event that would be sent; send and store nothing."""
    srcs = select_sources(settings.agents)
    target = PrintTarget(out)
    builder = Builder(target.ledger, Report(), settings.since_iso())
    report = scan(settings, target, builder, discover(srcs, settings, env), on_file=on_file)
    out.flush()
    return report
