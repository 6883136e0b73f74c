"""Gemini CLI: real sessions, one hand-written fixture per counting rule, state and canary.

Expected values never come from the reader: the real sessions are re-parsed here with the
stdlib `json` module, and the hand-written fixtures (fixtures/gemini/rules) carry
hand-computed numbers.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agent_cli.cli import cli
from agent_cli.config import Settings
from agent_cli.enrich import pseudonym
from agent_cli.events import LLM_FIELDS, TOOL_FIELDS, CallFact, ToolFact, event_id
from agent_cli.sources import gemini_cli
from agent_cli.tail import read_chunks
from tests.dryrun import Run, dry_run

FIXTURES = Path(__file__).parent / "fixtures" / "gemini"
REAL = FIXTURES / "real"
RULES = FIXTURES / "rules"
AGENT = "gemini-cli"
MAX_LINE = 32 * 1024 * 1024

S1 = "a1a1a1a1-0000-4000-8000-000000000001"  # alpha: .json + .jsonl twin
SUB = "s2s2s2"  # alpha: nested subagent of S1
S2 = "b2b2b2b2-0000-4000-8000-000000000002"  # beta: arithmetic, rewind, error, zero
S3 = "c3c3c3c3-0000-4000-8000-000000000003"  # gamma: hash folder
S4 = "d4d4d4d4-0000-4000-8000-000000000004"  # delta: malformed, partial
ALPHA = "/nonexistent/agent-cli-tests/alpha"
BETA = "/nonexistent/agent-cli-tests/beta"
GAMMA = "/nonexistent/agent-cli-tests/gamma"
TMP = RULES / ".gemini" / "tmp"
TWIN_JSON = TMP / "alpha" / "chats" / "session-2026-05-01T10-00-a1a1a1a1.json"
TWIN_JSONL = TMP / "alpha" / "chats" / "session-2026-05-01T10-00-a1a1a1a1.jsonl"
SUB_JSONL = TMP / "alpha" / "chats" / S1 / f"{SUB}.jsonl"
BETA_JSONL = TMP / "beta" / "chats" / "session-2026-05-02T09-00-b2b2b2b2.jsonl"
DELTA_JSONL = TMP / "delta" / "chats" / "session-2026-05-04T07-00-d4d4d4d4.jsonl"


# -- helpers ---------------------------------------------------------------------------------


def dry(gemini_home: Path, home: Path) -> Run:
    env = {"HOME": str(home), "GEMINI_CLI_HOME": str(gemini_home)}
    return dry_run(env, Settings(agents=(AGENT,)))


def read_facts(
    path: Path | str, skipped: Counter[str] | None = None, src: gemini_cli.GeminiCli | None = None
) -> list[object]:
    skipped = Counter() if skipped is None else skipped
    facts: list[object] = []
    for chunk in (src or gemini_cli.GeminiCli()).read(str(path), None, skipped, MAX_LINE):
        facts += chunk.facts
    return facts


def calls_of(facts: list[object]) -> list[CallFact]:
    return [f for f in facts if isinstance(f, CallFact)]


def tools_of(facts: list[object]) -> list[ToolFact]:
    return [f for f in facts if isinstance(f, ToolFact)]


def tok(c: CallFact | dict[str, Any]) -> tuple[int, int, int, int]:
    if isinstance(c, CallFact):
        u = c.usage
        return (u.input_tokens, u.cache_read_tokens, u.output_tokens, u.reasoning_tokens)
    return (c["input_tokens"], c["cache_read_tokens"], c["output_tokens"], c["reasoning_tokens"])


def sha(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()


# -- the real sessions, checked against an independent stdlib parse ---------------------------

REAL_FILES = sorted(REAL.rglob("session-*.json*"))


def expected_from_json(paths: list[Path]) -> dict[tuple[str, str], dict[str, Any]]:
    """The last record of every message id, per session, with json only."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for p in paths:
        if p.suffix == ".json":
            d = json.loads(p.read_text())
            sid, messages = d["sessionId"], d["messages"]
        else:
            rows = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
            sid = rows[0]["sessionId"]
            messages = [r for r in rows if "id" in r and "type" in r]
        for m in messages:
            found[(sid, m["id"])] = m
    return found


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return dry(REAL, tmp_path_factory.mktemp("home"))


