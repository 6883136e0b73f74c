"""`agent-cli doctor`: is everything in place for the shipper to run for a week?

Each check returns `Finding`s: what was found and, for a problem, what to do. Doctor is
read-only: the spool is opened read-only (as `status` does), nothing is created, and the
endpoint gets one authenticated `GET /v1/health`. Seams: the environment, the HTTP client,
the free-space probe, the service manager's runner and the clock (`Probe`).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from agent_cli import __version__, config, service
from agent_cli.deliver import Pause
from agent_cli.doctor_agents import agent_findings
from agent_cli.errors import ConfigError, SpoolCorrupt, SpoolError
from agent_cli.finding import Finding
from agent_cli.migrations import FIRST_SINK
from agent_cli.sinks.endpoint import check_endpoint, mask_key
from agent_cli.spool import DB_NAME, Spool
from agent_cli.statedir import RESUME_FREE_BYTES
from agent_cli.status import read_status

if TYPE_CHECKING:
    import httpx

HEALTH_PATH = "/v1/health"
PACKAGES = ("httpx", "click", "msgspec", "genai-prices", "watchdog", "platformdirs")


@dataclass
class Probe:
    """The seams of a doctor run (defaults: this machine)."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    client: httpx.Client | None = None
    free_bytes: Callable[[Path], int] = lambda p: shutil.disk_usage(p).free
    runner: service.Runner | None = None
    platform: str | None = None
    now: Callable[[], float] = time.time


def diagnose(probe: Probe, home: Path | None = None) -> list[Finding]:
    """Run every check; the settings come from the same layers as `start` (no flags)."""
    found = [versions()]
    try:
        resolved = config.resolve({}, probe.env)
        found.append(Finding("config", True, _config_detail(resolved)))
    except ConfigError as e:
        found.append(Finding("config", False, str(e), "fix the file or delete it"))
        resolved = config.resolve({}, probe.env, Path(os.devnull))
    settings = config.build(resolved, home=home)
    sutrace = "sutrace" in settings.sinks
    if sutrace:
        found += check_key(resolved)
    else:
        found.append(Finding("key", True, f"not needed: sinks = {list(settings.sinks)}"))
    with _spool(settings.state_dir) as (spool, spool_problem):
        found += check_endpoint_answers(settings, probe, spool) if sutrace else []
        found += spool_problem or check_spool(settings.state_dir, spool)
        found += check_agents(settings, probe, spool)
    found.append(check_disk(settings.state_dir, probe))
    found += check_service(probe)
    found.append(Finding("log", True, f"{settings.log_file} (level {settings.log_level})"))
    return found


def versions() -> Finding:
    parts = [f"python {platform.python_version()}", f"agent-cli {__version__}"]
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            parts.append(f"{name} {metadata.version(name)}")
    return Finding("versions", True, ", ".join(parts))


def _config_detail(r: config.Resolved) -> str:
    given = sorted(n for n, o in r.origins.items() if o == "file")
    if not r.file.exists():
        return f"{r.file} (not created; defaults and environment apply)"
    return f"{r.file} ({', '.join(given) or 'no settings'})"


def check_key(r: config.Resolved) -> list[Finding]:
    key = r.values["key"]
    if not key:
        return [
            Finding(
                "key",
                False,
                "no API key",
                "run `agent-cli config set key` (or set SUTRACE_API_KEY)",
            )
        ]
    return [Finding("key", True, f"{mask_key(key)} (from {r.origins['key']})")]


# -- the endpoint ----------------------------------------------------------------------------


def check_endpoint_answers(
    settings: config.Settings, probe: Probe, spool: Spool | None
) -> list[Finding]:
    """One GET of the health path; when the endpoint has none, the last delivery says."""
    try:
        endpoint = check_endpoint(settings.endpoint)
    except ConfigError as e:
        return [Finding("endpoint", False, str(e), "run `agent-cli config set endpoint URL`")]
    key = settings.api_key
    status, failure = _get_health(endpoint, key, probe)
    where = f"{endpoint}{HEALTH_PATH}"
    if failure:
        return [Finding("endpoint", False, f"{endpoint} cannot be reached: {failure}", _DOWN)]
    if status == 200:
        return [Finding("endpoint", True, f"{endpoint} answers and accepts the key")]
    if status in (401, 403) and key:
        return [Finding("endpoint", False, f"{where} refused the key ({status})", _BAD_KEY)]
    if status in (401, 403):
        return [Finding("endpoint", True, f"{endpoint} answers (the key is not checked: none)")]
    if status is not None and 300 <= status < 400:
        fix = "set the endpoint to the address it moved to (`agent-cli config set endpoint`)"
        return [Finding("endpoint", False, f"{where} redirects ({status})", fix)]
    if status in (404, 405):
        return [_last_delivery(endpoint, spool)]
    return [Finding("endpoint", False, f"{where} answered {status}", _DOWN)]


_TRANSPORT = {
    "ConnectError": "connection failed (nothing listens there, or no network)",
    "ConnectTimeout": "no connection within 5 s",
    "ReadTimeout": "no answer within 10 s",
}
_DOWN = "check the endpoint address and the network; events wait in the spool meanwhile"
_BAD_KEY = "copy the key again from Sutrace: `agent-cli config set key`"


