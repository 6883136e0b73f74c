"""The re-run fast path (module `rerun`): a `start --once` with nothing new is answered from
the index, byte for byte as the full run answers it, and any change falls through to the full
run. Real processes (`python -m agent_cli`) and the reference receiver on 127.0.0.1.

Whether a run took the fast path shows in the index file: the fast path leaves it as it is, a
full run deletes it and writes a new one (or none).
"""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent_cli import sources
from agent_cli.rerun import INDEX_NAME, RecordingEnv, snapshot_dirs
from tests.test_e2e import (
    CANARY,
    KEY,
    Receiver,
    agent,
    make_call,
    projects_dir,
    ship_env,
    write_history,
)

pytestmark = pytest.mark.slow
FIXTURES = Path(__file__).parent / "fixtures"
DAY = 86400


def age(tree: Path, seconds: float = DAY) -> None:
    """Date every folder and file under `tree` back (the index skips folders changed just now)."""
    t = os.path.getmtime(tree) - seconds
    for dirpath, _, names in os.walk(tree, topdown=False):
        for n in names:
            os.utime(os.path.join(dirpath, n), (t, t))
        os.utime(dirpath, (t, t))


def stamp(state: Path) -> tuple[int, int] | None:
    try:
        st = (state / INDEX_NAME).stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


class Home:
    """A settled history: delivered to a receiver, then re-run once (answered by the index)."""

    def __init__(self, home: Path, state: Path, rx: Receiver) -> None:
        self.home, self.state, self.rx = home, state, rx
        self.env = ship_env(rx)
        self.files = write_history(home, sessions=3, calls=4, seed=7, canary=CANARY)
        age(home)

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return agent(["start", "--once", *args], dict(self.env, **env))

    def fast(self, *args: str, **env: str) -> tuple[bool, subprocess.CompletedProcess[str]]:
        """Run; return whether the index answered it (the file was left as it was)."""
        before = stamp(self.state)
        r = self.run(*args, **env)
        return before is not None and stamp(self.state) == before, r


@pytest.fixture
def settled(tmp_path: Path, isolated_home: Path) -> Iterator[Home]:
    with Receiver(tmp_path / "rx") as rx:
        h = Home(isolated_home, tmp_path / "state", rx)
        first = h.run()
        assert first.returncode == 0, first.stderr
        assert "left in spool: 0" in first.stderr
        assert stamp(h.state) is not None, "a settled run writes the index"
        yield h


def test_nothing_new_is_answered_by_the_index_as_the_full_run_answers(settled: Home) -> None:
    log = settled.state / "agent-cli.log"
    lines = log.read_text().count("\n")
    fast, r = settled.fast()
    assert fast and r.returncode == 0
    assert log.read_text().count("\n") == lines + 1  # the start line, as the full run logs it
    full = settled.run(AGENT_CLI_NO_INDEX="1")  # the full run, with the same files and spool
    assert (r.stdout, r.stderr, r.returncode) == (full.stdout, full.stderr, full.returncode)
    assert "files: 3 found, 0 read" in r.stderr
    last_two = log.read_text().splitlines()[-2:]
    assert last_two[0].split(" INFO ")[1] == last_two[1].split(" INFO ")[1]
    assert (settled.state / "agent-cli.lock").read_bytes() == b""  # released clean
    again, _ = settled.fast()
    assert not again  # that full run had another environment: its index is not this one's


def _append_call(h: Home) -> None:
    call = make_call(random.Random(1), h.files[0].stem, 99, tool=False)
    with open(h.files[0], "ab") as f:
        f.write(b"".join(call.lines))


def _new_file(h: Home) -> None:
    shutil.copy(h.files[0], h.files[0].with_name("copy.jsonl"))  # same size and mtime as one


def _new_project(h: Home) -> None:
    new = projects_dir(h.home) / "-new-project"
    new.mkdir()
    shutil.copy(h.files[1], new / "s.jsonl")


def _new_agent_folder(h: Home) -> None:
    src = FIXTURES / "codex" / "rules" / "sessions"
    shutil.copytree(src, h.home / ".codex" / "sessions")


def _touch(h: Home) -> None:
    os.utime(h.files[2])


def _spool_written(h: Home) -> None:
    db = sqlite3.connect(h.state / "spool.sqlite")
    with db:
        db.execute("INSERT OR REPLACE INTO meta(k, v) VALUES ('someone', 'else')")
    db.close()


def _unclean_lock(h: Home) -> None:
    (h.state / "agent-cli.lock").write_text("12345")


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        (_append_call, "files: 3 found, 1 read"),
        (_new_file, "files: 4 found, 1 read"),
        (_new_project, "files: 4 found, 1 read"),
        (_new_agent_folder, "codex"),
        (_touch, "files: 3 found, 1 read"),
        (_spool_written, "files: 3 found, 0 read"),
        (_unclean_lock, "files: 3 found, 0 read"),
    ],
)
def test_any_change_falls_through_to_the_full_run(
    settled: Home, change: Callable[[Home], None], expect: str
) -> None:
    assert settled.fast()[0]
    change(settled)
    fast, r = settled.fast()
    assert not fast
    assert r.returncode == 0 and expect in r.stderr, r.stderr