def test_real_fixture_set_is_complete() -> None:
    assert len(REAL_FILES) == 5
    assert (FIXTURES / "SOURCES.md").is_file()


def test_real_calls_match_the_tokens_of_each_unique_message(real_run: Run) -> None:
    want = {}
    for (sid, mid), m in expected_from_json(REAL_FILES).items():
        t = m.get("tokens")
        if m["type"] in ("gemini", "model") and t and any(t.values()):
            want[event_id(AGENT, sid, mid)] = t
    got = {e["event_id"]: e for e in real_run.calls}
    assert set(got) == set(want)
    assert len(got) == 50
    for eid, t in want.items():
        e = got[eid]
        assert e["input_tokens"] + e["cache_read_tokens"] == t["input"] + t["tool"]
        assert e["cache_read_tokens"] == t["cached"]
        assert e["output_tokens"] == t["output"] + t["thoughts"]
        assert e["reasoning_tokens"] == t["thoughts"]
        assert e["input_tokens"] + e["cache_read_tokens"] + e["output_tokens"] == t["total"]
    total = sum(t["total"] for t in want.values())
    assert total == sum(
        e["input_tokens"] + e["cache_read_tokens"] + e["output_tokens"] for e in real_run.calls
    )


def test_real_tool_calls_match_one_by_one(real_run: Run) -> None:
    want = {}
    for (sid, _), m in expected_from_json(REAL_FILES).items():
        for tc in m.get("toolCalls") or []:
            st = {
                "success": ("ok", None),
                "error": ("error", "error"),
                "cancelled": ("error", "rejected"),
            }[tc["status"]]
            want[event_id(AGENT, "tool", sid, tc["id"])] = (tc["name"], *st)
    got = {e["event_id"]: (e["tool_name"], e["status"], e["error_code"]) for e in real_run.tools}
    assert got == want
    assert Counter(v[1:] for v in got.values()) == {
        ("ok", None): 42,
        ("error", "error"): 2,
        ("error", "rejected"): 1,
    }


def test_real_session_fields(real_run: Run) -> None:
    sub = real_run.session("qclszz")
    assert len(sub) == 6 and all(e["is_subagent"] for e in sub)
    main = real_run.session("b26d7f99-0116-4d1d-b125-98c228a4b933")
    assert [e["call_index"] for e in main] == list(range(15))
    assert all(
        e["provider"] == "google"
        and e["model"] == "gemini-3-flash-preview"
        and e["repo_path"] is None
        and not e["is_subagent"]
        for e in main
    )
    assert [e["turn_index"] for e in main][:2] == [1, 1] and main[-1]["turn_index"] == 2
    jl = real_run.session("9534b902-4b8a-437e-ba2e-2e4db4b82fec")
    assert len(jl) == 11
    for e in real_run.events:
        assert tuple(e) == (LLM_FIELDS if e["kind"] == "llm_call" else TOOL_FIELDS)
    assert real_run.report.skipped == {"zero_tokens": 1}


def test_real_tool_durations_and_calls(real_run: Run) -> None:
    calls = {e["event_id"] for e in real_run.calls}
    for t in real_run.tools:
        assert t["duration_ms"] is not None and t["duration_ms"] >= 0
        assert t["call_event_id"] is None or t["call_event_id"] in calls
    # the pomodoro session's first message has all-zero tokens: its 3 tools have no call
    assert sum(t["call_event_id"] is None for t in real_run.tools) == 3
    # cli_help ran the subagent for 3 min 10 s
    cli_help = next(t for t in real_run.tools if t["tool_name"] == "cli_help")
    assert cli_help["duration_ms"] == 190_154


# -- one fixture per rule --------------------------------------------------------------------


