"""OpenCode: the real export laid out as OpenCode stores it, each counting rule, the database
read read-only while OpenCode writes, legacy JSON counted once, resume, and the canary."""

from __future__ import annotations

import copy
import hashlib
import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agent_cli.cli import cli
from agent_cli.events import LLM_FIELDS, TOOL_FIELDS, CallFact, ToolFact
from agent_cli.sources.opencode import OpenCode
from agent_cli.sources.opencode import discover as disc
from tests.dryrun import dry_run
from tests.opencode_store import (
    load_export,
    open_db,
    put_message,
    put_part,
    put_session,
    write_db,
    write_legacy,
)

SID = "ses_1fc4b59e2ffexZeA4VcZH8yV68"


def _env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "XDG_DATA_HOME": str(home / "data")}


def _data(home: Path) -> Path:
    return home / "data" / "opencode"


def _read(src: OpenCode, path: Path, skipped: Counter[str] | None = None) -> list[object]:
    sk = skipped if skipped is not None else Counter()
    return [f for c in src.read(str(path), None, sk, 1 << 20) for f in c.facts]


def _calls(facts: list[object]) -> list[CallFact]:
    return [f for f in facts if isinstance(f, CallFact)]


def _tools(facts: list[object]) -> list[ToolFact]:
    return [f for f in facts if isinstance(f, ToolFact)]


def _truth(export: dict[str, Any]) -> dict[str, int]:
    """Hand rule, recomputed from the export with the stdlib: output = output + reasoning."""
    t = Counter[str]()
    for m in export["messages"]:
        i = m["info"]
        if i["role"] != "assistant":
            continue
        k = i["tokens"]
        t["calls"] += 1
        t["input_tokens"] += k["input"]
        t["output_tokens"] += k["output"] + k["reasoning"]
        t["reasoning_tokens"] += k["reasoning"]
        t["cache_read_tokens"] += k["cache"]["read"]
        t["cache_creation_tokens"] += k["cache"]["write"]
        for p in m["parts"]:
            if p["type"] == "tool":
                t["tools"] += 1
                t["tool_errors"] += p["state"]["status"] == "error"
    return dict(t)


def _sums(calls: list[CallFact], tools: list[ToolFact]) -> dict[str, int]:
    return {
        "calls": len(calls),
        "input_tokens": sum(c.usage.input_tokens for c in calls),
        "output_tokens": sum(c.usage.output_tokens for c in calls),
        "reasoning_tokens": sum(c.usage.reasoning_tokens for c in calls),
        "cache_read_tokens": sum(c.usage.cache_read_tokens for c in calls),
        "cache_creation_tokens": sum(c.usage.cache_creation_tokens for c in calls),
        "tools": len(tools),
        "tool_errors": sum(t.status == "error" for t in tools),
    }


# -- the real export, as a database and as legacy files ---------------------------------------


def test_real_export_from_the_database_matches_hand_totals(tmp_path: Path) -> None:
    export = load_export()
    db = _data(tmp_path) / "opencode.db"
    write_db(db, export)
    facts = _read(OpenCode(), db)
    calls, tools = _calls(facts), _tools(facts)
    truth = _truth(export)
    assert truth["calls"] == 11 and truth["tools"] == 10 and truth["tool_errors"] == 1
    assert _sums(calls, tools) == truth
    # the export's own `total` is input + output + reasoning + cache: ours equals it
    totals = [m["info"]["tokens"]["total"] for m in export["messages"] if "tokens" in m["info"]]
    assert [c.usage.total for c in calls] == totals
    first = calls[0]
    assert (first.model, first.provider, first.session_id) == ("big-pickle", "opencode", SID)
    assert first.timestamp == "2026-05-07T18:30:31.278Z" and first.duration_ms == 4015
    assert first.context.agent_version == "1.14.41"
    assert [c.call_index for c in calls] == list(range(11))
    assert {c.turn_index for c in calls} == {1}
    assert all(c.cost_usd is None for c in calls)  # OpenCode recorded 0 (a free model)
    err = [t for t in tools if t.status == "error"]
    assert [(t.tool_name, t.error_code) for t in err] == [("read", "error")]
    task = next(t for t in tools if t.tool_name == "task")
    assert task.duration_ms == 1778178667804 - 1778178661322


