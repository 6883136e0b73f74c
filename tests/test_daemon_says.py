"""What the daemon says: a start line and summaries on a terminal, one log line per delivered
batch, one per outage (not per batch in flight), and counts that do not add up over polls."""

from __future__ import annotations

import threading
from pathlib import Path

from agent_cli.config import Settings
from agent_cli.pipeline import RunResult, start_forever, start_once
from tests.claude_lines import assistant, jsonl
from tests.test_sinks import FakeSink


def _history(home: Path, files: int = 3) -> None:
    p = home / ".claude" / "projects" / "-p"
    p.mkdir(parents=True)
    for f in range(files):
        (p / f"s{f}.jsonl").write_bytes(
            jsonl(*[assistant(f"m{f}{i}", f"r{f}{i}") for i in range(4)])
        )


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(home=tmp_path / "st", api_key="k", endpoint="https://x.test", workers=1,
                    **kw)  # type: ignore[arg-type]  # fmt: skip


def test_the_daemon_says_where_it_ships_and_counts_files_once(
    isolated_home: Path, tmp_path: Path
) -> None:
    _history(isolated_home)
    sink, said, results = FakeSink("sutrace"), [], []
    stop = threading.Event()
    polls = 0

    def say(line: str) -> None:
        said.append(line)

    def run() -> None:
        results.append(start_forever(_settings(tmp_path, poll_seconds=0.01), stop=stop,
                                     sinks=[sink], say=say))  # fmt: skip

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        for _ in range(12000):  # many polls, a generous ceiling: only a hang reaches it
            if len(sink.got) >= 12:
                polls += 1
                if polls >= 50:
                    break
            stop.wait(0.01)
    finally:
        stop.set()
        t.join(60)
    assert not t.is_alive() and len(sink.got) == 12
    result: RunResult = results[0]
    assert result.report.files == 3  # not 3 per poll
    assert said and said[0].startswith("agent-cli: following 3 transcript files; shipping to")
    log = (tmp_path / "st" / "agent-cli.log").read_text()
    assert "sutrace: delivered" in log and "following 3 transcript files" in log


def test_a_drain_that_waits_says_how_much_is_left(isolated_home: Path, tmp_path: Path) -> None:
    _history(isolated_home, files=1)
    said: list[str] = []
    result = start_once(_settings(tmp_path, drain_timeout=1.5), sinks=[FakeSink("s", up=False)],
                        say=said.append)  # fmt: skip
    assert result.exit_code == 1
    assert any(line.startswith("4 events left in the spool; next try in") for line in said), said


def test_an_outage_is_logged_once_not_once_per_batch_in_flight(
    isolated_home: Path, tmp_path: Path
) -> None:
    _history(isolated_home, files=3)
    down = FakeSink("s", up=False)
    down.max_batch_events = 1  # 12 batches: up to 4 in flight fail together
    start_once(_settings(tmp_path, drain_timeout=0), sinks=[down])
    log = (tmp_path / "st" / "agent-cli.log").read_text()
    assert log.count("s: delivery retry") == 1, log
