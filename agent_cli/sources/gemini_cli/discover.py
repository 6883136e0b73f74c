"""Where Gemini CLI keeps its chats, and the order to read them in.

`$GEMINI_CLI_HOME/.gemini`, else `~/.gemini` (the same on every OS); files are
`tmp/<project>/chats/session-*.json`, `*.jsonl`, and subagents nested one folder deeper.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from agent_cli import config
from agent_cli.sources.base import SourceFile, walk_files
from agent_cli.sources.gemini_cli.format import AGENT


def root(env: Mapping[str, str]) -> Path:
    """Return the Gemini CLI folder: $GEMINI_CLI_HOME/.gemini, else ~/.gemini."""
    if env.get("GEMINI_CLI_HOME"):
        return Path(env["GEMINI_CLI_HOME"]).expanduser() / ".gemini"
    return config.home(env) / ".gemini"


def _wanted(name: str, nested: bool) -> bool:
    """Session files: `session-*.json`, any `.jsonl`, and nested subagent files."""
    if name.endswith(".jsonl"):
        return True
    return name.endswith(".json") and (name.startswith("session-") or nested)


def discover(env: Mapping[str, str]) -> Iterator[SourceFile]:
    """Yield the chat files in reading order: main sessions, then subagents; .jsonl first."""
    tmp = root(env) / "tmp"
    try:
        projects = sorted(e.path for e in os.scandir(tmp) if e.is_dir())
    except OSError:
        return
    files = []
    for proj in projects:
        chats = os.path.join(proj, "chats")
        if not os.path.isdir(chats):
            continue
        for e in walk_files(Path(chats), (".json", ".jsonl")):
            depth = os.path.relpath(e.path, chats).count(os.sep)
            if not _wanted(e.name, depth > 0):
                continue
            try:
                st = e.stat()
            except OSError:
                continue
            # main sessions before subagents; a .jsonl before its .json twin
            files.append((depth, e.name.endswith(".json"), e.path, st.st_size, st.st_mtime_ns))
    files.sort()
    for _, _, path, size, mtime in files:
        yield SourceFile(AGENT, path, size, mtime)
