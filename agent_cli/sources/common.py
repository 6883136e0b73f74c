"""Helpers every source needs: timestamps and lenient integers."""

from __future__ import annotations

from datetime import UTC, datetime


def to_int(v: object) -> int:
    """Return a token count from a JSON value: non-negative int, 0 for anything else."""
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return max(v, 0)
    if isinstance(v, float):
        return max(int(v), 0)
    return 0


_DAYS: dict[str, int] = {}


def ms(ts: str | None) -> int | None:
    """Milliseconds since the epoch of an ISO timestamp, None when it cannot be parsed."""
    if not ts or not isinstance(ts, str):
        return None
    if len(ts) == 24 and ts[23] == "Z" and ts[10] == "T" and ts[19] == ".":
        # The agents' usual form (2026-10-02T10:00:01.123Z), parsed without datetime: this
        # runs for every call and tool result of a history.
        day = _DAYS.get(ts[:10])
        if day is None:
            day = _slow_ms(ts[:10] + "T00:00:00+00:00")
            if day is None:
                return None
            _DAYS[ts[:10]] = day
        try:
            return (
                day
                + int(ts[11:13]) * 3_600_000
                + int(ts[14:16]) * 60_000
                + int(ts[17:19]) * 1000
                + int(ts[20:23])
            )
        except ValueError:
            return None
    return _slow_ms(ts)


def _slow_ms(ts: str) -> int | None:
    try:
        d = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)  # agents write UTC; a missing zone means UTC
    return int(d.timestamp() * 1000)


def fmt_ms(t: int) -> str:
    """Format epoch milliseconds as the contract's timestamp (UTC, ms, Z)."""
    d = datetime.fromtimestamp(t / 1000, tz=UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t % 1000:03d}Z"


def norm_ts(ts: str) -> str:
    """Normalise an ISO timestamp to UTC with milliseconds and a Z (as is when unparsable)."""
    if len(ts) == 24 and ts[-1] == "Z" and ts[10] == "T":
        return ts
    t = ms(ts)
    return ts if t is None else fmt_ms(t)
