"""Where Grok Build keeps its sessions: `$GROK_HOME`, else `~/.grok` (every OS).

Files are `sessions/<url-encoded project>/<session id>/updates.jsonl` (append-only), with a
sibling `summary.json` (cwd, model, parent of a fork). A subagent runs as a sibling session
with its own `updates.jsonl`; the parent holds only `subagents/<id>/meta.json` pointing at it
(`child_session_id`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from agent_cli import config
from agent_cli.sources.base import SourceFile, walk_files
from agent_cli.sources.grok_build.format import AGENT

UPDATES = "updates.jsonl"


def root(env: Mapping[str, str]) -> Path:
    """Return the Grok folder: $GROK_HOME, else ~/.grok."""
    if env.get("GROK_HOME"):
        return Path(env["GROK_HOME"]).expanduser()
    return config.home(env) / ".grok"


def discover(env: Mapping[str, str]) -> Iterator[SourceFile]:
    """Yield every session's `updates.jsonl`, sorted by path (parents and children alike)."""
    files = []
    for e in walk_files(root(env) / "sessions", (UPDATES,)):
        if e.name != UPDATES or os.sep + "subagents" + os.sep in e.path:
            continue  # a subagent pointer folder holds no usage of its own
        try:
            st = e.stat()
        except OSError:
            continue
        files.append((e.path, st.st_size, st.st_mtime_ns))
    for path, size, mtime in sorted(files):
        yield SourceFile(AGENT, path, size, mtime)
