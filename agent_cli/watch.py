"""Operating-system file events for the daemon (watchdog: inotify, FSEvents, kqueue, Windows).

A `Watcher` observes the sources' folders recursively; a folder that does not exist yet is
waited for in its nearest existing parent (that parent's own entries only). It records the
files written, created or moved into place and sets `wake`, so the loop scans a change at
once instead of at its next poll or full walk. It never decides what a transcript is: the
`Follower` matches the paths against discovery. `start_watcher` returns None when events
cannot be had (no backend, the inotify watch limit, AGENT_CLI_WATCH=0): the daemon polls.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

log = logging.getLogger("agent_cli")

WATCH_ENV = "AGENT_CLI_WATCH"  # "0" (or off/no/false/poll): poll, never use file events
_OFF = ("0", "off", "no", "false", "poll")
RELAY_CHECK_SECONDS = 1.0  # how often the stop relay looks whether the watcher was closed
_IGNORED_MAX = 100_000  # paths known not to be transcripts; forgotten beyond this (bounded)

# Only writes and arrivals: opening or reading a file (as the daemon itself does) is no event,
# so reading a transcript can never wake the loop that read it.
_IN_ROOT = [
    FileModifiedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirDeletedEvent,
]
_IN_PARENT = [DirCreatedEvent, DirMovedEvent]  # waiting for a missing root to appear


class Watcher(FileSystemEventHandler):
    """Record changed files under `roots` from the observer's thread; `take` them from the loop.

    Thread-safe: the observer thread calls `on_any_event`, the loop calls the rest.
    """

    def __init__(self, roots: list[str], observer: BaseObserver | None = None) -> None:
        super().__init__()
        self.roots = sorted({os.path.abspath(os.path.expanduser(r)) for r in roots})
        self.wake = threading.Event()  # set when something was recorded since the last take
        self.live = False  # every root (or its parent) is watched
        self._lock = threading.Lock()
        self._changed: set[str] = set()
        self._ignored: set[str] = set()
        self._structure = False  # a folder came or went under (or above) a root
        self._watches: dict[tuple[str, bool], ObservedWatch] = {}
        # some backends (FSEvents) name files by their real path: mapped back to the root's
        self._real: dict[str, str] = {}
        self._observer = observer if observer is not None else Observer()
        self._closed = threading.Event()
        self._relay: threading.Thread | None = None

    def start(self) -> None:
        """Start the observer thread and the watches; raises (OSError...) when it cannot."""
        self._observer.start()
        self.refresh()
        if not self.live:
            raise OSError("a folder could not be watched")

    def refresh(self) -> None:
        """Watch each root that exists (recursively), else its nearest existing parent.

        A root that appears while the watches are being set up would make no event on a
        parent watched a moment too late: the targets are looked at again until they hold.
        """
        for _ in range(8):
            want = {_target(r) for r in self.roots}
            self._schedule(want)
            if {_target(r) for r in self.roots} == want:
                return

    def _schedule(self, want: set[tuple[str, bool]]) -> None:
        self._real = {os.path.realpath(r): r for r in self.roots if os.path.realpath(r) != r}
        for key in list(self._watches.keys() - want):
            self._observer.unschedule(self._watches.pop(key))
        self.live = True
        for path, recursive in sorted(want - self._watches.keys()):
            try:
                self._watches[path, recursive] = self._observer.schedule(
                    self,
                    path,
                    recursive=recursive,
                    event_filter=list(_IN_ROOT if recursive else _IN_PARENT),
                )
            except OSError as e:  # e.g. the inotify watch limit: the full walk still finds it
                log.warning("cannot watch %s (%s): polling it", path, e)
                self.live = False

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Record a written or arrived file; note a folder that came or went near a root."""
        src = self._as_given(os.fsdecode(event.src_path))
        dest = self._as_given(os.fsdecode(event.dest_path)) if event.dest_path else ""
        if event.is_directory:
            if any(_near(p, r) for p in (src, dest) if p for r in self.roots):
                with self._lock:
                    self._structure = True
                    self.wake.set()
            return
        path = dest or src  # a file moved into place is known by its new name
        with self._lock:
            if path in self._ignored:
                return
            self._changed.add(path)
            self.wake.set()

    def _as_given(self, path: str) -> str:
        for real, root in self._real.items():
            if path == real or path.startswith(real + os.sep):
                return root + path[len(real) :]
        return path

    def take(self) -> tuple[set[str], bool]:
        """The files changed since the last take, and whether folders changed (refresh, walk)."""
        with self._lock:
            changed, self._changed = self._changed, set()
            structure, self._structure = self._structure, False
            self.wake.clear()
        return changed, structure

    def ignore(self, paths: set[str]) -> None:
        """Never record these again (a full walk found they are no transcripts)."""
        with self._lock:
            if len(self._ignored) + len(paths) > _IGNORED_MAX:
                self._ignored.clear()
            self._ignored |= paths

    def wake_on(self, stop: threading.Event) -> None:
        """Set `wake` when `stop` is set too, so one wait ends on a file event or the stop.

        A thread blocks on `stop` (waking once per RELAY_CHECK_SECONDS to see whether the
        watcher was closed): cheaper than the loop waiting in short slices, and immediate.
        """

        def relay() -> None:
            while not self._closed.is_set():
                if stop.wait(RELAY_CHECK_SECONDS):
                    self.wake.set()
                    return

        self._relay = threading.Thread(target=relay, name="agent-cli-stop-relay", daemon=True)
        self._relay.start()

    def close(self) -> None:
        """Stop the observer and relay threads and join them (idempotent)."""
        self._closed.set()
        self._observer.stop()
        if self._observer.is_alive():
            self._observer.join(10)
        if self._relay is not None:
            self._relay.join(10)


def start_watcher(
    roots: list[str],
    env: Mapping[str, str],
    enabled: bool = True,
    stop: threading.Event | None = None,
) -> Watcher | None:
    """A started watcher of `roots` whose `wake` `stop` sets too, or None (disabled, or
    events unavailable: poll instead)."""
    if not enabled or env.get(WATCH_ENV, "").strip().lower() in _OFF:
        return None
    w = Watcher(roots)
    try:
        w.start()
    except Exception as e:  # any backend failure must leave the daemon polling, not dead
        log.warning("file events unavailable (%s): polling", e)
        w.close()
        return None
    if stop is not None:
        w.wake_on(stop)
    return w


def _target(root: str) -> tuple[str, bool]:
    """What to watch for `root`: itself, recursively, or its nearest existing parent."""
    if os.path.isdir(root):
        return root, True
    parent = os.path.dirname(root)
    while parent != os.path.dirname(parent) and not os.path.isdir(parent):
        parent = os.path.dirname(parent)
    return parent, False


def _near(path: str, root: str) -> bool:
    """True when `path` is `root`, inside it, or above it (so a folder change matters)."""
    return path == root or path.startswith(root + os.sep) or root.startswith(path + os.sep)
