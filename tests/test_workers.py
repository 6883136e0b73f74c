"""Worker processes (module `workers`): forked children, files handed back in order.

The pool on its own (order, bounds, a child killed or failing, reaping), then whole scans
with the pool forced on (`parallel_min_bytes=0`): the output of `--workers 2` is the output
of one process, byte for byte, on the fixture homes and on generated histories of all
twelve agents, into the spool too; a killed worker loses no file; no fork while another
thread runs.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from agent_cli import workers
from agent_cli.config import Settings
from agent_cli.cursor import Cursor
from agent_cli.pipeline import dry_run, start_once
from agent_cli.prepare import Builder, Report
from agent_cli.pricing import CACHE_NAME
from agent_cli.render import render_status, render_summary
from agent_cli.scan import SinkTarget, discover, scan, select_sources
from agent_cli.sinks.stdout import StdoutSink
from agent_cli.sources import Source, SourceFile
from agent_cli.status import read_status
from agent_cli.tail import Chunk
from tests.conftest import agent_env
from tests.synth import generate

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"
sys.path.insert(0, str(ROOT / "benchmarks"))
from identity import spool_dump  # noqa: E402  (benchmarks/identity.py)

FORKS: list[int] = []
os.register_at_fork(after_in_parent=lambda: FORKS.append(1))  # counts the pools' forks


def squares(i: int) -> Iterator[object]:
    yield i
    yield i * i


def test_files_come_back_in_order_within_the_bounds() -> None:
    sizes = [10] * 40
    with workers.Pool(2, squares, sizes, ahead=3, budget=35) as pool:
        got = []
        for i, items in pool.results():
            # handed out, not yielded: at most 3 per child, and 35 bytes unless only one
            assert pool._next - i <= 4  # 40 bytes: the fourth crossed the budget
            got.append((i, items))
        pids = pool.pids
    assert got == [(i, [i, i * i]) for i in range(40)]
    assert pool.failed == Counter()
    for pid in pids:  # reaped when the pool closed
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_a_killed_child_hands_its_files_back_to_the_parent() -> None:
    parent = os.getpid()

    def job(i: int) -> Iterator[object]:
        if i == 5 and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        yield i

    with workers.Pool(2, job, [1] * 30, ahead=2) as pool:
        got = dict(pool.results())
    lost = {i for i, items in got.items() if items is None}
    assert 5 in lost
    assert pool.failed == Counter(died=len(lost))
    assert all(got[i] == [i] for i in range(30) if i not in lost)  # the other child went on
    assert sorted(got) == list(range(30))


def test_a_file_that_fails_in_a_child_is_handed_back_alone() -> None:
    def job(i: int) -> Iterator[object]:
        yield i
        if i == 3:
            raise ValueError("a reader's bug")

    with workers.Pool(2, job, [1] * 8) as pool:
        got = dict(pool.results())
    assert got == {i: None if i == 3 else [i] for i in range(8)}
    assert pool.failed == Counter(error=1)


def test_a_stop_ends_the_wait_and_closing_reaps_busy_children() -> None:
    stop = threading.Event()
    parent = os.getpid()

    def job(i: int) -> Iterator[object]:
        if i >= 2 and os.getpid() != parent:
            threading.Event().wait()  # a file that never ends: only SIGTERM stops this child
        yield i

    with workers.Pool(2, job, [1] * 10, should_stop=stop.is_set) as pool:
        results = pool.results()
        assert next(results) == (0, [0])
        assert next(results) == (1, [1])
        stop.set()
        assert next(results) == (2, None)  # not waited for: the caller stops too
        pids = pool.pids
    assert len(pids) == 2 and pool.failed == Counter()
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_no_fork_while_another_thread_runs() -> None:
    alone()
    assert workers.cannot_fork() is None
    done = threading.Event()
    t = threading.Thread(target=done.wait)
    t.start()
    try:
        assert workers.cannot_fork() == "other threads are running"
    finally:
        done.set()
        t.join()


# -- whole scans ---------------------------------------------------------------------------

DOWN = "http://127.0.0.1:9"  # nothing listens: the events stay in the spool
Files = list[tuple[Source, SourceFile]]
ONE = Settings(workers=1)
TWO = Settings(workers=2, parallel_min_bytes=0)  # worth workers at any size, here


def env_for(home: Path) -> dict[str, str]:
    return agent_env(home, TZ="UTC")


def fixture_home(tmp_path: Path, real: bool) -> Path:
    home = tmp_path / ("real" if real else "rules")
    kind = "real" if real else "rules"
    if real:
        shutil.copytree(FIX / "claude" / "projects", home / ".claude" / "projects")
    shutil.copytree(FIX / "codex" / kind, home / ".codex")
    shutil.copytree(FIX / "gemini" / kind / ".gemini", home / ".gemini")
    return home


def alone(ceiling: float = 60.0) -> None:
    """Wait until this is the process's only thread, as in a fresh `agent-cli` (a pool does
    not fork beside another): an earlier run's request thread ends once refused."""
    deadline = time.monotonic() + ceiling
    while threading.active_count() > 1 and time.monotonic() < deadline:
        for t in threading.enumerate():
            if t is not threading.current_thread():
                t.join(timeout=0.1)
    assert threading.active_count() == 1, [t.name for t in threading.enumerate()]


