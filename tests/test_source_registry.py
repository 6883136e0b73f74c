"""The static registry: exactly the known agents, in reading order, each a `Source`."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from agent_cli import sources
from agent_cli.sources.base import Source

AGENTS = [
    "claude-code", "codex", "gemini-cli", "copilot-cli", "qwen-code", "pi", "kimi-cli", "opencode",
    "grok-build", "cline", "roo-code", "kilo-code",
]  # fmt: skip
_METHODS = ("discover", "where", "read")


def test_registry_lists_exactly_the_agents_in_order() -> None:
    assert list(sources.registry()) == AGENTS
    assert list(sources.AGENT_NAMES) == AGENTS  # what --help names, without importing one


def test_every_agent_name_is_accepted_by_agent(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from agent_cli.cli import cli

    for name in AGENTS:
        r = CliRunner().invoke(cli, ["start", "--once", "--dry-run", "--agent", name])
        assert r.exit_code == 0, (name, r.stderr)
    out = CliRunner().invoke(cli, ["start", "--help"], terminal_width=400).stdout
    assert all(name in out for name in AGENTS)


def test_agents_found_but_not_read_are_named_in_the_summary(isolated_home: Path) -> None:
    from click.testing import CliRunner

    from agent_cli.cli import cli

    (isolated_home / ".codex" / "sessions").mkdir(parents=True)  # Codex, no session yet
    (isolated_home / ".cursor" / "chats").mkdir(parents=True)  # an agent with no reader
    r = CliRunner().invoke(cli, ["start", "--once", "--dry-run"])
    assert r.exit_code == 0, r.stderr
    line = next(x for x in r.stderr.splitlines() if x.startswith("found, not read: "))
    assert "codex (" in line and "no transcripts in a format agent-cli reads" in line
    assert "cursor (" in line and "no per-call usage locally" in line
    assert "gemini-cli" not in line  # nothing of Gemini's here: not named


@pytest.mark.parametrize("name", AGENTS)
def test_each_entry_satisfies_the_protocol(name: str, tmp_path: Path) -> None:
    src = sources.registry()[name]
    assert src.agent == name
    for method in _METHODS:
        want = inspect.signature(getattr(Source, method))
        got = inspect.signature(getattr(type(src), method))
        assert list(got.parameters) == list(want.parameters), method
    env = {"HOME": str(tmp_path)}  # an empty home: nothing found, folders still named
    assert list(src.discover(env)) == []
    where = src.where(env)
    assert where and all(isinstance(w, str) for w in where)
    missing = tmp_path / "missing.jsonl"
    skipped: Counter[str] = Counter()
    assert list(src.read(str(missing), None, skipped, 1024)) == []
    assert skipped == Counter(unreadable_file=1)


def test_registry_builds_fresh_sources() -> None:
    """Sources keep per-run caches (Gemini's project roots): each call gets new ones."""
    a, b = sources.registry(), sources.registry()
    assert all(a[n] is not b[n] for n in AGENTS)


def test_help_imports_no_agent_package() -> None:
    code = "import json, sys, agent_cli.cli; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    agents = tuple(f"agent_cli.sources.{a.replace('-', '_')}" for a in AGENTS)
    assert [m for m in json.loads(out) if m.startswith(agents)] == []
