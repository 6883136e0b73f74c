"""Following with file events: a line written to a long-idle transcript is shipped on its file
event, without waiting for a poll or a full walk; with events off, the full walk still finds it.

The daemons here wait (poll, full walk) for 1e6 s, so only a file event can wake them: no test
depends on how fast this machine is. Each waiting loop has a generous ceiling that only a hang
reaches.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from watchdog.observers.api import BaseObserver

from agent_cli.config import Settings
from agent_cli.follow import Follower
from agent_cli.pipeline import start_forever
from agent_cli.sinks import Outgoing, SendResult
from agent_cli.sources import SourceFile
from agent_cli.watch import start_watcher
from tests.claude_lines import assistant, jsonl

NEVER = 1e6  # seconds: a poll or full walk that never comes during a test
CEILING = 60.0  # seconds: only a hang reaches it


class ListSink:
    """A sink that takes everything and remembers the event ids, in order."""

    name = "list"
    max_batch_events = 100
    max_batch_bytes = 1024 * 1024

    def __init__(self) -> None:
        self.got: list[str] = []
        self.closed = False

    def send(self, events: Sequence[Outgoing]) -> SendResult:
        self.got.extend(e.event_id for e in events)
        return SendResult(delivered=[e.key for e in events])

    def close(self) -> None:
        self.closed = True


def _settings(tmp_path: Path, **kw: object) -> Settings:
    base: dict[str, object] = dict(
        home=tmp_path / "st",
        api_key="k",
        endpoint="https://ingest.example.test",
        workers=1,
        poll_seconds=NEVER,
        rediscover_seconds=NEVER,
    )
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


def _idle_transcript(home: Path) -> Path:
    """A transcript last written two hours ago: neither hot nor in a recently written folder."""
    p = home / ".claude" / "projects" / "-p"
    p.mkdir(parents=True)
    f = p / "s.jsonl"
    f.write_bytes(jsonl(assistant("m0", "r0")))
    old = time.time() - 7200
    os.utime(f, (old, old))
    os.utime(p, (old, old))
    return f


def _until(cond: object, stop: threading.Event) -> None:
    assert callable(cond)
    end = time.monotonic() + CEILING
    while not cond() and time.monotonic() < end:
        stop.wait(0.02)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[object]:
    """Start `start_forever` in a thread; stop and join it (and check it ended) afterwards."""
    stop = threading.Event()
    started: list[threading.Thread] = []

    def run(settings: Settings, sink: ListSink) -> None:
        t = threading.Thread(
            target=start_forever, args=(settings,), kwargs={"stop": stop, "sinks": [sink]}
        )
        t.start()
        started.append(t)

    yield run, stop
    stop.set()
    for t in started:
        t.join(CEILING)
        assert not t.is_alive()
    # the session stopped and joined the observer and stop-relay threads
    assert not [t for t in threading.enumerate() if isinstance(t, BaseObserver)]
    assert not [t for t in threading.enumerate() if t.name == "agent-cli-stop-relay"]


def test_a_line_written_to_an_idle_transcript_ships_on_its_file_event(
    isolated_home: Path, tmp_path: Path, daemon: tuple
) -> None:
    f = _idle_transcript(isolated_home)
    run, stop = daemon
    sink = ListSink()
    run(_settings(tmp_path), sink)
    _until(lambda: len(sink.got) == 1, stop)  # the backfill
    assert len(sink.got) == 1
    with f.open("ab") as fh:
        fh.write(jsonl(assistant("m1", "r1")))
    _until(lambda: len(sink.got) == 2, stop)
    assert len(sink.got) == 2  # no poll, no walk: only the file event woke the loop
    with f.open("ab") as fh:  # and again: the file stays followed
        fh.write(jsonl(assistant("m2", "r2")))
    _until(lambda: len(sink.got) == 3, stop)
    assert len(sink.got) == 3


def test_an_agent_folder_made_after_start_is_watched(
    isolated_home: Path, tmp_path: Path, daemon: tuple
) -> None:
    run, stop = daemon
    sink = ListSink()
    run(_settings(tmp_path), sink)
    # ~/.claude does not exist yet: its parent is watched until it appears
    _until(lambda: any(isinstance(t, BaseObserver) for t in threading.enumerate()), stop)
    p = isolated_home / ".claude" / "projects" / "-late"
    p.mkdir(parents=True)
    (p / "s.jsonl").write_bytes(jsonl(assistant("m0", "r0")))
    _until(lambda: len(sink.got) == 1, stop)
    assert len(sink.got) == 1
    with (p / "s.jsonl").open("ab") as fh:
        fh.write(jsonl(assistant("m1", "r1")))
    _until(lambda: len(sink.got) == 2, stop)
    assert len(sink.got) == 2


@pytest.mark.parametrize("how", ["setting", "env"])
def test_without_file_events_the_full_walk_still_finds_the_line(
    isolated_home: Path,
    tmp_path: Path,
    daemon: tuple,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    f = _idle_transcript(isolated_home)
    if how == "env":
        monkeypatch.setenv("AGENT_CLI_WATCH", "0")
    run, stop = daemon
    sink = ListSink()
    run(
        _settings(tmp_path, watch=how != "setting", poll_seconds=0.05, rediscover_seconds=0.2), sink
    )
    _until(lambda: len(sink.got) == 1, stop)
    assert not [t for t in threading.enumerate() if isinstance(t, BaseObserver)]  # polling
    with f.open("ab") as fh:
        fh.write(jsonl(assistant("m1", "r1")))
    _until(lambda: len(sink.got) == 2, stop)
    assert len(sink.got) == 2


def test_start_watcher_is_off_when_asked_and_closes_cleanly(tmp_path: Path) -> None:
    assert start_watcher([str(tmp_path)], {"AGENT_CLI_WATCH": "0"}) is None
    assert start_watcher([str(tmp_path)], {}, enabled=False) is None
    w = start_watcher([str(tmp_path / "not" / "yet")], {})
    assert w is not None and w.live
    w.close()
    w.close()  # idempotent


class StubWatcher:
    """What Follower uses of a Watcher, driven by the test."""

    live = True

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.changed: set[str] = set()
        self.ignored: set[str] = set()
        self.refreshed = 0

    def take(self) -> tuple[set[str], bool]:
        out, self.changed = self.changed, set()
        return out, False

    def refresh(self) -> None:
        self.refreshed += 1

    def ignore(self, paths: set[str]) -> None:
        self.ignored |= paths


def test_follower_scans_a_changed_idle_file_and_ignores_what_discovery_does_not_find(
    tmp_path: Path,
) -> None:
    f = tmp_path / "t.jsonl"
    f.write_bytes(b"x\n")
    old = time.time_ns() - 7200 * 10**9
    os.utime(f, ns=(old, old))
    sf = SourceFile("claude-code", str(f), 2, old)
    walks = []

    def discover() -> list[tuple[object, SourceFile]]:
        walks.append(1)
        st = f.stat()
        return [(None, SourceFile("claude-code", str(f), st.st_size, st.st_mtime_ns))]

    w = StubWatcher()
    fol = Follower(discover, [(None, sf)], rediscover_seconds=NEVER, watcher=w)  # type: ignore[arg-type,list-item]
    assert fol.files() == []  # idle, unchanged: nothing to scan
    f.write_bytes(b"x\ny\n")
    w.changed = {str(f)}
    [(_, fresh)] = fol.files()
    assert fresh.size == 4 and not walks  # a known file: re-stat'ed, no walk
    other = str(tmp_path / "history.jsonl")  # written, but no transcript
    w.changed = {other}
    fol._last_full -= 2  # the walk gap has passed (no waiting in tests)
    assert [sf.path for _, sf in fol.files()] == [str(f)] and walks == [1]
    assert w.ignored == {other}  # never recorded again


def test_a_watch_that_cannot_start_leaves_the_daemon_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from watchdog.observers import Observer

    import agent_cli.watch as watch

    class Full(Observer):  # type: ignore[misc,valid-type]
        def schedule(self, *a: object, **kw: object) -> object:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(watch, "Observer", Full)
    assert start_watcher([str(tmp_path)], {}) is None
    assert not [t for t in threading.enumerate() if isinstance(t, BaseObserver)]  # joined


def test_a_symlinked_agent_folder_is_followed_by_the_name_discovery_uses(
    isolated_home: Path, tmp_path: Path, daemon: tuple
) -> None:
    real = tmp_path / "elsewhere"
    (real / "projects" / "-p").mkdir(parents=True)
    (isolated_home / ".claude").symlink_to(real)
    f = isolated_home / ".claude" / "projects" / "-p" / "s.jsonl"
    f.write_bytes(jsonl(assistant("m0", "r0")))
    old = time.time() - 7200
    os.utime(f, (old, old))
    run, stop = daemon
    sink = ListSink()
    run(_settings(tmp_path), sink)
    _until(lambda: len(sink.got) == 1, stop)
    with f.open("ab") as fh:
        fh.write(jsonl(assistant("m1", "r1")))
    _until(lambda: len(sink.got) == 2, stop)
    assert len(sink.got) == 2


def test_an_event_named_by_the_real_path_is_recorded_by_the_root_s_name(tmp_path: Path) -> None:
    from watchdog.events import FileModifiedEvent

    from agent_cli.watch import Watcher

    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    w = Watcher([str(link)])
    w.refresh()  # not started: no thread, the events are fed by hand
    w.on_any_event(FileModifiedEvent(str(real / "p" / "s.jsonl")))  # as FSEvents names it
    assert w.wake.is_set()
    assert w.take() == ({str(link / "p" / "s.jsonl")}, False)
    assert not w.wake.is_set()
    w.ignore({str(link / "h.jsonl")})
    w.on_any_event(FileModifiedEvent(str(link / "h.jsonl")))
    assert w.take() == (set(), False) and not w.wake.is_set()
    w.close()


def test_a_root_made_while_its_parent_watch_is_set_up_is_watched(tmp_path: Path) -> None:
    """The parent's watch comes a moment after the root was looked for: no event can tell
    the root appeared, so `refresh` looks again (the race an agent's folder made right as
    the daemon starts used to lose)."""
    from watchdog.observers import Observer

    from agent_cli.watch import Watcher

    root = tmp_path / ".claude"

    class RootAppearsDuringSchedule(Observer):  # type: ignore[misc, valid-type]
        def schedule(self, *args: object, **kw: object) -> object:
            root.mkdir(exist_ok=True)  # made before this watch exists
            return super().schedule(*args, **kw)

    w = Watcher([str(root)], RootAppearsDuringSchedule())
    w.refresh()
    assert (str(root), True) in w._watches
    w.close()
