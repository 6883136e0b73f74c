"""Crash safety: `agent-cli start` killed with SIGKILL at random moments loses nothing.

A daemon (`start --poll-interval 0.1`) backfills a history of several MB and ships it to the
reference receiver; it is killed with SIGKILL at a random moment (seeded delays of 0.05-0.6 s
after it took its lock) and restarted, 25 times, while a writer thread keeps appending calls
to two transcripts (streaming lines that grow a call's usage, and lines written in two parts,
so the daemon meets partial lines). Kills land during backfill, between a chunk's commit and
its delivery, in flight, and between the server's commit and the client's settle. After a
final `start --once`, the receiver must hold exactly the events a dry-run of the final files
gives (per event_id, the highest revision's tokens), totals exact, and the outbox empty.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
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
                call = make_call(self.rng, session_of(path), n, parts=self.rng.choice((1, 2, 3)),
                                 tool=self.rng.random() < 0.5, pad=20)
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

    wait_until(started, 15, "the daemon to take its lock", 0.01)


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing(tmp_path: Path, isolated_home: Path) -> None:
    state = Path(os.environ["AGENT_CLI_HOME"])
    rng = random.Random(SEED)
    paths = write_history(isolated_home, sessions=8, calls=900, seed=SEED, pad=40)
    size = sum(p.stat().st_size for p in paths)
    assert size > 8_000_000, size
    live = projects_dir(isolated_home) / PROJECT / f"{new_session(random.Random(SEED + 1))}.jsonl"
    live.touch()
    writer = Writer([paths[0], live], SEED + 2)
    killed_alive = 0
    with Receiver(tmp_path / "rx", "--latency", "0.01") as rx:
        env = ship_env(rx)
        writer.start()
        try:
            for i in range(KILLS):
                with Daemon(env, ["--poll-interval", "0.1"], tmp_path / "daemon") as d:
                    _wait_started(d, state / "agent-cli.lock")
                    time.sleep(rng.uniform(0.05, 0.6))
                    assert d.alive(), f"run {i}: the daemon exited by itself: {d.stderr()}"
                    d.proc.send_signal(signal.SIGKILL)
                    assert d.proc.wait(10) == -signal.SIGKILL
                    killed_alive += 1
        finally:
            writer.stop.set()
            writer.join(10)
        assert not writer.is_alive()
        assert writer.error is None, writer.error
        assert writer.calls >= 5 and writer.split_lines >= 1
        received_during_kills = rx.stats()["events"]

        p = agent(["start", "--once", "--drain-timeout", "60"], env)
        assert p.returncode == 0, p.stderr
        assert "Traceback" not in p.stderr

        # the oracle: a dry-run of the final files with a fresh state folder
        want = dry_run(agent_env(AGENT_CLI_HOME=str(tmp_path / "fresh-state")))
        got = rx.events()
        assert writer.ids <= set(want)
        assert_same_events(got, want, revisions=False)
        assert all(tokens(got[k]) == tokens(want[k]) for k in writer.ids)

        assert spool_rows(state) == set()
        code, info = status_json(env)
        assert code == 0, info
        assert info["outbox"]["depth"] == 0 and info["quarantine"] == {}
        stats = rx.stats()
    daemon_err = (tmp_path / "daemon" / "daemon.err").read_text(errors="replace")
    assert "Traceback" not in daemon_err
    assert killed_alive == KILLS
    # the kills must have hit while shipping, not only before it
    assert 0 < received_during_kills, "no delivery happened between kills"
    assert stats["events"] == len(want)
