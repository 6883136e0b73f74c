"""Following: which transcript files to look at again on each poll of the daemon.

With file events (`watch.Watcher`), a write to any transcript wakes the loop at once and that
file is scanned, however long it was idle. Each poll also re-stats the files agents are
writing (modified in the last HOT_SECONDS) and the folders around them; a new file (a new
session, a subagent) changes its folder's mtime and triggers a full walk at once. A full walk
every REDISCOVER_SECONDS is the safety net (WATCHED_WALK_FACTOR times rarer while events
work): it finds long-idle files written again when there are no events. Idle cost: a few
stats per second.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from agent_cli.sources import Source, SourceFile
from agent_cli.watch import Watcher

REDISCOVER_SECONDS = 60.0  # a full walk finds long-idle files written again
HOT_SECONDS = 1800.0  # files modified this recently are re-checked on every poll
WATCHED_WALK_FACTOR = 5.0  # with file events the full walk is only a safety net
EVENT_WALK_GAP = 1.0  # unknown changed paths trigger a full walk at most this often
_WATCH_DIRS_SECONDS = 86_400  # folders of files written in the last day are watched

Files = list[tuple[Source, SourceFile]]


class Follower:
    """Decide, poll by poll, which files to scan: changed and hot ones, or all after a walk.

    `watcher` (None: poll only) stays its caller's to close.
    """

    def __init__(
        self,
        discover: Callable[[], Iterable[tuple[Source, SourceFile]]],
        files: Files,
        rediscover_seconds: float = REDISCOVER_SECONDS,
        watcher: Watcher | None = None,
    ) -> None:
        self._discover = discover
        self._rediscover = rediscover_seconds
        self._watcher = watcher
        self._pending: set[str] = set()  # changed paths a full walk has yet to judge
        self._set_files(files)

    def files(self) -> Files:
        """The files to scan now, with fresh sizes and mtimes, in discovery order."""
        changed, structure = self._watcher.take() if self._watcher else (set(), False)
        if structure and self._watcher is not None:
            self._watcher.refresh()  # a root may have appeared: watch it before walking
        self._pending |= changed - self._known
        since = time.monotonic() - self._last_full
        if (
            structure
            or since >= self._walk_every()
            or (self._pending and since >= EVENT_WALK_GAP)
            or _changed(self._dirs)
        ):
            return self._walk()
        return self._restat(changed & self._known)

    def wait(self, wait: Callable[[float], bool], stop: Callable[[], bool], seconds: float) -> None:
        """Wait up to `seconds`; with file events, until one comes (or a pending walk is due).

        Without a watcher this is `wait(seconds)` (the stop event's wait). With one, it waits
        on the watcher's `wake`, which the stop signal sets too (`Watcher.wake_on`).
        """
        w = self._watcher
        if w is None:
            wait(seconds)
            return
        if self._pending:
            seconds = min(seconds, self._last_full + EVENT_WALK_GAP - time.monotonic())
        if not stop():
            w.wake.wait(max(seconds, 0.0))

    def _walk_every(self) -> float:
        live = self._watcher is not None and self._watcher.live
        return self._rediscover * (WATCHED_WALK_FACTOR if live else 1.0)

    def _walk(self) -> Files:
        self._set_files(list(self._discover()))
        if self._watcher is not None:
            self._watcher.ignore(self._pending - self._known)  # no transcript: never again
        self._pending = set()
        return self._files

    def _set_files(self, files: Files) -> None:
        self._files = files
        self._known = {os.path.abspath(sf.path) for _, sf in files}  # as the watcher names them
        self._dirs = _dirs_of(files)
        self._last_full = time.monotonic()

    def _restat(self, changed: set[str]) -> Files:
        """Re-stat the hot files and the changed ones; a changed file is hot from now on."""
        now_ns = time.time_ns()
        out = []
        for i, (src, sf) in enumerate(self._files):
            hit = bool(changed) and os.path.abspath(sf.path) in changed
            if not hit and now_ns - sf.mtime_ns > HOT_SECONDS * 1e9:
                continue
            try:
                st = os.stat(sf.path)
            except OSError:
                continue
            fresh = (src, SourceFile(sf.agent, sf.path, st.st_size, st.st_mtime_ns))
            if hit:
                self._files[i] = fresh
            out.append(fresh)
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
