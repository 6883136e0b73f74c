"""What a report asks for (`Query`), checked, and the history rows it reads (`load`).

The flags are parsed here, not in click: a bad value is one ConfigError sentence (exit 2).
Days are local days of the report's time zone (an IANA name, or the machine's local zone);
`--since`/`--until` are whole days in that zone, both included.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, NamedTuple

from agent_cli.errors import ConfigError
from agent_cli.history import LLM, names

TIME_DIMS = ("day", "week", "month", "block")
DIMENSIONS = (
    *TIME_DIMS, "session", "agent", "model", "repo", "branch", "host", "user", "subagent",
    "tool", "error",
)  # fmt: skip
ORDERS = ("cost", "calls", "tokens", "errors", "tools", "key")
_RELATIVE = re.compile(r"^(\d{1,4})([dw])$")


@dataclass(frozen=True)
class Query:
    """A checked report request; `tz` None is the machine's local zone."""

    by: tuple[str, ...] = ("day",)
    since: date | None = None
    until: date | None = None
    tz: tzinfo | None = None
    tz_name: str = "local"
    agents: tuple[str, ...] = ()  # canonical names; empty: every agent
    order: str = ""  # "" picks the default (see `report.order_of`)
    breakdown: bool = False

    def window_ms(self) -> tuple[int | None, int | None]:
        """[start, end) in epoch ms of the --since/--until days in the zone."""
        start = None if self.since is None else self._midnight(self.since)
        end = None if self.until is None else self._midnight(self.until + timedelta(days=1))
        return start, end

    def _midnight(self, d: date) -> int:
        # tzinfo None: datetime reads the naive value as local time (DST rules included)
        return int(datetime(d.year, d.month, d.day, tzinfo=self.tz).timestamp() * 1000)


def parse_zone(name: str | None) -> tuple[tzinfo | None, str]:
    """An IANA zone name -> (tzinfo, name); None or "local" -> the machine's zone."""
    if name is None or name == "local":
        return None, "local"
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name), name
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"--timezone must be an IANA time zone like Europe/Berlin or UTC, not {name!r}."
        ) from None


def parse_day(flag: str, value: str, today: date) -> date:
    """YYYY-MM-DD, YYYYMMDD, or Nd/Nw (the last N days or weeks, today included)."""
    m = _RELATIVE.match(value.strip())
    if m:
        days = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
        if days < 1:
            raise ConfigError(f"{flag} must count at least one day, not {value!r}.")
        return today - timedelta(days=days - 1)
    v = value.strip()
    if re.fullmatch(r"\d{8}", v):
        v = f"{v[:4]}-{v[4:6]}-{v[6:]}"
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise ConfigError(
            f"{flag} must be a date like 2026-11-01, or 7d, 14d, 2w, not {value!r}."
        ) from None


def check_by(by: tuple[str, ...]) -> tuple[str, ...]:
    """The --by dimensions in order, each once; an unknown one is a ConfigError."""
    out: list[str] = []
    for d in by:
        d = {"blocks": "block", "sessions": "session", "tools": "tool"}.get(d, d)
        if d not in DIMENSIONS:
            raise ConfigError(f"--by must be one of {', '.join(DIMENSIONS)}, not {d!r}.")
        if d not in out:
            out.append(d)
    return tuple(out) or ("day",)


def check_order(order: str | None) -> str:
    """FIELD or FIELD:asc / FIELD:desc, FIELD one of ORDERS ("" for the default)."""
    if not order:
        return ""
    field, _, way = order.partition(":")
    if field not in ORDERS or way not in ("", "asc", "desc"):
        raise ConfigError(
            f"--order must be one of {', '.join(ORDERS)} (optionally :asc or :desc), not {order!r}."
        )
    return order


