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

AGENTS = ["claude-code", "codex", "gemini-cli", "cline", "roo-code", "kilo-code", "grok-build"]
_METHODS = ("discover", "where", "read")


def test_registry_lists_exactly_the_agents_in_order() -> None:
    assert list(sources.registry()) == AGENTS


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
    agents = tuple(f"agent_cli.sources.{p}" for p in ("claude_code", "codex", "gemini_cli"))
    assert [m for m in json.loads(out) if m.startswith(agents)] == []
