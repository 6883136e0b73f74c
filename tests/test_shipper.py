"""The delivery loop: backoff, Retry-After persisted across restarts, pauses; `start_*`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from agent_cli.config import Settings
from agent_cli.deliver import Shipper
from agent_cli.errors import ConfigError
from agent_cli.pipeline import start_forever, start_once
from agent_cli.pipeline import status as read_status
from agent_cli.sinks import Verdict
from agent_cli.sinks.http import HttpSink
from agent_cli.spool import Spool
from tests.claude_lines import assistant, jsonl
from tests.test_spool import run_scan


class Clock:
    """A fake wall clock; `wait` advances it instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


def transport(statuses: list[int], headers: dict[str, str] | None = None):
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        code = statuses.pop(0) if statuses else 200
        if code == 200:
            return httpx.Response(200, json={"accepted": 1, "duplicates": 0, "rejected": []})
        return httpx.Response(code, headers=headers or {})

    return httpx.MockTransport(handler), calls


@pytest.fixture
def spooled(isolated_home: Path, tmp_path: Path) -> Spool:
    p = isolated_home / ".claude" / "projects" / "-p"
    p.mkdir(parents=True)
    (p / "s.jsonl").write_bytes(jsonl(*[assistant(f"m{i}", f"r{i}") for i in range(3)]))
    spool, _ = run_scan(tmp_path / "st")
    return spool


def shipper_for(
    spool: Spool, statuses: list[int], clock: Clock, headers: dict[str, str] | None = None
) -> tuple[Shipper, list[httpx.Request]]:
    t, calls = transport(statuses, headers)
    sink = HttpSink(
        "http://127.0.0.1:9", "sk_test_abcd1234", client=httpx.Client(transport=t), clock=clock
    )
    return Shipper(spool.queue(), sink, clock=clock, wait=clock.wait, rng=lambda: 0.5), calls


def test_transient_errors_back_off_then_deliver(spooled: Spool) -> None:
    clock = Clock()
    shipper, calls = shipper_for(spooled, [503, 502, 200], clock)
    empty, verdict = shipper.drain(time.monotonic() + 60)
    assert empty and verdict is Verdict.OK
    assert len(calls) == 3
    assert clock.waits == [pytest.approx(0.5), pytest.approx(1.0)]  # 1 s, 2 s windows x 0.5
    assert spooled.depth() == 0 and spooled.queue().state().failures == 0


def test_retry_after_is_honoured_and_survives_a_restart(spooled: Spool) -> None:
    clock = Clock()
    shipper, _calls = shipper_for(spooled, [429], clock, {"Retry-After": "7"})
    assert shipper.ship_batch().verdict is Verdict.RETRY
    assert shipper.blocked_for() == pytest.approx(7)
    restarted, _ = shipper_for(spooled, [], clock)
    assert restarted.blocked_for() == pytest.approx(7)  # persisted in the spool
    empty, _ = restarted.drain(time.monotonic() + 60)
    assert empty and clock.waits == [pytest.approx(7)]


def test_auth_failure_pauses_without_dropping(spooled: Spool) -> None:
    clock = Clock()
    shipper, calls = shipper_for(spooled, [401, 401, 401], clock)
    empty, verdict = shipper.drain(time.monotonic() + 60)
    assert not empty and verdict is Verdict.PAUSE_AUTH
    assert len(calls) == 1 and spooled.depth() == 3
    assert spooled.queue().state().pause_reason == "paused: auth"


def test_backoff_grows_and_is_capped(spooled: Spool) -> None:
    clock = Clock()
    shipper, _ = shipper_for(spooled, [503] * 12, clock)
    shipper.drain(time.monotonic() + 60)
    assert clock.waits[:4] == [pytest.approx(x) for x in (0.5, 1, 2, 4)]
    assert max(clock.waits) <= 300


def test_run_requires_a_key_and_a_safe_endpoint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SUTRACE_API_KEY"):
        start_once(Settings(home=tmp_path / "st", once=True))
    with pytest.raises(ConfigError):
        start_once(
            Settings(home=tmp_path / "st", once=True, api_key="k", endpoint="http://example.com")
        )


def test_run_once_delivers_and_status_reports(isolated_home: Path, tmp_path: Path) -> None:
    p = isolated_home / ".claude" / "projects" / "-p"
    p.mkdir(parents=True)
    (p / "s.jsonl").write_bytes(jsonl(*[assistant(f"m{i}", f"r{i}") for i in range(3)]))
    got: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        import gzip

        got.extend(json.loads(gzip.decompress(request.content))["events"])
        return httpx.Response(200, json={"accepted": 3, "duplicates": 0, "rejected": []})

    settings = Settings(
        home=tmp_path / "st",
        once=True,
        api_key="sk_live_secret9876",
        endpoint="https://ingest.example.test",
    )
    result = start_once(settings, client=httpx.Client(transport=httpx.MockTransport(handler)))
    assert result.exit_code == 0 and result.delivered == 3 and result.left == 0
    assert sorted(e["kind"] for e in got) == ["llm_call"] * 3
    info = read_status(settings).as_dict()
    assert info["healthy"] and info["outbox"]["depth"] == 0
    assert info["api_key"] == "…9876" and "secret" not in json.dumps(info)
    assert info["agents"]["claude-code"]["files"] == 1


