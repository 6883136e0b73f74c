"""The command line: thin click commands over `pipeline`; the only module importing click.

Each command parses options, builds `Settings`, calls one pipeline function and renders its
result. `AgentCliError`s become one clear sentence on stderr and a non-zero exit.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from agent_cli import __version__
from agent_cli import config as config_mod
from agent_cli.errors import AgentCliError, ConfigError
from agent_cli.render import render_run, render_summary
from agent_cli.sources import AGENT_NAMES

F = TypeVar("F", bound=Callable[..., Any])


class _Failure(click.ClickException):
    """A ClickException with the exit code of the error it reports."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code  # read by _Cli.main (click's exit_code is a class variable)


def _errors_to_click(fn: F) -> F:
    """Translate the project's errors into click's, at the edge only."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as e:
            raise click.UsageError(str(e)) from None
        except AgentCliError as e:
            raise _Failure(str(e), e.exit_code) from None
        except OSError as e:
            # A folder that cannot be created or read: say which, not where in the code.
            msg = f"{e.strerror or e}: {e.filename or ''}".rstrip(": ")
            raise click.ClickException(msg) from None
        except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt):
            raise
        except Exception as e:
            if os.environ.get("AGENT_CLI_DEBUG"):
                raise
            # Only the type: an exception's text could one day quote a transcript.
            raise click.ClickException(
                f"internal error ({type(e).__name__}); nothing was lost, the spool keeps every "
                "event. Rerun with AGENT_CLI_DEBUG=1 for details and report it."
            ) from None

    return wrapper  # type: ignore[return-value]


class _Cli(click.Group):
    """A group whose usage errors are one line (`Error: ...`), without the usage dump."""

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        # the words as typed: the re-run index (module `rerun`) is kept per invocation
        self.invoked_with = tuple(sys.argv[1:] if args is None else args)
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as e:
            click.echo(f"Error: {e.format_message()}", err=True)
            sys.exit(e.exit_code)
        except _Failure as e:
            e.show()
            sys.exit(e.code)
        except click.ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="agent-cli")
def cli() -> None:
    """Ship coding-agent usage (tokens, cost, errors) from local transcripts to Sutrace.

    \b
    Examples:
      agent-cli start --once --dry-run     # print the events that would be sent
      SUTRACE_API_KEY=... agent-cli start  # backfill, then tail and ship until stopped
      agent-cli status                     # spool depth, last delivery, pauses, drops
      agent-cli doctor                     # what is wrong, and what to do about it
    """


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return config_mod.parse_since(value)
    except ConfigError as e:
        raise click.BadParameter(str(e)) from None


@cli.command()
@click.option("--once", is_flag=True, help="Backfill, deliver everything, then exit.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the events as JSON Lines on stdout; send and store nothing.",
)
@click.option(
    "--agent",
    "agents",
    multiple=True,
    metavar="NAME",
    help="Read only this agent (" + ", ".join(AGENT_NAMES) + "; claude and gemini are "
    "accepted for claude-code and gemini-cli); repeatable.",
)
@click.option(
    "--since",
    callback=_since,
    metavar="YYYY-MM-DD",
    help="Only calls on or after this UTC day (a later run without it ships the rest).",
)
@click.option(
    "--endpoint",
    envvar="SUTRACE_ENDPOINT",
    show_envvar=True,
    default=config_mod.DEFAULT_ENDPOINT,
    show_default=True,
    help="Ingest endpoint (HTTPS, or HTTP to loopback).",
)
@click.option(
    "--api-key",
    envvar="SUTRACE_API_KEY",
    show_envvar=True,
    help="API key (prefer the environment variable: flags show in `ps`).",
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="AGENT_CLI_HOME",
    show_envvar=True,
    help="State folder (spool, lock, log).  [default: the user state dir]",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(0.05, 3600),
    default=1.0,
    show_default=True,
    help="Seconds between looks for new transcript lines.",
)
@click.option(
    "--drain-timeout",
    type=click.FloatRange(0),
    default=180.0,
    show_default=True,
    help="With --once: seconds to keep retrying a failing endpoint before exit 1.",
)
@click.option(
    "--paths",
    type=click.Choice(config_mod.PATH_MODES),
    envvar="AGENT_CLI_PATHS",
    show_envvar=True,
    default="repo",
    show_default=True,
    help="How repo_path leaves: repo roots as they are and other paths hashed (repo), every "
    "path as it is (full), ~ for the home folder (home), last part only (basename), or "
    "hashed (hash).",
)
@click.option(
    "--identity",
    type=click.Choice(config_mod.IDENTITY_MODES),
    envvar="AGENT_CLI_IDENTITY",
    show_envvar=True,
    default="keep",
    show_default=True,
    help="How host and user leave: as they are, hashed, or dropped.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 32),
    default=None,
    help="Processes that read a backfill of 64 MB or more, forked after imports (Linux and "
    "other Unix, not macOS; only while no other thread runs: not beside the daemon's file "
    "watcher or an OTLP exporter).  [default: 1 on 2 cores or fewer, where two were not "
    "faster; else cores-1, at most 4]",
)
@click.option(
    "--log-level",
    type=click.Choice(config_mod.LOG_LEVELS, case_sensitive=False),
    envvar="AGENT_CLI_LOG_LEVEL",
    show_envvar=True,
    help="What the log file keeps.  [default: INFO, or log_level in the config file]",
)
@click.option(
    "--otlp-endpoint",
    metavar="URL",
    help="Also export to an OpenTelemetry Collector over OTLP/HTTP (base URL, e.g. "
    "http://localhost:4318).  [default: OTEL_EXPORTER_OTLP_ENDPOINT; see docs/otlp.md]",
)
@click.option(
    "--otlp-traces",
    is_flag=True,
    envvar="AGENT_CLI_OTLP_TRACES",
    show_envvar=True,
    help="With OTLP: also send a span per session, call and tool.",
)
@_errors_to_click
def start(
    once: bool,
    dry_run: bool,
    agents: tuple[str, ...],
    since: Any,
    endpoint: str,
    api_key: str | None,
    home: Path | None,
    poll_interval: float,
    drain_timeout: float,
    paths: str,
    identity: str,
    workers: int | None,
    log_level: str | None,
    otlp_endpoint: str | None,
    otlp_traces: bool,
) -> None:
    """Backfill the transcripts on disk, then tail them and ship usage events.

    \b
    Examples:
      agent-cli start --once --dry-run --agent claude-code --since 2026-10-01
      SUTRACE_API_KEY=sk_dev_... agent-cli start --once
      agent-cli start --otlp-endpoint http://localhost:4318   # to an OpenTelemetry Collector
    """
    resolved = config_mod.resolve(_from_command_line(_START_FLAGS))
    settings = config_mod.build(
        resolved,
        since=since,
        dry_run=dry_run,
        once=once,
        home=home,
        drain_timeout=drain_timeout,
        progress=sys.stderr.isatty(),
        workers=workers or config_mod.default_workers(),
        otlp=None if dry_run else _otlp(resolved, otlp_traces),
    )
    if dry_run:
        _dry_run(settings)
    else:
        _ship(settings)


# config setting -> the `start` parameter that gives it on the command line
_START_FLAGS = {
    "endpoint": "endpoint",
    "key": "api_key",
    "agents": "agents",
    "paths": "paths",
    "identity": "identity",
    "poll_interval": "poll_interval",
    "log_level": "log_level",
    "otlp_endpoint": "otlp_endpoint",
}


def _from_command_line(names: dict[str, str]) -> dict[str, Any]:
    """The settings typed on the command line; `config.resolve` layers the environment, the
    config file and the defaults below them (so click's own defaults are ignored here)."""
    ctx = click.get_current_context()
    given = click.core.ParameterSource.COMMANDLINE
    return {k: ctx.params[p] for k, p in names.items() if ctx.get_parameter_source(p) is given}


def _otlp(resolved: config_mod.Resolved, traces: bool) -> Any:
    """The OTLP sink's settings: the flag > the OTEL_* variables > the config file."""
    from agent_cli.sinks.otlp_config import otlp_config

    url, origin = resolved.values["otlp_endpoint"], resolved.origins["otlp_endpoint"]
    flag, file = (url if origin == "flag" else None), (url if origin == "file" else None)
    return otlp_config(os.environ, flag, traces, file)


def _dry_run(settings: config_mod.Settings) -> None:
    from agent_cli import pipeline

    bar = _progress() if settings.progress else None  # stderr is a TTY
    report = pipeline.dry_run(settings, sys.stdout.buffer, progress=bar)
    click.echo(render_summary(report), err=True)
    if not report.files and report.older_than_since:
        click.echo(
            f"no transcripts written since {settings.since}; {report.older_than_since} older "
            "ones were not read (try an earlier --since).",
            err=True,
        )
    elif not report.files:
        click.echo(
            "no transcripts found; looked in: " + ", ".join(pipeline.where(settings)), err=True
        )


def _ship(settings: config_mod.Settings) -> None:
    from agent_cli import pipeline

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            # A second signal: stop now. Batches on the wire stay in the spool and are
            # sent again at the next start. The first one lets the run end in order.
            raise pipeline.Interrupted()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    bar = _progress() if settings.progress else None  # stderr is a TTY
    try:
        say = _say if settings.progress else None
        if settings.once:
            index = _rerun_index(settings)
            result = pipeline.start_once(settings, stop=stop, progress=bar, say=say, index=index)
        else:
            result = pipeline.start_forever(settings, stop=stop, progress=bar, say=say)
    except pipeline.Interrupted:
        click.echo("stopped; undelivered events stay in the spool for the next start.", err=True)
        # --once did not finish (a batch was on the wire); a stopped daemon did its job
        raise click.exceptions.Exit(1 if settings.once else 0) from None
    click.echo(render_run(result), err=True)
    if result.exit_code:
        raise click.exceptions.Exit(result.exit_code)


def _rerun_index(settings: config_mod.Settings) -> Any:
    """The recorder of the re-run index, for a `start --once` typed on a command line
    without a terminal (a progress bar is not replayed): see module `rerun`."""
    argv = getattr(click.get_current_context().find_root().command, "invoked_with", None)
    if settings.progress or argv is None:
        return None
    from agent_cli.rerun import Recorder

    return Recorder(argv, str(settings.state_dir))


def _say(line: str) -> None:
    click.echo(line, err=True)


def _progress() -> Callable[[int, int], None]:
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = click.progressbar(length=total, label="backfill", file=sys.stderr)
            state["bar"].__enter__()
        bar = state["bar"]
        bar.update(done - bar.pos)
        if done >= total and not state.get("closed"):
            state["closed"] = True
            bar.__exit__(None, None, None)

    return update


def _guarded(cmd: click.Command) -> click.Command:
    """Wrap a command's callback (and its subcommands') in the error translation."""
    if cmd.callback is not None:
        cmd.callback = _errors_to_click(cmd.callback)
    for sub in getattr(cmd, "commands", {}).values():
        _guarded(sub)
    return cmd


def _add_commands() -> None:
    from agent_cli.cli import setup, views

    commands = (views.status_command, views.report_command)
    for cmd in (*commands, setup.config_group, setup.service_group, setup.doctor_command):
        cli.add_command(_guarded(cmd))


_add_commands()
