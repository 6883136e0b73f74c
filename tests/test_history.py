"""The history table: written with the outbox in one transaction, rolled back with it, kept
after delivery, revisions replacing rows, retention, and only allow-listed fields."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from agent_cli.config import Settings
from agent_cli.history import COLUMNS, prune
from agent_cli.prepare import Builder, Report
from agent_cli.scan import discover, scan, select_sources
from agent_cli.sources.claude_code import ClaudeReader
from agent_cli.spool import Spool
from agent_cli.tail import read_chunks
from tests.claude_lines import assistant, jsonl


def counts(spool: Spool) -> tuple[int, int]:
    out = spool.db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    hist = spool.db.execute("SELECT count(*) FROM history").fetchone()[0]
    return out, hist


def test_a_voided_group_takes_its_history_rows_and_names_with_it(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(jsonl(*(assistant(f"m{i}", f"r{i}", out=i + 1) for i in range(10))))
    spool = Spool(tmp_path / "st")
    builder = Builder(spool.ledger, Report(), None)
    skipped: Counter[str] = Counter()
    reader = lambda s: ClaudeReader(str(path), s, skipped)  # noqa: E731
    (c,) = read_chunks(str(path), None, reader, skipped, max_line=1 << 20)
    with pytest.raises(RuntimeError), spool.chunk("claude-code", c.cursor) as events:
        events.extend(builder.build(c.facts))
        raise RuntimeError("killed before the commit")
    assert counts(spool) == (0, 0)
    assert spool.db.execute("SELECT count(*) FROM hnames").fetchone()[0] == 0
    builder = Builder(spool.ledger, Report(), None)
    with spool.chunk("claude-code", c.cursor) as events:  # read again after the "restart"
        events.extend(builder.build(c.facts))
    spool.flush()
    assert counts(spool) == (10, 10)
    # the names the voided group interned were not kept by the cache: every id resolves
    missing = spool.db.execute(
        "SELECT count(*) FROM history WHERE agent NOT IN (SELECT id FROM hnames)"
    ).fetchone()[0]
    assert missing == 0


def test_delivery_keeps_the_history(tmp_path: Path, isolated_home: Path) -> None:
    p = isolated_home / ".claude" / "projects" / "-p"
    p.mkdir(parents=True)
    (p / "s.jsonl").write_bytes(jsonl(*(assistant(f"m{i}", f"r{i}") for i in range(5))))
    spool = Spool(tmp_path / "st")
    settings = Settings(home=tmp_path / "st")
    scan(settings, spool, Builder(spool.ledger, Report(), None),
         discover(select_sources(("claude-code",)), settings))  # fmt: skip
    q = spool.queue()
    rows = q.claim()
    q.settle([r.id for r in rows], [], [], True)
    assert counts(spool) == (0, 5)


def test_a_grown_call_replaces_its_row(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(jsonl(assistant("m1", "r1", out=3)))
    spool = Spool(tmp_path / "st")
    builder = Builder(spool.ledger, Report(), None)
    skipped: Counter[str] = Counter()

    def read(cursor: object) -> None:
        for c in read_chunks(str(path), cursor, lambda s: ClaudeReader(str(path), s, skipped),
                             skipped, max_line=1 << 20):  # fmt: skip
            with spool.chunk("claude-code", c.cursor) as events:
                events.extend(builder.build(c.facts))
        spool.flush()

    read(None)
    with path.open("ab") as f:
        f.write(jsonl(assistant("m1", "r1", out=90)))
    read(spool.cursor(str(path)))
    got = spool.db.execute("SELECT revision, output FROM history").fetchall()
    assert got == [(1, 90)]


def test_retention_deletes_only_older_rows(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "st")
    now = 1_800_000_000_000
    bodies = [
        (i, json.dumps({"kind": "llm_call", "timestamp": ts, "agent": "a"}).encode())
        for i, ts in enumerate(["2026-01-01T00:00:00.000Z", "2027-01-14T00:00:00.000Z"])
    ]
    with spool.atomic():
        spool.history.add(bodies)
        assert prune(spool.db, None, now) == 0
        assert prune(spool.db, 30, now) == 1
    assert spool.db.execute("SELECT ekey FROM history").fetchall() == [(1,)]


def test_history_columns_are_allow_listed_fields_only() -> None:
    from agent_cli.events import LLM_FIELDS, TOOL_FIELDS

    renamed = {"ekey": "event_id", "ts": "timestamp", "session": "session_id",
               "parent_session": "parent_session_id", "input": "input_tokens",
               "output": "output_tokens", "cache_read": "cache_read_tokens",
               "cache_creation": "cache_creation_tokens", "cache_1h": "cache_creation_1h_tokens",
               "reasoning": "reasoning_tokens", "call_key": "call_event_id"}  # fmt: skip
    assert {renamed.get(c, c) for c in COLUMNS} <= set(LLM_FIELDS) | set(TOOL_FIELDS)
