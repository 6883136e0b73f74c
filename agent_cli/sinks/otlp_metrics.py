"""OTLP metrics: cumulative totals of the events the OTLP sink delivered, kept in the spool.

Every delivered event adds to its series in the transaction that settles it (`Totals.write`),
so a kill counts it either once or not yet, never twice. A revision adds only its growth over
what the call has counted so far (table `otlp_counted`): a call's tokens and cost are counted
once whatever the number of revisions, its call and error once, its duration once (the first
revision that has one). Series are monotonic: a total never decreases, across restarts too.
A copy counted before its original and then superseded (a zero-usage revision, ledger.py
"Copies") cannot be taken back: what it counted becomes *credit* of its series, which the
original, queued right after it with the same attributes, uses up instead of adding again.

=====================================  =====  =============================================
metric                                 type   extra attributes
=====================================  =====  =============================================
gen_ai.client.token.usage {token}      sum    gen_ai.token.type: input (cached included, as
                                              the convention counts), output, cache_read,
                                              cache_creation (parts of input)
agent_cli.calls {call}                 sum    agent_cli.kind: llm_call | tool_call
agent_cli.errors {error}               sum    agent_cli.kind, error.type
agent_cli.cost.usd {USD}               sum    (llm calls with a known cost)
gen_ai.client.operation.duration s     hist   (llm calls)
agent_cli.tool.duration s              hist   (tool calls)
=====================================  =====  =============================================

Every series also has gen_ai.agent.name, gen_ai.request.model (llm calls), agent_cli.repo,
agent_cli.git_branch and host.name, where the event has them.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_cli.sinks.otlp_map import input_tokens

BOUNDS = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
    163.84,
    327.68,
)  # the GenAI convention's, extended to minutes
SUMS = {  # name -> (unit, is int, description)
    "gen_ai.client.token.usage": ("{token}", True, "Tokens used, by gen_ai.token.type"),
    "agent_cli.calls": ("{call}", True, "Model and tool calls"),
    "agent_cli.errors": ("{error}", True, "Calls that ended in an error, by error.type"),
    "agent_cli.cost.usd": ("{USD}", False, "Cost of the calls with a known price"),
}
HISTOGRAMS = {
    "gen_ai.client.operation.duration": ("s", "Duration of model calls"),
    "agent_cli.tool.duration": ("s", "Duration of tool calls"),
}
CREDIT = "credit:"  # stored like a series, never exported (see `_retire`)
_NOT_ERRORS = (None, "ok", "superseded")
_TOKEN_TYPES = ("input", "output", "cache_read", "cache_creation")
_COUNTED = ("revision", "input", "output", "cache_read", "cache_creation", "cost", "error", "timed")


@dataclass
class Series:
    """One series' running total: a sum's value, or a histogram's count/sum/min/max/buckets."""

    start: float
    value: float = 0
    count: int = 0
    min: float | None = None
    max: float | None = None
    buckets: list[int] = field(default_factory=list)

    def observe(self, x: float) -> None:
        if not self.buckets:
            self.buckets = [0] * (len(BOUNDS) + 1)
        self.buckets[bisect.bisect_left(BOUNDS, x)] += 1
        self.count += 1
        self.value += x
        self.min = x if self.min is None else min(self.min, x)
        self.max = x if self.max is None else max(self.max, x)

    def hist(self) -> str | None:
        if not self.count:
            return None
        return json.dumps([self.count, self.min, self.max, self.buckets])

    def copy(self) -> Series:
        return Series(self.start, self.value, self.count, self.min, self.max, list(self.buckets))


Key = tuple[str, str]  # (metric, attributes as canonical JSON)


def key_of(event_id: str) -> int:
    """The `otlp_counted` key of an event: its id's first 8 bytes as a signed integer."""
    return int.from_bytes(bytes.fromhex(event_id[:16].ljust(16, "0")), "big", signed=True)


def _attrs(**pairs: Any) -> str:
    return json.dumps(sorted((k, v) for k, v in pairs.items() if v is not None))


def _seconds(ms: Any) -> float | None:
    """A duration in seconds, or None for none (or one no clock can give)."""
    if isinstance(ms, bool) or not isinstance(ms, int | float) or ms < 0:
        return None
    return float(ms) / 1000


