"""`service install | uninstall | status` on all three platforms, through the seams: a
`Target` per platform and a recording runner (no test runs systemctl, launchctl or schtasks;
`systemd-analyze verify` checks the unit when it is installed)."""

from __future__ import annotations

import os
import plistlib
import shutil
import stat
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from agent_cli import config, configfile, service
from agent_cli.cli import cli
from agent_cli.errors import ConfigError, ServiceError

KEY = "sk_test_service_canary_0123456789"


class Recorder:
    """A runner that records each command and answers from a script (default: success)."""

    def __init__(self, answers: dict[str, service.Ran] | None = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.answers = answers or {}

    def __call__(self, args: Sequence[str]) -> service.Ran:
        self.calls.append(tuple(args))
        for prefix, ran in self.answers.items():
            if " ".join(args).startswith(prefix):
                return ran
        return service.Ran(0, "")


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=True)


def with_key(isolated_home: Path) -> config.Resolved:
    configfile.write(configfile.path(), {"key": KEY})
    return config.resolve()


def _target(platform: str, home: Path) -> service.Target:
    return service.target(platform, {**os.environ, "HOME": str(home)})


def _files(steps: list[service.Step]) -> list[service.Write]:
    return [s for s in steps if isinstance(s, service.Write)]


def test_the_linux_unit_restarts_on_failure_and_holds_no_key(isolated_home: Path) -> None:
    t = _target("linux", isolated_home)
    steps = service.install_plan(t, with_key(isolated_home))
    (unit,) = _files(steps)
    assert unit.path == isolated_home / ".config/systemd/user/agent-cli.service"
    text = unit.data.decode()
    assert "Restart=on-failure" in text and "WantedBy=default.target" in text
    assert f"ExecStart={sys.executable} -m agent_cli start" in text
    assert "EnvironmentFile=-" in text and KEY not in text
    runs = [s.args for s in steps if isinstance(s, service.Run)]
    assert runs == [
        ("systemctl", "--user", "daemon-reload"),
        ("systemctl", "--user", "enable", "--now", "agent-cli.service"),
    ]