def test_real_export_from_legacy_files_gives_the_same_events(tmp_path: Path) -> None:
    export = load_export()
    write_db(tmp_path / "a" / "opencode.db", export)
    write_legacy(tmp_path / "b", export)
    src = OpenCode()
    from_db = _read(src, tmp_path / "a" / "opencode.db")
    from_files = _read(src, tmp_path / "b" / "storage" / "message" / SID)
    assert from_db == from_files


def test_database_and_legacy_copy_count_once(tmp_path: Path) -> None:
    export = load_export()
    write_db(_data(tmp_path) / "opencode.db", export)
    write_legacy(_data(tmp_path), export)
    run = dry_run(_env(tmp_path))
    assert len(run.calls) == 11 and len(run.tools) == 10
    assert len({e["event_id"] for e in run.calls}) == 11
    assert sum(e["output_tokens"] for e in run.calls) == _truth(export)["output_tokens"]
    assert {e["agent"] for e in run.events} == {"opencode"}


# -- counting rules ------------------------------------------------------------------------------


def _one(tokens: dict[str, Any], **info: Any) -> dict[str, Any]:
    export = load_export()
    m = copy.deepcopy(export["messages"][1])
    m["info"]["tokens"] = tokens
    m["info"].update(info)
    for p in m["parts"]:  # the step-finish part holds the same tokens and cost
        if p["type"] == "step-finish":
            p["tokens"] = tokens
            p["cost"] = info.get("cost", p["cost"])
    export["messages"] = [export["messages"][0], m]
    return export


def test_older_accounting_with_reasoning_inside_output_is_not_added_twice(tmp_path: Path) -> None:
    # total = input + output + cache: this output already holds its reasoning
    tokens = {"total": 1600, "input": 1000, "output": 500, "reasoning": 200,
              "cache": {"read": 100, "write": 0}}  # fmt: skip
    write_db(tmp_path / "o.db", _one(tokens))
    (c,) = _calls(_read(OpenCode(), tmp_path / "o.db"))
    assert (c.usage.output_tokens, c.usage.reasoning_tokens) == (500, 200)
    assert c.usage.cache_read_tokens == 100 and c.usage.input_tokens == 1000


def test_agent_cost_and_cache_write(tmp_path: Path) -> None:
    tokens = {"total": 1900, "input": 1000, "output": 500, "reasoning": 0,
              "cache": {"read": 100, "write": 300}}  # fmt: skip
    write_db(tmp_path / "c.db", _one(tokens, cost=0.0123))
    (c,) = _calls(_read(OpenCode(), tmp_path / "c.db"))
    assert c.cost_usd == 0.0123 and c.usage.cache_creation_tokens == 300


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ({"name": "APIError", "data": {"message": "x", "statusCode": 429}}, "rate_limit"),
        ({"name": "APIError", "data": {"message": "x", "statusCode": 500}}, "server_error"),
        ({"name": "ProviderAuthError", "data": {"providerID": "a", "message": "x"}}, "auth"),
        ({"name": "ContextOverflowError", "data": {"message": "x"}}, "context_overflow"),
        ({"name": "UnknownError", "data": {"message": "x"}}, None),
    ],
)
def test_api_errors(tmp_path: Path, error: dict[str, Any], code: str | None) -> None:
    zero = {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}}
    export = _one(zero, error=error)
    del export["messages"][1]["info"]["time"]["completed"]
    m = export["messages"][1]  # the request failed: the step never finished
    m["parts"] = [p for p in m["parts"] if p["type"] != "step-finish"]
    write_db(tmp_path / "e.db", export)
    (c,) = _calls(_read(OpenCode(), tmp_path / "e.db"))
    assert (c.status, c.error_code, c.output_final) == ("error", code, True)


