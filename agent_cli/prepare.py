"""Preparing: facts become allow-listed, enriched, priced events, and the ledger admits them.

`Preparer` (no ledger, so it runs in worker processes too) turns a source's facts into
`Prepared` events: --since, enrichment, price, the contract's encoding. `Builder` lets the
ledger decide each one (`Admitted` at a revision, or dropped and counted) and keeps the run's
`Report`. Both are pure with respect to storage: a target commits what they return.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from agent_cli.enrich import Enricher
from agent_cli.events import (
    TOKEN_FIELDS,
    CallFact,
    Place,
    ToolFact,
    encode_llm_call,
    encode_tool_call,
    llm_call_body,
    superseded_tail,
)
from agent_cli.ledger import Drop, Ledger, Supersede, alias_key, key_of
from agent_cli.pricing import Pricer
from agent_cli.sources.common import ms


@dataclass
class Report:
    """What a scan did: the dry-run summary and the numbers `start --once` logs."""

    paths: set[str] = field(default_factory=set)  # every file found (not added up over polls)
    older_than_since: int = 0  # files found but not written since --since (not read)
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
    rereads: Counter[str] = field(default_factory=Counter)  # files read again from 0, and why
    by_agent: Counter[str] = field(default_factory=Counter)
    files_by_agent: Counter[str] = field(default_factory=Counter)  # files found, per agent
    unread: list[str] = field(default_factory=list)  # agents found here but not read, and why
    partial_lines: int = 0  # files ending in a line still being written (read once complete)
    worker_failures: Counter[str] = field(default_factory=Counter)  # files a worker lost, by why

    @property
    def files(self) -> int:
        """Transcript files found, each once however many polls looked at it."""
        return len(self.paths)


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
    alias: int | None  # the ledger key an original and its copies share (ledger.py)
    copy: str | None  # a copy: the reason it is dropped when its original is known
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


# A NamedTuple's own __new__ is a Python function (a frame per event); tuple.__new__ with
# the fields in order builds the same object at half the cost. Once per event of a history.
_new = tuple.__new__


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
        append = out.append
        since = self.since
        place_of = self.enricher.place
        for f in facts:
            if not isinstance(f, (CallFact, ToolFact)):
                continue
            ts = f.timestamp
            if ms(ts) is None:  # not emitted as it is: the contract wants ISO UTC
                self.not_emitted["bad_timestamp" if ts else "no_timestamp"] += 1
                continue
            if since and ts[:10] < since:
                self.not_emitted["before_since"] += 1
                continue
            place = place_of(f.context)
            if isinstance(f, CallFact):
                append(self._call(f, place))
            else:
                eid = f.event_id
                body = encode_tool_call(f, place)
                append(
                    _new(Prepared, (key_of(eid), 0, None, None, eid, f.agent, body, False, None))
                )
        return out

    def _call(self, f: CallFact, place: Place) -> Prepared:
        u = f.usage
        cost = f.cost_usd
        if cost is None:
            cost = self.pricer.cost(f.model, f.provider, u, f.speed)
        tokens = (
            u.input_tokens,
            u.output_tokens,
            u.cache_read_tokens,
            u.cache_creation_tokens,
            u.cache_creation_1h_tokens,
            u.reasoning_tokens,
        )
        eid = f.event_id
        alias = alias_key(f.agent, f.alias) if f.alias else None
        summary = _new(CallSummary, (tokens, cost, f.status == "error"))
        tail = encode_llm_call(f, place, cost)
        return _new(Prepared, (key_of(eid), f.rank, alias, f.copy, eid, f.agent,
                               tail, not f.output_final, summary))  # fmt: skip


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
        ledger = self.ledger
        ledger.prefetch(keys)
        r = self.report
        not_emitted = r.not_emitted
        tally = _Tally(r.cost_usd)
        out: list[Admitted] = []
        for key, rank, alias, copy, eid, agent, body, hold, call in prepared:
            if call is None:
                decision = ledger.offer_tool(key)
                if isinstance(decision, Drop):
                    not_emitted[decision.reason] += 1
                    continue
                tally.tool_calls += 1
                out.append(_new(Admitted, (key, eid, 0, agent, body, hold)))
                continue
            decision = ledger.offer_call(key, rank, alias, copy, eid)
            if isinstance(decision, Drop):
                not_emitted[decision.reason] += 1
                continue
            if decision.supersedes is not None:
                out.append(self._superseded(decision.supersedes, agent, body, copy))
            rev = decision.revision
            if rev < 0:
                continue  # the call itself was already emitted
            self._count_call(tally, key, agent, rev, call)
            out.append(_new(Admitted, (key, eid, rev, agent, llm_call_body(eid, rev, body), hold)))
        tally.into(r)
        return out

    def _superseded(self, s: Supersede, agent: str, tail: bytes, copy: str | None) -> Admitted:
        """The next revision of a copy counted before its original: no usage, no cost."""
        r = self.report
        r.not_emitted["superseded_copy"] += 1
        before = self._prev_tokens.pop(s.key, None)
        if before is None:
            r.revisions += 1  # counted by an earlier run: this run only sends its retirement
        else:
            r.llm_calls -= 1
            r.by_agent[agent] -= 1
            for name, b in zip(TOKEN_FIELDS, before, strict=True):
                r.tokens[name] -= b
        return Admitted(s.key, s.event_id, s.revision, agent, superseded_body(s, tail), False)

    def _count_call(
        self, tally: _Tally, key: int, agent: str, rev: int, summary: CallSummary
    ) -> None:
        now, cost, failed = summary
        if rev == 0:
            tally.llm_calls += 1
            self.report.by_agent[agent] += 1
            tally.error_calls += failed
            tally.add(now)
        else:
            tally.revisions += 1
            before = self._prev_tokens.get(key, _ZERO)
            tally.add(now)
            tally.add([-b for b in before])
        if cost is None:
            tally.unpriced_calls += 1
        else:
            tally.cost_usd += cost  # in the order of the calls: float sums depend on it
        # A later revision replaces these tokens in the summary (the server keeps the last).
        # Bounded: a long-running daemon must not grow; an evicted call that grows again
        # only makes the local summary (not the events) count its first revision twice.
        prev = self._prev_tokens
        prev[key] = now
        if len(prev) > _PREV_MAX:
            del prev[next(iter(prev))]


class _Tally:
    """One `admit`'s counts, added to the report once at its end (not per event)."""

    __slots__ = ("cost_usd", "counted", "error_calls", "llm_calls", "revisions", "tokens",
                 "tool_calls", "unpriced_calls")  # fmt: skip

    def __init__(self, cost_usd: float) -> None:
        self.cost_usd = cost_usd  # the report's sum, continued (not a separate sum)
        self.tokens = [0, 0, 0, 0, 0, 0]  # TOKEN_FIELDS order
        self.counted = False  # a call's tokens were counted (the report then names them all)
        self.llm_calls = self.error_calls = self.revisions = 0
        self.tool_calls = self.unpriced_calls = 0

    def add(self, tokens: tuple[int, ...] | list[int]) -> None:
        t = self.tokens
        a, b, c, d, e, f = tokens
        t[0] += a
        t[1] += b
        t[2] += c
        t[3] += d
        t[4] += e
        t[5] += f
        self.counted = True

    def into(self, r: Report) -> None:
        r.cost_usd = self.cost_usd
        r.llm_calls += self.llm_calls
        r.error_calls += self.error_calls
        r.revisions += self.revisions
        r.tool_calls += self.tool_calls
        r.unpriced_calls += self.unpriced_calls
        if self.counted:
            tokens = r.tokens
            for name, n in zip(TOKEN_FIELDS, self.tokens, strict=True):
                tokens[name] += n


def superseded_body(s: Supersede, tail: bytes) -> bytes:
    """The copy's event at its next revision, from its original's encoding, emptied."""
    return llm_call_body(s.event_id, s.revision, superseded_tail(tail))


_ZERO = (0,) * len(TOKEN_FIELDS)
_PREV_MAX = 200_000  # calls whose tokens the summary remembers, for revisions
