"""`--since` narrows a run and never discards history: a later run with an earlier or no
`--since` ships what was held back, exactly once (issue: 2,119 events lost for good)."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

from agent_cli.config import Settings
from agent_cli.pipeline import dry_run, start_forever, start_once
from tests.claude_lines import assistant, jsonl
from tests.test_sinks import FakeSink

DAYS = ("2026-09-28", "2026-10-01", "2026-10-03", "2026-10-05")


def _history(home: Path) -> None:
    p = home / ".claude" / "projects" / "-p"
    p.mkdir(parents=True)
    lines = [
        assistant(f"m{d}{i}", f"r{d}{i}", ts=f"{d}T10:00:0{i}.000Z") for d in DAYS for i in range(3)
    ]
    (p / "s.jsonl").write_bytes(jsonl(*lines))  # modified now: after every --since here


def _run(tmp_path: Path, since: str | None) -> FakeSink:
    sink = FakeSink("sutrace")
    settings = Settings(home=tmp_path / "st", api_key="k", endpoint="https://x.test",
                        since=date.fromisoformat(since) if since else None, workers=1)  # fmt: skip
    result = start_once(settings, sinks=[sink])
    assert result.exit_code == 0 and result.left == 0
    return sink


def _all_ids(home: Path) -> list[str]:
    out = io.BytesIO()
    dry_run(Settings(workers=1), out, {"HOME": str(home)})
    import json

    return [json.loads(line)["event_id"] for line in out.getvalue().splitlines()]


def test_a_later_run_without_since_ships_what_was_held_back_once(
    isolated_home: Path, tmp_path: Path
) -> None:
    _history(isolated_home)
    everything = _all_ids(isolated_home)
    assert len(everything) == 4 * 3
    narrow = _run(tmp_path, "2026-10-03")
    assert len(narrow.got) == 2 * 3  # the last two days
    wide = _run(tmp_path, None)
    assert sorted(narrow.got + wide.got) == sorted(everything)  # all of it, each once
    assert _run(tmp_path, None).got == []  # and nothing after that


def test_an_earlier_since_ships_the_days_between_and_a_later_one_nothing(
    isolated_home: Path, tmp_path: Path
) -> None:
    _history(isolated_home)
    first = _run(tmp_path, "2026-10-05")
    assert len(first.got) == 3
    later = _run(tmp_path, "2026-10-06")  # stricter: nothing new, nothing re-sent
    assert later.got == []
    earlier = _run(tmp_path, "2026-10-01")
    assert len(earlier.got) == 2 * 3  # 10-01 and 10-03, not 10-05 again
    rest = _run(tmp_path, None)
    assert len(rest.got) == 3  # 09-28
    assert len(set(first.got + earlier.got + rest.got)) == 4 * 3


def test_a_daemon_without_since_reads_a_file_a_since_run_held_back(
    isolated_home: Path, tmp_path: Path
) -> None:
    import threading

    _history(isolated_home)
    narrow = _run(tmp_path, "2026-10-05")
    sink = FakeSink("sutrace")
    stop = threading.Event()
    settings = Settings(home=tmp_path / "st", api_key="k", endpoint="https://x.test",
                        poll_seconds=0.05, workers=1)  # fmt: skip
    t = threading.Thread(target=start_forever, args=(settings,),
                         kwargs={"stop": stop, "sinks": [sink]}, daemon=True)  # fmt: skip
    t.start()
    try:
        for _ in range(2400):  # a generous ceiling: only a hang reaches it
            if len(sink.got) >= 9:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        t.join(60)
    assert not t.is_alive()
    assert len(sink.got) == 9 and not set(sink.got) & set(narrow.got)