def test_other_arguments_or_environment_fall_through(settled: Home, tmp_path: Path) -> None:
    fast, r = settled.fast("--since", "2020-01-01")
    assert not fast and r.returncode == 0
    assert settled.fast("--since", "2020-01-01")[0]  # that invocation has its index now
    assert not settled.fast()[0]  # and this one not any more
    assert settled.fast()[0]
    xdg = tmp_path / "xdg"
    (xdg / "claude" / "projects").mkdir(parents=True)
    fast, r = settled.fast(XDG_CONFIG_HOME=str(xdg))  # discovery reads it: another run
    assert not fast and r.returncode == 0


def test_a_held_lock_falls_through_to_the_full_runs_answer(settled: Home) -> None:
    fd = os.open(settled.state / "agent-cli.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = settled.run()
    finally:
        os.close(fd)
    assert r.returncode != 0 and "already using" in r.stderr  # the full run's answer


def test_an_unsettled_run_leaves_no_index(tmp_path: Path, isolated_home: Path) -> None:
    state = tmp_path / "state"
    write_history(isolated_home, sessions=2, calls=2, seed=3)
    age(isolated_home)
    down = dict(ship_env_down(), AGENT_CLI_HOME=str(state))
    r = agent(["start", "--once", "--drain-timeout", "0"], down)
    assert r.returncode == 1 and stamp(state) is None  # events left in the outbox
    with Receiver(tmp_path / "rx", key="another-key-0123456") as rx:
        r = agent(["start", "--once"], ship_env(rx, key=KEY))
        assert r.returncode == 1 and stamp(state) is None  # paused: auth
    with Receiver(tmp_path / "rx2") as rx:
        assert agent(["start", "--once"], ship_env(rx)).returncode == 0
        assert stamp(state) is not None
        fresh = projects_dir(isolated_home) / "fresh"
        fresh.mkdir()
        soon = os.path.getmtime(fresh) + 3600  # dated after the run starts, however slowly:
        os.utime(projects_dir(isolated_home), (soon, soon))  # it could change again unseen
        r = agent(["start", "--once"], ship_env(rx))
        assert r.returncode == 0 and stamp(state) is None


def ship_env_down() -> dict[str, str]:
    return dict(os.environ, SUTRACE_API_KEY=KEY, SUTRACE_ENDPOINT="http://127.0.0.1:9")


def test_the_fast_path_imports_only_the_standard_library(settled: Home) -> None:
    before = stamp(settled.state)
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "agent_cli", "start", "--once"],
        env=settled.env,
        capture_output=True,
        text=True,
        cwd=settled.home,
    )
    assert r.returncode == 0 and stamp(settled.state) == before
    imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if "|" in line}
    assert "agent_cli.rerun" in imported
    assert not imported & {"click", "msgspec", "sqlite3", "httpx", "genai_prices", "logging"}


def test_the_index_holds_no_key_and_no_content(settled: Home) -> None:
    data = (settled.state / INDEX_NAME).read_bytes()
    assert KEY.encode() not in data
    assert CANARY.encode() not in data
    assert (settled.state / INDEX_NAME).stat().st_mode & 0o777 == 0o600


# -- the parts -------------------------------------------------------------------------------------
def test_every_source_discovers_only_under_the_folders_it_names(tmp_path: Path) -> None:
    """The index watches the folders `where` names: a source finding files elsewhere would
    have them skipped by the fast path. Every registered source keeps to its folders."""
    home = tmp_path / "h"
    shutil.copytree(FIXTURES / "claude" / "projects", home / ".claude" / "projects")
    shutil.copytree(FIXTURES / "codex" / "real", home / ".codex")
    shutil.copytree(FIXTURES / "gemini" / "real" / ".gemini", home / ".gemini")
    env = {"HOME": str(home)}
    found = 0
    for src in sources.registry().values():
        rec = RecordingEnv(env)
        roots = [os.path.abspath(w) for w in src.where(rec)]
        for sf in src.discover(rec):
            found += 1
            assert any(sf.path.startswith(r.rstrip("/") + "/") for r in roots), sf.path
        assert not rec.listed  # discovery looks variables up, so the index knows which
    assert found > 10


def test_snapshot_follows_symlinked_folders_once_and_names_missing_roots(tmp_path: Path) -> None:
    (tmp_path / "real" / "a").mkdir(parents=True)
    (tmp_path / "root").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "root" / "link")
    os.symlink(tmp_path / "real", tmp_path / "root" / "again")
    missing, dirs = snapshot_dirs([str(tmp_path / "root"), str(tmp_path / "none")])
    assert missing == [str(tmp_path / "none")]
    inodes = [d[2] for d in dirs]
    assert len(inodes) == len(set(inodes)) == 3  # root, real (once), real/a


def test_an_otel_variable_is_not_answered_by_the_index(settled: Home) -> None:
    """OTLP set up after a settled run: the full run opens the new sink."""
    from tests.otlp_receiver import OtlpReceiver

    with OtlpReceiver() as otlp:
        fast, r = settled.fast(OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url)
        assert not fast and r.returncode == 0, r.stderr
        starts = [x for x in (settled.state / "agent-cli.log").read_text().splitlines()
                  if " start (once=" in x]  # fmt: skip
        assert f"otlp={otlp.url}/v1/logs" in starts[-1]
