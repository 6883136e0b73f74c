"""Several sinks: each has its own part of the outbox and its own backoff in the spool, so one
that is down never holds back another, and gets everything once it is back."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from agent_cli.config import Settings
from agent_cli.pipeline import start_once
from agent_cli.pipeline import status as read_status
from agent_cli.render import render_status
from agent_cli.sinks import Outgoing, SendResult, Verdict
from tests.claude_lines import assistant, jsonl

N = 7


class FakeSink:
    """A sink that answers what it is told to: delivered, or a retry (down), or rejects ids."""

    max_batch_events = 3  # several batches per drain
    max_batch_bytes = 1024 * 1024

    def __init__(self, name: str, up: bool = True, reject: frozenset[str] = frozenset()) -> None:
        self.name = name
        self.up = up
        self.reject = reject
        self.got: list[str] = []
        self.closed = False

    def send(self, events: Sequence[Outgoing]) -> SendResult:
        if not self.up:
            return SendResult(pending=[e.key for e in events], verdict=Verdict.RETRY,
                              detail="down")  # fmt: skip
        res = SendResult()
        for e in events:
            if e.event_id in self.reject:
                res.quarantined.append((e.key, "rejected_by_server"))
            else:
                self.got.append(e.event_id)
                res.delivered.append(e.key)
        return res

    def close(self) -> None:
        self.closed = True


def _history(home: Path) -> None:
    p = home / ".claude" / "projects" / "-p"
    p.mkdir(parents=True)
    (p / "s.jsonl").write_bytes(jsonl(*[assistant(f"m{i}", f"r{i}") for i in range(N)]))


def _settings(tmp_path: Path, drain: float) -> Settings:
    return Settings(home=tmp_path / "st", api_key="k", endpoint="https://ingest.example.test",
                    drain_timeout=drain, workers=1)  # fmt: skip


def test_a_sink_that_is_down_never_holds_back_another(isolated_home: Path, tmp_path: Path) -> None:
    _history(isolated_home)
    a, b = FakeSink("a"), FakeSink("b", up=False)
    first = start_once(_settings(tmp_path, drain=0.3), sinks=[a, b])
    assert len(a.got) == len(set(a.got)) == N  # a has everything although b is down
    assert b.got == [] and first.exit_code == 1 and first.left == N
    assert a.closed and b.closed
    st = read_status(_settings(tmp_path, 0))
    assert st.sinks["a"].depth == 0 and st.sinks["b"].depth == N
    assert st.sinks["b"].consecutive_failures >= 1 and st.sinks["a"].consecutive_failures == 0
    assert st.outbox["depth"] == N  # the rows stay until every sink has them
    text = render_status(st.as_dict())
    assert "sink a: 0 events to send" in text and f"sink b: {N} events to send" in text

    a2, b2 = FakeSink("a"), FakeSink("b")  # b is back
    second = start_once(_settings(tmp_path, drain=600), sinks=[a2, b2])
    assert second.exit_code == 0 and second.left == 0
    assert sorted(b2.got) == sorted(a.got) and a2.got == []  # b gets all, a nothing again
    assert read_status(_settings(tmp_path, 0)).outbox["depth"] == 0


def test_a_rejection_quarantines_for_that_sink_only(isolated_home: Path, tmp_path: Path) -> None:
    _history(isolated_home)
    probe = FakeSink("probe")
    start_once(_settings(tmp_path / "probe", drain=600), sinks=[probe])
    bad = probe.got[2]
    a, b = FakeSink("a"), FakeSink("b", reject=frozenset({bad}))
    result = start_once(_settings(tmp_path, drain=600), sinks=[a, b])
    assert result.exit_code == 0 and result.quarantined == 1
    assert bad in a.got and bad not in b.got and len(a.got) == N and len(b.got) == N - 1
    st = read_status(_settings(tmp_path, 0))
    assert st.quarantine == {"rejected_by_server": 1} and st.outbox["depth"] == 0


def test_a_sink_added_later_gets_only_new_events(isolated_home: Path, tmp_path: Path) -> None:
    """A new sink is no backfill: rows already delivered are gone; it starts from now."""
    _history(isolated_home)
    start_once(_settings(tmp_path, drain=600), sinks=[FakeSink("a")])
    late = FakeSink("late")
    result = start_once(_settings(tmp_path, drain=600), sinks=[FakeSink("a"), late])
    assert result.exit_code == 0 and late.got == []
