"""Where pi keeps its sessions, and the order to read them in.

The agent folder is `$PI_CODING_AGENT_DIR` (a leading `~` expanded, as pi does), else
`<home>/.pi/agent` on every OS (Windows: `%USERPROFILE%`, as Node's `os.homedir()`).
Sessions are `sessions/--<cwd>--/<ISO ts>_<uuid>.jsonl`; a `sessionDir` in the agent's
`settings.json` (pi 2026: "same format as --session-dir") is searched too. A folder given
only on one run (`--session-dir`, or an extension's `session_directory` hook) cannot be
known here. Files are read oldest first by their name's creation time, so an original
session is read before the branches and forks that copy its entries.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from agent_cli import config
from agent_cli.sources.base import SourceFile, walk_files
from agent_cli.sources.pi.format import AGENT

_MAX_SETTINGS = 1 << 20  # settings.json is a few KiB; never read a huge file whole


def home(env: Mapping[str, str], platform: str = sys.platform) -> Path:
    """The home pi resolves `~` against: HOME, else USERPROFILE on Windows."""
    if platform == "win32" and not env.get("HOME") and env.get("USERPROFILE"):
        return Path(env["USERPROFILE"])
    return config.home(env)


def _expand(value: str, env: Mapping[str, str], platform: str) -> Path:
    if value == "~":
        return home(env, platform)
    if value.startswith(("~/", "~\\")):
        return home(env, platform) / value[2:]
    return Path(value)


def agent_dir(env: Mapping[str, str], platform: str = sys.platform) -> Path:
    """pi's agent folder: $PI_CODING_AGENT_DIR, else <home>/.pi/agent."""
    if env.get("PI_CODING_AGENT_DIR"):
        return _expand(env["PI_CODING_AGENT_DIR"], env, platform)
    return home(env, platform) / ".pi" / "agent"


def _settings_dir(agent: Path, env: Mapping[str, str], platform: str) -> Path | None:
    """The `sessionDir` of settings.json when it names an absolute (or ~) folder."""
    try:
        with open(agent / "settings.json", "rb") as f:
            raw = f.read(_MAX_SETTINGS + 1)
        if len(raw) > _MAX_SETTINGS:
            return None
        value = json.loads(raw).get("sessionDir")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(value, str) or not value.strip():
        return None
    p = _expand(value.strip(), env, platform)
    return p if p.is_absolute() else None


def roots(env: Mapping[str, str], platform: str = sys.platform) -> list[Path]:
    """Every folder searched for session files, the default first."""
    agent = agent_dir(env, platform)
    found = [agent / "sessions"]
    extra = _settings_dir(agent, env, platform)
    if extra is not None and extra not in found:
        found.append(extra)
    return found


def _order_key(path: str) -> tuple[str, str]:
    # `2026-05-07T18-36-14-561Z_<uuid>.jsonl`: the creation time sorts as text
    return os.path.basename(path), path


def discover(env: Mapping[str, str], platform: str = sys.platform) -> Iterator[SourceFile]:
    """Yield the session files, originals before the copies made from them."""
    found: dict[str, tuple[int, int]] = {}
    for root in roots(env, platform):
        for e in walk_files(root, (".jsonl",)):
            try:
                st = e.stat()
            except OSError:
                continue
            found[e.path] = (st.st_size, st.st_mtime_ns)
    for p in sorted(found, key=_order_key):
        size, mtime = found[p]
        yield SourceFile(AGENT, p, size, mtime)
