"""A report: history events grouped by the --by dimensions, summed, sorted (`build`).

Every row and the totals carry the same metrics (`metrics`); `Result.as_json()` is the
stable format of docs/report.md. A tool call takes the model and subagent of the call that
asked for it; `tool` groups tool calls only. Blocks are 5-hour windows: one starts at the
hour (UTC hour floor) of the first event after the previous block ended.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agent_cli.events import TOKEN_FIELDS
from agent_cli.history import LLM
from agent_cli.report_query import TIME_DIMS, Event, Query, model_of_calls

HOUR_MS = 3_600_000
BLOCK_MS = 5 * HOUR_MS
_BUCKET_MS = 900_000  # zone offsets change on quarter hours: a bucket has one local date


class Acc:
    """Sums of a group of events."""

    __slots__ = (
        "calls",
        "cost",
        "deltas",
        "durations",
        "error_calls",
        "errors",
        "first",
        "last",
        "models",
        "tokens",
        "tool_calls",
        "tool_errors",
        "unpriced",
    )  # fmt: skip

    def __init__(self) -> None:
        self.calls = self.deltas = self.unpriced = self.error_calls = 0
        self.tool_calls = self.tool_errors = 0
        self.tokens = [0] * len(TOKEN_FIELDS)
        self.cost = 0.0
        self.errors: Counter[str] = Counter()
        self.durations: list[int] = []
        self.first = self.last = 0
        self.models: dict[str | None, Acc] | None = None

    def add(self, e: Event) -> None:
        if not self.first or e.ts < self.first:
            self.first = e.ts
        self.last = max(self.last, e.ts)
        if e.error is not None:
            self.errors[e.error] += 1
        if e.kind != LLM:
            self.tool_calls += 1
            self.tool_errors += e.error is not None
            if e.duration_ms is not None:
                self.durations.append(e.duration_ms)
            return
        if e.delta:
            self.deltas += 1
        else:
            self.calls += 1
            self.error_calls += e.error is not None
        t = self.tokens
        for i, n in enumerate(e.tokens):
            t[i] += n
        if e.cost_usd is None:
            self.unpriced += 1
        else:
            self.cost += e.cost_usd

    @property
    def total(self) -> int:
        t = self.tokens
        return t[0] + t[1] + t[2] + t[3]


def percentile(values: list[int], p: float) -> int | None:
    """Nearest-rank percentile of `values` (sorted here), None for none."""
    if not values:
        return None
    s = sorted(values)
    return s[max(math.ceil(p * len(s)) - 1, 0)]


def _iso(ms_: int) -> str | None:
    if not ms_:
        return None
    return datetime.fromtimestamp(ms_ / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def metrics(a: Acc) -> dict[str, Any]:
    """The metric fields of a row or of the totals (docs/report.md)."""
    t = a.tokens
    read_base = t[0] + t[2] + t[3]
    out: dict[str, Any] = {"calls": a.calls, "session_deltas": a.deltas}
    out.update(zip(TOKEN_FIELDS, t, strict=True))
    out.update(
        total_tokens=a.total,
        cost_usd=round(a.cost, 6),
        unpriced_calls=a.unpriced,
        cache_hit_ratio=round(t[2] / read_base, 4) if read_base else None,
        error_calls=a.error_calls,
        errors=dict(sorted(a.errors.items())),
        tool_calls=a.tool_calls,
        tool_errors=a.tool_errors,
        tool_p50_ms=percentile(a.durations, 0.5),
        tool_p95_ms=percentile(a.durations, 0.95),
        first_at=_iso(a.first),
        last_at=_iso(a.last),
    )
    return out


@dataclass
class Result:
    """Rows in order, and the totals; `as_json()` is the documented format."""

    query: Query
    rows: list[tuple[tuple[str | None, ...], Acc]]
    totals: Acc
    notes: list[str] = field(default_factory=list)

    def row_dicts(self) -> list[dict[str, Any]]:
        out = []
        for key, acc in self.rows:
            d: dict[str, Any] = dict(zip(self.query.by, key, strict=True))
            d.update(metrics(acc))
            if self.query.breakdown:
                d["breakdown"] = [{"model": m, **metrics(sub)} for m, sub in _by_cost(acc)]
            out.append(d)
        return out

    def as_json(self) -> dict[str, Any]:
        q = self.query
        return {
            "by": list(q.by),
            "timezone": q.tz_name,
            "since": q.since.isoformat() if q.since else None,
            "until": q.until.isoformat() if q.until else None,
            "rows": self.row_dicts(),
            "totals": metrics(self.totals),
            "notes": self.notes,
        }


def _by_cost(acc: Acc) -> list[tuple[str | None, Acc]]:
    return sorted((acc.models or {}).items(), key=lambda kv: (-kv[1].cost, kv[0] or ""))


def build(events: list[Event], q: Query) -> Result:
    """Group, sum and sort `events` (in time order) as `q` asks."""
    calls = model_of_calls(events)  # a tool call takes its call's model and subagent
    if "tool" in q.by:
        events = [e for e in events if e.kind != LLM]
    keyfn = _key_function(events, q, calls)
    groups: dict[tuple[str | None, ...], Acc] = {}
    totals = Acc()
    for e in events:
        key = keyfn(e)
        acc = groups.get(key)
        if acc is None:
            acc = groups[key] = Acc()
        acc.add(e)
        totals.add(e)
        if q.breakdown:
            models = acc.models if acc.models is not None else {}
            acc.models = models
            m = _parent_field(e, calls, "model")
            sub = models.get(m)
            if sub is None:
                sub = models[m] = Acc()
            sub.add(e)
    return Result(q, sort_rows(list(groups.items()), q), totals)


def _parent_field(e: Event, calls: dict[int, Event], name: str) -> Any:
    """A call's own field; a tool call's from the call that asked for it (None if unknown)."""
    if e.kind == LLM:
        return getattr(e, name)
    parent = calls.get(e.call_key) if e.call_key is not None else None
    return None if parent is None else getattr(parent, name)


def order_of(q: Query) -> tuple[str, bool]:
    """(field, descending): time order for a report by time only, else cost, highest first."""
    if not q.order:
        return ("key", False) if all(d in TIME_DIMS for d in q.by) else ("cost", True)
    name, _, way = q.order.partition(":")
    return name, (way == "desc") if way else name != "key"


def sort_rows(
    rows: list[tuple[tuple[str | None, ...], Acc]], q: Query
) -> list[tuple[tuple[str | None, ...], Acc]]:
    name, desc = order_of(q)
    by_key = sorted(rows, key=lambda r: tuple((v is None, v or "") for v in r[0]))
    if name == "key":
        return by_key[::-1] if desc else by_key
    metric: dict[str, Callable[[Acc], float]] = {
        "cost": lambda a: a.cost,
        "calls": lambda a: a.calls,
        "tokens": lambda a: a.total,
        "errors": lambda a: sum(a.errors.values()),
        "tools": lambda a: a.tool_calls,
    }
    f = metric[name]
    return sorted(by_key, key=lambda r: f(r[1]), reverse=desc)  # stable: ties by key


def _key_function(
    events: list[Event], q: Query, calls: dict[int, Event]
) -> Callable[[Event], tuple[str | None, ...]]:
    local = LocalDays(q)
    blocks = block_starts([e.ts for e in events]) if "block" in q.by else []

    def block(e: Event) -> str:
        return local.stamp(blocks[bisect.bisect_right(blocks, e.ts) - 1])

    def subagent(e: Event) -> str | None:
        src = e if e.kind == LLM else calls.get(e.call_key or -1)
        return src.agent_id if src is not None and src.is_subagent else None

    fns: dict[str, Callable[[Event], str | None]] = {
        "day": lambda e: local.dates(e.ts)[0],
        "week": lambda e: local.dates(e.ts)[1],
        "month": lambda e: local.dates(e.ts)[2],
        "block": block,
        "session": lambda e: e.session,
        "agent": lambda e: e.agent,
        "model": lambda e: _parent_field(e, calls, "model"),
        "repo": lambda e: e.repo,
        "branch": lambda e: e.branch,
        "host": lambda e: e.host,
        "user": lambda e: e.user,
        "subagent": subagent,
        "tool": lambda e: e.tool,
        "error": lambda e: e.error,
    }
    chosen = [fns[d] for d in q.by]
    return lambda e: tuple(f(e) for f in chosen)


def block_starts(times: list[int]) -> list[int]:
    """The starts of the 5-hour blocks over `times` (sorted): a block starts at the hour of
    the first time at or after the previous block's end, and lasts BLOCK_MS."""
    starts: list[int] = []
    end = None
    for t in times:
        if end is None or t >= end:
            start = t - t % HOUR_MS
            starts.append(start)
            end = start + BLOCK_MS
    return starts


class LocalDays:
    """Local dates of epoch-ms times in the query's zone, cached per quarter hour."""

    def __init__(self, q: Query) -> None:
        self.tz = q.tz
        self._cache: dict[int, tuple[str, str, str]] = {}

    def dates(self, ts: int) -> tuple[str, str, str]:
        """(day YYYY-MM-DD, ISO week YYYY-Www, month YYYY-MM) of `ts`."""
        b = ts // _BUCKET_MS
        got = self._cache.get(b)
        if got is None:
            got = self._cache[b] = self._compute(b * _BUCKET_MS)
        return got

    def _compute(self, ts: int) -> tuple[str, str, str]:
        d = datetime.fromtimestamp(ts / 1000, self.tz).date()
        y, w, _ = d.isocalendar()
        return d.isoformat(), f"{y}-W{w:02d}", d.isoformat()[:7]

    def stamp(self, ts: int) -> str:
        """An ISO time with the zone's offset (a block's start)."""
        dt = datetime.fromtimestamp(ts / 1000, self.tz)
        if self.tz is None:
            dt = dt.astimezone()
        return dt.isoformat(timespec="minutes")