def _get_health(endpoint: str, key: str | None, probe: Probe) -> tuple[int | None, str]:
    """(status, "") or (None, why it failed); never follows a redirect with the key."""
    import httpx

    from agent_cli.sinks.answers import untrusted_certificate

    client = probe.client or httpx.Client(
        timeout=httpx.Timeout(10, connect=5), follow_redirects=False, verify=True, trust_env=True
    )
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        return client.get(endpoint + HEALTH_PATH, headers=headers).status_code, ""
    except httpx.HTTPError as e:
        if untrusted_certificate(e):
            return None, "its TLS certificate is not trusted"
        # the class says enough (a message may quote the URL)
        return None, _TRANSPORT.get(type(e).__name__, type(e).__name__)
    finally:
        if probe.client is None:
            client.close()


def _last_delivery(endpoint: str, spool: Spool | None) -> Finding:
    """An endpoint without the health path: the last delivery says whether the key works."""
    states = {name: st for name, _, st in spool.sink_states()} if spool is not None else {}
    state = states.get(FIRST_SINK)
    if state is not None and Pause.parse(state.pause_reason) is Pause.AUTH:
        return Finding("endpoint", False, f"{endpoint}: the last delivery was refused", _BAD_KEY)
    if state is not None and state.last_success_at:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(state.last_success_at))
        return Finding("endpoint", True, f"{endpoint} answers; last delivery {when}")
    return Finding("endpoint", True, f"{endpoint} answers (no health path; nothing sent yet)")


# -- the spool and the disk ------------------------------------------------------------------


@contextlib.contextmanager
def _spool(folder: Path) -> Iterator[tuple[Spool | None, list[Finding]]]:
    """The spool opened read-only with every page checked, or None and why not."""
    if not (folder / DB_NAME).exists():
        yield None, [Finding("spool", True, f"{folder}: nothing spooled yet")]
        return
    try:
        spool = Spool(folder, readonly=True, verify=True)
    except SpoolCorrupt as e:
        fix = "run `agent-cli start --once`: it keeps the damaged file aside and starts anew"
        yield None, [Finding("spool", False, str(e), fix)]
        return
    except SpoolError as e:
        yield None, [Finding("spool", False, str(e), "see the message; `agent-cli status`")]
        return
    try:
        yield spool, []
    finally:
        spool.db.close()


def check_spool(folder: Path, spool: Spool | None) -> list[Finding]:
    if spool is None:
        return []
    s = read_status(folder)
    out = [Finding("spool", True, f"{s.spool}: intact, {s.outbox['depth']} events to send")]
    if s.pause is not None and not s.healthy:
        out.append(
            Finding(
                "delivery",
                False,
                f"{s.pause.reason} ({s.pause.detail or 'no detail'})",
                "fix the key or endpoint, then `agent-cli start --once` tries at once",
            )
        )
    elif not s.healthy and not s.disk_full:
        out.append(Finding("delivery", False, "events older than an hour wait", _DOWN))
    if s.recovered:
        why = f"was damaged and kept as {s.recovered['kept_as']}; the transcripts were read again"
        out.append(Finding("recovered", True, why))
    return out


def check_disk(folder: Path, probe: Probe) -> Finding:
    here = folder
    while not here.exists() and here != here.parent:
        here = here.parent  # doctor creates nothing: measure where the folder will be
    try:
        free = probe.free_bytes(here)
    except OSError as e:
        return Finding("disk", False, f"free space at {here} unknown ({e.strerror})", "")
    mb = free / 1e6
    if free < RESUME_FREE_BYTES:
        fix = f"free some space: below {RESUME_FREE_BYTES // 2**20} MB reading pauses"
        return Finding("disk", False, f"{mb:.1f} MB free at {here}", fix)
    return Finding("disk", True, f"{mb:,.0f} MB free at {here}")


# -- agents, retention, the service ------------------------------------------------------------


def check_agents(settings: config.Settings, probe: Probe, spool: Spool | None) -> list[Finding]:
    return agent_findings(settings, probe.env, probe.now(), spool)


def check_service(probe: Probe) -> list[Finding]:
    t = service.target(probe.platform, probe.env)
    runner = probe.runner or (lambda args: service.run_command(args, probe.env))
    s = service.status(t, runner)
    if not s.installed:
        fix = "run `agent-cli service install` so it starts at login"
        return [Finding("service", False, f"not installed ({s.definition})", fix)]
    if s.running is None:
        fix = f"check the service manager ({s.logs})"
        return [Finding("service", False, f"installed; running unknown: {s.detail}", fix)]
    if not s.running:
        fix = f"see why: {s.logs}; then `agent-cli service install` starts it again"
        return [Finding("service", False, f"installed but not running ({s.detail})", fix)]
    return [Finding("service", True, f"installed and running ({s.definition})")]


def as_json(findings: list[Finding]) -> str:
    problems = [f for f in findings if not f.ok]
    return json.dumps({"healthy": not problems, "checks": [f.__dict__ for f in findings]}, indent=2)


def render(findings: list[Finding]) -> str:
    """One line per check; a problem's line says what to do."""
    lines = []
    for f in findings:
        fix = f"; fix: {f.fix}" if f.fix and not f.ok else ""
        lines.append(f"{'ok' if f.ok else 'PROBLEM':<8} {f.check}: {f.detail}{fix}")
    problems = sum(not f.ok for f in findings)
    lines.append("all is well" if not problems else f"{problems} problem(s)")
    return "\n".join(lines)