def both(env: Mapping[str, str], wait: bool = True) -> tuple[bytes, bytes, Report]:
    """The dry-run's stdout and summary in one process, then with two forked workers."""
    outs, reports = [], []
    for settings in (ONE, TWO):
        if settings is TWO and wait:
            alone()
        out = io.BytesIO()
        reports.append(dry_run(settings, out, dict(env)))
        outs.append(out.getvalue() + render_summary(reports[-1]).encode())
    assert reports[1].worker_failures == Counter()
    return outs[0], outs[1], reports[1]


@pytest.mark.parametrize("real", [True, False])
def test_two_workers_print_what_one_process_prints_on_the_fixtures(
    tmp_path: Path, real: bool
) -> None:
    forks = len(FORKS)
    one, two, report = both(env_for(fixture_home(tmp_path, real)))
    assert len(FORKS) - forks >= 2  # the pool did run
    assert report.files_read > 2 and one == two


@pytest.mark.parametrize("agents", [None, "all"])
def test_two_workers_print_what_one_process_prints_on_a_generated_history(
    tmp_path: Path, agents: str | None
) -> None:
    home = tmp_path / "home"
    generate(home, 3_000_000, seed=11, agents=agents)
    env = env_for(home) if agents is None else {"HOME": str(home), "TZ": "UTC"}
    forks = len(FORKS)
    one, two, report = both(env)
    assert len(FORKS) - forks >= 2
    assert report.files_read > 20 and one == two


def test_into_the_spool_two_workers_store_what_one_process_stores(tmp_path: Path) -> None:
    home = tmp_path / "home"
    generate(home, 2_000_000, seed=12)
    dumps, rates, forks = [], [], len(FORKS)
    for n, settings in enumerate((ONE, TWO)):
        state = tmp_path / f"state{n}"
        s = replace(settings, home=state, api_key="dev", endpoint=DOWN, drain_timeout=0)
        alone()
        result = start_once(s, env=env_for(home))
        assert result.left > 0 and result.report.worker_failures == Counter()
        dumps.append(spool_dump(state))
        rates.append(json.loads((state / CACHE_NAME).read_bytes())["rates"])
    assert len(FORKS) - forks >= 2  # the spool's connection and lock were open: untouched
    assert dumps[0] == dumps[1]
    assert rates[0] and rates[1] == rates[0]  # what the children probed is kept for next time


class Killing:
    """A source that, in a worker process, dies reading one file (as a kill -9 would)."""

    def __init__(self, src: Source, victim: str, parent: int) -> None:
        self.src, self.victim, self.parent = src, victim, parent
        self.agent = src.agent

    def read(
        self, path: str, cursor: Cursor | None, skipped: Counter[str], max_line: int
    ) -> Iterator[Chunk]:
        if path == self.victim and os.getpid() != self.parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return self.src.read(path, cursor, skipped, max_line)


def scan_into(
    out: io.BytesIO, settings: Settings, files: list[tuple[Source, SourceFile]]
) -> Report:
    target = SinkTarget(StdoutSink(out))
    report = scan(settings, target, Builder(target.ledger, Report(), None), files)
    target.sink.close()
    return report


def test_a_killed_worker_loses_no_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    generate(home, 2_000_000, seed=13)
    files = list(discover(select_sources(()), ONE, env_for(home)))
    victim = files[len(files) // 2][1].path
    killing = [(Killing(src, victim, os.getpid()), sf) for src, sf in files]
    one, two = io.BytesIO(), io.BytesIO()
    scan_into(one, ONE, files)
    alone()
    report = scan_into(two, TWO, killing)  # type: ignore[arg-type]
    assert two.getvalue() == one.getvalue()
    assert report.worker_failures["died"] >= 1  # the victim, and what that child held
    assert "files a worker process lost, read by the main one: died" in render_summary(report)


def test_status_shows_the_files_a_worker_lost(tmp_path: Path) -> None:
    from agent_cli.spool import Spool

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    spool = Spool(state)
    spool.add_counts("worker_failures", {"died": 2})
    spool.close()
    status = read_status(state)
    assert status.worker_failures == {"died": 2}
    shown = render_status(status.as_dict())
    assert "files a worker process lost (read by the main one): died 2" in shown


def test_a_scan_beside_a_thread_reads_in_one_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = env_for(fixture_home(tmp_path, real=False))
    done = threading.Event()
    t = threading.Thread(target=done.wait)
    t.start()
    try:
        forks = len(FORKS)
        with caplog.at_level(logging.INFO, logger="agent_cli"):
            one, two, _ = both(env, wait=False)
        assert len(FORKS) == forks
    finally:
        done.set()
        t.join()
    assert one == two
    assert "reading in one process (other threads are running)" in caplog.text
