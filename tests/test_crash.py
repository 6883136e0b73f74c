"""Crash safety: `agent-cli start` killed with SIGKILL at chosen moments loses nothing.

A daemon (`start --poll-interval 0.1`) backfills a history of several MB and ships it to the
reference receiver; it is killed with SIGKILL and restarted, 25 times, while a writer thread
keeps appending calls to two transcripts (streaming lines that grow a call's usage, and lines
written in two parts, so the daemon meets partial lines). The moment of each kill is chosen by
progress, never by wall time, so the test means the same on a quiet and on a busy machine:

- `at_lock`: as soon as the daemon holds its lock (reading, backfill under way);
- `spooled`: once this run's new call is committed to the spool (read, perhaps not sent);
- `delivered`: once the receiver's event count rose during this run (between deliveries);
- `in_flight`: while the receiver holds a batch before storing it (then stores nothing);
- `committed`: while the receiver holds its answer to a batch it has stored.

Before each run the test appends one whole call to a file of its own, so every run has
something to read and to deliver. After a final `start --once`, the receiver must hold exactly
the events a dry-run of the final files gives (per event_id, the highest revision's tokens),
totals exact, and the outbox empty.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.test_e2e import (
    PROJECT,
    Daemon,
    Receiver,
    agent,
    agent_env,
    append,
    assert_same_events,
    dry_run,
    make_call,
    new_session,
    projects_dir,
    session_of,
    ship_env,
    spool_rows,
    status_json,
    tokens,
    wait_until,
    write_history,
)

KILLS = 25
SEED = 20261122
MOMENTS = ("at_lock", "spooled", "delivered", "in_flight", "committed")
CEILING = 120.0  # seconds; only a real hang reaches it


class Writer(threading.Thread):
    """Append calls to transcripts at random moments; some lines in two writes."""

    def __init__(self, paths: list[Path], seed: int) -> None:
        super().__init__(name="transcript-writer", daemon=True)
        self.paths = paths
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.ids: set[str] = set()
        self.calls = 0
        self.split_lines = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            n = 10_000
            while not self.stop.is_set() and self.calls < 400:
                path = self.rng.choice(self.paths)
                call = make_call(
                    self.rng,
                    session_of(path),
                    n,
                    parts=self.rng.choice((1, 2, 3)),
                    tool=self.rng.random() < 0.5,
                    pad=20,
                )
                n += 1
                for line in call.lines:  # a call is always finished, even when stopping
                    if self.rng.random() < 0.35:
                        cut = self.rng.randint(1, len(line) - 1)
                        append(path, line[:cut])  # a partial line the daemon may see
                        self.split_lines += 1
                        time.sleep(self.rng.uniform(0.01, 0.15))
                        append(path, line[cut:])
                    else:
                        append(path, line)
                    time.sleep(self.rng.uniform(0.0, 0.05))
                self.ids.add(call.llm_id)
                if call.tool_id:
                    self.ids.add(call.tool_id)
                self.calls += 1
                self.stop.wait(self.rng.uniform(0.02, 0.2))
        except BaseException as e:  # reported by the test
            self.error = e


def _wait_started(d: Daemon, lock: Path) -> None:
    """Until the daemon holds the spool's lock (it writes its pid into the lock file)."""
    pid = str(d.proc.pid)

    def started() -> bool:
        if not d.alive():
            raise AssertionError(f"the daemon exited early: {d.stderr()}")
        try:
            return lock.read_text() == pid
        except OSError:
            return False

    wait_until(started, CEILING, "the daemon to take its lock", 0.01)


