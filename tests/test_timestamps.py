"""A call that cannot be placed in time is not emitted, and never silently: it is counted."""

from __future__ import annotations

from pathlib import Path

from tests.claude_lines import assistant, jsonl
from tests.dryrun import dry_run


def _write(home: Path, *lines: dict[str, object]) -> None:
    p = home / ".claude" / "projects" / "-p"
    p.mkdir(parents=True)
    (p / "s.jsonl").write_bytes(jsonl(*lines))


def test_empty_and_garbage_timestamps_are_counted_not_shipped(isolated_home: Path) -> None:
    good = assistant("m1", "r1")
    empty = assistant("m2", "r2", ts="")
    garbage = assistant("m3", "r3", ts="yesterday at noon")
    _write(isolated_home, good, empty, garbage)
    run = dry_run({"HOME": str(isolated_home)})
    assert [c["timestamp"] for c in run.calls] == ["2026-10-02T10:00:01.000Z"]
    assert run.report.skipped["no_timestamp"] == 1  # the reader saw a call without one
    assert run.report.not_emitted["bad_timestamp"] == 1
    assert all(len(e["timestamp"]) == 24 for e in run.events)


def test_other_timestamp_forms_are_normalised(isolated_home: Path) -> None:
    _write(
        isolated_home,
        assistant("m1", "r1", ts="2026-10-02T12:00:01+02:00"),
        assistant("m2", "r2", ts="2026-10-02T10:00:02Z"),
    )
    run = dry_run({"HOME": str(isolated_home)})
    assert sorted(c["timestamp"] for c in run.calls) == [
        "2026-10-02T10:00:01.000Z",
        "2026-10-02T10:00:02.000Z",
    ]
    assert not run.report.not_emitted
