"""`agent-cli doctor` against the reference receiver on 127.0.0.1: a healthy setup passes,
and each planted problem is found (one line, with what to do). Doctor never changes the
spool. Seams: the HTTP client (no proxy), the free-space probe and the service runner."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from agent_cli import doctor, service
from agent_cli.cli import cli
from agent_cli.finding import Finding
from tests.test_faults import _damage
from tests.test_ingest_server import ingest
from tests.test_privacy import CANARY, canary_home  # noqa: F401 - the fixture

KEY = "sk_test_doctor_canary_0123456789"
FIXTURE = (
    Path(__file__).parent / "fixtures" / "claude" / "projects"
    / "-Users-dain-workspace-danieldemmel-me-next"
)  # fmt: skip


@pytest.fixture
def receiver() -> Iterator[Any]:
    server = ingest.make_server("127.0.0.1", 0, ":memory:", KEY, quiet=True)
    server.start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60, follow_redirects=False, trust_env=False) as c:
        yield c


def running(args: Sequence[str]) -> service.Ran:
    return service.Ran(0, "active")


def with_transcripts(home: Path) -> None:
    shutil.copytree(FIXTURE, home / ".claude" / "projects" / FIXTURE.name)


def env_for(receiver: Any, key: str | None = KEY, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SUTRACE_API_KEY",)}
    env["SUTRACE_ENDPOINT"] = receiver.url
    if key is not None:
        env["SUTRACE_API_KEY"] = key
    env.update(extra)
    return env


def installed_unit(env: dict[str, str]) -> None:
    t = service.target("linux", env)
    t.definition.parent.mkdir(parents=True, exist_ok=True)
    t.definition.write_text("[Unit]\n")


def ship(env: dict[str, str]) -> None:
    r = CliRunner().invoke(cli, ["start", "--once", "--drain-timeout", "60"], env=env)
    assert r.exit_code == 0, r.output


def run(
    env: dict[str, str],
    client: httpx.Client,
    free: Callable[[Path], int] = lambda p: 10**12,
) -> list[Finding]:
    probe = doctor.Probe(env=env, client=client, free_bytes=free, runner=running,
                         platform="linux")  # fmt: skip
    found = doctor.diagnose(probe)
    text = doctor.render(found) + doctor.as_json(found)
    assert KEY not in text and "Bearer" not in text  # the key is never shown
    return found


def problems(found: list[Finding]) -> dict[str, str]:
    return {f.check: f"{f.detail}; {f.fix}" for f in found if not f.ok}


def snapshot(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.endswith(".log")
    }


@pytest.fixture
def healthy(isolated_home: Path, receiver: Any) -> dict[str, str]:
    """Transcripts, a key the receiver accepts, everything shipped, the service running."""
    with_transcripts(isolated_home)
    env = env_for(receiver)
    ship(env)
    installed_unit(env)
    return env


def test_a_healthy_setup_has_no_problem_and_doctor_changes_nothing(
    healthy: dict[str, str], client: httpx.Client
) -> None:
    state = Path(healthy["AGENT_CLI_HOME"])
    before = snapshot(state)
    found = run(healthy, client)
    assert problems(found) == {}
    checks = {f.check: f.detail for f in found}
    assert "accepts the key" in checks["endpoint"]
    assert "intact, 0 events to send" in checks["spool"]
    assert checks["agent claude-code"].startswith("installed; 4 transcripts")
    assert "every transcript is shipped" in checks["claude retention"]
    assert checks["log"].startswith(str(state / "agent-cli.log"))
    assert snapshot(state) == before


def test_no_key(healthy: dict[str, str], client: httpx.Client) -> None:
    del healthy["SUTRACE_API_KEY"]
    found = problems(run(healthy, client))
    assert set(found) == {"key"}
    assert "config set key" in found["key"]


def test_no_key_is_no_problem_when_sinks_leave_sutrace_out(
    healthy: dict[str, str], client: httpx.Client
) -> None:
    del healthy["SUTRACE_API_KEY"]
    healthy["AGENT_CLI_SINKS"] = "otlp"
    found = run(healthy, client)
    assert problems(found) == {}
    checks = {f.check: f.detail for f in found}
    assert checks["key"] == "not needed: sinks = ['otlp']" and "endpoint" not in checks


def test_a_bad_key_is_refused_401(healthy: dict[str, str], client: httpx.Client) -> None:
    healthy["SUTRACE_API_KEY"] = "sk_test_wrong_key_00000000"
    found = problems(run(healthy, client))
    assert set(found) == {"endpoint"}
    assert "refused the key (401)" in found["endpoint"] and "config set key" in found["endpoint"]


def test_the_endpoint_is_down(healthy: dict[str, str], client: httpx.Client) -> None:
    with socket.socket() as s:  # a port nothing listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        healthy["SUTRACE_ENDPOINT"] = f"http://127.0.0.1:{s.getsockname()[1]}"
        found = problems(run(healthy, client))
    assert set(found) == {"endpoint"}
    assert "cannot be reached: connection failed" in found["endpoint"]


def test_no_transcripts(isolated_home: Path, receiver: Any, client: httpx.Client) -> None:
    env = env_for(receiver)
    installed_unit(env)
    found = problems(run(env, client))
    assert set(found) == {"transcripts"}
    assert "CLAUDE_CONFIG_DIR" in found["transcripts"]


def test_a_chosen_agent_without_transcripts(healthy: dict[str, str], client: httpx.Client) -> None:
    healthy["AGENT_CLI_AGENTS"] = "claude,codex"
    assert set(problems(run(healthy, client))) == {"agent codex"}


@pytest.mark.parametrize("days", [None, 7, 0])
def test_short_or_unset_retention_with_history_not_shipped(
    isolated_home: Path, receiver: Any, client: httpx.Client, days: int | None
) -> None:
    with_transcripts(isolated_home)
    if days is not None:
        (isolated_home / ".claude" / "settings.json").write_text(
            json.dumps({"cleanupPeriodDays": days, "theme": "dark"})
        )
    env = env_for(receiver)
    installed_unit(env)
    found = problems(run(env, client))
    assert set(found) == {"claude retention"}
    assert "cleanupPeriodDays" in found["claude retention"]
    if days == 0:
        assert "not kept" in found["claude retention"]


def test_a_long_retention_is_fine_before_shipping(
    isolated_home: Path, receiver: Any, client: httpx.Client
) -> None:
    with_transcripts(isolated_home)
    claude = isolated_home / "cc"
    claude.mkdir()
    shutil.move(isolated_home / ".claude" / "projects", claude / "projects")
    (claude / "settings.json").write_text(json.dumps({"cleanupPeriodDays": 365}))
    env = env_for(receiver, CLAUDE_CONFIG_DIR=str(claude))
    installed_unit(env)
    assert problems(run(env, client)) == {}


@pytest.mark.parametrize("how", ["garbled_header", "truncated", "garbled_pages"])
def test_a_corrupt_spool(healthy: dict[str, str], client: httpx.Client, how: str) -> None:
    state = Path(healthy["AGENT_CLI_HOME"])
    _damage(state / "spool.sqlite", how)
    before = snapshot(state)
    found = problems(run(healthy, client))
    assert "spool" in found and "damaged" in found["spool"] and "start --once" in found["spool"]
    assert snapshot(state) == before  # doctor reports it; `start` is what moves it aside


def test_a_full_disk(healthy: dict[str, str], client: httpx.Client) -> None:
    found = problems(run(healthy, client, free=lambda p: 3 * 2**20))
    assert set(found) == {"disk"}
    assert "3.1 MB free" in found["disk"] and "free some space" in found["disk"]


def test_the_service_not_installed_or_not_running(
    healthy: dict[str, str], client: httpx.Client
) -> None:
    probe = doctor.Probe(env=healthy, client=client, free_bytes=lambda p: 10**12,
                         runner=lambda a: service.Ran(3, "failed"), platform="linux")  # fmt: skip
    found = problems(doctor.diagnose(probe))
    assert set(found) == {"service"} and "not running" in found["service"]
    service.target("linux", healthy).definition.unlink()
    found = problems(doctor.diagnose(probe))
    assert "not installed" in found["service"] and "service install" in found["service"]


def test_an_endpoint_without_the_health_path_falls_back_on_the_last_delivery(
    healthy: dict[str, str],
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        return httpx.Response(404)

    with httpx.Client(transport=httpx.MockTransport(answer)) as c:
        found = {f.check: f for f in run(healthy, c)}
    assert found["endpoint"].ok and "last delivery" in found["endpoint"].detail

    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(307))) as c:
        found = {f.check: f for f in run(healthy, c)}
    assert not found["endpoint"].ok and "redirects" in found["endpoint"].detail


def test_the_command_exits_1_with_one_line_per_problem_and_0_when_well(
    healthy: dict[str, str], tmp_path: Path
) -> None:
    """Through the CLI: a stand-in `systemctl` on PATH answers; the real one never runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text("#!/bin/sh\necho active\n")
    (bin_dir / "systemctl").chmod(0o755)
    env = {**healthy, "PATH": str(bin_dir), "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    r = CliRunner().invoke(cli, ["doctor"], env=env)
    assert r.exit_code == 0, r.output
    assert r.output.strip().endswith("all is well") and KEY not in r.output
    env["SUTRACE_API_KEY"] = "sk_test_wrong_key_00000000"
    r = CliRunner().invoke(cli, ["doctor", "--json"], env=env)
    assert r.exit_code == 1
    data = json.loads(r.output)
    assert data["healthy"] is False
    assert [c["check"] for c in data["checks"] if not c["ok"]] == ["endpoint"]
    r = CliRunner().invoke(cli, ["doctor"], env=env)
    bad = [line for line in r.output.splitlines() if line.startswith("PROBLEM")]
    assert len(bad) == 1 and "fix:" in bad[0]


@pytest.mark.usefixtures("canary_home")
def test_the_canary_never_shows_in_doctor() -> None:
    """Doctor lists transcripts (count, age) and never reads them: no content in its output."""
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as c:
        found = run(dict(os.environ, SUTRACE_API_KEY=KEY), c)
    assert CANARY not in doctor.render(found) + doctor.as_json(found)
    assert any(f.check == "agent claude-code" and "2 transcripts" in f.detail for f in found)
