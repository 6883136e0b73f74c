"""The report over a hand-made history: every dimension, the 5-hour blocks, local days
around a daylight-saving change, revisions, the session tree, an empty history, bad flags.

Events are written the way the spool writes them (`Spool.history.add` with encoded events),
then read back through `report_query.load` and `report.build`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent_cli.errors import ConfigError
from agent_cli.events import event_id
from agent_cli.ledger import key_of
from agent_cli.report import block_starts, build, percentile
from agent_cli.report_query import DIMENSIONS, Query, load, make_query, parse_day
from agent_cli.report_session import detail
from agent_cli.report_sql import Grouper
from agent_cli.spool import Spool

_n = itertools.count()
H = 3_600_000


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def call(ts: datetime, **kw: Any) -> dict[str, Any]:
    eid = kw.pop("event_id", None) or event_id("test", "call", str(next(_n)))
    ev = {
        "event_id": eid, "revision": 0, "kind": "llm_call", "timestamp": iso(ts),
        "agent": "claude-code", "agent_version": "2.0.1", "session_id": "s1",
        "parent_session_id": None, "agent_id": None, "is_subagent": False, "turn_index": 0,
        "call_index": 0, "provider": "anthropic", "model": "claude-sonnet-4-5",
        "input_tokens": 10, "output_tokens": 20, "cache_read_tokens": 30,
        "cache_creation_tokens": 40, "cache_creation_1h_tokens": 5, "reasoning_tokens": 2,
        "output_final": True, "cost_usd": 0.5, "cost_source": "genai-prices",
        "granularity": "call", "billed_quantity": None, "billed_unit": None,
        "duration_ms": 900, "status": "ok", "error_code": None, "repo_path": "/r/app",
        "repo_name": "github.com/acme/app", "git_branch": "main", "host": "box", "user": "ann",
        "shipper_version": "0",
    }  # fmt: skip
    ev.update(kw)
    return ev


def tool(ts: datetime, parent: dict[str, Any], **kw: Any) -> dict[str, Any]:
    ev = {
        "event_id": event_id("test", "tool", str(next(_n))), "kind": "tool_call",
        "timestamp": iso(ts), "agent": parent["agent"], "session_id": parent["session_id"],
        "call_event_id": parent["event_id"], "tool_name": "Bash", "duration_ms": 100,
        "status": "ok", "error_code": None, "repo_path": parent["repo_path"],
        "repo_name": parent["repo_name"], "git_branch": parent["git_branch"],
        "host": parent["host"], "user": parent["user"],
    }  # fmt: skip
    ev.update(kw)
    return ev


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    s = Spool(tmp_path / "st")
    yield s
    s.close()


def put(spool: Spool, events: list[dict[str, Any]]) -> None:
    with spool.atomic():
        spool.history.add([(key_of(e["event_id"]), json.dumps(e).encode()) for e in events])


def rows(spool: Spool, q: Query) -> list[dict[str, Any]]:
    """The report's rows as SQLite groups them (what `report` runs), checked against the
    Python grouping of the same events (what `report session` runs)."""
    in_sql = Grouper(spool.db, q).result(q)
    in_python = build(load(spool.db, q), q)
    assert in_sql.as_json() == in_python.as_json()
    return in_sql.row_dicts()


T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_every_dimension_groups_calls_and_tools(spool: Spool) -> None:
    a = call(T0)
    b = call(T0 + timedelta(days=40), agent="codex", session_id="s2", model="gpt-5",
             repo_name="github.com/acme/api", git_branch="dev", host="h2", user="bob",
             is_subagent=True, agent_id="worker", status="error", error_code="rate_limit",
             cost_usd=None)  # fmt: skip
    failed = tool(T0, a, tool_name="Read", status="error", error_code="not_found")
    put(spool, [a, b, tool(T0, a, duration_ms=50), failed,
                tool(T0 + timedelta(days=40), b, duration_ms=70)])  # fmt: skip
    utc = Query(tz=None).tz
    want_a = {
        "day": "2026-03-02", "week": "2026-W10", "month": "2026-03", "session": "s1",
        "agent": "claude-code", "model": "claude-sonnet-4-5", "repo": "github.com/acme/app",
        "branch": "main", "host": "box", "user": "ann", "subagent": None, "error": None,
    }  # fmt: skip
    want_b = {
        "day": "2026-04-11", "week": "2026-W15", "month": "2026-04", "session": "s2",
        "agent": "codex", "model": "gpt-5", "repo": "github.com/acme/api", "branch": "dev",
        "host": "h2", "user": "bob", "subagent": "worker", "error": "rate_limit",
    }  # fmt: skip
    assert set(DIMENSIONS) == {*want_a, "block", "tool"}
    for dim in want_a:
        q = make_query((dim,), "all", None, "UTC", (), "key", False)
        got = {r[dim]: r for r in rows(spool, q)}
        ra, rb = got[want_a[dim]], got[want_b[dim]]
        if dim == "error":  # the failed tool call has its own row, and the ok ones theirs
            assert got["not_found"]["tool_calls"] == 1 and ra["tool_calls"] == 2
            continue
        assert (ra["calls"], ra["tool_calls"], ra["tool_p50_ms"]) == (1, 2, 50), dim
        assert (rb["calls"], rb["tool_calls"], rb["tool_p50_ms"]) == (1, 1, 70), dim
        assert ra["cost_usd"] == 0.5 and rb["cost_usd"] == 0 and rb["unpriced_calls"] == 1
    assert utc is None
    tools = {
        r["tool"]: r for r in rows(spool, make_query(("tool",), "all", None, "UTC", (), "", False))
    }
    assert set(tools) == {"Bash", "Read"} and tools["Bash"]["calls"] == 0  # tool calls only
    assert tools["Read"]["errors"] == {"not_found": 1} and tools["Bash"]["tool_calls"] == 2


def test_metrics_of_a_row(spool: Spool) -> None:
    put(spool, [call(T0), call(T0, status="error", error_code="overloaded", input_tokens=0)])
    (r,) = rows(spool, make_query(("day",), "all", None, "UTC", (), "", False))
    assert r["calls"] == 2 and r["error_calls"] == 1 and r["errors"] == {"overloaded": 1}
    assert (r["input_tokens"], r["output_tokens"], r["cache_read_tokens"]) == (10, 40, 60)
    assert (r["cache_creation_tokens"], r["cache_creation_1h_tokens"]) == (80, 10)
    assert r["reasoning_tokens"] == 4 and r["total_tokens"] == 10 + 40 + 60 + 80
    assert r["cache_hit_ratio"] == round(60 / (10 + 60 + 80), 4)
    assert r["cost_usd"] == 1.0


def test_a_revision_replaces_the_earlier_row(spool: Spool) -> None:
    first = call(T0, output_tokens=5)
    grown = dict(first, revision=1, output_tokens=500)
    put(spool, [first])
    put(spool, [grown])
    (r,) = rows(spool, make_query(("day",), "all", None, "UTC", (), "", False))
    assert r["calls"] == 1 and r["output_tokens"] == 500
    assert spool.db.execute("SELECT count(*) FROM history").fetchone()[0] == 1


def test_block_arithmetic() -> None:
    t = int(datetime(2026, 3, 2, 9, 47, tzinfo=UTC).timestamp() * 1000)
    times = [t, t + H, t + 4 * H, t + 5 * H - 47 * 60_000 - 1]  # all before 14:00
    times += [t + 5 * H - 47 * 60_000]  # 14:00 exactly: the block [09:00, 14:00) is over
    times += [t + 12 * H]  # 21:47, after a gap: a block from 21:00
    starts = block_starts(times)
    assert starts == [t - 47 * 60_000, t + 5 * H - 47 * 60_000, t + 12 * H - 47 * 60_000]


def test_blocks_in_a_report(spool: Spool) -> None:
    base = datetime(2026, 3, 2, 9, 47, tzinfo=UTC)
    later = (timedelta(hours=3), timedelta(hours=4, minutes=20), timedelta(hours=6))
    put(spool, [call(base), *(call(base + d) for d in later)])
    q = make_query(("block",), "all", None, "Asia/Kolkata", (), "", True)
    got = [(r["block"], r["calls"], [m["model"] for m in r["breakdown"]]) for r in rows(spool, q)]
    # the 09:00 UTC block holds 09:47 and 12:47; 14:07 is past its end (14:00) and starts
    # the 14:00 block, which 15:47 falls in (shown in the zone: +05:30)
    assert got == [
        ("2026-03-02T14:30+05:30", 2, ["claude-sonnet-4-5"]),
        ("2026-03-02T19:30+05:30", 2, ["claude-sonnet-4-5"]),
    ]


def test_local_days_around_a_daylight_saving_change(spool: Spool) -> None:
    # Europe/Berlin leaves summer time on 2026-10-25 at 03:00 CEST (01:00 UTC): that local
    # day lasts 25 hours, from 2026-10-24T22:00Z to 2026-10-25T23:00Z.
    edge = [
        datetime(2026, 10, 24, 21, 59, tzinfo=UTC),  # 23:59 CEST on the 24th
        datetime(2026, 10, 24, 22, 0, tzinfo=UTC),  # 00:00 CEST on the 25th
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 CEST
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),  # 02:30 CET (the repeated hour)
        datetime(2026, 10, 25, 22, 59, tzinfo=UTC),  # 23:59 CET on the 25th
        datetime(2026, 10, 25, 23, 0, tzinfo=UTC),  # 00:00 CET on the 26th
    ]
    put(spool, [call(t) for t in edge])
    q = make_query(("day",), "all", None, "Europe/Berlin", (), "", False)
    assert [(r["day"], r["calls"]) for r in rows(spool, q)] == [
        ("2026-10-24", 1), ("2026-10-25", 4), ("2026-10-26", 1)
    ]  # fmt: skip
    utc = make_query(("day",), "all", None, "UTC", (), "", False)
    assert [(r["day"], r["calls"]) for r in rows(spool, utc)] == [
        ("2026-10-24", 2), ("2026-10-25", 4)
    ]  # fmt: skip
    # --since/--until are whole local days: the 25th is 25 hours long
    only = make_query(("day",), "2026-10-25", "2026-10-25", "Europe/Berlin", (), "", False)
    assert [(r["day"], r["calls"]) for r in rows(spool, only)] == [("2026-10-25", 4)]
    assert only.window_ms()[1] - only.window_ms()[0] == 25 * H  # type: ignore[operator]


def test_session_detail_has_the_subagent_tree(spool: Spool) -> None:
    main = call(T0, session_id="sess-parent-1")
    sub = call(T0, session_id="sess-parent-1", is_subagent=True, agent_id="a7",
               parent_session_id="sess-parent-1", model="claude-haiku-4-5")  # fmt: skip
    child = call(T0, session_id="sess-child", parent_session_id="sess-parent-1", agent="codex")
    other = call(T0, session_id="sess-other")
    put(spool, [main, sub, child, other, tool(T0, sub, tool_name="Grep", duration_ms=10)])
    d = detail(spool.db, Query(), "sess-par")  # a unique prefix names it
    assert d["session"] == "sess-parent-1" and d["totals"]["calls"] == 3
    tree = d["tree"]
    assert tree["calls"] == 1 and [c["subagent"] for c in tree["children"]] == ["a7", None]
    assert tree["children"][0]["tool_calls"] == 1  # the subagent's own tool call
    assert tree["children"][1]["session"] == "sess-child"
    assert {m["model"] for m in d["models"]} == {"claude-sonnet-4-5", "claude-haiku-4-5"}
    assert [t["tool"] for t in d["tools"]] == ["Grep"]
    with pytest.raises(ConfigError, match="more than one session"):
        detail(spool.db, Query(), "sess-")
    with pytest.raises(ConfigError, match="No session"):
        detail(spool.db, Query(), "nope")


def test_empty_history(spool: Spool) -> None:
    q = make_query(("day", "model"), "all", None, "UTC", (), "", True)
    data = Grouper(spool.db, q).result(q).as_json()
    assert data == build(load(spool.db, q), q).as_json()
    assert data["rows"] == [] and data["totals"]["calls"] == 0
    assert data["totals"]["cache_hit_ratio"] is None and data["totals"]["tool_p95_ms"] is None


def test_window_and_agent_filter(spool: Spool) -> None:
    put(
        spool, [call(T0), call(T0 + timedelta(days=2), agent="codex"), call(T0 + timedelta(days=4))]
    )
    q = make_query(("day",), "2026-03-03", "2026-03-05", "UTC", (), "", False)
    assert [r["day"] for r in rows(spool, q)] == ["2026-03-04", "2026-03-06"][:1]
    q = make_query(("agent",), "all", None, "UTC", ("claude",), "", False)
    assert [(r["agent"], r["calls"]) for r in rows(spool, q)] == [("claude-code", 2)]


def test_order(spool: Spool) -> None:
    put(spool, [call(T0, model="a", cost_usd=1.0), call(T0, model="b", cost_usd=3.0),
                call(T0, model="b", cost_usd=0.0), call(T0, model="c", cost_usd=2.0)])  # fmt: skip

    def models(order: str) -> list[str]:
        return [
            r["model"]
            for r in rows(spool, make_query(("model",), "all", None, "UTC", (), order, False))
        ]

    assert models("") == ["b", "c", "a"]  # cost, highest first
    assert models("cost:asc") == ["a", "c", "b"]
    assert models("calls") == ["b", "a", "c"]  # ties keep the key order
    assert models("key") == ["a", "b", "c"] and models("key:desc") == ["c", "b", "a"]


def test_relative_days_and_defaults() -> None:
    today = date(2026, 12, 2)
    assert parse_day("--since", "7d", today) == date(2026, 11, 26)
    assert parse_day("--since", "2w", today) == date(2026, 11, 19)
    assert parse_day("--since", "20261101", today) == date(2026, 11, 1)
    q = make_query((), None, None, "UTC", (), None, False)
    assert q.by == ("day",) and q.since is not None and q.until is None  # the last 7 days
    assert make_query(("model",), None, None, "UTC", (), None, False).since is None


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        ((("nope",), "all", None, "UTC", (), "", False), "--by"),
        (((), "yesterday-ish", None, "UTC", (), "", False), "--since"),
        (((), "0d", None, "UTC", (), "", False), "--since"),
        (((), None, "2026-02-30", "UTC", (), "", False), "--until"),
        (((), "2026-03-02", "2026-03-01", "UTC", (), "", False), "--since"),
        (((), None, None, "Nowhere/Atlantis", (), "", False), "--timezone"),
        (((), None, None, "UTC", ("vim",), "", False), "agent"),
        (((), None, None, "UTC", (), "price", False), "--order"),
        (((), None, None, "UTC", (), "cost:up", False), "--order"),
    ],
)
def test_bad_flags_are_one_sentence(args: tuple[Any, ...], flag: str) -> None:
    with pytest.raises(ConfigError) as e:
        make_query(*args)
    msg = str(e.value)
    assert flag in msg and "\n" not in msg and msg.endswith(".")


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5], 0.95) == 5
    assert percentile(list(range(1, 101)), 0.5) == 50
    assert percentile(list(range(1, 101)), 0.95) == 95
    assert percentile([3, 1, 2, 4], 0.5) == 2


def test_query_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Query().by = ("x",)  # type: ignore[misc]
