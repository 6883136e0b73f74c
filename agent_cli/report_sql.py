"""The report's grouping pushed down to SQLite: one GROUP BY over the history per report.

SQLite groups by integer base keys (interned ids; the local day number for day, week and
month; the hour for blocks; the error class), summing every metric and concatenating tool
durations; Python then maps base keys to labels (a day to its ISO week, an hour to its
5-hour block), merges the few groups that share a label and ranks the durations. The local
day number is `(ts + offset) / 86400000`, the offset a CASE over the zone's transitions in
the window (found by probing each day and bisecting to the millisecond).
"""

from __future__ import annotations

import bisect
import itertools
import sqlite3
from datetime import date, datetime, timedelta
from typing import Any

from agent_cli.history import names
from agent_cli.report import HOUR_MS, Acc, LocalDays, Result, block_starts, sort_rows
from agent_cli.report_query import Query

DAY_MS = 86_400_000
_TIME = {"day": 0, "week": 1, "month": 2}  # index into the labels of a local day
_MODEL = "CASE WHEN h.kind = 0 THEN h.model ELSE c.model END"
_ERROR = "iif(h.status = :err, coalesce(h.error_code, -1), NULL)"  # -1: failed, no class
_BASE = {
    "session": "h.session", "agent": "h.agent", "repo": "coalesce(h.repo_name, h.repo_path)",
    "branch": "h.git_branch", "host": "h.host", "user": "h.user", "tool": "h.tool_name",
    "model": _MODEL, "block": f"h.ts / {HOUR_MS}", "error": _ERROR,
    "subagent": "CASE WHEN h.kind = 0 THEN iif(h.is_subagent, h.agent_id, NULL) "
                "ELSE iif(c.is_subagent, c.agent_id, NULL) END",
}  # fmt: skip
_SUMS = (
    "count(*)", "sum(h.kind = 0 AND h.granularity IS NOT :delta)",
    "sum(h.kind = 0 AND h.granularity IS :delta)", "total(h.input)", "total(h.output)",
    "total(h.cache_read)", "total(h.cache_creation)", "total(h.cache_1h)", "total(h.reasoning)",
    "total(h.cost_usd)", "sum(h.kind = 0 AND h.cost_usd IS NULL)",
    "sum(h.kind = 0 AND h.granularity IS NOT :delta AND h.status = :err)", "sum(h.kind = 1)",
    "sum(h.kind = 1 AND h.status = :err)", "min(h.ts)", "max(h.ts)",
    "group_concat(iif(h.kind = 1, h.duration_ms, NULL))",
)  # fmt: skip