def test_json_and_jsonl_twins_count_once(tmp_path: Path) -> None:
    run = dry(RULES, tmp_path / "home")
    calls = run.session(S1)
    assert [tok(e) for e in calls] == [
        (1000, 0, 150, 50),  # m-g1: 1000 in, 100 out, 50 thoughts
        (600, 900, 100, 20),  # m-g2: 1500 in (900 cached), 80 out, 20 thoughts
        (500, 1500, 70, 10),  # m-g3, only in the .jsonl: appended twice
    ]
    assert [e["turn_index"] for e in calls] == [1, 1, 2]
    assert run.report.not_emitted == {"duplicate": 2, "duplicate_tool": 1}
    ids = {e["event_id"] for e in calls}
    assert ids == {event_id(AGENT, S1, m) for m in ("m-g1", "m-g2", "m-g3")}
    # each file alone reports its own messages with the same ids
    assert {c.event_id for c in calls_of(read_facts(TWIN_JSON))} == {
        event_id(AGENT, S1, m) for m in ("m-g1", "m-g2")
    }
    assert {c.event_id for c in calls_of(read_facts(TWIN_JSONL))} == ids


def test_repeated_jsonl_message_id_last_record_wins() -> None:
    facts = read_facts(TWIN_JSONL)
    calls = calls_of(facts)
    assert len(calls) == 3
    g3 = calls[-1]
    assert (g3.call_index, g3.turn_index, g3.duration_ms, g3.rank) == (2, 2, 3000, 2070)
    tools = {t.event_id: t for t in tools_of(facts)}
    t2 = tools[event_id(AGENT, "tool", S1, "t-2")]
    assert (t2.tool_name, t2.status, t2.error_code, t2.duration_ms, t2.call_event_id) == (
        "run_shell_command",
        "error",
        "error",
        2000,
        g3.event_id,
    )
    assert len(tools) == 2


def test_token_arithmetic_model_type_rewind_error_and_zero() -> None:
    skipped: Counter[str] = Counter()
    facts = read_facts(BETA_JSONL, skipped)
    calls = calls_of(facts)
    assert [(c.event_id, tok(c), c.model, c.turn_index) for c in calls] == [
        # input 1000 - cached 600 + tool 20; output 50 + thoughts 30
        (event_id(AGENT, S2, "b-m1"), (420, 600, 80, 30), "gemini-2.5-pro", 1),
        (event_id(AGENT, S2, "b-m2"), (2000, 0, 10, 0), "gemini-3-flash-preview", 1),
        # after {"$rewindTo": "b-m1"}: the rewound messages stay counted
        (event_id(AGENT, S2, "b-m3"), (200, 1000, 40, 0), "gemini-2.5-pro", 2),
    ]
    assert [c.usage.total for c in calls] == [1100, 2010, 1240]
    assert all(c.status == "ok" and c.provider == "google" for c in calls)
    assert skipped == {"error_message": 1, "zero_tokens": 1, "no_tokens": 1}
    tools = {t.event_id: t for t in tools_of(facts)}
    t3 = tools[event_id(AGENT, "tool", S2, "b-t3")]
    assert (t3.status, t3.error_code, t3.duration_ms, t3.call_event_id) == (
        "error",
        "rejected",
        12000,
        calls[1].event_id,
    )
    t4 = tools[event_id(AGENT, "tool", S2, "b-t4")]  # asked by a zero-token message
    assert (t4.status, t4.call_event_id, t4.duration_ms) == ("ok", None, 500)


def test_error_message_with_tokens_is_a_failed_call(tmp_path: Path) -> None:
    p = tmp_path / ".gemini" / "tmp" / "x" / "chats" / "session-2026-05-05T00-00-e5e5e5e5.jsonl"
    p.parent.mkdir(parents=True)
    p.write_text(
        "\n".join(
            json.dumps(x)
            for x in [
                {"sessionId": "e5", "projectHash": sha("/e"), "startTime": "2026-05-05T00:00:00Z"},
                {
                    "id": "e-1",
                    "timestamp": "2026-05-05T00:00:01Z",
                    "type": "error",
                    "content": "[API Error: 429 Too Many Requests]",
                    "tokens": {
                        "input": 10,
                        "output": 0,
                        "cached": 0,
                        "thoughts": 0,
                        "tool": 0,
                        "total": 10,
                    },
                },
            ]
        )
        + "\n"
    )
    (c,) = calls_of(read_facts(p))
    assert (c.status, c.error_code, tok(c)) == ("error", "rate_limit", (10, 0, 0, 0))


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (b"[API Error: 429 quota exceeded]", "rate_limit"),
        (b"[API Error: 503 The model is overloaded]", "overloaded"),
        (b"[API Error: 401 UNAUTHENTICATED]", "auth"),
        (b"[API Error: input token limit exceeded]", "context_overflow"),
        (b"[API Error: 400 INVALID_ARGUMENT]", "invalid_request"),
        (b"[API Error: fetch failed]", "server_error"),
    ],
)
def test_error_classification(text: bytes, code: str) -> None:
    assert gemini_cli.classify_error(text) == code