def _spooled_offset(state: Path, path: Path) -> int:
    """The read offset the spool has committed for `path` (0 before the first commit)."""
    try:
        db = sqlite3.connect(f"file:{state / 'spool.sqlite'}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return 0
    try:
        row = db.execute('SELECT "offset" FROM sources WHERE path = ?', (str(path),)).fetchone()
    except sqlite3.Error:  # the daemon is still creating the schema
        return 0
    finally:
        db.close()
    return int(row[0]) if row else 0


def _held(rx: Receiver) -> int:
    return int(rx.stats()["faults"]["held"])


def _kill_at(
    moment: str, d: Daemon, rx: Receiver, state: Path, kicker: Path, received_before: int
) -> None:
    """Wait for `moment` in this run of the daemon (see the module docstring), then SIGKILL."""

    def alive() -> None:
        assert d.alive(), f"the daemon exited by itself: {d.stderr()}"

    def waited(pred: Callable[[], bool], what: str) -> None:
        def check() -> bool:
            alive()
            return pred()

        wait_until(check, CEILING, what, 0.005)

    _wait_started(d, state / "agent-cli.lock")
    size = kicker.stat().st_size
    if moment == "spooled":
        waited(lambda: _spooled_offset(state, kicker) >= size, "the new call to be spooled")
    elif moment == "delivered":
        waited(lambda: rx.stats()["events"] > received_before, "a delivery in this run")
    elif moment in ("in_flight", "committed"):
        waited(lambda: _held(rx) >= 1, "a batch held by the receiver")
    alive()
    d.proc.send_signal(signal.SIGKILL)
    assert d.proc.wait(CEILING) == -signal.SIGKILL


@pytest.mark.slow
def test_sigkill_at_chosen_moments_loses_nothing(tmp_path: Path, isolated_home: Path) -> None:
    state = Path(os.environ["AGENT_CLI_HOME"])
    rng = random.Random(SEED)
    paths = write_history(isolated_home, sessions=8, calls=900, seed=SEED, pad=40)
    size = sum(p.stat().st_size for p in paths)
    assert size > 8_000_000, size
    folder = projects_dir(isolated_home) / PROJECT
    live = folder / f"{new_session(random.Random(SEED + 1))}.jsonl"
    kicker = folder / f"{new_session(random.Random(SEED + 3))}.jsonl"
    live.touch()
    kicker.touch()
    writer = Writer([paths[0], live], SEED + 2)
    moments = [MOMENTS[i % len(MOMENTS)] for i in range(KILLS)]
    rng.shuffle(moments)
    kicked: set[str] = set()
    with Receiver(tmp_path / "rx", "--latency", "0.01") as rx:
        env = ship_env(rx)
        writer.start()
        try:
            for i, moment in enumerate(moments):
                call = make_call(rng, session_of(kicker), 50_000 + i, tool=rng.random() < 0.5)
                append(kicker, b"".join(call.lines))  # this run always has work to do
                kicked.add(call.llm_id)
                hold = {"in_flight": "before_commit", "committed": "after_commit"}.get(moment)
                rx.faults(hold=hold)
                received_before = rx.stats()["events"]
                with Daemon(env, ["--poll-interval", "0.1"], tmp_path / "daemon") as d:
                    try:
                        _kill_at(moment, d, rx, state, kicker, received_before)
                    except AssertionError as e:
                        raise AssertionError(f"run {i} ({moment}): {e}") from None
                    finally:
                        rx.faults(hold=None)  # let held requests go (the client is dead)
                wait_until(lambda: _held(rx) == 0, CEILING, "held requests to be let go")
            # the writer's own progress, not the clock, says it has done enough
            wait_until(lambda: writer.calls >= 5 or writer.error, CEILING, "the writer")
        finally:
            writer.stop.set()
            writer.join(CEILING)
        assert not writer.is_alive()
        assert writer.error is None, writer.error
        assert writer.calls >= 5 and writer.split_lines >= 1
        received_during_kills = rx.stats()["events"]

        p = agent(["start", "--once", "--drain-timeout", "600"], env, timeout=900)
        assert p.returncode == 0, p.stderr
        assert "Traceback" not in p.stderr

        # the oracle: a dry-run of the final files with a fresh state folder
        want = dry_run(agent_env(AGENT_CLI_HOME=str(tmp_path / "fresh-state")))
        got = rx.events()
        assert writer.ids | kicked <= set(want)
        assert_same_events(got, want, revisions=False)
        assert all(tokens(got[k]) == tokens(want[k]) for k in writer.ids | kicked)

        assert spool_rows(state) == set()
        code, info = status_json(env)
        assert code == 0, info
        assert info["outbox"]["depth"] == 0 and info["quarantine"] == {}
        stats = rx.stats()
    daemon_err = (tmp_path / "daemon" / "daemon.err").read_text(errors="replace")
    assert "Traceback" not in daemon_err
    assert sorted(set(moments)) == sorted(MOMENTS)
    # "delivered" kills only come after a delivery in their run
    assert received_during_kills > 0
    # every in_flight kill left a batch the receiver let go unstored (answered 503)
    assert stats["by_status"].get("503", 0) >= moments.count("in_flight")
    assert stats["events"] == len(want)