def test_fork_copies_are_not_counted(tmp_path: Path) -> None:
    """A fork copies messages with new ids (made now) but the original time.created."""
    export = load_export()
    write_db(tmp_path / "f.db", export)
    fork = copy.deepcopy(export)
    fork["info"]["id"] = "ses_forked"
    con = open_db(tmp_path / "f.db")
    put_session(con, fork["info"])
    for n, m in enumerate(fork["messages"]):
        i = m["info"]
        later = i["time"]["created"] + 3_600_000  # forked an hour later
        i["id"] = "msg_%012x" % (((later % (1 << 36)) << 12) + n + 1) + "Forkcopy00000"
        i["sessionID"] = "ses_forked"
        put_message(con, i)
    con.close()
    sk: Counter[str] = Counter()
    calls = _calls(_read(OpenCode(), tmp_path / "f.db", sk))
    assert len(calls) == 11 and {c.session_id for c in calls} == {SID}
    assert sk["fork_copy"] == 11


def test_subagent_session(tmp_path: Path) -> None:
    export = load_export()
    export["info"]["parentID"] = "ses_parent"
    for m in export["messages"]:
        m["info"]["agent"] = "explore"
    write_db(tmp_path / "s.db", export)
    calls = _calls(_read(OpenCode(), tmp_path / "s.db"))
    assert {(c.is_subagent, c.parent_session_id, c.agent_id) for c in calls} == {
        (True, "ses_parent", "explore")
    }


# -- the database while OpenCode writes it ------------------------------------------------------


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_reading_never_changes_the_database(tmp_path: Path) -> None:
    db = tmp_path / "opencode.db"
    write_db(db, load_export())
    before, stat = _digest(db), disc.db_stat(str(db))
    assert len(_calls(_read(OpenCode(), db))) == 11
    assert _digest(db) == before
    wal = tmp_path / "opencode.db-wal"  # SQLite's own side file: a reader leaves it empty
    assert not wal.exists() or wal.stat().st_size == 0
    assert disc.db_stat(str(db)) == stat  # so the next scan does not even open it


def test_growing_message_is_a_revision_and_old_rows_are_not_reread(tmp_path: Path) -> None:
    export = load_export()
    db = tmp_path / "opencode.db"
    first = export["messages"][0]
    live = copy.deepcopy(export["messages"][1]["info"])
    export["messages"] = [first, export["messages"][2]]
    write_db(db, export)
    src, sk = OpenCode(), Counter[str]()
    con = open_db(db)
    # OpenCode starts the next step: an open message with no usage yet
    step = copy.deepcopy(live)
    del step["time"]["completed"]
    step["tokens"] = {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}}
    put_message(con, step, updated=step["time"]["created"])
    chunks = list(src.read(str(db), None, sk, 1 << 20))
    cur = chunks[-1].cursor
    assert len(_calls([f for c in chunks for f in c.facts])) == 1 and sk["message_in_progress"]
    # the step streams: tokens but no completion yet, then done
    mid = copy.deepcopy(step)
    mid["tokens"] = dict(live["tokens"], output=10)
    put_message(con, mid, updated=step["time"]["created"])  # even without a newer stamp
    chunks = list(src.read(str(db), cur, sk, 1 << 20))
    # asked for again: the open message, and the row at the mark (a duplicate, same rank)
    again = {c.event_id: c for c in _calls([f for c in chunks for f in c.facts])}
    assert len(again) == 2
    c1 = next(c for c in again.values() if not c.output_final)
    cur = chunks[-1].cursor
    put_message(con, live, updated=live["time"]["completed"] + 1)
    facts = [f for c in src.read(str(db), cur, sk, 1 << 20) for f in c.facts]
    last = {c.event_id: c for c in _calls(facts)}
    assert last.keys() == again.keys()  # nothing older than the mark is read again
    c2 = last[c1.event_id]
    assert c2.event_id == c1.event_id and c2.rank > c1.rank and c2.output_final
    assert c2.usage.output_tokens == live["tokens"]["output"] + live["tokens"]["reasoning"]
    con.close()


def test_busy_database_is_left_for_later_never_a_crash(tmp_path: Path) -> None:
    db = tmp_path / "opencode.db"
    write_db(db, load_export())
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode = DELETE")  # a writer holding an exclusive lock
    con.execute("BEGIN EXCLUSIVE")
    sk: Counter[str] = Counter()
    assert list(OpenCode(busy_ms=10).read(str(db), None, sk, 1 << 20)) == []
    assert sk == Counter(opencode_database_unreadable=1)
    con.execute("COMMIT")
    con.close()
    assert len(_calls(_read(OpenCode(busy_ms=10), db))) == 11