def test_the_unit_is_accepted_by_systemd_analyze_verify(
    isolated_home: Path, tmp_path: Path
) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    r = invoke("service", "install", "--dry-run", "--platform", "linux",
               env={"SUTRACE_API_KEY": KEY})  # fmt: skip
    assert r.exit_code == 0, r.output
    assert KEY not in r.output.replace("…6789", "")
    body = r.output.split("(mode 0644):\n", 1)[1].split("\nrun: ", 1)[0]
    unit = tmp_path / "agent-cli.service"
    unit.write_text("".join(line[4:] + "\n" for line in body.splitlines()))
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {"PATH": os.environ.get("PATH", ""), "XDG_RUNTIME_DIR": str(runtime),
           "HOME": str(isolated_home)}  # fmt: skip
    done = subprocess.run([analyze, "verify", "--user", str(unit)], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    # verify exits 0 on mere warnings (an unknown Restart= value), so any output fails too
    assert done.returncode == 0 and done.stderr.strip() == "" and done.stdout.strip() == "", (
        done.stdout + done.stderr
    )


def test_the_macos_plist_parses_with_keepalive_and_runatload(isolated_home: Path) -> None:
    t = _target("macos", isolated_home)
    (plist,) = _files(service.install_plan(t, with_key(isolated_home)))
    assert plist.path == isolated_home / "Library/LaunchAgents/io.sutrace.agent-cli.plist"
    d = plistlib.loads(plist.data)
    assert d["Label"] == "io.sutrace.agent-cli"
    assert d["ProgramArguments"] == [sys.executable, "-m", "agent_cli", "start"]
    assert d["RunAtLoad"] is True and d["KeepAlive"] == {"SuccessfulExit": False}
    assert KEY.encode() not in plist.data
    # AGENT_CLI_HOME was set when it was installed (conftest): the service sees it too
    assert d["EnvironmentVariables"] == {"AGENT_CLI_HOME": os.environ["AGENT_CLI_HOME"]}


def test_the_windows_task_starts_at_logon_and_restarts(isolated_home: Path) -> None:
    t = _target("windows", isolated_home)
    steps = service.install_plan(t, with_key(isolated_home))
    (task,) = _files(steps)
    assert task.data[:2] == b"\xff\xfe"  # schtasks /XML wants UTF-16
    root = ET.fromstring(task.data.decode("utf-16").split("?>", 1)[1])
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    assert root.find("t:Triggers/t:LogonTrigger", ns) is not None
    assert root.find("t:Settings/t:RestartOnFailure/t:Count", ns) is not None
    args = root.findtext("t:Actions/t:Exec/t:Arguments", namespaces=ns) or ""
    assert args.endswith("-m agent_cli start") and KEY not in args
    runs = [s.args[:2] for s in steps if isinstance(s, service.Run)]
    assert runs == [("schtasks", "/Create"), ("schtasks", "/Run")]


def test_a_key_only_in_the_environment_is_saved_to_the_config_file(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUTRACE_API_KEY", KEY)
    t = _target("linux", isolated_home)
    steps = service.install_plan(t, config.resolve())
    assert isinstance(steps[0], service.SaveKey)
    assert KEY not in repr(steps) and KEY not in service.describe(steps[0])
    said: list[str] = []
    service.apply(steps, t, Recorder(), said.append)
    assert tomllib.loads(configfile.path().read_text())["key"] == KEY
    assert stat.S_IMODE(configfile.path().stat().st_mode) == 0o600
    assert KEY not in "\n".join(said)


def test_install_without_a_key_is_a_usage_error(isolated_home: Path) -> None:
    with pytest.raises(ConfigError, match="config set key"):
        service.install_plan(_target("linux", isolated_home), config.resolve())
    r = invoke("service", "install", "--dry-run")
    assert r.exit_code == 2 and "config set key" in r.output


def test_install_writes_then_runs_and_a_refusal_is_one_sentence(isolated_home: Path) -> None:
    t = _target("linux", isolated_home)
    rec = Recorder()
    service.apply(service.install_plan(t, with_key(isolated_home)), t, rec, lambda _: None)
    assert t.definition.exists() and stat.S_IMODE(t.definition.stat().st_mode) == 0o644
    assert rec.calls[-1] == ("systemctl", "--user", "enable", "--now", "agent-cli.service")
    refuse = Recorder({"systemctl --user enable": service.Ran(1, "Failed to connect to bus")})
    with pytest.raises(ServiceError, match="Failed to connect to bus"):
        service.apply(service.install_plan(t, config.resolve()), t, refuse, lambda _: None)


def test_a_foreign_platform_is_dry_run_only(isolated_home: Path) -> None:
    t = _target("macos" if sys.platform != "darwin" else "linux", isolated_home)
    with pytest.raises(ConfigError, match="--dry-run"):
        service.apply(service.install_plan(t, with_key(isolated_home)), t, Recorder(), print)


def test_uninstall_stops_and_removes(isolated_home: Path) -> None:
    t = _target("linux", isolated_home)
    rec = Recorder()
    service.apply(service.install_plan(t, with_key(isolated_home)), t, rec, lambda _: None)
    gone = Recorder({"systemctl --user disable": service.Ran(1, "not loaded")})  # tolerated
    service.apply(service.uninstall_plan(t), t, gone, lambda _: None)
    assert not t.definition.exists()
    assert gone.calls[0][:3] == ("systemctl", "--user", "disable")
    for platform in ("macos", "windows"):
        steps = service.uninstall_plan(_target(platform, isolated_home))
        assert any(isinstance(s, service.Remove) for s in steps)


@pytest.mark.parametrize(
    ("platform", "answers", "running"),
    [
        ("linux", {"systemctl": service.Ran(0, "active")}, True),
        ("linux", {"systemctl": service.Ran(3, "inactive")}, False),
        ("linux", {"systemctl": service.Ran(127, "systemctl not found on PATH")}, None),
        ("macos", {"launchctl": service.Ran(0, "gui/0/x = {\n\tstate = running\n")}, True),
        ("macos", {"launchctl": service.Ran(113, "Could not find service")}, False),
        ("windows", {"schtasks": service.Ran(0, "TaskName: \\agent-cli\nStatus: Running")}, True),
        ("windows", {"schtasks": service.Ran(1, "ERROR: The system cannot find the file")}, False),
    ],
)  # fmt: skip
def test_status_asks_the_manager(
    isolated_home: Path, platform: str, answers: dict[str, service.Ran], running: bool | None
) -> None:
    t = _target(platform, isolated_home)
    rec = Recorder(answers)
    if platform != "windows":
        assert service.status(t, rec).installed is False and rec.calls == []  # nothing asked
        t.definition.parent.mkdir(parents=True)
        t.definition.write_text("defined")
    s = service.status(t, rec)
    assert s.running is running


def test_the_cli_runs_the_manager_found_on_path(isolated_home: Path, tmp_path: Path) -> None:
    """A stand-in `systemctl` on PATH: the real runner, and no real service manager."""
    if sys.platform != "linux":
        pytest.skip("the stand-in is a POSIX shell script for the linux plan")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    fake = bin_dir / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\n[ "$2" = is-active ] && echo active\nexit 0\n')
    fake.chmod(0o755)
    with_key(isolated_home)
    env = {"PATH": str(bin_dir)}
    r = invoke("service", "install", env=env)
    assert r.exit_code == 0, r.output
    assert "enable-linger" in r.output and KEY not in r.output
    r = invoke("service", "status", env=env)
    assert r.exit_code == 0 and "running: yes" in r.output, r.output
    r = invoke("service", "uninstall", env=env)
    assert r.exit_code == 0, r.output
    assert log.read_text().splitlines() == [
        "--user daemon-reload",
        "--user enable --now agent-cli.service",
        "--user is-active agent-cli.service",
        "--user disable --now agent-cli.service",
        "--user daemon-reload",
    ]
    assert invoke("service", "status", env={"PATH": str(tmp_path / "none")}).exit_code == 1


def test_a_program_path_with_spaces_and_percent_is_quoted_for_systemd(tmp_path: Path) -> None:
    from agent_cli.service_units import systemd_unit

    odd = tmp_path / "My Tools 100%"
    odd.mkdir()
    (odd / "python").symlink_to(sys.executable)
    unit = systemd_unit([str(odd / "python"), "-m", "agent_cli", "start"], tmp_path / "x.env")
    assert f'ExecStart="{odd}/python" -m agent_cli start'.replace("%", "%%") in unit
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    (tmp_path / "agent-cli.service").write_text(unit)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    done = subprocess.run(
        [analyze, "verify", "--user", str(tmp_path / "agent-cli.service")],
        env={"PATH": os.environ.get("PATH", ""), "XDG_RUNTIME_DIR": str(runtime),
             "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stderr


def test_the_windows_user_has_its_domain(isolated_home: Path) -> None:
    env = {**os.environ, "USERNAME": "dain", "USERDOMAIN": "WORK"}
    assert service.target("windows", env).user == "WORK\\dain"