class Event(NamedTuple):
    """One history row as a report reads it (names resolved)."""

    kind: int
    ts: int
    agent: str | None
    session: str | None
    agent_id: str | None
    is_subagent: bool
    model: str | None
    tokens: tuple[int, int, int, int, int, int]  # events.TOKEN_FIELDS order
    cost_usd: float | None
    delta: bool  # a session-level delta, not a call
    duration_ms: int | None
    error: str | None  # the error class of a failed event, None when it succeeded
    repo: str | None
    branch: str | None
    host: str | None
    user: str | None
    tool: str | None
    call_key: int | None
    ekey: int
    parent_session: str | None


_SELECT = (
    "SELECT kind, ts, agent, session, agent_id, is_subagent, model, input, output, cache_read, "
    "cache_creation, cache_1h, reasoning, cost_usd, granularity, duration_ms, status, "
    "error_code, repo_name, repo_path, git_branch, host, user, tool_name, call_key, ekey, "
    "parent_session FROM history"
)


def load(db: sqlite3.Connection, q: Query, session: str | None = None) -> list[Event]:
    """The history rows in the query's window and agents, in time order; with `session`, the
    rows of that session and of its child sessions (whose parent it is)."""
    n = names(db)
    ids = {s: i for i, s in n.items()}
    # a copy superseded by its original is kept as zeros; it is not a call of its own
    where, args = ["status IS NOT ?"], [ids.get("superseded", -1)]
    start, end = q.window_ms()
    if start is not None:
        where.append("ts >= ?")
        args.append(start)
    if end is not None:
        where.append("ts < ?")
        args.append(end)
    if q.agents:
        where.append(f"agent IN ({','.join('?' * len(q.agents))})")
        args.extend(ids.get(a, -1) for a in q.agents)
    if session is not None:
        sid = ids.get(session, -1)
        kids = db.execute("SELECT DISTINCT session FROM history WHERE parent_session = ?", (sid,))
        family = {sid, *(k for (k,) in kids if k is not None)}
        where.append(f"session IN ({','.join('?' * len(family))})")
        args.extend(family)
    sql = _SELECT + " WHERE " + " AND ".join(where) + " ORDER BY ts, ekey"
    return [_event(r, n) for r in db.execute(sql, args)]


def _event(r: Any, n: dict[int, str]) -> Event:
    g = n.get
    (kind, ts, agent, session, agent_id, sub, model, i, o, cr, cc, c1, rs, cost, gran, dur,
     status, code, repo_name, repo_path, branch, host, user, tool, call_key, ekey,
     parent) = r  # fmt: skip
    failed = g(status) == "error"
    return Event(
        kind, ts, g(agent), g(session), g(agent_id), bool(sub), g(model),
        (i or 0, o or 0, cr or 0, cc or 0, c1 or 0, rs or 0),
        cost, g(gran) == "session_delta", dur,
        (g(code) or "unknown") if failed else None,
        g(repo_name) or g(repo_path), g(branch), g(host), g(user), g(tool),
        call_key, ekey, g(parent),
    )  # fmt: skip


def model_of_calls(events: list[Event]) -> dict[int, Event]:
    """Each call by its ledger key: a tool call takes its model and subagent from its call."""
    return {e.ekey: e for e in events if e.kind == LLM}


def make_query(
    by: tuple[str, ...],
    since: str | None,
    until: str | None,
    timezone: str | None,
    agents: tuple[str, ...],
    order: str | None,
    breakdown: bool,
) -> Query:
    """Check the report's flags; a bad value raises ConfigError (one sentence).

    No --by: by day over the last 7 days (unless --since/--until say otherwise)."""
    from agent_cli.scan import ALIASES, select_sources

    tz, tz_name = parse_zone(timezone)
    today = datetime.now(tz).date()
    if not by and since is None and until is None:
        since = "7d"
    first = None if since in (None, "all") else parse_day("--since", since, today)
    last = None if until is None else parse_day("--until", until, today)
    if first and last and first > last:
        raise ConfigError(f"--since ({first}) is after --until ({last}).")
    select_sources(agents)  # an unknown agent name is a ConfigError
    canonical = tuple(sorted({ALIASES.get(a, a) for a in agents}))
    return Query(check_by(by), first, last, tz, tz_name, canonical, check_order(order), breakdown)