def test_uncommitted_writes_are_not_seen_and_do_not_block(tmp_path: Path) -> None:
    export = load_export()
    db = tmp_path / "opencode.db"
    write_db(db, export)
    con = open_db(db)
    con.execute("BEGIN IMMEDIATE")  # OpenCode mid-transaction (WAL: readers go on)
    ghost = copy.deepcopy(export["messages"][1]["info"])
    ghost["id"] = "msg_e03b4a66e001ghostghostgh"
    put_message(con, ghost)
    assert len(_calls(_read(OpenCode(busy_ms=10), db))) == 11
    con.execute("ROLLBACK")
    con.close()


def test_resume_from_a_chunk_in_the_middle(tmp_path: Path) -> None:
    db = tmp_path / "opencode.db"
    write_db(db, load_export())
    src = OpenCode(chunk_rows=4)
    sk: Counter[str] = Counter()
    it = iter(src.read(str(db), None, sk, 1 << 20))
    first = next(it)
    it.close()  # stopped after one chunk, as a crash or a stop would
    assert len(_calls(first.facts)) == 4 and first.cursor.size == 0  # mid-way: not "seen"
    rest = [f for c in src.read(str(db), first.cursor, sk, 1 << 20) for f in c.facts]
    ids = [c.event_id for c in _calls(first.facts)] + [c.event_id for c in _calls(rest)]
    assert len(set(ids)) == 11
    assert set(ids) == {c.event_id for c in _calls(_read(OpenCode(), db))}


# -- skips ------------------------------------------------------------------------------------


def test_bad_input_is_counted_never_raised(tmp_path: Path) -> None:
    db = tmp_path / "opencode.db"
    write_db(db, load_export())
    con = open_db(db)
    con.execute("INSERT INTO message VALUES ('msg_bad', ?, 1, 9e15, '{not json')", (SID,))
    con.close()
    sk: Counter[str] = Counter()
    assert len(_calls(_read(OpenCode(), db, sk))) == 11
    assert sk == Counter(unrecognized_row=1)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    sk.clear()
    assert _read(OpenCode(), other, sk) == [] and sk == Counter(not_an_opencode_database=1)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    sk.clear()
    assert _read(OpenCode(), junk, sk) == [] and sk == Counter(opencode_database_unreadable=1)
    legacy = tmp_path / "l"
    write_legacy(legacy, load_export())
    (legacy / "storage" / "message" / SID / "msg_zz.json").write_bytes(b"\xff{")
    sk.clear()
    assert len(_calls(_read(OpenCode(), legacy / "storage" / "message" / SID, sk))) == 11
    assert sk == Counter(unrecognized_message_file=1)


# -- discovery --------------------------------------------------------------------------------


def test_discovery_on_every_platform(tmp_path: Path) -> None:
    home = tmp_path
    env = {"HOME": str(home)}
    assert disc.roots(env, "linux") == [home / ".local" / "share" / "opencode"]
    assert disc.roots(env, "darwin")[1] == home / "Library" / "Application Support" / "opencode"
    win = {"HOME": str(home), "LOCALAPPDATA": str(home / "L"), "APPDATA": str(home / "R")}
    assert disc.roots(win, "win32") == [
        home / ".local" / "share" / "opencode", home / "L" / "opencode", home / "R" / "opencode"
    ]  # fmt: skip
    assert disc.roots({**env, "XDG_DATA_HOME": str(home / "x")}, "darwin")[0] == (
        home / "x" / "opencode"
    )
    profile = {"USERPROFILE": str(home / "u")}  # Windows without HOME: Node's os.homedir()
    assert disc.roots(profile, "win32") == [home / "u" / ".local" / "share" / "opencode"]