def test_cwd_from_marker_registry_and_hash(tmp_path: Path) -> None:
    run = dry(RULES, tmp_path / "home")
    # the folders are no repositories here: each leaves as a hash of exactly that path
    assert {e["repo_path"] for e in run.session(S1)} == {pseudonym(ALPHA, "path")}  # marker
    assert {e["repo_path"] for e in run.session(S2)} == {pseudonym(BETA, "path")}  # registry
    assert {e["repo_path"] for e in run.session(S3)} == {pseudonym(GAMMA, "path")}  # sha256
    assert {e["repo_path"] for e in run.session(S4)} == {None}  # unknown project


def test_cwd_from_directories_matching_the_project_hash() -> None:
    projects = gemini_cli.Projects()
    d = "/nonexistent/agent-cli-tests/omega"
    assert projects.cwd("/nowhere/.gemini/tmp/omega-1", sha(d), ["/other", d]) == d
    assert projects.cwd("/nowhere/.gemini/tmp/omega-2", sha(d), ["/other"]) is None


def test_cwd_does_not_depend_on_the_files_read_before() -> None:
    # one file of a folder names its root in `directories`, another does not: each gets the
    # same answer whichever was read first (worker processes read files in other orders)
    d = "/nonexistent/agent-cli-tests/omega"
    folder = "/nowhere/.gemini/tmp/omega-3"
    first, second = gemini_cli.Projects(), gemini_cli.Projects()
    assert first.cwd(folder, sha(d), [d]) == d
    assert first.cwd(folder, sha(d), None) is None
    assert second.cwd(folder, sha(d), None) is None
    assert second.cwd(folder, sha(d), [d]) == d


def test_nested_subagent_file() -> None:
    facts = read_facts(SUB_JSONL)
    (c,) = calls_of(facts)
    assert (c.session_id, c.is_subagent, c.parent_session_id, c.model, tok(c)) == (
        SUB,
        True,
        S1,
        "gemini-2.5-flash",
        (300, 0, 25, 5),
    )
    (t,) = tools_of(facts)
    assert (t.event_id, t.call_event_id, t.duration_ms) == (
        event_id(AGENT, "tool", SUB, f"{SUB}#0-0"),
        c.event_id,
        20,
    )


def test_malformed_lines_and_partial_last_line(tmp_path: Path) -> None:
    skipped: Counter[str] = Counter()
    calls = calls_of(read_facts(DELTA_JSONL, skipped))
    assert [tok(c) for c in calls] == [(700, 100, 30, 0)]
    assert skipped == {"malformed_json": 1, "invalid_utf8": 1}
    # once the last line is complete it is read, with the state carried over
    p = tmp_path / DELTA_JSONL.name
    p.write_bytes(DELTA_JSONL.read_bytes())
    src = gemini_cli.GeminiCli()
    chunks = list(src.read(str(p), None, Counter(), MAX_LINE))
    with open(p, "ab") as f:
        f.write(b"\n")
    more = calls_of(
        [f for ch in src.read(str(p), chunks[-1].cursor, Counter(), MAX_LINE) for f in ch.facts]
    )
    assert [(c.event_id, tok(c), c.call_index) for c in more] == [
        (event_id(AGENT, S4, "d-m1"), (700, 100, 30, 0), 0),  # held, re-reported (ledger dups)
        (event_id(AGENT, S4, "d-m2"), (800, 100, 30, 0), 1),
    ]


