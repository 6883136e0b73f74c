"""The setup commands: `config`, `service` and `doctor` (click, like `cli`, which adds them).

They live beside `cli` only to keep each module small; `cli` wraps every callback in its one
error translation, so these raise the project's errors like any other command.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from agent_cli import config as config_mod
from agent_cli import configfile


@click.group("config")
def config_group() -> None:
    """Read and write the config file (TOML): endpoint, key, agents, privacy, log level.

    \b
    Precedence: flags > environment > config file > defaults.
    Examples:
      agent-cli config set key            # asks for the key (kept out of `ps` and history)
      agent-cli config set endpoint https://ingest.sutrace.io
      agent-cli config show               # every value and where it came from
    """


@config_group.command("path")
def config_path() -> None:
    """Print the config file's path ($AGENT_CLI_CONFIG overrides it)."""
    click.echo(str(configfile.path()))


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def config_show(as_json: bool) -> None:
    """Print every setting, its value (the key masked) and where it came from."""
    r = config_mod.resolve()
    rows = {n: {"value": config_mod.shown(n, v), "from": r.origins[n]} for n, v in r.values.items()}
    if as_json:
        click.echo(json.dumps({"file": str(r.file), "settings": rows}, indent=2))
        return
    exists = "" if r.file.exists() else " (not created yet)"
    click.echo(f"config file: {r.file}{exists}")
    for name, row in rows.items():
        click.echo(f"{name:<15} {row['value']:<40} ({row['from']})")


@config_group.command("set")
@click.argument("key", metavar="KEY", type=click.Choice(list(config_mod.KEYS)))
@click.argument("value", required=False)
def config_set(key: str, value: str | None) -> None:
    """Write KEY = VALUE to the config file (0600). Lists are comma-separated.

    Without VALUE, `key` is asked for without echo; `-` reads VALUE from standard input.
    """
    if value == "-":
        value = sys.stdin.readline().strip()
    elif value is None and config_mod.KEYS[key].secret:
        value = click.prompt("API key", hide_input=True)
    elif value is None:
        raise click.UsageError(f"Give a value: agent-cli config set {key} VALUE.")
    if key == "agents":
        from agent_cli.scan import select_sources

        select_sources(tuple(config_mod.parse(config_mod.KEYS[key], value, "config set")))
    file = config_mod.set_value(key, value)
    click.echo(f"{key} = {config_mod.shown(key, config_mod.resolve().values[key])} in {file}")
    _warn_if_shadowed(key)


@config_group.command("unset")
@click.argument("key", metavar="KEY", type=click.Choice(list(config_mod.KEYS)))
def config_unset(key: str) -> None:
    """Remove KEY from the config file (its default, or the environment's, applies again)."""
    file = config_mod.set_value(key, None)
    click.echo(f"{key} removed from {file}")
    _warn_if_shadowed(key)


def _warn_if_shadowed(key: str) -> None:
    env = config_mod.KEYS[key].env
    if env and os.environ.get(env):
        click.echo(f"note: {env} is set and wins over the config file.", err=True)


@click.group("service")
def service_group() -> None:
    """Run `agent-cli start` at login, restarted when it fails (systemd, launchd, schtasks).

    \b
    Examples:
      agent-cli service install --dry-run   # print what would be written and run
      agent-cli service install
      agent-cli service status
    """


_dry = click.option(
    "--dry-run", is_flag=True, help="Print what would be written and run; do neither."
)
_platform = click.option(
    "--platform",
    type=click.Choice(["linux", "macos", "windows"]),
    help="With --dry-run: show another system's service.  [default: this one]",
)


@service_group.command("install")
@_dry
@_platform
def service_install(dry_run: bool, platform: str | None) -> None:
    """Write the service definition, then enable and start it."""
    from agent_cli import service

    t = service.target(platform)
    steps = service.install_plan(t, config_mod.resolve())
    if dry_run:
        click.echo(f"# dry run for {t.platform}: nothing is written or run")
        for step in steps:
            click.echo(service.describe(step))
        return
    service.apply(steps, t, service.run_command, click.echo)
    click.echo("installed; `agent-cli service status` shows whether it runs.")
    if t.platform == "linux":
        click.echo(
            "it starts when you log in; to run it without a login session too: "
            "loginctl enable-linger $USER"
        )


@service_group.command("uninstall")
@_dry
@_platform
def service_uninstall(dry_run: bool, platform: str | None) -> None:
    """Stop the service and remove its definition (the spool and config stay)."""
    from agent_cli import service

    t = service.target(platform)
    steps = service.uninstall_plan(t)
    if dry_run:
        click.echo(f"# dry run for {t.platform}: nothing is removed or run")
        for step in steps:
            click.echo(service.describe(step))
        return
    service.apply(steps, t, service.run_command, click.echo)
    click.echo("uninstalled; the spool and the config file are kept.")


@service_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def service_status(as_json: bool) -> None:
    """Say whether the service is installed and running; exit 1 when it is not running."""
    import dataclasses

    from agent_cli import service

    s = service.status(service.target(), service.run_command)
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(s), indent=2))
    else:
        click.echo(f"definition: {s.definition} ({'present' if s.installed else 'absent'})")
        running = {True: "yes", False: "no", None: "unknown"}[s.running]
        click.echo(f"running: {running} ({s.detail or 'no answer'})")
        click.echo(f"its output: {s.logs}")
    if not s.running:
        raise click.exceptions.Exit(1)


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="AGENT_CLI_HOME",
    show_envvar=True,
    help="State folder to check.",
)
def doctor_command(as_json: bool, home: Path | None) -> None:
    """Check what a week of shipping needs: key, endpoint, agents, retention, spool, disk,
    service, log. Read-only. Exit 1 with one line per problem and what to do."""
    from agent_cli import doctor

    findings = doctor.diagnose(doctor.Probe(), home)
    click.echo(doctor.as_json(findings) if as_json else doctor.render(findings))
    if not all(f.ok for f in findings):
        raise click.exceptions.Exit(1)
