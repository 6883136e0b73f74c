"""The OTLP sink end to end, against a receiver that decodes with opentelemetry-proto
(tests/otlp_receiver.py): every record checked; the log records' tokens and the metric sums
equal the dry-run's, after a restart and after a SIGKILL too; a revision adds only its growth;
with the Sutrace sink beside it, one down never holds back the other; no content in any body.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest

from agent_cli.config import Settings
from agent_cli.pipeline import dry_run, start_once
from agent_cli.pipeline import status as read_status
from agent_cli.sinks.otlp_config import OtlpConfig, otlp_config
from tests.claude_lines import assistant, jsonl
from tests.otlp_receiver import OtlpReceiver
from tests.test_e2e import (
    CEILING,
    Daemon,
    Receiver,
    agent,
    agent_env,
    ship_env,
    status_json,
    wait_until,
)
from tests.test_privacy import canary_home

__all__ = ["canary_home"]  # a fixture of the canary test

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN_TYPES = {
    "input": ("input_tokens", "cache_read_tokens", "cache_creation_tokens"),
    "output": ("output_tokens",),
    "cache_read": ("cache_read_tokens",),
    "cache_creation": ("cache_creation_tokens",),
}
LOG_TOKENS = {
    "gen_ai.usage.input_tokens": TOKEN_TYPES["input"],
    "gen_ai.usage.output_tokens": ("output_tokens",),
    "gen_ai.usage.cache_read.input_tokens": ("cache_read_tokens",),
    "gen_ai.usage.cache_creation.input_tokens": ("cache_creation_tokens",),
    "gen_ai.usage.reasoning.output_tokens": ("reasoning_tokens",),
}


def env_for(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / ".claude"),
            "CODEX_HOME": str(home / ".codex"), "GEMINI_CLI_HOME": str(home)}  # fmt: skip


@pytest.fixture
def fixture_home(isolated_home: Path) -> Path:
    """The repository's real Claude Code and Codex transcripts in the test's home."""
    shutil.copytree(FIXTURES / "claude" / "projects", isolated_home / ".claude" / "projects")
    shutil.copytree(FIXTURES / "codex" / "real" / "sessions", isolated_home / ".codex" / "sessions")
    return isolated_home


def expected(home: Path) -> dict[str, dict[str, Any]]:
    """event_id -> the highest revision the dry-run prints."""
    out = io.BytesIO()
    dry_run(Settings(workers=1), out, env_for(home))
    best: dict[str, dict[str, Any]] = {}
    for line in out.getvalue().splitlines():
        ev = json.loads(line)
        if ev["event_id"] not in best or ev.get("revision", 0) > best[ev["event_id"]]["revision"]:
            best[ev["event_id"]] = {"revision": 0, **ev}
    assert best
    return best


def want_tokens(events: dict[str, dict[str, Any]], fields: tuple[str, ...]) -> int:
    calls = [e for e in events.values() if e["kind"] == "llm_call"]
    return sum(int(e.get(f) or 0) for e in calls for f in fields)


def cfg(rx: OtlpReceiver, **env: str) -> OtlpConfig:
    found = otlp_config({"OTEL_EXPORTER_OTLP_ENDPOINT": rx.url, **env})
    assert found is not None
    return found


def run(home: Path, state: Path, otlp: OtlpConfig, **kw: Any) -> Any:
    s = Settings(home=state, otlp=otlp, workers=1, drain_timeout=kw.pop("drain", 60.0), **kw)
    return start_once(s, env=env_for(home))


def check_records(
    rx: OtlpReceiver, want: dict[str, dict[str, Any]], skip: frozenset[str] = frozenset()
) -> None:
    """Every record (but those of `skip`): its event's name, id and revision, tokens as the
    convention counts them, the resource, no body; and one per event (the highest revision)."""
    got = {k: r for k, r in rx.latest_logs().items() if k not in skip}
    assert set(got) == set(want)
    for eid, rec in got.items():
        ev, a = want[eid], rec["attributes"]
        assert rec["event_name"] == a["event.name"] == f"agent_cli.{ev['kind']}"
        assert a["agent_cli.revision"] == ev.get("revision", 0)
        assert a["gen_ai.agent.name"] == ev["agent"]
        assert rec["resource"]["service.name"] == "agent-cli"
        assert rec["resource"].get("host.name") == ev["host"]
        if ev["kind"] == "llm_call":
            for name, fields in LOG_TOKENS.items():
                assert a[name] == sum(int(ev.get(f) or 0) for f in fields), (eid, name)
            assert a.get("gen_ai.request.model") == ev["model"]
            assert a.get("agent_cli.cost_usd") == ev["cost_usd"]
        else:
            assert a["gen_ai.tool.name"] == ev["tool_name"]
    for name, fields in LOG_TOKENS.items():
        assert sum(r["attributes"].get(name, 0) for r in got.values()) == want_tokens(want, fields)


def check_metrics(rx: OtlpReceiver, want: dict[str, dict[str, Any]]) -> None:
    for t, fields in TOKEN_TYPES.items():
        got = rx.metric_sum("gen_ai.client.token.usage", **{"gen_ai.token.type": t})
        assert got == want_tokens(want, fields), t
    assert rx.metric_sum("agent_cli.calls") == len(want)
    errors = sum(1 for e in want.values() if e["status"] != "ok")
    assert rx.metric_sum("agent_cli.errors") == errors
    cost = sum(e.get("cost_usd") or 0.0 for e in want.values() if e["kind"] == "llm_call")
    assert math.isclose(rx.metric_sum("agent_cli.cost.usd"), cost, rel_tol=1e-9)


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_logs_and_metrics_equal_the_dry_run_and_a_restart_changes_nothing(
    protocol: str, fixture_home: Path, tmp_path: Path
) -> None:
    want = expected(fixture_home)
    with OtlpReceiver() as rx:
        config = cfg(rx, OTEL_EXPORTER_OTLP_PROTOCOL=protocol)
        first = run(fixture_home, tmp_path / "st", config)
        assert first.exit_code == 0 and first.left == 0, first.detail
        check_records(rx, want)
        wait_until(lambda: rx.metric_sum("agent_cli.calls") == len(want), CEILING, "metrics")
        check_metrics(rx, want)
        logs = len(rx.logs)
        again = run(fixture_home, tmp_path / "st", config)  # a restart: nothing new
        assert again.exit_code == 0 and again.delivered == 0 and len(rx.logs) == logs
        wait_until(lambda: rx.counts["/v1/metrics"] >= 2, CEILING, "the restart's export")
        check_metrics(rx, want)  # the same totals, with the same start times


def test_a_revision_adds_only_its_growth(isolated_home: Path, tmp_path: Path) -> None:
    p = isolated_home / ".claude" / "projects" / "-p"
    p.mkdir(parents=True)
    f = p / "s.jsonl"
    f.write_bytes(jsonl(assistant("m1", "r1", out=7, stop=None), assistant("m2", "r2", out=5)))
    with OtlpReceiver() as rx:
        assert run(isolated_home, tmp_path / "st", cfg(rx)).exit_code == 0
        with open(f, "ab") as fh:  # the first call grows: a revision
            fh.write(jsonl(assistant("m1", "r1", out=300, uuid="u-m1-grown")))
        assert run(isolated_home, tmp_path / "st", cfg(rx)).exit_code == 0
        want = expected(isolated_home)
        assert {e["revision"] for e in want.values()} == {0, 1}
        revisions = sorted(r["attributes"]["agent_cli.revision"] for r in rx.logs)
        assert revisions == [0, 0, 1]  # each revision is a record of its own
        wait_until(lambda: rx.metric_sum("gen_ai.client.token.usage",
                                         **{"gen_ai.token.type": "output"}) == 305,
                   CEILING, "the revision's growth")  # fmt: skip
        check_metrics(rx, want)  # 300 + 5, not 7 + 300 + 5; two calls, not three


def test_a_copy_shipped_before_its_original_counts_once(
    isolated_home: Path, tmp_path: Path
) -> None:
    """A Codex fork's replay read before its parent: the copies are counted, then superseded
    (a zero-usage revision) when the parent appears. A counter cannot go down: what the
    copies counted is credited against the originals, so each call counts once."""
    from tests.test_source_codex import SID_K, SID_P, rule_file

    day = isolated_home / ".codex" / "sessions" / "2026" / "03" / "02"
    day.mkdir(parents=True)
    shutil.copy(rule_file(SID_K), day)  # the child first, alone
    with OtlpReceiver() as rx:
        assert run(isolated_home, tmp_path / "st", cfg(rx)).exit_code == 0
        llm = {"agent_cli.kind": "llm_call"}
        wait_until(lambda: rx.metric_sum("agent_cli.calls", **llm) == 4, CEILING, "the copies")
        shutil.copy(rule_file(SID_P), day)  # then its parent appears
        assert run(isolated_home, tmp_path / "st", cfg(rx)).exit_code == 0
        want = expected(isolated_home)  # read fresh, the parent first: no copy is emitted
        superseded = frozenset(k for k, e in rx.latest_logs().items()
                               if e["attributes"]["agent_cli.status"] == "superseded")  # fmt: skip
        assert len(superseded) == 2
        assert all(rx.latest_logs()[k]["attributes"]["gen_ai.usage.input_tokens"] == 0
                   for k in superseded)  # fmt: skip
        check_records(rx, want, skip=superseded)
        assert sum(e["kind"] == "llm_call" for e in want.values()) == 4
        wait_until(lambda: rx.metric_sum("agent_cli.calls") == len(want), CEILING, "calls")
        check_metrics(rx, want)


@pytest.mark.slow
def test_the_daemon_follows_a_growing_call_and_flushes_its_metrics_on_sigterm(
    isolated_home: Path, tmp_path: Path
) -> None:
    p = isolated_home / ".claude" / "projects" / "-p"
    p.mkdir(parents=True)
    f = p / "s.jsonl"
    f.write_bytes(jsonl(assistant("m0", "r0", out=5)))
    output = {"gen_ai.token.type": "output"}
    with OtlpReceiver() as rx:
        env = agent_env(OTEL_EXPORTER_OTLP_ENDPOINT=rx.url, AGENT_CLI_HOME=str(tmp_path / "st"))
        with Daemon(env, [], tmp_path / "d") as d:
            wait_until(lambda: len(rx.logs) == 1, CEILING, "the backfill")
            with open(f, "ab") as fh:  # a new call, streamed: first 7 tokens, then 300
                fh.write(jsonl(assistant("m1", "r1", out=7, stop=None)))
            wait_until(lambda: len(rx.latest_logs()) == 2, CEILING, "the new call")
            with open(f, "ab") as fh:
                fh.write(jsonl(assistant("m1", "r1", out=300, uuid="u-m1-grown")))
            wait_until(lambda: rx.metric_sum("gen_ai.client.token.usage", **output) == 305,
                       CEILING, "the grown call's metrics")  # fmt: skip
            assert d.terminate() == 0
        assert rx.metric_sum("agent_cli.calls") == 2
        assert sorted(r["attributes"]["gen_ai.usage.output_tokens"] for r in rx.logs) in (
            [5, 7, 300],  # the first revision went out before the call grew
            [5, 300],  # or it was still held (unsettled) and the grown one replaced it
        )


def test_traces_have_deterministic_ids(fixture_home: Path, tmp_path: Path) -> None:
    seen = []
    for spool in ("a", "b"):  # a fresh spool sends the same spans
        with OtlpReceiver() as rx:
            config = OtlpConfig(**{**cfg(rx).__dict__, "traces": True})
            assert run(fixture_home, tmp_path / spool, config).exit_code == 0
            seen.append({(s["trace_id"], s["span_id"], s["parent"]) for s in rx.spans})
    first = seen[0]
    assert seen[1] == first
    ids = {s for _, s, _ in first}
    tools = [s for s in rx.spans if s["name"].startswith("execute_tool")]
    # a call's and a tool's parent is sent too; a subagent's session span may point at a
    # parent session the history does not hold (one Codex fixture does)
    assert tools and all(s["parent"] in ids for s in rx.spans if s["parent"]
                         and not s["name"].startswith("invoke_agent"))  # fmt: skip
    assert all(not s["parent"] for s in rx.spans if s["name"].startswith("invoke_agent")
               and not s["attributes"]["agent_cli.is_subagent"])  # fmt: skip
    assert {s["attributes"]["agent_cli.event_id"] for s in rx.spans if "agent_cli.event_id"
            in s["attributes"]} == set(rx.latest_logs())  # fmt: skip


@pytest.mark.parametrize("down", ["otlp", "sutrace"])
def test_beside_sutrace_one_down_never_holds_back_the_other(
    down: str, fixture_home: Path, tmp_path: Path
) -> None:
    want = expected(fixture_home)
    state = tmp_path / "st"
    up = "sutrace" if down == "otlp" else "otlp"
    with OtlpReceiver() as rx, Receiver(tmp_path / "sutrace") as sutrace:
        got = {"otlp": lambda: set(rx.latest_logs()), "sutrace": lambda: set(sutrace.events())}
        if down == "otlp":
            rx.down = True
        else:
            sutrace.faults(status_sequence=[503] * 10_000)
        key = ship_env(sutrace)["SUTRACE_API_KEY"]
        s = Settings(home=state, otlp=cfg(rx), workers=1, drain_timeout=2.0,
                     endpoint=sutrace.url, api_key=key)  # fmt: skip
        first = start_once(s, env=env_for(fixture_home))
        assert first.exit_code == 1 and got[up]() == set(want) and got[down]() == set()
        st = read_status(Settings(home=state))
        assert st.sinks[down].depth == len(want) and st.sinks[up].depth == 0
        rx.down = False
        sutrace.faults(status_sequence=[])
        second = start_once(
            Settings(**{**s.__dict__, "drain_timeout": 600.0}), env=env_for(fixture_home)
        )
        assert second.exit_code == 0 and second.left == 0
        check_records(rx, want)
        assert len(rx.logs) == len(want)  # nothing sent to either twice
        wait_until(lambda: rx.metric_sum("agent_cli.calls") == len(want), CEILING, "metrics")
        check_metrics(rx, want)
        assert set(sutrace.events()) == set(want)
        assert sutrace.stats()["events"] == len(want)


def test_alone_without_a_sutrace_key(fixture_home: Path, tmp_path: Path) -> None:
    with OtlpReceiver() as rx:
        env = agent_env(OTEL_EXPORTER_OTLP_ENDPOINT=rx.url,
                        OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer%20zz-secret-zz",
                        AGENT_CLI_HOME=str(tmp_path / "st"))  # fmt: skip
        p = agent(["start", "--once"], env)
        assert p.returncode == 0, p.stderr
        assert rx.logs and all(h.get("authorization") == "Bearer zz-secret-zz"
                               for h in rx.headers)  # fmt: skip
        log = (tmp_path / "st" / "agent-cli.log").read_text()
        assert "zz-secret-zz" not in p.stderr + p.stdout + log
        bad = agent(["start", "--once", "--otlp-endpoint", "http://example.test:4318"], env)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_metric_sums_survive_sigkill(fixture_home: Path, tmp_path: Path) -> None:
    """A real daemon, SIGKILLed three times with a batch taken by the collector but its
    answer not yet sent (the worst moment: the records are in, the spool does not know),
    after 1, 2 and 3 batches were answered. The restart sends those records again; the
    metrics count each event once, and never go down (the receiver checks every export)."""
    want = expected(fixture_home)
    state = tmp_path / "st"
    with OtlpReceiver() as rx:
        env = agent_env(OTEL_EXPORTER_OTLP_ENDPOINT=rx.url, AGENT_CLI_HOME=str(state))
        for attempt in range(3):
            rx.reset_hold(attempt + 2)
            with Daemon(env, [], tmp_path / f"d{attempt}") as d:
                wait_until(lambda: rx.held or not d.alive(), CEILING, "a batch held")
                d.proc.send_signal(signal.SIGKILL)
                assert d.proc.wait(CEILING) == -signal.SIGKILL
            rx.release.set()
        rx.reset_hold(0)
        p = agent(["start", "--once"], env)
        assert p.returncode == 0, p.stderr
        assert set(rx.latest_logs()) == set(want)
        assert len(rx.logs) > len(want)  # the held batches were sent again
        wait_until(lambda: rx.metric_sum("agent_cli.calls") == len(want), CEILING, "metrics")
        check_metrics(rx, want)  # counted exactly once, whatever the kills re-sent


def test_an_untrusted_certificate_pauses_and_trusting_it_delivers(
    isolated_home: Path, tmp_path: Path
) -> None:
    p = isolated_home / ".claude" / "projects" / "-p"
    p.mkdir(parents=True)
    (p / "s.jsonl").write_bytes(jsonl(*[assistant(f"m{i}", f"r{i}") for i in range(5)]))
    tls = FIXTURES / "tls"
    with OtlpReceiver((tls / "cert.pem", tls / "key.pem")) as rx:
        assert rx.url.startswith("https://")
        env = agent_env(OTEL_EXPORTER_OTLP_ENDPOINT=rx.url, AGENT_CLI_HOME=str(tmp_path / "st"))
        p1 = agent(["start", "--once", "--drain-timeout", "600"], env)
        assert p1.returncode == 1 and "certificate" in p1.stderr, p1.stderr  # at once
        assert not rx.logs and "Traceback" not in p1.stderr
        code, info = status_json(env)
        assert code == 1 and info["sinks"]["otlp"]["depth"] == 5
        assert info["otlp_endpoint"] == f"{rx.url}/v1/logs"
        shown = agent(["status"], env).stdout
        assert f"otlp endpoint: {rx.url}/v1/logs" in shown and "sink otlp: 5 events" in shown
        trusted = {**env, "SSL_CERT_FILE": str(tls / "cert.pem")}
        p2 = agent(["start", "--once", "--drain-timeout", "600"], trusted)
        assert p2.returncode == 0, p2.stderr
        assert len(rx.latest_logs()) == 5


def test_no_content_in_any_otlp_body(canary_home: Path, tmp_path: Path) -> None:
    from tests.test_privacy import CANARY

    with OtlpReceiver() as rx:
        config = OtlpConfig(**{**cfg(rx).__dict__, "traces": True})
        assert run(canary_home, tmp_path / "st", config).exit_code == 0
        wait_until(lambda: rx.counts.get("/v1/metrics", 0) >= 1, CEILING, "metrics")
        assert rx.logs and rx.spans
        bodies = b"".join(rx.bodies)
        assert CANARY.encode() not in bodies
        assert CANARY.encode() not in (tmp_path / "st" / "spool.sqlite").read_bytes()
