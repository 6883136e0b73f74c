"""The hot path's shortcuts say exactly what the plain code they replace says.

Each fast path is checked against a copy of the code it replaced (the oracle), on the
fixture values and on hypothesis-generated ones, so a byte of output cannot move.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from agent_cli.sources import common


def _oracle_ms(ts: str | None) -> int | None:
    """`common.ms` before its caches (2026-12-02), verbatim but for the day cache."""
    if not ts or not isinstance(ts, str):
        return None
    if len(ts) == 24 and ts[23] == "Z" and ts[10] == "T" and ts[19] == ".":
        day = common._slow_ms(ts[:10] + "T00:00:00+00:00")
        if day is None:
            return None
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
    return common._slow_ms(ts)


_PART = st.one_of(
    st.integers(0, 99).map(lambda i: f"{i:02d}"),
    st.text("0123456789 +-_x\u0663", min_size=2, max_size=2),
)
_USUAL = st.builds(
    lambda d, h, m, s, f: f"{d}T{h}:{m}:{s}.{f}Z",
    st.dates(min_value=datetime(1990, 1, 1).date()).map(lambda d: d.isoformat()),
    _PART,
    _PART,
    _PART,
    st.one_of(
        st.integers(0, 999).map(lambda i: f"{i:03d}"),
        st.text("0123456789 +x", min_size=3, max_size=3),
    ),
)
_ANY_TS = st.one_of(
    _USUAL,
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    st.text(max_size=30),
)


@given(st.lists(_ANY_TS, max_size=20))
def test_ms_matches_the_plain_parse(values: list[str]) -> None:
    for ts in values + values:  # the second pass answers from the caches
        assert common.ms(ts) == _oracle_ms(ts), ts


def test_ms_caches_stay_bounded() -> None:
    for i in range(common._CACHE_MAX + 10):
        ts = common.fmt_ms(1_700_000_000_000 + i * 61_001)
        assert common.ms(ts) == _oracle_ms(ts)
    assert len(common._SEEN) <= common._CACHE_MAX
    assert len(common._MINUTES) <= common._CACHE_MAX
