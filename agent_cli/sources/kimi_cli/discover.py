"""Where Kimi CLI keeps its wire files, and the order to read them in.

The share folder is `$KIMI_SHARE_DIR`, else `<home>/.kimi` on every OS (Windows:
`%USERPROFILE%`, as Python's `Path.home()`; Kimi Code, on Node, takes HOME first as
libuv does); wire files are
`sessions/<workdir md5>/<session id>/wire.jsonl` and
`.../<session id>/subagents/<agent id>/wire.jsonl`. Kimi Code (the successor) keeps
`$KIMI_CODE_HOME` or `<home>/.kimi-code`, with `sessions/<workspace>/<session>/agents/
<main | agent id>/wire.jsonl`. A session's main file is read before its subagents' files,
sessions oldest first (by the main file's mtime).
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
    """The home Kimi CLI's `Path.home()` gives: on Windows USERPROFILE (Python ignores HOME
    there), elsewhere HOME."""
    if platform == "win32" and env.get("USERPROFILE"):
        return Path(env["USERPROFILE"])
    return config.home(env)


def share_dir(env: Mapping[str, str], platform: str = sys.platform) -> Path:
    """Kimi CLI's share folder: $KIMI_SHARE_DIR, else <home>/.kimi."""
    if env.get("KIMI_SHARE_DIR"):
        return Path(env["KIMI_SHARE_DIR"])  # as Kimi CLI takes it: no ~ expansion
    return home(env, platform) / ".kimi"


def code_dir(env: Mapping[str, str], platform: str = sys.platform) -> Path:
    """Kimi Code's data folder: $KIMI_CODE_HOME, else <home>/.kimi-code."""
    if env.get("KIMI_CODE_HOME"):
        return Path(env["KIMI_CODE_HOME"])  # as Kimi Code takes it: no ~ expansion
    if platform == "win32" and not env.get("HOME") and env.get("USERPROFILE"):
        return Path(env["USERPROFILE"]) / ".kimi-code"  # Node's os.homedir(): HOME first
    return config.home(env) / ".kimi-code"


def _wanted(rel: list[str], code: bool) -> bool | None:
    """None: not a wire file of the layout; else whether it is a subagent's."""
    if code:  # <ws>/<session>/agents/<agent>/wire.jsonl
        return None if len(rel) != 5 or rel[2] != "agents" else rel[3] != "main"
    if len(rel) == 3:
        return False
    return True if len(rel) == 5 and rel[2] == "subagents" else None


def discover(env: Mapping[str, str], platform: str = sys.platform) -> Iterator[SourceFile]:
    """Yield the wire files: per session its main file, then its subagents' files."""
    found = []
    for root, code in ((share_dir(env, platform), False), (code_dir(env, platform), True)):
        sessions = root / "sessions"
        for e in walk_files(sessions, (".jsonl",)):
            if e.name != "wire.jsonl":
                continue
            rel = os.path.relpath(e.path, sessions).split(os.sep)
            sub = _wanted(rel, code)
            if sub is None:
                continue
            try:
                st = e.stat()
            except OSError:
                continue
            session = os.path.join(str(sessions), *rel[:2])
            found.append((session, sub, e.path, st.st_size, st.st_mtime_ns))
    first: dict[str, int] = {}
    for session, sub, _, _, mtime in found:
        if not sub:
            first[session] = mtime  # a session sorts by its main file
    for session, _, _, _, mtime in found:
        first.setdefault(session, mtime)  # subagent files whose main file is gone
    found.sort(key=lambda f: (first[f[0]], f[0], f[1], f[2]))
    for _, _, path, size, mtime in found:
        yield SourceFile(AGENT, path, size, mtime)
