"""`SinkQueue.claim` scans from a floor above the rows in flight: released rows, rows held
for later (`not_before`) and new rows must still come oldest first, none twice at once.

Rows are written straight into the outbox so that ids, holds and bodies are exact; the
reference is the rule claim keeps: the oldest ready rows this sink has to send, not leased.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from agent_cli.migrations import FIRST_SINK
from agent_cli.outbox import SinkQueue
from agent_cli.spool import Spool
from tests.test_spool import _DiskThatFills


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def add(
    spool: Spool, n: int, *, hold_until: float = 0.0, size: int = 10, sinks: int = 1
) -> list[int]:
    """Append `n` rows for the sinks in the mask `sinks`; return their ids."""
    with spool.atomic() as db:
        first = int(db.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0])
        ids = []
        for k in range(n):
            cur = db.execute(
                "INSERT INTO outbox(ekey, event_id, revision, agent, body, enqueued_at, "
                "not_before, sinks) VALUES (?, ?, 0, 'claude-code', ?, 0, ?, ?)",
                (first + k + 1, f"e{first + k + 1}", b"x" * size, hold_until, sinks),
            )
            assert cur.lastrowid is not None
            ids.append(cur.lastrowid)
    return ids


def ids(rows: list) -> list[int]:
    return [r.id for r in rows]


def test_released_and_pending_rows_come_back_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "st")
    q = spool.queue()
    a = add(spool, 10)
    first, second = ids(q.claim(limit=3)), ids(q.claim(limit=3))
    assert (first, second) == (a[0:3], a[3:6])
    q.release([a[1]])
    assert q.settle([a[3]], [], [a[4]], success=True)  # delivered one, the other pending
    assert ids(q.claim(limit=10)) == [a[1], a[4], *a[6:10]]
    assert q.claim(limit=10) == []  # everything else is in flight
    assert q.settle(sorted(q.leased), [], [], success=True)
    assert q.claim() == [] and spool.pending_for(q.bit) == 0


def test_a_held_row_passed_over_is_sent_once_ready(tmp_path: Path) -> None:
    clock = Clock()
    spool = Spool(tmp_path / "st", clock=clock)
    q = spool.queue()
    a = add(spool, 2)
    held = add(spool, 1, hold_until=clock.now + 10)
    b = add(spool, 3)
    assert ids(q.claim(limit=3)) == [*a, b[0]]  # the held row is skipped, not lost
    assert ids(q.claim(limit=10)) == b[1:]
    assert q.claim(limit=10) == []
    clock.now += 10
    c = add(spool, 1)
    assert ids(q.claim(limit=10)) == [*held, *c]


def test_a_batch_cut_by_bytes_leaves_the_rest_for_the_next_claim(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "st")
    q = spool.queue()
    a = add(spool, 5, size=40)
    assert ids(q.claim(limit=10, max_bytes=100)) == a[:2]
    assert ids(q.claim(limit=10, max_bytes=100)) == a[2:4]
    assert ids(q.claim(limit=10, max_bytes=100)) == a[4:]


def test_a_full_disk_keeps_owed_rows_out_and_pending_rows_in(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "st")
    disk = _DiskThatFills(spool)
    q = SinkQueue(disk, FIRST_SINK, spool.queue().bit)
    a = add(spool, 6)
    assert ids(q.claim(limit=4)) == a[:4]
    disk.full = True
    assert not q.settle([a[0]], [], [a[1]], success=True)  # owed: a[0] stays leased
    assert ids(q.claim(limit=10)) == [a[1], a[4], a[5]]
    disk.full = False
    assert q.pay_owed() and ids(q.claim(limit=10)) == []


def _reference(spool: Spool, q: SinkQueue, now: float, limit: int) -> list[int]:
    """The oldest ready, unleased rows of this sink (what the old full scan returned)."""
    rows = spool.db.execute(
        "SELECT id FROM outbox WHERE sinks & ? AND not_before <= ? ORDER BY id", (q.bit, now)
    ).fetchall()
    return [rid for (rid,) in rows if rid not in q.leased][:limit]


@pytest.mark.parametrize("seed", [15, 16, 17])
def test_claims_match_a_full_scan_under_random_releases_holds_and_appends(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    clock = Clock()
    spool = Spool(tmp_path / "st", clock=clock)
    q = spool.queue()
    sent: list[int] = []
    for _ in range(400):
        op = rng.random()
        if op < 0.25:
            hold = clock.now + rng.choice([0, 0, 5, 30]) if rng.random() < 0.3 else 0.0
            add(spool, rng.randint(1, 8), hold_until=hold)
        elif op < 0.6:
            limit = rng.randint(1, 6)
            expected = _reference(spool, q, clock.now, limit)
            got = ids(q.claim(limit=limit))
            assert got == expected
            sent.extend(got)
        elif op < 0.85 and q.leased:
            flying = sorted(q.leased)
            done = rng.sample(flying, rng.randint(0, len(flying)))
            back = [r for r in flying if r not in done and rng.random() < 0.5]
            assert q.settle(done, [], back, success=bool(done))
        elif op < 0.92 and q.leased:
            q.release(rng.sample(sorted(q.leased), 1))
        else:
            clock.now += rng.choice([1, 5, 20])
    assert len(sent) > 200


def test_a_row_another_sink_still_needs_stays_for_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "st")
    one, two = spool.attach([FIRST_SINK, "otlp"])
    both = add(spool, 3, sinks=one.bit | two.bit)
    alone = add(spool, 2, sinks=one.bit)
    assert ids(one.claim()) == both + alone
    assert one.settle(both + alone, [], [], success=True)  # some deleted, some updated
    assert spool.pending_for(one.bit) == 0 and spool.pending_for(two.bit) == 3
    assert ids(two.claim()) == both
    assert two.settle(both, [], [], success=True)
    assert spool.rows() == 0
