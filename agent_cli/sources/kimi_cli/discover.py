"""Where Kimi CLI keeps its wire files, and the order to read them in.

The share folder is `$KIMI_SHARE_DIR`, else `<home>/.kimi` on every OS (Windows:
`%USERPROFILE%`, as Python's `Path.home()`); wire files are
`sessions/<workdir md5>/<session id>/wire.jsonl` and
`.../<session id>/subagents/<agent id>/wire.jsonl`. A session's main file is read before
its subagents' files, sessions oldest first (by the main file's mtime).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from agent_cli import config
from agent_cli.sources.base import SourceFile, walk_files
from agent_cli.sources.kimi_cli.format import AGENT


def home(env: Mapping[str, str], platform: str = sys.platform) -> Path:
    """The home Kimi CLI resolves `~` against: HOME, else USERPROFILE on Windows."""
    if platform == "win32" and not env.get("HOME") and env.get("USERPROFILE"):
        return Path(env["USERPROFILE"])
    return config.home(env)


def share_dir(env: Mapping[str, str], platform: str = sys.platform) -> Path:
    """Kimi CLI's share folder: $KIMI_SHARE_DIR, else <home>/.kimi."""
    if env.get("KIMI_SHARE_DIR"):
        return Path(env["KIMI_SHARE_DIR"]).expanduser()
    return home(env, platform) / ".kimi"


def discover(env: Mapping[str, str], platform: str = sys.platform) -> Iterator[SourceFile]:
    """Yield the wire files: per session its main file, then its subagents' files."""
    sessions = share_dir(env, platform) / "sessions"
    found = []
    for e in walk_files(sessions, (".jsonl",)):
        if e.name != "wire.jsonl":
            continue
        rel = os.path.relpath(e.path, sessions).split(os.sep)
        if len(rel) not in (3, 5) or (len(rel) == 5 and rel[2] != "subagents"):
            continue
        try:
            st = e.stat()
        except OSError:
            continue
        found.append((os.path.join(*rel[:2]), len(rel) == 5, e.path, st.st_size, st.st_mtime_ns))
    first: dict[str, int] = {}
    for session, sub, _, _, mtime in found:
        if not sub:
            first[session] = mtime  # a session sorts by its main file
    for session, _, _, _, mtime in found:
        first.setdefault(session, mtime)  # subagent files whose main file is gone
    found.sort(key=lambda f: (first[f[0]], f[0], f[1], f[2]))
    for _, _, path, size, mtime in found:
        yield SourceFile(AGENT, path, size, mtime)
