"""Where Copilot CLI keeps its sessions, and the order to read them in.

`$COPILOT_HOME` (the documented relocation), else `~/.copilot` on every OS (Node's
`os.homedir()`: %USERPROFILE% on Windows). Releases up to 0.0.421 honoured
`$XDG_CONFIG_HOME/.copilot` (github/copilot-cli#1954), so that folder is looked in too.
Files: `session-state/<sessionId>/events.jsonl`. The older `history-session-state/` layout
holds no token counts and is not read.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from agent_cli.sources.base import SourceFile
from agent_cli.sources.common import unique_dirs, user_home
from agent_cli.sources.copilot_cli.format import AGENT


def roots(env: Mapping[str, str], platform: str = sys.platform) -> list[Path]:
    """The Copilot folders to look in, the one the CLI writes to now first."""
    found = []
    if env.get("COPILOT_HOME"):
        found.append(Path(env["COPILOT_HOME"]).expanduser())
    found.append(user_home(env, platform) / ".copilot")
    if env.get("XDG_CONFIG_HOME"):
        found.append(Path(env["XDG_CONFIG_HOME"]).expanduser() / ".copilot")
    return unique_dirs(found)


def discover(env: Mapping[str, str], platform: str = sys.platform) -> Iterator[SourceFile]:
    """Yield every session's events.jsonl, oldest first (by mtime, then path)."""
    files: dict[str, tuple[int, int]] = {}
    for root in roots(env, platform):
        state = root / "session-state"
        try:
            sessions = list(os.scandir(state))
        except OSError:
            continue
        for s in sessions:
            path = os.path.join(s.path, "events.jsonl")
            try:
                if not s.is_dir(follow_symlinks=False):
                    continue
                st = os.stat(path)
            except OSError:
                continue
            files[os.path.realpath(path)] = (st.st_size, st.st_mtime_ns)
    for path, (size, mtime) in sorted(files.items(), key=lambda kv: (kv[1][1], kv[0])):
        yield SourceFile(AGENT, path, size, mtime)