def test_non_session_json_is_skipped_by_shape(tmp_path: Path) -> None:
    run = dry(RULES, tmp_path / "home")
    assert run.report.skipped["not_a_session"] == 1
    found = [sf.path for sf in gemini_cli.GeminiCli().discover({"GEMINI_CLI_HOME": str(RULES)})]
    assert not any(p.endswith("logs.json") for p in found)
    assert len(found) == 7


def test_whole_rules_tree(tmp_path: Path) -> None:
    run = dry(RULES, tmp_path / "home")
    per = Counter(e["session_id"] for e in run.calls)
    assert per == {S1: 3, SUB: 1, S2: 3, S3: 1, S4: 1}
    assert len(run.tools) == 5
    assert run.report.skipped == {
        "not_a_session": 1,
        "error_message": 1,
        "zero_tokens": 1,
        "no_tokens": 1,
        "malformed_json": 1,
        "invalid_utf8": 1,
    }


def test_discovery_order_and_roots(tmp_path: Path, isolated_home: Path) -> None:
    found = [
        Path(sf.path) for sf in gemini_cli.GeminiCli().discover({"GEMINI_CLI_HOME": str(RULES)})
    ]
    assert found.index(TWIN_JSONL) < found.index(TWIN_JSON)
    assert found[-1] == SUB_JSONL  # subagents after main sessions
    shutil.copytree(RULES / ".gemini", isolated_home / ".gemini")
    assert len(list(gemini_cli.GeminiCli().discover({"HOME": str(isolated_home)}))) == 7
    assert list(gemini_cli.GeminiCli().discover({"HOME": str(tmp_path / "nobody")})) == []


def test_whole_file_session_is_reread_only_when_changed(tmp_path: Path) -> None:
    p = tmp_path / ".gemini" / "tmp" / "x" / "chats" / TWIN_JSON.name
    p.parent.mkdir(parents=True)
    shutil.copy(TWIN_JSON, p)
    src = gemini_cli.GeminiCli()
    (chunk,) = list(src.read(str(p), None, Counter(), MAX_LINE))
    assert chunk.cursor.offset == p.stat().st_size and chunk.cursor.state is None
    assert len(calls_of(chunk.facts)) == 2
    assert list(src.read(str(p), chunk.cursor, Counter(), MAX_LINE)) == []
    d = json.loads(p.read_text())
    d["messages"].append(
        {
            "id": "m-new",
            "timestamp": "2026-05-01T10:01:00.000Z",
            "type": "gemini",
            "model": "gemini-2.5-pro",
            "content": "x",
            "tokens": {"input": 5, "output": 1, "cached": 0, "thoughts": 0, "tool": 0, "total": 6},
        }
    )
    p.write_text(json.dumps(d))
    os.utime(p, ns=(chunk.cursor.mtime_ns + 10**9, chunk.cursor.mtime_ns + 10**9))
    (again,) = list(src.read(str(p), chunk.cursor, Counter(), MAX_LINE))
    assert [c.event_id for c in calls_of(again.facts)][-1] == event_id(AGENT, S1, "m-new")
    assert again.cursor.generation == chunk.cursor.generation + 1


def test_oversize_and_malformed_session_files(tmp_path: Path) -> None:
    p = tmp_path / ".gemini" / "tmp" / "x" / "chats" / "session-2026-01-01T00-00-zzzz.json"
    p.parent.mkdir(parents=True)
    p.write_bytes(b'{"sessionId":"z","messages":[{"id":')
    skipped: Counter[str] = Counter()
    src = gemini_cli.GeminiCli()
    assert read_facts(p, skipped, src) == []
    p.write_text(json.dumps({"sessionId": "z", "projectHash": "h", "messages": []}) + " " * 100)
    list(src.read(str(p), None, skipped, 50))
    assert skipped == {"malformed_session_file": 1, "oversize_file": 1}


# -- state: resume anywhere ------------------------------------------------------------------