def _error_attrs(base: dict[str, Any], ev: Mapping[str, Any]) -> str:
    return _attrs(**base, **{"agent_cli.kind": ev.get("kind"),
                             "error.type": ev.get("error_code") or "unknown"})  # fmt: skip


def _base(ev: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "gen_ai.agent.name": ev.get("agent"),
        "agent_cli.repo": ev.get("repo_name") or ev.get("repo_path"),
        "agent_cli.git_branch": ev.get("git_branch"),
        "host.name": ev.get("host"),
    }


class Totals:
    """Every series' total, in memory and in the spool (tables of the `_otlp_metrics` step)."""

    def __init__(self) -> None:
        self.series: dict[Key, Series] = {}
        self.version = 0  # grows with every committed change (what the exporter sends)
        self._pending: dict[Key, Series] = {}
        self._lock = threading.Lock()  # `series` changes on the shipper's thread, is read
        # by the exporter's

    def load(self, db: sqlite3.Connection) -> None:
        for metric, attrs, start, value, hist in db.execute(
            "SELECT metric, attrs, start, value, hist FROM otlp_series"
        ):
            s = Series(float(start), value)
            if hist:
                s.count, s.min, s.max, s.buckets = json.loads(hist)
            with self._lock:
                self.series[(metric, attrs)] = s
        self.version += 1

    def write(
        self, db: sqlite3.Connection, events: Iterable[Mapping[str, Any]], now: float
    ) -> None:
        """Add `events` (delivered) to the totals, in the caller's transaction; the change
        shows in `series` only after `commit`, and `rollback` forgets it (several writes may
        share one transaction: a full disk's owed results are written with the next)."""
        for ev in events:
            self._add(db, ev, now)
        for (metric, attrs), s in self._pending.items():
            db.execute(
                "INSERT OR REPLACE INTO otlp_series(metric, attrs, start, value, hist) "
                "VALUES (?, ?, ?, ?, ?)",
                (metric, attrs, s.start, s.value, s.hist()),
            )

    def commit(self) -> None:
        if self._pending:
            with self._lock:
                self.series.update(self._pending)
                self.version += 1
            self._pending = {}

    def rollback(self) -> None:
        self._pending = {}

    def _get(self, metric: str, attrs: str, now: float) -> Series:
        k = (metric, attrs)
        s = self._pending.get(k)
        if s is None:
            known = self.series.get(k)
            s = self._pending[k] = known.copy() if known else Series(now)
        return s

    def _peek(self, metric: str, attrs: str) -> Series | None:
        k = (metric, attrs)
        return self._pending.get(k) or self.series.get(k)

    def _absorbed(self, metric: str, attrs: str, amount: float, now: float) -> float:
        """What of `amount` a credit takes (a superseded copy's, see `_retire`)."""
        credit = self._peek(CREDIT + metric, attrs)
        if credit is None or credit.value <= 0:
            return 0
        taken = min(credit.value, amount)
        self._get(CREDIT + metric, attrs, now).value -= taken
        return taken

    def _grow(self, metric: str, attrs: str, amount: float, now: float) -> None:
        amount -= self._absorbed(metric, attrs, amount, now)
        if amount > 0:
            self._get(metric, attrs, now).value += amount

    def _observe(self, metric: str, attrs: str, x: float, now: float) -> None:
        if not self._absorbed(metric, attrs, 1, now):
            self._get(metric, attrs, now).observe(x)

    def _credit(self, metric: str, attrs: str, amount: float, now: float) -> None:
        self._get(CREDIT + metric, attrs, now).value += amount

    def _add(self, db: sqlite3.Connection, ev: Mapping[str, Any], now: float) -> None:
        kind = ev.get("kind")
        base = _base(ev)
        error = ev.get("status") not in _NOT_ERRORS
        secs = _seconds(ev.get("duration_ms"))
        if kind == "tool_call":
            self._grow("agent_cli.calls", _attrs(**base, **{"agent_cli.kind": kind}), 1, now)
            if error:
                self._grow("agent_cli.errors", _error_attrs(base, ev), 1, now)
            if secs is not None:
                self._observe("agent_cli.tool.duration", _attrs(**base), secs, now)
            return
        if kind != "llm_call" or not isinstance(ev.get("event_id"), str):
            return
        base["gen_ai.request.model"] = ev.get("model")
        key = key_of(ev["event_id"])
        row = db.execute(
            f"SELECT {', '.join(_COUNTED)} FROM otlp_counted WHERE key = ?", (key,)
        ).fetchone()
        old = dict(zip(_COUNTED, row, strict=True)) if row else None
        new = self._counts(ev, error)
        if old is not None and old["revision"] >= new["revision"]:
            return  # this revision, or a later one, is counted already
        had = old or dict.fromkeys(_COUNTED, 0)
        self._usage(base, had, new, now)
        if old is not None and ev.get("status") == "superseded":
            self._retire(base, had, ev, now)
            new["error"], new["timed"] = had["error"], had["timed"]
        else:
            if old is None:
                self._grow("agent_cli.calls", _attrs(**base, **{"agent_cli.kind": kind}), 1, now)
            if error and not had["error"]:
                self._grow("agent_cli.errors", _error_attrs(base, ev), 1, now)
            new["error"] = int(error or bool(had["error"]))
            new["timed"] = int(bool(had["timed"]) or secs is not None)
            if secs is not None and not had["timed"]:
                metric = "gen_ai.client.operation.duration"
                self._observe(metric, _attrs(**base), secs, now)
        db.execute(
            f"INSERT OR REPLACE INTO otlp_counted(key, {', '.join(_COUNTED)}) "
            f"VALUES (?, {', '.join('?' * len(_COUNTED))})",
            (key, *(new[c] for c in _COUNTED)),
        )

    def _usage(
        self, base: dict[str, Any], had: Mapping[str, Any], new: Mapping[str, Any], now: float
    ) -> None:
        """Tokens and cost: growth is added; a decrease (a superseded copy) becomes credit."""
        for t in _TOKEN_TYPES:
            attrs = _attrs(**base, **{"gen_ai.token.type": t})
            diff = int(new[t]) - int(had[t])
            if diff > 0:
                self._grow("gen_ai.client.token.usage", attrs, diff, now)
            elif diff < 0:
                self._credit("gen_ai.client.token.usage", attrs, -diff, now)
        diff_cost = float(new["cost"]) - float(had["cost"])
        if diff_cost > 0:
            self._grow("agent_cli.cost.usd", _attrs(**base), diff_cost, now)
        elif diff_cost < 0:
            self._credit("agent_cli.cost.usd", _attrs(**base), -diff_cost, now)

    def _retire(
        self, base: dict[str, Any], had: Mapping[str, Any], ev: Mapping[str, Any], now: float
    ) -> None:
        """A copy counted before its original is superseded (ledger.py, "Copies"): a counter
        cannot go down, so what the copy counted becomes credit, which the original (sent
        right after it, with the same attributes) then does not add again."""
        self._credit("agent_cli.calls", _attrs(**base, **{"agent_cli.kind": "llm_call"}), 1, now)
        if had["error"]:
            self._credit("agent_cli.errors", _error_attrs(base, ev), 1, now)
        if had["timed"]:
            self._credit("gen_ai.client.operation.duration", _attrs(**base), 1, now)

    @staticmethod
    def _counts(ev: Mapping[str, Any], error: bool) -> dict[str, Any]:
        cost = ev.get("cost_usd")
        return {
            "revision": int(ev.get("revision") or 0),
            "input": input_tokens(ev),
            "output": int(ev.get("output_tokens") or 0),
            "cache_read": int(ev.get("cache_read_tokens") or 0),
            "cache_creation": int(ev.get("cache_creation_tokens") or 0),
            "cost": float(cost) if isinstance(cost, int | float) else 0.0,
            "error": int(error),
            "timed": 0,
        }

    def snapshot(self) -> tuple[int, dict[Key, Series]]:
        """(version, a copy of every series), for the exporter thread."""
        with self._lock:
            return self.version, {k: s.copy() for k, s in self.series.items()}
