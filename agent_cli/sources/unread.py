"""Agents on this machine whose usage we do not read: named in the summary, never silent.

Two kinds: a chosen source whose folders exist but hold no transcript it can read (a format
it does not know, or no sessions yet), and agents we know of but have no reader for, found
by their data folders (why we do not read each is said beside it).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from agent_cli import config
from agent_cli.sources.base import Source

# agent, its data folders under the home, and why it is not read
_NOT_READ: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("cursor", (".cursor/chats", ".config/Cursor/User/globalStorage"),
     "records no per-call usage locally (its usage is on Cursor's servers)"),
    ("amp", (".local/share/amp/threads",), "threads are kept on Amp's servers since 2026-04"),
    ("droid", (".factory/sessions",), "no reader yet (per-session totals)"),
    ("goose", (".local/share/goose/sessions",), "no reader yet (per-session totals)"),
)  # fmt: skip


def unread(
    sources: list[Source], files_by_agent: Mapping[str, int], env: Mapping[str, str]
) -> list[str]:
    """One line per agent found here whose usage this run did not read, and why."""
    out = []
    for src in sources:
        if files_by_agent.get(src.agent):
            continue
        there = [w for w in src.where(env) if _is_dir(Path(w))]
        if there:
            out.append(f"{src.agent} ({there[0]}: no transcripts in a format agent-cli reads)")
    home = config.home(env)
    for agent, folders, why in _NOT_READ:
        found = [home / f for f in folders if _is_dir(home / f)]
        if found:
            out.append(f"{agent} ({found[0]}: {why})")
    return out


def _is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except OSError:
        return False
