"""Following: which transcript files to look at again on each poll of the daemon.

Each poll re-stats the files agents are writing (modified in the last HOT_SECONDS) and the
folders around them; a new file (a new session, a subagent) changes its folder's mtime and
triggers a full walk at once. Long-idle files are re-checked by a full walk every
REDISCOVER_SECONDS. Idle cost: a few stats per second.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from agent_cli.sources import Source, SourceFile

REDISCOVER_SECONDS = 60.0  # a full walk finds long-idle files written again
HOT_SECONDS = 1800.0  # files modified this recently are re-checked on every poll
_WATCH_DIRS_SECONDS = 86_400  # folders of files written in the last day are watched

Files = list[tuple[Source, SourceFile]]


class Follower:
    """Decide, poll by poll, which files to scan: the hot ones, or all after a full walk."""

    def __init__(
        self,
        discover: Callable[[], Iterable[tuple[Source, SourceFile]]],
        files: Files,
        rediscover_seconds: float = REDISCOVER_SECONDS,
    ) -> None:
        self._discover = discover
        self._rediscover = rediscover_seconds
        self._files = files
        self._dirs = _dirs_of(files)
        self._last_full = time.monotonic()

    def files(self) -> Files:
        """The files to scan now, with fresh sizes and mtimes."""
        if time.monotonic() - self._last_full >= self._rediscover or _changed(self._dirs):
            self._files = list(self._discover())
            self._dirs = _dirs_of(self._files)
            self._last_full = time.monotonic()
            return self._files
        return _hot(self._files)


def _hot(files: Files) -> Files:
    """Re-stat the recently modified files (the ones agents are writing)."""
    now_ns = time.time_ns()
    out = []
    for src, sf in files:
        if now_ns - sf.mtime_ns > HOT_SECONDS * 1e9:
            continue
        try:
            st = os.stat(sf.path)
        except OSError:
            continue
        out.append((src, SourceFile(sf.agent, sf.path, st.st_size, st.st_mtime_ns)))
    return out


def _dirs_of(files: Files) -> dict[str, int]:
    """Folders to watch: the parents and grandparents of files written in the last day."""
    recent = time.time_ns() - _WATCH_DIRS_SECONDS * 10**9
    dirs: dict[str, int] = {}
    for _, sf in files:
        if sf.mtime_ns < recent:
            continue
        parent = os.path.dirname(sf.path)
        for d in (parent, os.path.dirname(parent)):
            if d not in dirs:
                try:
                    dirs[d] = os.stat(d).st_mtime_ns
                except OSError:
                    dirs[d] = 0
    return dirs


def _changed(dirs: dict[str, int]) -> bool:
    """True when a watched folder gained or lost an entry since it was recorded."""
    for d, mtime in dirs.items():
        try:
            if os.stat(d).st_mtime_ns != mtime:
                return True
        except OSError:
            return True
    return False