def test_channel_databases_override_and_order(tmp_path: Path) -> None:
    env = _env(tmp_path)
    data = _data(tmp_path)
    export = load_export()
    for name in ("opencode.db", "opencode-dev.db"):
        write_db(data / name, export)
    write_db(tmp_path / "elsewhere.db", export)
    write_legacy(data, export)
    (data / "notes.db").write_bytes(b"")  # not OpenCode's name
    env["OPENCODE_DB"] = str(tmp_path / "elsewhere.db")
    paths = [f.path for f in OpenCode().discover(env)]
    assert paths == [
        str(tmp_path / "elsewhere.db"), str(data / "opencode-dev.db"), str(data / "opencode.db"),
        str(data / "storage" / "message" / SID),
    ]  # fmt: skip
    rel = {**env, "OPENCODE_DB": "custom.db"}
    assert disc.db_override(rel) == data / "custom.db"
    assert str(data / "custom.db") in OpenCode().where(rel)
    run = dry_run(env)
    assert len(run.calls) == 11  # four copies of one session: counted once


# -- the canary: no content ever leaves ----------------------------------------------------------

CANARY = "CANARY-5e1f-opencode-secret"


def _canary_export() -> dict[str, Any]:
    """The real export with the canary in every content field OpenCode stores."""
    c = CANARY
    export = load_export()
    info = export["info"]
    summary = {"additions": 1, "deletions": 0, "files": 1, "diffs": [c]}
    info.update(title=c, slug=c, directory="/nonexistent/agent-cli-tests/canary", path=c)
    info["summary"] = summary
    for m in export["messages"]:
        i = m["info"]
        i["path"] = {"cwd": "/nonexistent/agent-cli-tests/canary", "root": c}
        if i["role"] == "user":
            i["summary"] = {"title": c, "body": c, "diffs": [c]}
            i["system"] = c
        for p in m["parts"]:
            for key in ("text", "snapshot"):
                if key in p:
                    p[key] = c
            st = p.get("state")
            if st:
                st["input"] = {"filePath": c, "content": c}
                st["title"] = c
                st["metadata"] = {"output": c}
                if st["status"] == "error":
                    st["error"] = c
                else:
                    st["output"] = c
    export["messages"][-1]["info"]["error"] = {"name": "APIError",
                                               "data": {"message": c, "statusCode": 500,
                                                        "responseBody": c}}  # fmt: skip
    return export


def test_canary_never_leaves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    export = _canary_export()
    data = tmp_path / "xdg" / "opencode"
    write_db(data / "opencode.db", export)
    write_legacy(data, export)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    result = CliRunner().invoke(cli, ["start", "--once", "--dry-run", "--agent", "opencode"])
    assert result.exit_code == 0, result.output
    assert CANARY not in result.stdout
    assert CANARY not in result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    # the last message's step finished, then its next request failed: one error call more
    assert sum(e["kind"] == "llm_call" for e in events) == 12
    assert sum(e["kind"] == "tool_call" for e in events) == 10
    assert any(e.get("error_code") == "server_error" for e in events)
    for e in events:
        assert tuple(e) == (LLM_FIELDS if e["kind"] == "llm_call" else TOOL_FIELDS)
    state = tmp_path / "state"  # AGENT_CLI_HOME (conftest): cursors and their states
    for p in (p for p in state.rglob("*") if p.is_file()):
        assert CANARY.encode() not in p.read_bytes(), p


