"""`agent-cli service install | uninstall | status`: run the shipper at login, restarted on
failure, on Linux (systemd user unit), macOS (launchd agent) and Windows (scheduled task).

A plan is a list of steps (write a file, run a command, remove a file, save the key); the
platform and the command runner are seams (`Target`, `Runner`), so every platform's plan is
tested on any machine and no test runs systemctl, launchctl or schtasks. `--dry-run` prints
the plan. The API key never enters a unit file or a command line: when it is only in the
environment, install saves it to the config file (0600), which the shipper reads.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent_cli import config, configfile
from agent_cli.errors import ConfigError, ServiceError
from agent_cli.service_units import (
    LABEL,
    TASK_NAME,
    UNIT_NAME,
    launchd_plist,
    systemd_unit,
    task_xml,
)
from agent_cli.sinks.endpoint import mask_key

PLATFORMS = ("linux", "macos", "windows")
# paths set when the service is installed that it must see too (never a secret)
CARRIED = ("AGENT_CLI_CONFIG", "AGENT_CLI_HOME", "AGENT_CLI_LOG_DIR")
ENV_FILE = "agent-cli.env"


@dataclass(frozen=True)
class Ran:
    """What a command did: its exit status and its output (stdout and stderr)."""

    returncode: int
    output: str = ""


Runner = Callable[[Sequence[str]], Ran]


def run_command(args: Sequence[str], env: Mapping[str, str] | None = None) -> Ran:
    """Run a service manager command (found on $PATH), 30 s at most; never raises."""
    env = os.environ if env is None else env
    exe = shutil.which(args[0], path=env.get("PATH"))
    if exe is None:
        return Ran(127, f"{args[0]} not found on PATH")
    try:
        done = subprocess.run(
            [exe, *args[1:]], capture_output=True, text=True, timeout=30, env=dict(env)
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return Ran(126, f"{args[0]} could not run ({type(e).__name__})")
    return Ran(done.returncode, (done.stdout + done.stderr).strip())


def current_platform() -> str:
    if sys.platform == "darwin":
        return "macos"
    return "windows" if sys.platform.startswith("win") else "linux"


@dataclass(frozen=True)
class Target:
    """Where and as whom the service is installed: the seam tests set for each platform."""

    platform: str
    home: Path
    config_dir: Path
    log_dir: Path
    program: tuple[str, ...]
    uid: int = 0
    user: str = ""
    environment: tuple[tuple[str, str], ...] = ()  # CARRIED variables set at install

    @property
    def definition(self) -> Path:
        """The file that defines the service."""
        if self.platform == "linux":
            return self.home / ".config" / "systemd" / "user" / UNIT_NAME
        if self.platform == "macos":
            return self.home / "Library" / "LaunchAgents" / f"{LABEL}.plist"
        return self.config_dir / "agent-cli-task.xml"


def target(platform: str | None = None, env: Mapping[str, str] | None = None) -> Target:
    """The target of this machine and user (or, for a dry run, of another `platform`)."""
    env = os.environ if env is None else env
    platform = platform or current_platform()
    if platform not in PLATFORMS:
        raise ConfigError(f"--platform must be one of {', '.join(PLATFORMS)}.")
    home = config.home(env)
    native = platform == current_platform()
    logs = config.log_dir(None, {k: v for k, v in env.items() if k != "AGENT_CLI_HOME"})
    if not native and platform == "macos":
        logs = home / "Library" / "Logs" / "agent-cli"
    user = env.get("USERNAME") or env.get("USER") or "user"
    if env.get("USERDOMAIN"):
        user = f"{env['USERDOMAIN']}\\{user}"
    return Target(
        platform=platform,
        home=home,
        config_dir=configfile.path(env).parent,
        log_dir=logs,
        program=(_python(platform), "-m", "agent_cli", "start"),
        uid=os.getuid() if hasattr(os, "getuid") else 0,
        user=user,
        environment=tuple((k, env[k]) for k in CARRIED if env.get(k)),
    )


def _python(platform: str) -> str:
    """The interpreter running now; on Windows its windowless twin when there is one."""
    exe = Path(sys.executable)
    if platform == "windows" and exe.name.lower() == "python.exe":
        quiet = exe.with_name("pythonw.exe")
        if quiet.exists():
            return str(quiet)
    return str(exe)


# -- steps and plans ----------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    path: Path
    data: bytes
    mode: int


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    check: bool = True  # False: a failure is expected at times (unload what is not loaded)


@dataclass(frozen=True)
class Remove:
    path: Path


@dataclass(frozen=True)
class SaveKey:
    """Save the key found in the environment to the config file, where the service reads it."""

    origin: str
    key: str = field(repr=False)


Step = Write | Run | Remove | SaveKey


def install_plan(t: Target, resolved: config.Resolved) -> list[Step]:
    """The steps of `service install` (the key is checked first: a service without one fails)."""
    steps: list[Step] = []
    key, origin = resolved.values["key"], resolved.origins["key"]
    if not key:
        raise ConfigError(
            "No API key: run `agent-cli config set key` first (the service reads it from the "
            "config file, never from its command line)."
        )
    if origin != "file":
        steps.append(SaveKey(origin, key))
    d = t.definition
    if t.platform == "linux":
        unit = systemd_unit(t.program, t.config_dir / ENV_FILE, t.environment)
        steps.append(Write(d, unit.encode(), 0o644))
        steps.append(Run(("systemctl", "--user", "daemon-reload")))
        steps.append(Run(("systemctl", "--user", "enable", "--now", UNIT_NAME)))
    elif t.platform == "macos":
        steps.append(Write(d, launchd_plist(t.program, t.log_dir, t.environment), 0o644))
        steps.append(Run(("launchctl", "bootout", f"gui/{t.uid}/{LABEL}"), check=False))
        steps.append(Run(("launchctl", "bootstrap", f"gui/{t.uid}", str(d))))
    else:
        steps.append(Write(d, task_xml(t.program, t.user, t.environment).encode("utf-16"), 0o600))
        steps.append(Run(("schtasks", "/Create", "/TN", TASK_NAME, "/XML", str(d), "/F")))
        steps.append(Run(("schtasks", "/Run", "/TN", TASK_NAME)))
    return steps


def uninstall_plan(t: Target) -> list[Step]:
    """The steps of `service uninstall`: stop, unregister, remove the definition."""
    d = t.definition
    if t.platform == "linux":
        return [
            Run(("systemctl", "--user", "disable", "--now", UNIT_NAME), check=False),
            Remove(d),
            Run(("systemctl", "--user", "daemon-reload")),
        ]
    if t.platform == "macos":
        return [Run(("launchctl", "bootout", f"gui/{t.uid}/{LABEL}"), check=False), Remove(d)]
    return [
        Run(("schtasks", "/End", "/TN", TASK_NAME), check=False),
        Run(("schtasks", "/Delete", "/TN", TASK_NAME, "/F"), check=False),
        Remove(d),
    ]


def describe(step: Step) -> str:
    """What a step does, for --dry-run and for the log of an install (never the key)."""
    if isinstance(step, Write):
        text = step.data.decode(
            "utf-16" if step.data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8"
        )
        return f"write {step.path} (mode {step.mode:04o}):\n" + _indent(text)
    if isinstance(step, Run):
        return "run: " + shlex.join(step.args) + ("" if step.check else "  (may fail)")
    if isinstance(step, Remove):
        return f"remove {step.path}"
    return f"save the API key ({mask_key(step.key)}, from {step.origin}) to the config file (0600)"


def _indent(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.splitlines())


def apply(
    steps: Sequence[Step],
    t: Target,
    runner: Runner,
    say: Callable[[str], None],
    env: Mapping[str, str] | None = None,
) -> None:
    """Carry out the steps in order; a failed checked command raises ServiceError."""
    if t.platform != current_platform():
        raise ConfigError(
            f"This machine is not {t.platform}: only `--dry-run` shows that platform's service."
        )
    for step in steps:
        say(describe(step).split("\n", 1)[0].replace("write ", "wrote ", 1))
        if isinstance(step, Write):
            step.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = step.path.with_name(f".{step.path.name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, step.mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(step.data)
            os.chmod(tmp, step.mode)
            os.replace(tmp, step.path)
        elif isinstance(step, Remove):
            with contextlib.suppress(FileNotFoundError):
                step.path.unlink()
        elif isinstance(step, SaveKey):
            config.set_value("key", step.key, env)
        else:
            done = runner(step.args)
            if step.check and done.returncode != 0:
                last = (done.output.splitlines() or ["no output"])[-1][:200]
                raise ServiceError(
                    f"`{shlex.join(step.args)}` failed (exit {done.returncode}): {last}"
                )


# -- status -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceStatus:
    """Whether the service is defined and running (None: the manager could not tell)."""

    platform: str
    definition: str
    installed: bool
    running: bool | None
    detail: str
    logs: str  # how to see what the service printed


def status(t: Target, runner: Runner) -> ServiceStatus:
    """Ask the service manager (read-only commands only; none when nothing is installed)."""
    if t.platform != "windows" and not t.definition.exists():
        logs = f"journalctl --user -u {UNIT_NAME}" if t.platform == "linux" else str(t.log_dir)
        return ServiceStatus(t.platform, str(t.definition), False, False, "not installed", logs)
    if t.platform == "linux":
        installed = t.definition.exists()
        done = runner(("systemctl", "--user", "is-active", UNIT_NAME))
        state = done.output.strip().splitlines()[-1] if done.output.strip() else ""
        running = True if state == "active" else (None if done.returncode >= 126 else False)
        logs = f"journalctl --user -u {UNIT_NAME}"
    elif t.platform == "macos":
        installed = t.definition.exists()
        done = runner(("launchctl", "print", f"gui/{t.uid}/{LABEL}"))
        running = "state = running" in done.output if done.returncode < 126 else None
        state = "running" if running else ("not loaded" if done.returncode else "loaded")
        logs = str(t.log_dir / "service.err.log")
    else:
        done = runner(("schtasks", "/Query", "/TN", TASK_NAME, "/FO", "LIST"))
        installed = done.returncode == 0
        running = "Running" in done.output if done.returncode < 126 else None
        state = "running" if running else ("not registered" if done.returncode else "ready")
        logs = "Task Scheduler > agent-cli > History"
    if done.returncode >= 126:  # the manager itself is missing: say so, guess nothing
        state = done.output
    return ServiceStatus(t.platform, str(t.definition), installed, running, state, logs)
