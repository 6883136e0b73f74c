"""Where Claude Code keeps its transcripts, and the order to read them in.

`$CLAUDE_CONFIG_DIR` (a comma-separated list) wins; otherwise `$XDG_CONFIG_HOME/claude`
(default `~/.config/claude`) and `~/.claude`, the same on every OS. Files are
`projects/**/*.jsonl`, except the workflow `journal.jsonl`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from agent_cli import config
from agent_cli.sources.base import SourceFile, walk_files
from agent_cli.sources.claude_code.format import AGENT


def roots(env: Mapping[str, str]) -> list[Path]:
    """Return the existing `projects/` folders to scan, without duplicates."""
    candidates: list[Path] = []
    if env.get("CLAUDE_CONFIG_DIR"):
        for part in env["CLAUDE_CONFIG_DIR"].split(","):
            if part.strip():
                p = Path(part.strip()).expanduser()
                candidates.append(p if p.name == "projects" else p / "projects")
    else:
        home = config.home(env)
        xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        candidates += [xdg / "claude" / "projects", home / ".claude" / "projects"]
    seen: set[str] = set()
    found = []
    for c in candidates:
        try:
            real = str(c.resolve())
        except OSError:
            continue
        if c.is_dir() and real not in seen:
            seen.add(real)
            found.append(c)
    return found


def where(env: Mapping[str, str]) -> list[str]:
    """Name the folders looked in, existing or not."""
    if env.get("CLAUDE_CONFIG_DIR"):
        return [p.strip() for p in env["CLAUDE_CONFIG_DIR"].split(",") if p.strip()]
    home = config.home(env)
    return [
        str(Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "claude"),
        str(home / ".claude"),
    ]


def _rank(rel: str, name: str) -> int:
    """Main session files first, then 2.0 agent files, then subagents (for /btw replays)."""
    if rel.count(os.sep) == 1:  # projects/<project>/<file>
        return 1 if name.startswith("agent-") else 0
    return 2


def discover(env: Mapping[str, str]) -> Iterator[SourceFile]:
    """Yield the transcript files in reading order: by rank, then path."""
    files = []
    for root in roots(env):
        cut = len(str(root)) + 1
        for e in walk_files(root, (".jsonl",)):
            if e.name == "journal.jsonl":
                continue  # workflow lifecycle records, not a transcript
            try:
                st = e.stat()
            except OSError:
                continue  # deleted while we looked
            files.append((_rank(e.path[cut:], e.name), e.path, st.st_size, st.st_mtime_ns))
    files.sort()
    for _, path, size, mtime in files:
        yield SourceFile(AGENT, path, size, mtime)
