"""The spool's ledger on a first backfill: no lookup of keys that cannot be in the table, the
group's decisions written at its commit, and a rolled-back group forgotten.

Which statements run is read with SQLite's own trace callback on the spool's connection.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_cli.cursor import Cursor
from agent_cli.ledger import DUPLICATE, FIRST, Emit, SqliteStore
from agent_cli.spool import Spool


def traced(spool: Spool) -> list[str]:
    seen: list[str] = []
    spool.db.set_trace_callback(seen.append)
    return seen


def lookups(statements: list[str]) -> list[str]:
    return [s for s in statements if "FROM calls WHERE" in s]


def chunk(spool: Spool, n: int, offers: list[tuple[int, int]]) -> list[object]:
    """Offer calls (key, rank) in one chunk of file `n`; return the ledger's decisions."""
    out = []
    with spool.chunk("claude-code", Cursor(f"/f{n}", offset=n)):
        spool.ledger.prefetch([k for k, _ in offers])
        for key, rank in offers:
            out.append(spool.ledger.offer_call(key, rank, None, False))
    return out


def test_a_first_backfill_looks_up_only_keys_it_wrote(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    statements = traced(spool)
    assert chunk(spool, 1, [(1, 5), (2, 5)]) == [FIRST, FIRST]
    assert lookups(statements) == []  # an empty table: nothing to find
    spool.flush()
    assert chunk(spool, 2, [(3, 1), (1, 5), (2, 9)]) == [FIRST, DUPLICATE, Emit(1)]
    found = lookups(statements)
    assert len(found) == 1 and "3" not in found[0].split("IN")[1]  # only keys 1 and 2
    spool.flush()
    assert spool.db.execute("SELECT key, rank, revision FROM calls ORDER BY key").fetchall() == [
        (1, 5, 0),
        (2, 9, 1),
        (3, 1, 0),
    ]


def test_decisions_of_the_open_group_are_seen_before_they_are_written(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    statements = traced(spool)
    chunk(spool, 1, [(7, 1)])
    assert not [s for s in statements if "INSERT OR REPLACE INTO calls" in s]  # not yet
    assert chunk(spool, 2, [(7, 1), (7, 2)]) == [DUPLICATE, Emit(1)]
    spool.flush()
    assert spool.db.execute("SELECT rank, revision FROM calls WHERE key = 7").fetchone() == (2, 1)


def test_a_rolled_back_group_is_not_remembered(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    chunk(spool, 1, [(1, 1)])
    spool.flush()
    chunk(spool, 2, [(2, 1)])
    spool.cursor("/f2")  # a read writes the open group's rows (not committed)
    with pytest.raises(RuntimeError), spool.chunk("claude-code", Cursor("/f3")):
        raise RuntimeError("the process dies here")  # the whole group rolls back
    assert spool.cursor("/f2") is None
    assert chunk(spool, 2, [(2, 1), (1, 1)]) == [FIRST, DUPLICATE]  # read again: new again
    spool.flush()


def test_a_ledger_that_was_not_empty_asks_the_table(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    chunk(first, 1, [(1, 1)])
    first.close()
    spool = Spool(tmp_path)
    statements = traced(spool)
    assert chunk(spool, 2, [(5, 1), (1, 1)]) == [FIRST, DUPLICATE]
    assert len(lookups(statements)) == 1  # both keys, in one statement
    spool.close()


def test_false_positives_of_the_filter_cost_lookups_never_decisions(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.ledger_store = store = SqliteStore(spool.db, filter_bits=1)  # holds every key
    spool.ledger.store = store
    assert chunk(spool, 1, [(1, 1), (2, 1), (3, 1)]) == [FIRST, FIRST, FIRST]
    spool.flush()
    statements = traced(spool)
    assert chunk(spool, 2, [(9, 1), (2, 1), (3, 2)]) == [FIRST, DUPLICATE, Emit(1)]
    assert len(lookups(statements)) == 1  # the filter said "maybe": the table was asked
    spool.flush()
