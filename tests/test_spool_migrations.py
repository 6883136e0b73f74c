"""Spool migrations: a spool written by the release before them upgrades without losing or
re-sending anything; steps run once, each in its own transaction; a newer spool is refused.

`tests/fixtures/spool/spool-v1.sqlite` was written by commit 85a975b (see SOURCES.md there): 44
events delivered, 18 queued. Extra steps reach `migrate` through its `migrations` argument.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agent_cli.errors import SpoolError
from agent_cli.migrations import MIGRATIONS, SCHEMA_VERSION, Migration, migrate, version
from agent_cli.spool import Spool
from tests.test_e2e import Receiver, agent, agent_env, no_traceback

FIXTURES = Path(__file__).parent / "fixtures"
RELEASE_SPOOL = FIXTURES / "spool" / "spool-v1.sqlite"
PROJECTS = FIXTURES / "claude" / "projects"
# The transcripts the release spool was made from (make_spool_v1.sh).
RELEASE_FOLDERS = (
    "-Users-dain-workspace-danieldemmel-me-next",  # delivered
    "-home-marco-projects-spotter",  # queued
    "-Users-dain-workspace-claude-code-log",  # queued
)
TABLES = ("outbox", "sources", "calls", "counters", "meta", "quarantine", "sqlite_sequence")
KEY = "k"


def _add_note(db: sqlite3.Connection) -> None:
    """A harmless step 2: a new table and a new column (with a default)."""
    db.execute("CREATE TABLE notes(n INTEGER)")
    db.execute("ALTER TABLE outbox ADD COLUMN note TEXT")


WITH_STEP_2: tuple[Migration, ...] = (*MIGRATIONS, _add_note)


@pytest.fixture
def state(isolated_home: Path) -> Path:
    """A state folder holding a copy of the release's spool (never opened in place)."""
    folder = Path(os.environ["AGENT_CLI_HOME"])
    folder.mkdir(mode=0o700)
    shutil.copyfile(RELEASE_SPOOL, folder / "spool.sqlite")
    return folder


def connect(state: Path) -> sqlite3.Connection:
    return sqlite3.connect(state / "spool.sqlite", isolation_level=None)


def user_version(state: Path) -> int:
    db = connect(state)
    try:
        return version(db)
    finally:
        db.close()