def test_dry_run_summary_names_opencode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_db(tmp_path / ".local" / "share" / "opencode" / "opencode.db", load_export())
    monkeypatch.setenv("HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["start", "--once", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "opencode" in result.stderr
    assert sum('"agent":"opencode"' in line for line in result.stdout.splitlines()) == 21


def test_retry_parts_are_error_calls_in_both_stores(tmp_path: Path) -> None:
    export = load_export()
    m = export["messages"][1]
    retry = {
        "id": "prt_e03b4b61f001retryretryre",
        "sessionID": SID,
        "messageID": m["info"]["id"],
        "type": "retry",
        "attempt": 1,
        "error": {"name": "APIError",
                  "data": {"message": "overloaded", "statusCode": 529, "isRetryable": True}},
        "time": {"created": m["info"]["time"]["created"] + 5},
    }  # fmt: skip
    m["parts"].insert(1, retry)
    write_db(tmp_path / "r.db", export)
    write_legacy(tmp_path / "l", export)
    src = OpenCode()
    for facts in (
        _read(src, tmp_path / "r.db"),
        _read(src, tmp_path / "l" / "storage" / "message" / SID),
    ):
        errors = [c for c in _calls(facts) if c.status == "error"]
        assert len(_calls(facts)) == 12
        assert [(e.error_code, e.usage.total, e.model) for e in errors] == [
            ("overloaded", 0, "big-pickle")
        ]
        assert errors[0].timestamp == "2026-05-07T18:30:31.283Z"


# -- the synthetic history: reproduced exactly ---------------------------------------------------


def test_synthetic_history_matches_its_truth(tmp_path: Path) -> None:
    from tests.synth.common import Pools, Truth
    from tests.synth.opencode import OpenCodeGen

    home = tmp_path / "home"
    truth = Truth()
    OpenCodeGen(home, 300_000, 7, None, truth, Pools(7), 0.05, False).run()
    for pattern in ("fork_copy", "open_message", "session_both", "session_legacy",
                    "multi_step_message"):  # fmt: skip
        assert truth.patterns.get(f"opencode.{pattern}", 0) > 0, pattern
    run = dry_run({"HOME": str(home)})
    got: dict[str, Counter[str]] = {}
    for e in run.calls:
        row = got.setdefault(f"opencode|{e['model']}|{e['timestamp'][:10]}", Counter())
        row["calls"] += 1
        row["error_calls"] += e["status"] == "error"
        for f in ("input_tokens", "output_tokens", "cache_read_tokens",
                  "cache_creation_tokens", "reasoning_tokens"):  # fmt: skip
            row[f] += e[f]
    want = {k: Counter({f: v for f, v in row.items() if v}) for k, row in truth.llm.items()}
    assert {k: +v for k, v in got.items()} == want
    tools: dict[str, Counter[str]] = {}
    for e in run.tools:
        t = tools.setdefault(f"opencode|{e['tool_name']}", Counter())
        t["calls"] += 1
        t["errors"] += e["status"] == "error"
    assert {k: +v for k, v in tools.items()} == {
        k: Counter({f: v for f, v in row.items() if v}) for k, row in truth.tools.items()
    }


def test_tool_states_rejections_and_running_tools(tmp_path: Path) -> None:
    export = load_export()
    tools = [p for m in export["messages"] for p in m["parts"] if p["type"] == "tool"]
    failed = next(p for p in tools if p["state"]["status"] == "error")
    failed["state"]["error"] = "The user rejected permission to use this specific tool call."
    running = tools[0]
    running["state"] = {"status": "running", "input": {}, "time": {"start": 1778178635049}}
    write_db(tmp_path / "t.db", export)
    write_legacy(tmp_path / "l", export)
    src = OpenCode()
    for facts in (
        _read(src, tmp_path / "t.db"),
        _read(src, tmp_path / "l" / "storage" / "message" / SID),
    ):
        got = _tools(facts)
        assert len(got) == 9  # the running tool waits for its result
        assert [(t.tool_name, t.error_code) for t in got if t.status == "error"] == [
            ("read", "rejected")
        ]


def test_a_message_of_several_steps_is_one_call_per_step(tmp_path: Path) -> None:
    """Older builds ran many steps in one message: its tokens are the last step's
    (`tokens = usage.tokens`), its cost their sum; the step-finish parts hold each step."""
    export = load_export()
    user, *steps = export["messages"][:4]
    merged = copy.deepcopy(steps[0])
    merged["info"]["tokens"] = steps[-1]["info"]["tokens"]
    merged["info"]["time"]["completed"] = steps[-1]["info"]["time"]["completed"]
    merged["info"]["cost"] = 0.03
    merged["parts"] = []
    for n, s in enumerate(steps):
        for p in s["parts"]:
            p = dict(p, messageID=merged["info"]["id"])
            if p["type"] == "step-finish":
                p["cost"] = 0.01
            merged["parts"].append(p)
        assert merged["parts"][-1]["type"] == "step-finish", n
    export["messages"] = [user, merged]
    write_db(tmp_path / "m.db", export)
    write_legacy(tmp_path / "l", export)
    want = Counter[str]()
    for s in steps:
        k = s["info"]["tokens"]
        want["output_tokens"] += k["output"] + k["reasoning"]
        want["input_tokens"] += k["input"]
        want["cache_read_tokens"] += k["cache"]["read"]
    src = OpenCode()
    for facts in (
        _read(src, tmp_path / "m.db"),
        _read(src, tmp_path / "l" / "storage" / "message" / SID),
    ):
        calls = _calls(facts)
        assert len(calls) == 3 and len({c.event_id for c in calls}) == 3
        got = Counter[str]()
        for c in calls:
            got["output_tokens"] += c.usage.output_tokens
            got["input_tokens"] += c.usage.input_tokens
            got["cache_read_tokens"] += c.usage.cache_read_tokens
        assert got == want
        assert [c.cost_usd for c in calls] == [0.01, 0.01, 0.01]
        assert calls[0].timestamp < calls[1].timestamp < calls[2].timestamp
        # each tool belongs to the step it ran in
        assert [t.call_event_id for t in _tools(facts)] == [c.event_id for c in calls]


# -- shipped for real: across processes, while OpenCode writes -----------------------------------


def test_shipping_across_runs_counts_each_call_once_with_its_growth(
    tmp_path: Path, isolated_home: Path
) -> None:
    """Two `start --once` runs against the reference receiver: the cursor state (high-water
    mark and open ids) lives in the spool between them; OpenCode finishes a message and adds
    one in between; the receiver ends with every call once, at its final usage."""
    from tests.test_e2e import Receiver, agent, ship_env

    export = load_export()
    db = isolated_home / ".local" / "share" / "opencode" / "opencode.db"
    last = copy.deepcopy(export["messages"][-1])
    final = copy.deepcopy(export["messages"][-2])
    export["messages"] = export["messages"][:-2]
    write_db(db, export)
    con = open_db(db)
    open_step = copy.deepcopy(final["info"])
    del open_step["time"]["completed"]
    open_step["tokens"] = {
        "input": 0,
        "output": 0,
        "reasoning": 0,
        "cache": {"read": 0, "write": 0},
    }
    put_message(con, open_step, updated=open_step["time"]["created"])
    with Receiver(tmp_path / "rx") as rx:
        env = ship_env(rx)
        p = agent(["start", "--once"], env)
        assert p.returncode == 0, p.stderr
        assert len([e for e in rx.events().values() if e["kind"] == "llm_call"]) == 9
        # OpenCode finishes the open message and writes the next one
        put_message(con, final["info"], updated=final["info"]["time"]["completed"])
        for part in final["parts"]:
            put_part(con, part, final["info"]["time"]["completed"])
        put_message(con, last["info"])
        for part in last["parts"]:
            put_part(con, part, last["info"]["time"]["completed"])
        con.close()
        p = agent(["start", "--once"], env)
        assert p.returncode == 0, p.stderr
        calls = [e for e in rx.events().values() if e["kind"] == "llm_call"]
    full = load_export()
    assert len(calls) == 11
    assert sum(e["output_tokens"] for e in calls) == _truth(full)["output_tokens"]
    assert sum(e["input_tokens"] for e in calls) == _truth(full)["input_tokens"]


def test_canary_never_reaches_the_spool_or_the_receiver(
    tmp_path: Path, isolated_home: Path
) -> None:
    from tests.test_e2e import Receiver, agent, ship_env

    export = _canary_export()
    data = isolated_home / ".local" / "share" / "opencode"
    write_db(data / "opencode.db", export)
    write_legacy(data, export)
    with Receiver(tmp_path / "rx") as rx:
        p = agent(["start", "--once"], ship_env(rx))
        assert p.returncode == 0, p.stderr
        assert len(rx.events()) == 22
    assert CANARY not in p.stdout and CANARY not in p.stderr
    # the receiver is stopped: what it stored (the HTTP bodies) and the spool are on disk
    for folder in (tmp_path / "rx", tmp_path / "state"):
        for f in (f for f in folder.rglob("*") if f.is_file()):
            assert CANARY.encode() not in f.read_bytes(), f
