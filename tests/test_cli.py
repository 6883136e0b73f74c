"""The command line through click's CliRunner: help, version, dry-run streams, user mistakes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from agent_cli import __version__
from agent_cli.cli import cli
from agent_cli.events import LLM_FIELDS, TOOL_FIELDS

FIXTURES = Path(__file__).parent / "fixtures" / "claude"


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=True)


@pytest.fixture
def claude_home(isolated_home: Path) -> Path:
    """A small real transcript set under ~/.claude/projects of the isolated HOME."""
    src = FIXTURES / "projects" / "-Users-dain-workspace-danieldemmel-me-next"
    shutil.copytree(src, isolated_home / ".claude" / "projects" / src.name)
    return isolated_home


def test_group_help() -> None:
    r = invoke("--help")
    assert r.exit_code == 0
    assert "Usage:" in r.output and "start" in r.output
    assert invoke("-h").output == r.output


def test_start_help_lists_the_options() -> None:
    r = invoke("start", "--help")
    assert r.exit_code == 0
    for opt in ("--once", "--dry-run", "--agent", "--since", "--endpoint", "--api-key"):
        assert opt in r.output


def test_version() -> None:
    r = invoke("--version")
    assert r.exit_code == 0
    assert r.output.strip() == f"agent-cli, version {__version__}"


def test_dry_run_prints_only_json_lines_and_the_summary_on_stderr(claude_home: Path) -> None:
    r = invoke("start", "--once", "--dry-run")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines, "no events on stdout"
    events = [json.loads(line) for line in lines]  # every stdout line is one JSON object
    calls = [e for e in events if e["kind"] == "llm_call"]
    tools = [e for e in events if e["kind"] == "tool_call"]
    assert len(calls) + len(tools) == len(events)
    # 1.0.128 session: 18 calls, 2.0.28 session: 3, its two warmup agents: 1 each
    assert len(calls) == 23
    assert all(tuple(e) == LLM_FIELDS for e in calls)
    assert all(tuple(e) == TOOL_FIELDS for e in tools)
    assert "llm calls: 23 (0 failed)" in r.stderr
    assert "by agent: claude-code 23 calls in " in r.stderr
    assert not any(line.lstrip().startswith("{") for line in r.stderr.splitlines())
    assert "Traceback" not in r.stderr


def test_dry_run_agent_and_since_options(claude_home: Path) -> None:
    r = invoke("start", "--once", "--dry-run", "--agent", "claude-code", "--since", "2099-01-01")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""
    assert "llm calls: 0" in r.stderr


def test_dry_run_with_nothing_on_disk(isolated_home: Path) -> None:
    r = invoke("start", "--once", "--dry-run")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""
    assert "files: 0 found" in r.stderr


def test_dry_run_writes_no_state(claude_home: Path, tmp_path: Path) -> None:
    r = invoke("start", "--once", "--dry-run")
    assert r.exit_code == 0
    state = tmp_path / "state"
    assert not state.exists() or not any(p.is_file() for p in state.rglob("*"))


def _one_error_line(r: Result) -> str:
    assert "Traceback" not in r.output + r.stderr
    assert r.exception is None or isinstance(r.exception, SystemExit)
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, r.stderr
    return errors[0]


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "01/10/2026", ""])
def test_bad_since_is_a_usage_error(claude_home: Path, value: str) -> None:
    r = invoke("start", "--once", "--dry-run", "--since", value)
    assert r.exit_code == 2
    line = _one_error_line(r)
    assert "--since" in line and "2026-10-01" in line
    assert r.stdout == ""


def test_unknown_agent_is_a_usage_error(claude_home: Path) -> None:
    r = invoke("start", "--once", "--dry-run", "--agent", "cursor")
    assert r.exit_code == 2
    line = _one_error_line(r)
    assert "cursor" in line and "claude-code" in line
    assert r.stdout == ""


def test_unknown_option_is_a_usage_error() -> None:
    r = invoke("start", "--dry-runn")
    assert r.exit_code == 2
    _one_error_line(r)


def test_dry_run_with_no_transcripts_says_where_it_looked(isolated_home: Path) -> None:
    from click.testing import CliRunner

    from agent_cli.cli import cli

    result = CliRunner().invoke(cli, ["start", "--once", "--dry-run"])
    assert result.exit_code == 0 and result.stdout == ""
    assert f"no transcripts found; looked in: {isolated_home}/.config/claude" in result.stderr


@pytest.mark.parametrize(
    ("sinks", "says"),
    [("sutrace,otlp", "Set SUTRACE_API_KEY"), ("otlp", "The sinks setting leaves out Sutrace")],
)
def test_start_with_no_sink_set_up_says_what_to_set(
    claude_home: Path, monkeypatch: pytest.MonkeyPatch, sinks: str, says: str
) -> None:
    for var in ("SUTRACE_API_KEY", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    r = invoke("start", "--once", env={"AGENT_CLI_SINKS": sinks})
    assert r.exit_code != 0
    line = _one_error_line(r)
    assert says in line and "--otlp-endpoint" in line
    if sinks == "otlp":
        assert "SUTRACE_API_KEY" not in line  # the key would not be used: do not ask for it