def _split_read(path: Path, tmp_path: Path, cut: int) -> list[object]:
    lines = path.read_bytes().splitlines(keepends=True)
    p = tmp_path / f"cut{cut}" / ".gemini" / "tmp" / "alpha" / "chats" / path.name
    p.parent.mkdir(parents=True)
    p.write_bytes(b"".join(lines[:cut]))
    skipped: Counter[str] = Counter()
    projects = gemini_cli.Projects()
    mk = lambda s: gemini_cli.GeminiJsonlReader(str(p), s, skipped, projects)  # noqa: E731
    facts: list[object] = []
    cursor = None
    for ch in read_chunks(str(p), None, mk, skipped, max_line=MAX_LINE):
        facts += ch.facts
        cursor = ch.cursor
    assert cursor is not None and cursor.state is not None
    with open(p, "ab") as f:
        f.write(b"".join(lines[cut:]))
    for ch in read_chunks(str(p), cursor, mk, skipped, max_line=MAX_LINE):
        facts += ch.facts
    return facts


def _final(facts: list[object]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the ledger keeps: per id, the biggest call; per tool id, the first report."""
    calls: dict[str, Any] = {}
    for c in calls_of(facts):
        row = (c.rank, tok(c), c.turn_index, c.call_index, c.session_id, c.model)
        if c.event_id not in calls or row[0] > calls[c.event_id][0]:
            calls[c.event_id] = row
    tools: dict[str, Any] = {}
    for t in tools_of(facts):
        tools.setdefault(t.event_id, (t.status, t.error_code, t.duration_ms, t.call_event_id))
    return calls, tools


@pytest.mark.parametrize(
    "path", [TWIN_JSONL, BETA_JSONL, REAL_FILES[-1]], ids=["twin", "beta", "real"]
)
def test_resuming_from_state_at_any_line_gives_the_same_facts(path: Path, tmp_path: Path) -> None:
    whole = _final(read_facts(path))
    n = len(path.read_bytes().splitlines())
    for cut in range(1, n):
        assert _final(_split_read(path, tmp_path, cut)) == whole, cut


# -- never crash ------------------------------------------------------------------------------


def test_mangled_real_lines_never_raise() -> None:
    rng = random.Random(11)
    lines = REAL_FILES[-1].read_bytes().splitlines()
    skipped: Counter[str] = Counter()
    reader = gemini_cli.GeminiJsonlReader(
        "/x/.gemini/tmp/p/chats/s.jsonl", None, skipped, gemini_cli.Projects()
    )
    for line in lines:
        for _ in range(5):
            b = bytearray(line)
            op = rng.randrange(4)
            if op == 0 and b:
                del b[rng.randrange(len(b)) :]
            elif op == 1 and b:
                b[rng.randrange(len(b))] = rng.randrange(256)
            elif op == 2:
                b = bytearray(line.replace(b'"tokens":{', b'"tokens":[', 1))
            else:
                b = bytearray(line.replace(b'"toolCalls":[', b'"toolCalls":{"a":[', 1))
            reader.feed(bytes(b))
    reader.flush(True)
    json.loads(reader.state())
    assert sum(skipped.values()) > 0
    src = gemini_cli.GeminiCli()
    data = REAL_FILES[0].read_bytes()
    for _ in range(50):
        i = rng.randrange(len(data))
        reader_json = gemini_cli.GeminiJsonReader(
            "/x/.gemini/tmp/p/chats/s.json", skipped, src.projects
        )
        reader_json.read_bytes(data[:i] + bytes([rng.randrange(256)]) + data[i + 1 :])


# -- the canary: no content ever leaves --------------------------------------------------------

CANARY = "CANARY-91d2-gemini-secret"


def _canary_sessions(root: Path) -> None:
    c = CANARY
    proj = root / ".gemini" / "tmp" / "canary"
    (proj / "chats").mkdir(parents=True)
    (proj / ".project_root").write_text("/nonexistent/agent-cli-tests/canary")
    (proj / "logs.json").write_text(
        json.dumps([{"sessionId": "s", "messageId": 0, "type": "user", "message": c}])
    )
    (proj / "chats" / f"checkpoint-{c}.json").write_text(json.dumps([{"parts": [{"text": c}]}]))

    def tool(tid: str, status: str) -> dict[str, Any]:
        return {
            "id": tid,
            "name": "read_file",
            "status": status,
            "timestamp": "2026-05-09T10:00:03.000Z",
            "args": {"file_path": f"/home/u/{c}.py", "content": c},
            "result": [
                {
                    "functionResponse": {
                        "id": tid,
                        "name": "read_file",
                        "response": {"output": c, "error": c},
                    }
                }
            ],
            "resultDisplay": c,
            "description": c,
            "displayName": "ReadFile",
            "renderOutputAsMarkdown": True,
        }

    def messages(sid: str) -> list[dict[str, Any]]:
        return [
            {
                "id": f"{sid}-u",
                "timestamp": "2026-05-09T10:00:01.000Z",
                "type": "user",
                "content": c,
                "displayContent": c,
            },
            {
                "id": f"{sid}-u2",
                "timestamp": "2026-05-09T10:00:01.500Z",
                "type": "user",
                "content": [{"text": c}, {"functionResponse": {"response": {"output": c}}}],
            },
            {
                "id": f"{sid}-g",
                "timestamp": "2026-05-09T10:00:02.000Z",
                "type": "gemini",
                "content": [{"text": c}],
                "model": "gemini-2.5-pro",
                "thoughts": [
                    {"subject": c, "description": c, "timestamp": "2026-05-09T10:00:02.000Z"}
                ],
                "tokens": {
                    "input": 100,
                    "output": 10,
                    "cached": 20,
                    "thoughts": 5,
                    "tool": 1,
                    "total": 116,
                },
                "toolCalls": [tool(f"{sid}-t1", "success"), tool(f"{sid}-t2", "error")],
            },
            {
                "id": f"{sid}-e",
                "timestamp": "2026-05-09T10:00:04.000Z",
                "type": "error",
                "content": f"[API Error: {c}]",
            },
            {
                "id": f"{sid}-i",
                "timestamp": "2026-05-09T10:00:05.000Z",
                "type": "info",
                "content": c,
            },
            {
                "id": f"{sid}-w",
                "timestamp": "2026-05-09T10:00:05.000Z",
                "type": "warning",
                "content": c,
            },
        ]

    meta = {
        "projectHash": hashlib.sha256(b"/nonexistent/agent-cli-tests/canary").hexdigest(),
        "startTime": "2026-05-09T10:00:00.000Z",
        "lastUpdated": "2026-05-09T10:00:05.000Z",
        "summary": c,
        "memoryScratchpad": c,
        "directories": [f"/{c}"],
        "kind": "main",
    }
    (proj / "chats" / "session-2026-05-09T10-00-aaaa0001.json").write_text(
        json.dumps({"sessionId": "aaaa0001", **meta, "messages": messages("j")})
    )
    lines = [json.dumps({"sessionId": "bbbb0002", **meta})]
    for m in messages("l"):
        lines += [
            json.dumps(m),
            json.dumps({"$set": {"lastUpdated": m["timestamp"], "summary": c}}),
        ]
    lines += [json.dumps({"$rewindTo": "l-g"}), '{"id":"l-x","content":"' + c]
    (proj / "chats" / "session-2026-05-09T10-00-bbbb0002.jsonl").write_text(
        "\n".join(lines) + "\n" + '{"partial":"' + c
    )
    sub = proj / "chats" / "bbbb0002" / "cccc0003.jsonl"
    sub.parent.mkdir()
    sub.write_text(
        "\n".join(
            [
                json.dumps({"sessionId": "cccc0003", **meta, "kind": "subagent"}),
                *(json.dumps(m) for m in messages("s")),
            ]
        )
        + "\n"
    )


def test_canary_never_leaves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "gemini-home"
    _canary_sessions(root)
    monkeypatch.setenv("GEMINI_CLI_HOME", str(root))
    result = CliRunner().invoke(cli, ["start", "--once", "--dry-run", "--agent", "gemini-cli"])
    assert result.exit_code == 0, result.output
    assert CANARY not in result.stdout
    assert CANARY not in result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert sum(e["kind"] == "llm_call" for e in events) == 3
    assert sum(e["kind"] == "tool_call" for e in events) == 6
    assert {e["repo_path"] for e in events} == {
        pseudonym("/nonexistent/agent-cli-tests/canary", "path")
    }
