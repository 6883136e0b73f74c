"""Where Codex keeps its rollouts, and the order to read them in.

`$CODEX_HOME`, else `~/.codex` (the same on every OS); files are `rollout-*.jsonl` and
`rollout-*.jsonl.zst` under `sessions/` and `archived_sessions/`. A `.zst` beside its
uncompressed twin is left out.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from agent_cli import config
from agent_cli.sources.base import SourceFile, walk_files
from agent_cli.sources.codex.format import AGENT


def root(env: Mapping[str, str]) -> Path:
    """Return the Codex home: $CODEX_HOME, else ~/.codex."""
    if env.get("CODEX_HOME"):
        return Path(env["CODEX_HOME"]).expanduser()
    return config.home(env) / ".codex"


def _order_key(path: str) -> tuple[str, str]:
    """Parents before children: by the name's creation time (then uuid v7), then path."""
    name = os.path.basename(path)
    stem = name.removeprefix("rollout-").removesuffix(".zst").removesuffix(".jsonl")
    return stem, path


def discover(env: Mapping[str, str]) -> Iterator[SourceFile]:
    """Yield the rollout files in reading order (parents before the files that replay them)."""
    home = root(env)
    found: dict[str, tuple[int, int]] = {}
    for sub in ("sessions", "archived_sessions"):
        d = home / sub
        if not d.is_dir():
            continue
        for e in walk_files(d, (".jsonl", ".jsonl.zst")):
            if not e.name.startswith("rollout-"):
                continue
            try:
                st = e.stat()
            except OSError:
                continue
            found[e.path] = (st.st_size, st.st_mtime_ns)
    paths = [p for p in found if not (p.endswith(".zst") and p[:-4] in found)]
    for p in sorted(paths, key=_order_key):
        size, mtime = found[p]
        yield SourceFile(AGENT, p, size, mtime)
