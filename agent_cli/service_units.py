"""The text of the three service definitions: a systemd user unit, a launchd agent, a task.

Each runs the same program (`python -m agent_cli start`, with the interpreter that ran
`service install`) and restarts it when it fails. None of them holds the API key: the
shipper reads it from the config file (or, with systemd, an optional 0600 environment file).
"""

from __future__ import annotations

import plistlib
import subprocess
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

LABEL = "io.sutrace.agent-cli"  # the launchd label
UNIT_NAME = "agent-cli.service"  # the systemd user unit
TASK_NAME = "agent-cli"  # the Windows scheduled task
DESCRIPTION = "agent-cli: ship coding-agent usage (tokens, cost, errors) to Sutrace"
RESTART_SECONDS = 30


def _systemd_word(word: str) -> str:
    """One ExecStart word: quoted when it has spaces, `%` and `$` doubled (systemd's escapes)."""
    word = word.replace("%", "%%").replace("$", "$$")
    if any(c in word for c in " \t\"'\\;"):
        return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


Environment = Sequence[tuple[str, str]]  # variables the service must see (paths, no secret)


def systemd_unit(program: Sequence[str], env_file: Path, environment: Environment = ()) -> str:
    """A systemd user unit that starts at login and restarts on failure (not on exit 2)."""
    exec_start = " ".join(_systemd_word(w) for w in program)
    env_lines = "".join(f"Environment={_systemd_word(f'{k}={v}')}\n" for k, v in environment)
    return f"""\
# Written by `agent-cli service install`; `agent-cli service uninstall` removes it.
# No API key here: agent-cli reads it from its config file (`agent-cli config path`), or
# from the optional environment file below (keep that one 0600).
[Unit]
Description={DESCRIPTION}

[Service]
Type=simple
ExecStart={exec_start}
{env_lines}EnvironmentFile=-{_systemd_word(str(env_file))}
Restart=on-failure
RestartSec={RESTART_SECONDS}
# exit 2 is a setting to fix (no key, bad endpoint): wait for a person, not a restart loop
RestartPreventExitStatus=2
# the first SIGTERM lets a run end in order; it takes at most ~10 s
TimeoutStopSec=30
Nice=10

[Install]
WantedBy=default.target
"""


def launchd_plist(program: Sequence[str], log_dir: Path, environment: Environment = ()) -> bytes:
    """A launchd agent: started at load (login), restarted when it exits with a failure."""
    extra: dict[str, object] = {"EnvironmentVariables": dict(environment)} if environment else {}
    return plistlib.dumps(
        {
            **extra,
            "Label": LABEL,
            "ProgramArguments": list(program),
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
            "ThrottleInterval": RESTART_SECONDS,
            "ProcessType": "Background",
            "StandardOutPath": str(log_dir / "service.out.log"),
            "StandardErrorPath": str(log_dir / "service.err.log"),
        }
    )


def task_xml(program: Sequence[str], user: str, environment: Environment = ()) -> str:
    """A per-user scheduled task started at logon and restarted on failure (schtasks /XML).

    A task has no environment of its own: carried variables are set by `cmd /c set ...`."""
    command, args = program[0], subprocess.list2cmdline(list(program[1:]))
    if environment:
        sets = " && ".join(f'set "{k}={v}"' for k, v in environment)
        args = f"/c {sets} && {subprocess.list2cmdline(list(program))}"
        command = "cmd.exe"
    u = escape(user)
    return f"""\
<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>{escape(DESCRIPTION)}</Description>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>
      <UserId>{u}</UserId>
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>{u}</UserId>
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>999</Count>
    </RestartOnFailure>
    <Priority>7</Priority>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{escape(command)}</Command>
      <Arguments>{escape(args)}</Arguments>
    </Exec>
  </Actions>
</Task>
"""
