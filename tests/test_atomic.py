"""Nestable transactions: `atomic(db)` and `Spool.atomic` (BEGIN IMMEDIATE outside, savepoints
inside; an error undoes its own level only)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent_cli.atomic import atomic
from agent_cli.cursor import Cursor
from agent_cli.spool import Spool


class Boom(Exception):
    pass


def names(spool: Spool) -> list[str]:
    return [k for (k,) in spool.db.execute("SELECT k FROM meta ORDER BY k")]


def put(spool: Spool, k: str) -> None:
    spool.db.execute("INSERT INTO meta(k, v) VALUES (?, 'x')", (k,))


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "st")


def test_inner_failure_caught_keeps_the_outer_writes(spool: Spool) -> None:
    with spool.atomic():
        put(spool, "a")
        with pytest.raises(Boom), spool.atomic():
            put(spool, "b")
            raise Boom
        put(spool, "c")
    assert names(spool) == ["a", "c"]
    assert not spool.db.in_transaction


def test_outer_failure_undoes_the_released_inner_levels(spool: Spool) -> None:
    with pytest.raises(Boom), spool.atomic():
        put(spool, "a")
        with spool.atomic():
            put(spool, "b")
            with spool.atomic():
                put(spool, "c")
        raise Boom
    assert names(spool) == []


def test_uncaught_inner_failure_undoes_everything(spool: Spool) -> None:
    with pytest.raises(Boom), spool.atomic():
        put(spool, "a")
        with spool.atomic():
            put(spool, "b")
            raise Boom
    assert names(spool) == []


def test_a_new_transaction_works_after_an_error(spool: Spool) -> None:
    for attempt in range(3):
        with pytest.raises(sqlite3.IntegrityError), spool.atomic():
            put(spool, f"x{attempt}")
            put(spool, f"x{attempt}")  # duplicate primary key
        assert not spool.db.in_transaction
    with spool.atomic():
        put(spool, "ok")
    assert names(spool) == ["ok"]


def test_commits_survive_a_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "st")
    with spool.atomic(), spool.atomic():
        put(spool, "kept")
    spool.close()
    assert names(Spool(tmp_path / "st")) == ["kept"]


def test_failed_commit_is_rolled_back_and_the_connection_reusable(tmp_path: Path) -> None:
    # A deferred foreign key fails at COMMIT, which leaves the transaction open in SQLite.
    db = sqlite3.connect(tmp_path / "db", isolation_level=None)
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("CREATE TABLE p(id INTEGER PRIMARY KEY)")
    db.execute(
        "CREATE TABLE c(id INTEGER PRIMARY KEY, "
        "p INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)"
    )
    with pytest.raises(sqlite3.IntegrityError), atomic(db):
        db.execute("INSERT INTO c(p) VALUES (42)")
    assert not db.in_transaction
    assert db.execute("SELECT count(*) FROM c").fetchone()[0] == 0
    with atomic(db):
        db.execute("INSERT INTO p(id) VALUES (42)")
        db.execute("INSERT INTO c(p) VALUES (42)")
    assert db.execute("SELECT count(*) FROM c").fetchone()[0] == 1
    db.close()


def synchronous(spool: Spool) -> int:
    return int(spool.db.execute("PRAGMA synchronous").fetchone()[0])


def test_durable_false_relaxes_only_the_outermost_commit(spool: Spool) -> None:
    full, normal = 2, 1
    assert synchronous(spool) == full
    with spool.atomic(durable=False):
        assert synchronous(spool) == normal
        with spool.atomic():  # a nested level commits with its outermost
            assert synchronous(spool) == normal
    assert synchronous(spool) == full
    with spool.atomic(), spool.atomic(durable=False):
        assert synchronous(spool) == full
    with pytest.raises(Boom), spool.atomic(durable=False):
        raise Boom
    assert synchronous(spool) == full


def test_outermost_level_first_commits_the_open_group(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "st", group_seconds=float("inf"))  # a slow machine must not flush
    with spool.chunk("claude-code", Cursor("/x.jsonl", offset=3)):
        pass
    assert spool.db.in_transaction  # the group commit is still open
    other = sqlite3.connect(tmp_path / "st" / "spool.sqlite")
    try:
        with spool.atomic():
            put(spool, "a")
            # the group is committed (visible to another connection), the block is not yet
            assert other.execute("SELECT count(*) FROM sources").fetchone()[0] == 1
            assert other.execute("SELECT count(*) FROM meta").fetchone()[0] == 0
        assert other.execute("SELECT count(*) FROM meta").fetchone()[0] == 1
    finally:
        other.close()


def test_transaction_is_the_same_helper(spool: Spool) -> None:
    with spool.transaction(), pytest.raises(Boom), spool.transaction():
        put(spool, "inner")
        raise Boom
    assert names(spool) == []
