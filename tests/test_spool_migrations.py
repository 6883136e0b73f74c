"""Spool migrations: a spool written by the release before them upgrades without losing or
re-sending anything; steps run once, each in its own transaction; a newer spool is refused.

`tests/fixtures/spool/spool-v1.sqlite` was written by commit 85a975b (see SOURCES.md there): 44
events delivered, 18 queued. Extra steps reach `migrate` through its `migrations` argument.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agent_cli.errors import SpoolError
from agent_cli.migrations import (
    FIRST_SINK,
    MIGRATIONS,
    SCHEMA_VERSION,
    Migration,
    migrate,
    version,
)
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
# Columns later steps add: schema 2's sink masks, schema 3's --since floors, the synthetic note.
LATER_COLUMNS = {"note", "sinks", "sink", "since"}
# Meta keys later steps add: schema 5 notes when the history started (see `history.create`).
LATER_META = {"history_from"}
# Schema 1's delivery state in `meta`, which schema 2 moves into the `sinks` row of the
# Sutrace sink (column, meta key).
MOVED_META = {
    "failures": "consecutive_failures",
    "backoff_until": "backoff_until",
    "pause_reason": "pause_reason",
    "pause_detail": "pause_detail",
    "last_attempt_at": "last_attempt_at",
    "last_status": "last_status",
    "last_success_at": "last_success_at",
}


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
    """Every row of every table, in schema 1's columns (later steps may add columns), but the
    delivery state schema 2 moves out of `meta` (see `test_schema_2_...`)."""
    db = connect(state)
    try:
        out = {}
        for table in TABLES:
            cols = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            quoted = ", ".join(f'"{c}"' for c in cols if c not in LATER_COLUMNS)
            rows = db.execute(f"SELECT {quoted} FROM {table} ORDER BY 1").fetchall()
            if table == "meta":
                rows = [r for r in rows if r[0] not in {*MOVED_META.values(), *LATER_META}]
            out[table] = rows
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


def test_schema_2_moves_the_delivery_state_into_the_sutrace_sink(state: Path) -> None:
    db = connect(state)
    meta = dict(db.execute("SELECT k, v FROM meta WHERE v IS NOT NULL"))
    db.close()
    assert meta["pause_reason"] == "backoff" and float(meta["backoff_until"]) > 0  # the fixture
    open_spool(state).close()
    db = connect(state)
    try:
        cols = ", ".join(MOVED_META)
        row = db.execute(f"SELECT name, bit, {cols} FROM sinks").fetchall()
        assert [r[:2] for r in row] == [(FIRST_SINK, 1)]
        for key, value in zip(MOVED_META.values(), row[0][2:], strict=True):
            want = meta.get(key)
            assert (value is None and want is None) or str(value) == want or value == float(want)
        left = {k for (k,) in db.execute("SELECT k FROM meta")}
        assert not left & set(MOVED_META.values())
        # every queued row waits for the Sutrace sink, as it did in schema 1
        assert set(db.execute("SELECT sinks FROM outbox")) == {(1,)}
    finally:
        db.close()


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
    # the ledger learnt nothing new but which sidechain calls are copies (schema 4 keeps
    # them, so that an original read later supersedes them): alias rows, flag 0
    assert set(before["calls"]) <= set(after["calls"])
    learnt = set(after["calls"]) - set(before["calls"])
    assert learnt and all(rev == 0 for _, _, rev in learnt)
    db = connect(state)
    assert db.execute("SELECT count(*) FROM copies").fetchone()[0] == len(learnt)
    db.close()
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
    assert user_version(state) == SCHEMA_VERSION + 1
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
    # the steps before committed on their own; the broken one left nothing behind
    assert user_version(state) == len(WITH_STEP_2)
    db = connect(state)
    tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    assert "notes" in tables and "half_done" not in tables
    assert snapshot(state) == before
    # fixed code resumes from there
    spool = open_spool(state, (*WITH_STEP_2, lambda db: None))
    assert spool.schema == len(WITH_STEP_2) + 1 and spool.depth() == 18
    spool.close()


def test_version_0_file_with_the_tables_already_there_is_adopted(tmp_path: Path) -> None:
    # The release before migrations created its tables, then set user_version: a kill in
    # between left schema 1's tables in a version-0 file.
    (tmp_path / "st").mkdir()
    db = sqlite3.connect(tmp_path / "st" / "spool.sqlite", isolation_level=None)
    MIGRATIONS[0](db)
    db.execute("INSERT INTO meta(k, v) VALUES ('kept', 'yes')")
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
    open_spool(state).close()  # a `start` upgraded the release's spool
    calls: list[int] = []
    spool = Spool(state, readonly=True, migrations=(*MIGRATIONS, lambda db: calls.append(1)))
    assert spool.schema == SCHEMA_VERSION and spool.rows() == 18
    spool.db.close()
    assert calls == [] and user_version(state) == SCHEMA_VERSION


def test_readonly_open_of_a_schema_1_spool_asks_for_a_start(state: Path) -> None:
    # status reads each sink's state, which schema 1 did not have: a `start` upgrades it
    with pytest.raises(SpoolError, match="run `agent-cli start` once"):
        Spool(state, readonly=True)
    assert user_version(state) == 1


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


def test_history_step_copies_the_queued_events_and_notes_where_the_history_starts(
    state: Path,
) -> None:
    before = snapshot(state)
    queued = {ekey: body for _, ekey, _, _, _, body, *_ in before["outbox"]}
    open_spool(state).close()
    db = connect(state)
    try:
        rows = dict(db.execute("SELECT ekey, revision FROM history"))
        meta = dict(db.execute("SELECT k, v FROM meta"))
        names = {s for (s,) in db.execute("SELECT s FROM hnames")}
    finally:
        db.close()
    assert set(rows) == set(queued)  # every queued event, once (revisions replaced)
    assert {json.loads(b)["session_id"] for b in queued.values()} <= names
    # the release had delivered 44 events the outbox no longer holds: the report says so
    assert float(meta["history_from"]) > 0


def test_the_otlp_metrics_step_adds_empty_tables_and_keeps_every_row(state: Path) -> None:
    before = snapshot(state)
    open_spool(state).close()
    assert snapshot(state) == before
    db = connect(state)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"otlp_counted", "otlp_series"} <= tables
        assert db.execute("SELECT count(*) FROM otlp_series").fetchone()[0] == 0
    finally:
        db.close()
