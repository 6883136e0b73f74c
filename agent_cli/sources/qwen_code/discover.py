"""Where Qwen Code keeps its chats, and the order to read them in.

Qwen writes under its runtime folder: `$QWEN_RUNTIME_DIR`, else `$QWEN_HOME`, else `~/.qwen`
(`packages/core/src/config/storage.ts` and the cli's `getRuntimeBaseDir`), the same on every
OS (Node's `os.homedir()`: %USERPROFILE% on Windows). `$QWEN_DATA_DIR` (a comma list, the
name ccusage reads) is looked in too. Files: `projects/<project>/chats/**.jsonl`, sidecars
(`<id>.ledger.jsonl`, a dotted stem) left out.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from agent_cli.sources.base import SourceFile, walk_files
from agent_cli.sources.common import unique_dirs, user_home
from agent_cli.sources.qwen_code.format import AGENT


def roots(env: Mapping[str, str], platform: str = sys.platform) -> list[Path]:
    """The Qwen folders to look in, the one Qwen writes to now first."""
    found = [Path(env[v]).expanduser() for v in ("QWEN_RUNTIME_DIR", "QWEN_HOME") if env.get(v)]
    found.append(user_home(env, platform) / ".qwen")
    for p in (env.get("QWEN_DATA_DIR") or "").split(","):
        if p.strip():
            found.append(Path(p.strip()).expanduser())
    return unique_dirs(found)


def discover(env: Mapping[str, str], platform: str = sys.platform) -> Iterator[SourceFile]:
    """Yield the chat files, oldest first (a /branch copy after the session it copies)."""
    files: dict[str, tuple[int, int]] = {}
    for root in roots(env, platform):
        projects = root / "projects"
        try:
            dirs = [e.path for e in os.scandir(projects) if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        for proj in dirs:
            for e in walk_files(Path(proj) / "chats", (".jsonl",)):
                if "." in e.name.removesuffix(".jsonl"):
                    continue  # a sidecar (`<id>.ledger.jsonl`), not a chat
                try:
                    st = e.stat()
                except OSError:
                    continue
                files[os.path.realpath(e.path)] = (st.st_size, st.st_mtime_ns)
    for path, (size, mtime) in sorted(files.items(), key=lambda kv: (kv[1][1], kv[0])):
        yield SourceFile(AGENT, path, size, mtime)