def test_run_once_exits_1_and_keeps_events_when_auth_fails(
    isolated_home: Path, tmp_path: Path
) -> None:
    p = isolated_home / ".claude" / "projects" / "-p"
    p.mkdir(parents=True)
    (p / "s.jsonl").write_bytes(jsonl(assistant("m1", "r1")))
    settings = Settings(
        home=tmp_path / "st", once=True, api_key="k_wrong_1234", endpoint="http://127.0.0.1:9"
    )
    t, calls = transport([401])
    result = start_once(settings, client=httpx.Client(transport=t))
    assert result.exit_code == 1 and result.left == 1 and len(calls) == 1
    info = read_status(settings).as_dict()
    assert not info["healthy"] and info["pause"]["reason"] == "paused: auth"


def test_a_full_outbox_pauses_reading_and_loses_nothing(
    isolated_home: Path, tmp_path: Path
) -> None:
    p = isolated_home / ".claude" / "projects" / "-p"
    p.mkdir(parents=True)
    for n in range(6):  # six files of three calls
        (p / f"s{n}.jsonl").write_bytes(
            jsonl(*[assistant(f"m{n}-{i}", f"r{n}-{i}") for i in range(3)])
        )
    down = Settings(
        home=tmp_path / "st",
        once=True,
        api_key="k",
        endpoint="http://127.0.0.1:9",
        outbox_cap=5,
        drain_timeout=0,
        workers=1,
    )
    t, _calls = transport([503] * 100)
    result = start_once(down, client=httpx.Client(transport=t))
    assert result.exit_code == 1 and "cap of 5" in result.detail
    assert result.left == 6  # two files read, then reading paused: no drop, no overflow
    got: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        import gzip

        got.extend(e["event_id"] for e in json.loads(gzip.decompress(request.content))["events"])
        return httpx.Response(200, json={"accepted": 1, "duplicates": 0, "rejected": []})

    up = Settings(
        home=tmp_path / "st",
        once=True,
        api_key="k",
        endpoint="http://127.0.0.1:9",
        outbox_cap=5,
        drain_timeout=10,
        workers=1,
    )
    result = start_once(up, client=httpx.Client(transport=httpx.MockTransport(handler)))
    assert result.exit_code == 0 and result.left == 0
    assert len(got) == len(set(got)) == 18


def test_daemon_finds_a_new_session_without_waiting_for_the_full_walk(
    isolated_home: Path, tmp_path: Path
) -> None:
    import threading

    projects = isolated_home / ".claude" / "projects"
    (projects / "-a").mkdir(parents=True)
    (projects / "-a" / "s.jsonl").write_bytes(jsonl(assistant("m-a", "r-a")))
    got: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        import gzip

        got.extend(e["event_id"] for e in json.loads(gzip.decompress(request.content))["events"])
        return httpx.Response(200, json={"accepted": 1, "duplicates": 0, "rejected": []})

    stop = threading.Event()
    settings = Settings(
        home=tmp_path / "st",
        api_key="k",
        endpoint="http://127.0.0.1:9",
        poll_seconds=0.05,
        workers=1,
        rediscover_seconds=1e9,  # only the folder watch is left to find the new session
    )
    t = threading.Thread(
        target=start_forever,
        args=(settings,),
        daemon=True,
        kwargs={"client": httpx.Client(transport=httpx.MockTransport(handler)), "stop": stop},
    )
    t.start()
    try:
        for _ in range(2400):  # a generous ceiling: only a hang reaches it  # the backfill arrives
            if got:
                break
            stop.wait(0.05)
        assert len(got) == 1
        (projects / "-b").mkdir()  # a new project and session while the daemon runs
        (projects / "-b" / "new.jsonl").write_bytes(jsonl(assistant("m-b", "r-b")))
        for _ in range(2400):  # a generous ceiling: only a hang reaches it
            if len(got) == 2:
                break
            stop.wait(0.05)
        assert len(got) == 2
    finally:
        stop.set()
        t.join(10)
    assert not t.is_alive()


def test_batches_failing_together_count_as_one_failure(isolated_home: Path, tmp_path: Path) -> None:
    p = isolated_home / ".claude" / "projects" / "-p"
    p.mkdir(parents=True)
    (p / "s.jsonl").write_bytes(jsonl(*[assistant(f"m{i}", f"r{i}") for i in range(1600)]))
    spool, _ = run_scan(tmp_path / "st")
    clock = Clock()
    shipper, calls = shipper_for(spool, [503] * 4, clock)
    assert shipper.ship_ready() is Verdict.RETRY
    assert len(calls) == 4  # four batches were in flight when the first answer came
    assert shipper.failures == 1 and spool.queue().state().failures == 1
    assert shipper.blocked_for() == pytest.approx(0.5)  # the first attempt's window, jittered


def test_a_persisted_wait_is_clamped_relative_to_now() -> None:
    from agent_cli.deliver import clamp_wait
    from agent_cli.outbox import SinkState

    now = 1_000_000.0
    assert clamp_wait(SinkState(), now) == 0.0
    assert clamp_wait(SinkState(backoff_until=now + 10, last_attempt_at=now - 1), now) == now + 10
    far = SinkState(backoff_until=now + 1e7, last_attempt_at=now - 1)
    assert clamp_wait(far, now) == now + 3600  # never past the longest wait this code asks
    # the clock went back: the last attempt is "in the future"; its 30 s wait counts from now
    back = SinkState(backoff_until=now + 1e7 + 30, last_attempt_at=now + 1e7)
    assert clamp_wait(back, now) == now + 30