def snapshot(state: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in schema 1's columns (later steps may add columns)."""
    db = connect(state)
    try:
        out = {}
        for table in TABLES:
            cols = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            cols = [c for c in cols if c != "note"]  # the synthetic step's column
            quoted = ", ".join(f'"{c}"' for c in cols)
            out[table] = db.execute(f"SELECT {quoted} FROM {table} ORDER BY 1").fetchall()
        return out
    finally:
        db.close()


def open_spool(state: Path, migrations: Sequence[Migration] = MIGRATIONS) -> Spool:
    return Spool(state, migrations=migrations)


def test_schema_version_counts_the_steps() -> None:
    assert SCHEMA_VERSION == len(MIGRATIONS) >= 1


def test_release_spool_is_what_sources_md_says(state: Path) -> None:
    rows = snapshot(state)
    assert user_version(state) == 1
    assert (len(rows["outbox"]), len(rows["sources"]), len(rows["calls"])) == (18, 7, 89)
    assert [r[0] for r in rows["outbox"]] == list(range(45, 63))
    assert not Path(f"{RELEASE_SPOOL}-wal").exists()  # the committed file was never opened
    assert RELEASE_SPOOL.stat().st_size < 200_000


@pytest.mark.parametrize("migrations", [MIGRATIONS, WITH_STEP_2], ids=["today", "plus_step_2"])
def test_release_spool_upgrades_without_losing_anything(
    state: Path, migrations: tuple[Migration, ...]
) -> None:
    before = snapshot(state)
    spool = open_spool(state, migrations)
    assert spool.schema == len(migrations)
    assert spool.depth() == 18
    spool.close()
    assert user_version(state) == len(migrations)
    assert snapshot(state) == before


def _copy_transcripts(home: Path) -> None:
    for name in RELEASE_FOLDERS:
        shutil.copytree(PROJECTS / name, home / ".claude" / "projects" / name)


def test_upgraded_release_spool_rereads_nothing_and_sends_each_queued_event_once(
    state: Path, isolated_home: Path, tmp_path: Path
) -> None:
    before = snapshot(state)
    queued = {(eid, rev): body for _, _, eid, rev, _, body, *_ in before["outbox"]}
    _copy_transcripts(isolated_home)

    # 1. Re-read with nobody listening. The copies have other paths and inodes than the
    # cursors, so every file is read again from 0: the ledger must make it all duplicates.
    p = agent(
        ["start", "--once", "--drain-timeout", "1"],
        agent_env(SUTRACE_ENDPOINT="http://127.0.0.1:9", SUTRACE_API_KEY=KEY),
    )
    no_traceback(p)
    assert p.returncode == 1, p.stderr  # not delivered: expected
    after = snapshot(state)
    assert user_version(state) == SCHEMA_VERSION
    assert after["outbox"] == before["outbox"]  # nothing new queued, nothing lost
    assert after["calls"] == before["calls"]  # the ledger learnt nothing new
    assert set(before["sources"]) <= set(after["sources"])  # the old cursors are kept
    assert len(after["sources"]) == 2 * len(before["sources"])  # and every copy was read

    # 2. Deliver: exactly the queued events arrive, each once.
    with Receiver(tmp_path / "rx", key=KEY) as rx:
        env = agent_env(SUTRACE_ENDPOINT=rx.url, SUTRACE_API_KEY=KEY)
        p = agent(["start", "--once", "--drain-timeout", "600"], env)
        no_traceback(p)
        assert p.returncode == 0, p.stderr
        got = rx.events()
        assert {(eid, ev.get("revision", 0)) for eid, ev in got.items()} == set(queued)
        requests = rx.stats()["requests"]
        assert sum(r["accepted"] for r in requests) == len(queued)
        assert sum(r["duplicates"] for r in requests) == 0
        assert snapshot(state)["outbox"] == []


def test_extra_step_runs_once(state: Path) -> None:
    runs: list[int] = []

    def step(db: sqlite3.Connection) -> None:
        runs.append(1)
        db.execute("CREATE TABLE notes(n INTEGER)")
        db.execute("INSERT INTO notes VALUES (7)")

    migrations = (*MIGRATIONS, step)
    open_spool(state, migrations).close()
    open_spool(state, migrations).close()
    assert runs == [1]
    assert user_version(state) == 2
    db = connect(state)
    assert db.execute("SELECT n FROM notes").fetchall() == [(7,)]
    db.close()


def test_failing_step_rolls_back_to_the_previous_version(state: Path) -> None:
    before = snapshot(state)

    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done(n INTEGER)")
        db.execute("DELETE FROM outbox")
        raise RuntimeError("step 3 is broken")

    with pytest.raises(RuntimeError, match="step 3 is broken"):
        open_spool(state, (*WITH_STEP_2, broken))
    # step 2 committed on its own; step 3 left nothing behind
    assert user_version(state) == 3 - 1
    db = connect(state)
    tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    assert "notes" in tables and "half_done" not in tables
    assert snapshot(state) == before
    # fixed code resumes from there
    spool = open_spool(state, (*WITH_STEP_2, lambda db: None))
    assert spool.schema == 3 and spool.depth() == 18
    spool.close()


def test_version_0_file_with_the_tables_already_there_is_adopted(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "st")
    spool.set_meta(kept="yes")
    spool.close()
    db = sqlite3.connect(tmp_path / "st" / "spool.sqlite", isolation_level=None)
    db.execute("PRAGMA user_version = 0")  # as if killed before the version was written
    db.close()
    spool = Spool(tmp_path / "st")
    assert spool.schema == SCHEMA_VERSION and spool.meta()["kept"] == "yes"
    spool.close()


def test_migrate_reports_newer_schema_without_touching_it(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "x.sqlite", isolation_level=None)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 4}")
    with pytest.raises(SpoolError) as e:
        migrate(db)
    msg = str(e.value)
    assert "newer agent-cli" in msg and f"schema {SCHEMA_VERSION + 4}" in msg
    assert f"reads up to {SCHEMA_VERSION}" in msg and "\n" not in msg
    assert version(db) == SCHEMA_VERSION + 4
    assert db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    db.close()


def _make_newer(state: Path) -> None:
    db = connect(state)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()


def test_newer_spool_is_refused_by_both_opens(state: Path) -> None:
    _make_newer(state)
    before = snapshot(state)
    for readonly in (False, True):
        with pytest.raises(SpoolError, match="newer agent-cli"):
            Spool(state, readonly=readonly)
    assert snapshot(state) == before and user_version(state) == SCHEMA_VERSION + 1


def test_readonly_open_reads_without_migrating(state: Path) -> None:
    calls: list[int] = []
    spool = Spool(state, readonly=True, migrations=(*MIGRATIONS, lambda db: calls.append(1)))
    assert spool.schema == 1 and spool.depth() == 18
    spool.db.close()
    assert calls == [] and user_version(state) == 1


def test_readonly_open_of_an_unfinished_file_asks_for_a_start(tmp_path: Path) -> None:
    (tmp_path / "st").mkdir()
    sqlite3.connect(tmp_path / "st" / "spool.sqlite").close()  # empty: schema 0
    with pytest.raises(SpoolError, match="run `agent-cli start` once"):
        Spool(tmp_path / "st", readonly=True)


@pytest.mark.parametrize(
    "args", [["start", "--once", "--drain-timeout", "1"], ["status"], ["status", "--json"]]
)
def test_cli_refuses_a_newer_spool_with_one_line(
    state: Path, isolated_home: Path, args: list[str]
) -> None:
    _make_newer(state)
    before = snapshot(state)
    p = agent(args, agent_env(SUTRACE_ENDPOINT="http://127.0.0.1:9", SUTRACE_API_KEY=KEY))
    no_traceback(p)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "newer agent-cli" in lines[0], p.stderr
    assert snapshot(state) == before and user_version(state) == SCHEMA_VERSION + 1
