"""The spool and the tailer: atomic chunks, file lifecycle, partial lines, revisions."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_cli.config import Settings
from agent_cli.cursor import Cursor
from agent_cli.errors import AlreadyRunning
from agent_cli.outbox import SinkQueue
from agent_cli.prepare import Builder, Report
from agent_cli.scan import discover, scan, select_sources
from agent_cli.sources.claude_code import ClaudeReader
from agent_cli.spool import FIRST_SINK, Lock, Spool
from agent_cli.tail import read_chunks
from tests.claude_lines import assistant, jsonl, user


@pytest.fixture
def project(isolated_home: Path) -> Path:
    p = isolated_home / ".claude" / "projects" / "-p"
    p.mkdir(parents=True)
    return p


def run_scan(state: Path) -> tuple[Spool, Report]:
    """One backfill pass into the spool at `state`, as `start` does it."""
    settings = Settings(home=state)
    spool = Spool(state)
    builder = Builder(spool.ledger, Report(), None)
    files = discover(select_sources(("claude-code",)), settings)
    report = scan(settings, spool, builder, files)
    return spool, report


def outbox(spool: Spool) -> list[tuple[str, int, dict]]:
    spool.flush()  # the open group's rows are written at its commit
    return [
        (e, r, json.loads(b))
        for e, r, b in spool.db.execute("SELECT event_id, revision, body FROM outbox ORDER BY id")
    ]


def calls(spool: Spool) -> list[dict]:
    return [b for _, _, b in outbox(spool) if b["kind"] == "llm_call"]


def test_spool_files_are_private(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "state")
    spool.close()
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "state" / "spool.sqlite").stat().st_mode & 0o777 == 0o600


def test_second_lock_is_refused(tmp_path: Path) -> None:
    first = Lock(tmp_path)
    first.acquire()
    with pytest.raises(AlreadyRunning, match="already using"):
        Lock(tmp_path).acquire()
    first.release()
    Lock(tmp_path).acquire()


def test_rescan_of_unchanged_files_adds_nothing(project: Path, tmp_path: Path) -> None:
    (project / "s.jsonl").write_bytes(jsonl(user("hi"), assistant("m1", "r1")))
    spool, report = run_scan(tmp_path / "st")
    assert len(calls(spool)) == 1
    spool.close()
    spool, report = run_scan(tmp_path / "st")
    assert report.files_read == 0 and len(calls(spool)) == 1


def test_crash_between_read_and_commit_rereads_nothing_skipped(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    lines = [assistant(f"m{i}", f"r{i}", out=i + 1) for i in range(40)]
    path.write_bytes(jsonl(*lines))
    spool = Spool(tmp_path / "st")
    builder = Builder(spool.ledger, Report(), None)
    skipped: Counter[str] = Counter()

    def chunks(cursor):  # small chunks, so a crash falls between two of them
        return read_chunks(
            str(path),
            cursor,
            lambda s: ClaudeReader(str(path), s, skipped),
            skipped,
            max_line=1 << 20,
            chunk_bytes=2000,
        )

    it = chunks(None)
    for _ in range(3):  # three chunks commit, the fourth is read but the process dies
        c = next(it)
        with spool.chunk("claude-code", c.cursor) as events:
            events.extend(builder.build(c.facts))
    next(it)
    for c in chunks(spool.cursor(str(path))):  # restart from the stored cursor
        with spool.chunk("claude-code", c.cursor) as events:
            events.extend(builder.build(c.facts))
    got = sorted(b["output_tokens"] for b in calls(spool))
    assert got == list(range(1, 41))


def test_partial_last_line_is_read_once_complete_across_restart(
    project: Path, tmp_path: Path
) -> None:
    f = project / "s.jsonl"
    line = json.dumps(assistant("m1", "r1")).encode()
    f.write_bytes(jsonl(user("hi")) + line[:50])
    spool, _ = run_scan(tmp_path / "st")
    assert calls(spool) == []
    spool.close()
    with f.open("ab") as fh:
        fh.write(line[50:] + b"\n")
    spool, _ = run_scan(tmp_path / "st")
    assert len(calls(spool)) == 1
    spool.close()
    spool, _ = run_scan(tmp_path / "st")
    assert len(calls(spool)) == 1


def test_truncation_starts_a_new_generation(project: Path, tmp_path: Path) -> None:
    f = project / "s.jsonl"
    f.write_bytes(jsonl(*[assistant(f"m{i}", f"r{i}") for i in range(5)]))
    spool, _ = run_scan(tmp_path / "st")
    spool.close()
    f.write_bytes(jsonl(assistant("new", "rn")))  # truncated and rewritten, smaller
    spool, report = run_scan(tmp_path / "st")
    assert report.resets == {"truncated": 1}
    assert len(calls(spool)) == 6
    assert spool.cursor(str(f)).generation == 1


def test_bytes_lost_unread_to_a_truncation_are_counted(project: Path, tmp_path: Path) -> None:
    f = project / "s.jsonl"
    partial = jsonl(assistant("m2", "r2"))[:-40]  # a line still being written
    f.write_bytes(jsonl(assistant("m1", "r1")) + partial)
    spool, report = run_scan(tmp_path / "st")
    assert len(calls(spool)) == 1 and not report.skipped
    spool.close()
    f.write_bytes(b"{}\n")  # truncated before the line was finished: those bytes are gone
    spool, report = run_scan(tmp_path / "st")
    assert report.resets == {"truncated": 1}
    assert report.skipped == {"lost_unread_bytes_truncated": len(partial)}
    assert len(calls(spool)) == 1


def test_rewrite_with_same_size_is_detected(project: Path, tmp_path: Path) -> None:
    f = project / "s.jsonl"
    f.write_bytes(jsonl(assistant("aaaa", "r1")))
    spool, _ = run_scan(tmp_path / "st")
    spool.close()
    f.write_bytes(jsonl(assistant("bbbb", "r1")) + jsonl(assistant("cccc", "r2")))
    spool, report = run_scan(tmp_path / "st")
    assert report.resets == {"rewritten": 1}
    assert {b["event_id"] for b in calls(spool)} and len(calls(spool)) == 3


def test_inode_reuse_with_new_content_is_read_from_zero(project: Path, tmp_path: Path) -> None:
    f = project / "s.jsonl"
    f.write_bytes(jsonl(assistant("m1", "r1"), assistant("m2", "r2")))
    spool, _ = run_scan(tmp_path / "st")
    spool.close()
    f.unlink()
    f.write_bytes(jsonl(assistant("m1", "r1"), assistant("m3", "r3"), assistant("m4", "r4")))
    spool, report = run_scan(tmp_path / "st")
    assert report.resets == {"rewritten": 1}
    assert sorted(b["event_id"] for b in calls(spool)) == sorted(
        {b["event_id"] for b in calls(spool)}
    )  # no duplicates
    assert len(calls(spool)) == 4  # m1 was already there: the ledger kept it once


def test_atomic_replace_keeping_the_prefix_continues(project: Path, tmp_path: Path) -> None:
    f = project / "s.jsonl"
    first = jsonl(assistant("m1", "r1"), assistant("m2", "r2"))
    f.write_bytes(first)
    spool, _ = run_scan(tmp_path / "st")
    spool.close()
    tmp = project / "s.tmp"
    tmp.write_bytes(first + jsonl(assistant("m3", "r3")))
    os.replace(tmp, f)
    spool, report = run_scan(tmp_path / "st")
    assert report.resets == {}
    assert report.bytes_read == len(jsonl(assistant("m3", "r3")))
    assert len(calls(spool)) == 3


def test_growing_call_replaces_its_unsent_revision(project: Path, tmp_path: Path) -> None:
    f = project / "s.jsonl"
    f.write_bytes(jsonl(assistant("m1", "r1", out=3, stop=None)))
    spool, _ = run_scan(tmp_path / "st")
    assert [(r, b["output_tokens"]) for _, r, b in outbox(spool)] == [(0, 3)]
    spool.close()
    with f.open("ab") as fh:
        fh.write(jsonl(assistant("m1", "r1", out=250, stop="end_turn")))
    spool, _ = run_scan(tmp_path / "st")
    rows = [(r, b["output_tokens"], b["output_final"]) for _, r, b in outbox(spool)]
    assert rows == [(1, 250, True)]


def test_sent_revision_is_not_deleted_while_leased(project: Path, tmp_path: Path) -> None:
    f = project / "s.jsonl"
    f.write_bytes(jsonl(assistant("m1", "r1", out=3, stop=None)))
    spool, _ = run_scan(tmp_path / "st")
    leased = spool.queue().claim()
    assert len(leased) == 1
    with f.open("ab") as fh:
        fh.write(jsonl(assistant("m1", "r1", out=250)))
    settings = Settings(home=tmp_path / "st")
    builder = Builder(spool.ledger, Report(), None)
    scan(settings, spool, builder, discover(select_sources(("claude-code",)), settings))
    assert sorted(r for _, r, _ in outbox(spool)) == [0, 1]
    spool.queue().settle([leased[0].id], [], [], success=True)
    assert [r for _, r, _ in outbox(spool)] == [1]


def test_oversize_line_is_skipped_and_counted(project: Path, tmp_path: Path) -> None:
    big = assistant("big", "rb", blocks=[{"type": "text", "text": "x" * 5000}])
    (project / "s.jsonl").write_bytes(jsonl(big, assistant("m2", "r2")))
    settings = Settings(home=tmp_path / "st", max_line_bytes=2000)
    spool = Spool(tmp_path / "st")
    report = scan(
        settings,
        spool,
        Builder(spool.ledger, Report(), None),
        discover(select_sources(("claude-code",)), settings),
    )
    assert report.skipped["oversize_line"] == 1
    assert [b["event_id"] for b in calls(spool)] != [] and len(calls(spool)) == 1


def test_claim_leases_and_settle_applies_results(project: Path, tmp_path: Path) -> None:
    (project / "s.jsonl").write_bytes(jsonl(*[assistant(f"m{i}", f"r{i}") for i in range(5)]))
    spool, _ = run_scan(tmp_path / "st")
    rows = spool.queue().claim(limit=3)
    assert (
        len(rows) == 3 and len(spool.queue().claim(limit=10)) == 2
    )  # leased rows are not reclaimed
    spool.queue().settle([rows[0].id], [(rows[1].id, "rejected_by_server")], [rows[2].id], True)
    assert spool.depth() == 4 - 1
    assert spool.counters() == {"quarantine.rejected_by_server": 1}
    assert [r.id for r in spool.queue().claim(limit=10)] == [rows[2].id]
    assert spool.queue().state().last_success_at is not None


class _DiskThatFills:
    """The spool as a queue sees it (`outbox.Store`), on a disk a test can make full."""

    def __init__(self, spool: Spool) -> None:
        self.spool, self.db, self.clock, self.full = spool, spool.db, spool.clock, False

    def flush(self) -> None:
        self.spool.flush()

    def pending_for(self, bit: int) -> int:
        return self.spool.pending_for(bit)

    def bump(self, name: str, n: int) -> None:
        self.spool.bump(name, n)

    @contextlib.contextmanager
    def atomic(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        with self.spool.atomic(durable) as db:
            yield db
            if self.full:  # the commit cannot be written: SQLite rolls it back
                e = sqlite3.OperationalError("database or disk is full")
                e.sqlite_errorname = "SQLITE_FULL"  # type: ignore[attr-defined]
                raise e


def test_a_result_a_full_disk_cannot_record_is_owed_not_sent_again(
    project: Path, tmp_path: Path
) -> None:
    (project / "s.jsonl").write_bytes(jsonl(*[assistant(f"m{i}", f"r{i}") for i in range(5)]))
    spool, _ = run_scan(tmp_path / "st")
    disk = _DiskThatFills(spool)
    queue = SinkQueue(disk, FIRST_SINK, spool.queue().bit)
    rows = queue.claim(limit=3)
    disk.full = True
    assert not queue.settle([rows[0].id], [(rows[1].id, "rejected_by_server")], [rows[2].id], True)
    assert queue.depth() == 3 and spool.pending_for(queue.bit) == 5  # nothing written
    queue.forget_depth()
    assert queue.depth() == 3  # counted again from the table: the owed rows stay out
    again = [r.id for r in queue.claim(limit=10)]
    assert len(again) == 3 and rows[0].id not in again and rows[1].id not in again
    disk.full = False
    assert queue.pay_owed() and not queue.owed
    assert spool.pending_for(queue.bit) == 3
    assert spool.counters() == {"quarantine.rejected_by_server": 1}


def test_leases_of_a_killed_run_are_cleared_on_open(project: Path, tmp_path: Path) -> None:
    (project / "s.jsonl").write_bytes(jsonl(assistant("m1", "r1")))
    spool, _ = run_scan(tmp_path / "st")
    assert len(spool.queue().claim()) == 1
    spool.db.close()  # no clean shutdown
    assert len(Spool(tmp_path / "st").queue().claim()) == 1


def test_stat_fields_past_signed_64_bit_never_crash_the_spool(
    project: Path, tmp_path: Path
) -> None:
    """A far-future mtime (year 2286) or an inode of 2^63 or more fits no SQLite integer."""
    f = project / "s.jsonl"
    f.write_bytes(jsonl(assistant("m1", "r1")))
    os.utime(f, (1e10, 1e10))
    spool, _ = run_scan(tmp_path / "st")
    assert len(calls(spool)) == 1
    # the same file again: nothing new, nothing counted twice
    settings = Settings(home=tmp_path / "st")
    scan(settings, spool, Builder(spool.ledger, Report(), None),
         discover(select_sources(("claude-code",)), settings))  # fmt: skip
    assert len(calls(spool)) == 1
    big = Cursor("/x.jsonl", offset=3, dev=2**64 - 7, ino=2**63 + 5, mtime_ns=2**64)
    with spool.chunk("claude-code", big):
        pass
    back = spool.cursor("/x.jsonl")
    assert back is not None and (back.dev, back.ino) == (big.dev, big.ino)
    assert back.mtime_ns == 2**63 - 1