class Grouper:
    """Reports over one query's window, on one connection (read-only is enough)."""

    def __init__(self, db: sqlite3.Connection, q: Query) -> None:
        self.db, self.q = db, q
        self.names = names(db)
        ids = {s: i for i, s in self.names.items()}
        self.args: dict[str, Any] = {
            "err": ids.get("error", -1),
            "delta": ids.get("session_delta", -1),
            "superseded": ids.get("superseded", -1),
        }
        # a copy superseded by its original is kept as zeros; it is not a call of its own
        self.where = ["h.status IS NOT :superseded"]
        start, end = q.window_ms()
        if start is not None:
            self.where.append("h.ts >= :start")
            self.args["start"] = start
        if end is not None:
            self.where.append("h.ts < :end")
            self.args["end"] = end
        if q.agents:
            self.where.append(f"h.agent IN ({','.join(str(ids.get(a, -1)) for a in q.agents)})")
        self._local = LocalDays(q)
        self._days: dict[int, tuple[str, str, str]] = {}
        self._offset: str | None = None

    def result(self, q: Query) -> Result:
        """The report `q` asks for (its window must be this grouper's)."""
        by = q.by
        extra = ("model",) if q.breakdown else ()
        rows = self._rows((*by, *extra), "tool" in by)
        blocks = self._block_map(rows, by) if "block" in by else {}
        groups: dict[tuple[str | None, ...], Acc] = {}
        totals = Acc()
        n = len(by) + len(extra)
        for r in rows:
            key = tuple(self._label(d, v, blocks) for d, v in zip(by, r[: len(by)], strict=True))
            acc = groups.get(key) or groups.setdefault(key, Acc())
            err = None if r[n] is None else self._name(r[n])
            for a in (acc, totals):
                _merge(a, r[n + 1 :], err)
            if extra:
                acc.models = acc.models if acc.models is not None else {}
                model = self._name(r[len(by)]) if r[len(by)] is not None else None
                _merge(
                    acc.models.get(model) or acc.models.setdefault(model, Acc()), r[n + 1 :], err
                )
        return Result(q, sort_rows(list(groups.items()), q), totals)

    def _rows(self, dims: tuple[str, ...], tools_only: bool) -> list[tuple[Any, ...]]:
        keys = [self._base(d) for d in dims] + [_ERROR]
        src = "history h"
        if {"model", "subagent"} & set(dims):
            src += " LEFT JOIN history c ON h.kind = 1 AND c.ekey = h.call_key"
        where = " AND ".join(self.where + (["h.kind = 1"] if tools_only else []))
        sql = (f"SELECT {', '.join(keys + list(_SUMS))} FROM {src} WHERE {where} "
               f"GROUP BY {', '.join(keys)}")  # fmt: skip
        return self.db.execute(sql, self.args).fetchall()

    def _base(self, dim: str) -> str:
        if dim in _TIME:
            if self._offset is None:
                self._offset = self._offset_sql()
            return f"(h.ts + {self._offset}) / {DAY_MS}"
        return _BASE[dim]

    def _name(self, v: int) -> str | None:
        return "unknown" if v == -1 else self.names.get(v)

    def _label(self, dim: str, v: Any, blocks: dict[int, int]) -> str | None:
        if v is None:
            return None
        if dim in _TIME:
            labels = self._days.get(v)
            if labels is None:
                d = date(1970, 1, 1) + timedelta(days=v)
                y, w, _ = d.isocalendar()
                labels = self._days[v] = (d.isoformat(), f"{y}-W{w:02d}", d.isoformat()[:7])
            return labels[_TIME[dim]]
        if dim == "block":
            return self._local.stamp(blocks[v])
        return self._name(v)

    def _block_map(self, rows: list[tuple[Any, ...]], by: tuple[str, ...]) -> dict[int, int]:
        """Each hour with events -> the start of its block (blocks over these hours)."""
        i = by.index("block")
        hours = sorted({r[i] for r in rows})
        starts = block_starts([h * HOUR_MS for h in hours])
        return {h: starts[bisect.bisect_right(starts, h * HOUR_MS) - 1] for h in hours}

    # -- the zone's offsets over the window -----------------------------------------------
    def _offset_sql(self) -> str:
        sql = f"SELECT min(h.ts), max(h.ts) FROM history h WHERE {' AND '.join(self.where)}"
        lo, hi = self.db.execute(sql, self.args).fetchone()
        segs = _segments(self.q, lo, hi) if lo is not None else [(0, 0)]
        if len(segs) == 1:
            return str(segs[0][1])
        pairs = itertools.pairwise(segs)
        whens = " ".join(f"WHEN h.ts < {start} THEN {prev}" for (_, prev), (start, _) in pairs)
        return f"(CASE {whens} ELSE {segs[-1][1]} END)"


def _segments(q: Query, lo: int, hi: int) -> list[tuple[int, int]]:
    """(from ms, offset ms) pieces of the zone's UTC offset over [lo, hi], in order."""
    segs = [(lo, _offset(q, lo))]
    t = lo
    while t < hi:
        nxt = min(t + DAY_MS, hi)
        if _offset(q, nxt) != segs[-1][1]:
            a, b = t, nxt  # the change is in (a, b]: bisect to the millisecond
            while b - a > 1:
                mid = (a + b) // 2
                a, b = (mid, b) if _offset(q, mid) == segs[-1][1] else (a, mid)
            segs.append((b, _offset(q, b)))
        t = nxt
    return segs


def _offset(q: Query, ms: int) -> int:
    """The zone's UTC offset at `ms`, in ms (the machine's zone when `q.tz` is None)."""
    dt = datetime.fromtimestamp(ms / 1000, q.tz)
    off = (dt if q.tz is not None else dt.astimezone()).utcoffset() or timedelta()
    return int(off.total_seconds() * 1000)


def _merge(a: Acc, r: tuple[Any, ...], err: str | None) -> None:
    """Add one SQL group's sums (the _SUMS columns) to `a`; `err`: its error class."""
    if err is not None:
        a.errors[err] += r[0]
    a.calls += r[1] or 0
    a.deltas += r[2] or 0
    t = a.tokens
    for i in range(6):
        t[i] += int(r[3 + i])
    a.cost += r[9]
    a.unpriced += r[10] or 0
    a.error_calls += r[11] or 0
    a.tool_calls += r[12] or 0
    a.tool_errors += r[13] or 0
    a.first = r[14] if not a.first else min(a.first, r[14])
    a.last = max(a.last, r[15])
    if r[16]:
        a.durations.extend(map(int, r[16].split(",")))
