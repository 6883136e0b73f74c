"""The OTLP metric totals: a revision adds only its growth, a settled batch counts once, the
totals survive a reopen, and a transaction that rolls back leaves them as they were."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agent_cli.migrations import migrate
from agent_cli.sinks.otlp_metrics import Totals
from agent_cli.sinks.otlp_pusher import metrics_request

EID = "ab" * 32


def call(revision: int, out: int, **extra: Any) -> dict[str, Any]:
    return {"event_id": EID, "revision": revision, "kind": "llm_call", "agent": "codex",
            "model": "gpt-5", "input_tokens": 10, "output_tokens": out, "cache_read_tokens": 100,
            "cache_creation_tokens": 0, "cost_usd": out / 1000, "status": "ok",
            "duration_ms": 1500, "git_branch": "main", "repo_name": "github.com/o/r",
            "host": "h", **extra}  # fmt: skip


def sums(t: Totals, metric: str, **where: Any) -> float:
    import json

    return sum(
        s.value
        for (m, attrs), s in t.series.items()
        if m == metric and all(dict(json.loads(attrs)).get(k) == v for k, v in where.items())
    )


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "s.sqlite", isolation_level=None)
    migrate(conn)
    return conn


def apply(t: Totals, db: sqlite3.Connection, *events: dict[str, Any]) -> None:
    db.execute("BEGIN")
    t.write(db, events, 1000.0)
    db.execute("COMMIT")
    t.commit()


def test_a_revision_adds_its_growth_and_a_call_counts_once(db: sqlite3.Connection) -> None:
    t = Totals()
    apply(t, db, call(0, 7))
    apply(t, db, call(1, 300, status="error", error_code="rate_limit"))
    apply(t, db, call(1, 300), call(0, 7))  # re-sent or older: nothing more
    assert sums(t, "gen_ai.client.token.usage", **{"gen_ai.token.type": "output"}) == 300
    assert sums(t, "gen_ai.client.token.usage", **{"gen_ai.token.type": "input"}) == 110
    assert sums(t, "agent_cli.calls") == 1
    assert sums(t, "agent_cli.errors", **{"error.type": "rate_limit"}) == 1
    assert sums(t, "agent_cli.cost.usd") == pytest.approx(0.3)
    hist = next(s for (m, _), s in t.series.items() if m == "gen_ai.client.operation.duration")
    assert hist.count == 1 and hist.value == 1.5  # the duration once, not per revision
    again = Totals()
    again.load(db)  # a restart reads the same totals, and their start times
    assert {k: (s.value, s.start, s.count) for k, s in again.series.items()} == {
        k: (s.value, s.start, s.count) for k, s in t.series.items()
    }
    request = metrics_request(again.series, [("team", "a")], 2 * 10**18)
    names = {m.name for rm in request.resource_metrics for sm in rm.scope_metrics
             for m in sm.metrics}  # fmt: skip
    assert "gen_ai.client.token.usage" in names and "agent_cli.tool.duration" not in names


def test_a_rolled_back_settle_counts_nothing(db: sqlite3.Connection) -> None:
    t = Totals()
    db.execute("BEGIN")
    t.write(db, [call(0, 7)], 1000.0)
    db.execute("ROLLBACK")  # the settle failed (a full disk): the shipper says so
    t.rollback()
    assert t.series == {}
    apply(t, db, call(0, 7))
    assert sums(t, "gen_ai.client.token.usage", **{"gen_ai.token.type": "output"}) == 7


def test_a_superseded_copy_is_credited_against_its_original(db: sqlite3.Connection) -> None:
    t = Totals()
    copy = call(0, 40, event_id="cd" * 32)
    apply(t, db, copy)  # the copy, read first, counted
    retired = call(1, 0, event_id="cd" * 32, status="superseded", input_tokens=0,
                   cache_read_tokens=0, cost_usd=0.0)  # fmt: skip
    apply(t, db, retired, call(0, 40))  # then its original, with the copy's retirement first
    assert sums(t, "gen_ai.client.token.usage", **{"gen_ai.token.type": "output"}) == 40
    assert sums(t, "gen_ai.client.token.usage", **{"gen_ai.token.type": "input"}) == 110
    assert sums(t, "agent_cli.calls") == 1 and sums(t, "agent_cli.errors") == 0
    assert sums(t, "agent_cli.cost.usd") == pytest.approx(0.04)
    hist = next(s for (m, _), s in t.series.items() if m == "gen_ai.client.operation.duration")
    assert hist.count == 1
    exported = metrics_request(t.series, [], 1)
    names = {m.name for rm in exported.resource_metrics for sm in rm.scope_metrics
             for m in sm.metrics}  # fmt: skip
    assert not any(n.startswith("credit:") for n in names)  # credit is never exported
