"""The commands that show what the spool holds: `status` and `report` (click, like `cli`,
which adds them and translates their errors).

`report`'s reading settings (`--paths`, `--identity`) resolve as `start`'s do (flags > environment >
config file), since what `report` reads into the spool is what the next `start` ships.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from agent_cli import config as config_mod
from agent_cli.render import render_status


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="AGENT_CLI_HOME",
    show_envvar=True,
    help="State folder to inspect.",
)
def status_command(as_json: bool, home: Path | None) -> None:
    """Show the spool: outbox depth, last delivery, pauses, drops; exit 1 when unhealthy."""
    from agent_cli import pipeline

    info = pipeline.status(config_mod.Settings(home=home)).as_dict()
    click.echo(json.dumps(info, indent=2, sort_keys=True) if as_json else render_status(info))
    if not info["healthy"]:
        raise click.exceptions.Exit(1)


@click.command("report")
@click.argument("what", nargs=-1, metavar="[session ID]")
@click.option("--by", multiple=True, metavar="DIM", help="day, week, month, block, session, agent, "
              "model, repo, branch, host, user, subagent, tool, error; repeatable.")  # fmt: skip
@click.option("--since", metavar="DATE", help="First day: YYYY-MM-DD, 7d, 14d, 2w or all.")
@click.option("--until", metavar="DATE", help="Last day (included), as --since.")
@click.option("--timezone", metavar="ZONE", help="IANA zone of the days.  [default: local]")
@click.option("--agent", "agents", multiple=True, metavar="NAME", help="Only this agent.")
@click.option(
    "--order", metavar="FIELD[:asc|desc]", help="cost, calls, tokens, errors, tools, key."
)
@click.option("--breakdown", is_flag=True, help="Per-model lines within each row.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (see docs/report.md).")
@click.option("--html", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write one self-contained HTML page with charts.")  # fmt: skip
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="AGENT_CLI_HOME")
@click.option("--paths", type=click.Choice(config_mod.PATH_MODES),
              help="As for start (what it reads now ships later).")  # fmt: skip
@click.option("--identity", type=click.Choice(config_mod.IDENTITY_MODES), help="As for start.")
@click.option("--history-days", type=click.IntRange(1), envvar="AGENT_CLI_HISTORY_DAYS",
              help="Keep this many days of history.  [default: all]")  # fmt: skip
def report_command(
    what: tuple[str, ...], home: Path | None, paths: str | None, identity: str | None,
    history_days: int | None, **flags: Any,
) -> None:  # fmt: skip
    """Read what is new in the transcripts (no delivery, no key needed), then report usage
    from the local history, which outlives the transcripts.

    \b
    Examples:
      agent-cli report                               # last 7 days by day
      agent-cli report --by session --since 14d      # sessions ranked by cost
      agent-cli report --by day --by model --json    # docs/report.md
      agent-cli report --by block --breakdown        # 5-hour blocks, per model
      agent-cli report session 1f2e3d4c              # one session
      agent-cli report --html report.html
    """
    from agent_cli.report_run import run

    resolved = config_mod.resolve({"paths": paths, "identity": identity})
    settings = config_mod.build(resolved, home=home, history_days=history_days)
    out, note = run(what, flags, settings)
    if note:
        click.echo(note, err=True)
    if out:
        click.echo(out)
