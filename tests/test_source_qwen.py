"""Qwen Code: the hand-made rules fixture (hand-computed numbers), /branch, state and canary.

Expected values never come from the reader: totals are hand-computed from the fixture's
usage, and the branch dedup is re-derived here with the stdlib `json` module.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agent_cli.cli import cli
from agent_cli.config import Settings
from agent_cli.events import CallFact, ToolFact
from agent_cli.sources.qwen_code import QwenCode
from agent_cli.sources.qwen_code import discover as qdisc
from tests.dryrun import Run, dry_run

RULES = Path(__file__).parent / "fixtures" / "qwen_code" / "rules"
CHATS = RULES / ".qwen" / "projects" / "-nonexistent-agent-cli-tests-qwen" / "chats"
S1 = "4ade0baa-aa19-411b-9ddb-c86b98da7f50"
S2 = "5bef1cbb-bb2a-422c-aeec-d97c09eb8061"
AGENT = "qwen-code"
MAX_LINE = 16 * 1024 * 1024
FIELDS = ("input_tokens", "cache_read_tokens", "output_tokens", "reasoning_tokens")


def dry(home: Path, **env: str) -> Run:
    return dry_run({"HOME": str(home), **env}, Settings(agents=(AGENT,)))


def read(path: Path, skipped: Counter[str] | None = None) -> list[object]:
    skipped = Counter() if skipped is None else skipped
    facts: list[object] = []
    for chunk in QwenCode().read(str(path), None, skipped, MAX_LINE):
        facts += chunk.facts
    return facts


def tok(c: dict[str, Any]) -> tuple[int, ...]:
    return tuple(c[k] for k in FIELDS)


@pytest.fixture(scope="module")
def run() -> Run:
    return dry(RULES)


def test_each_rule_gives_its_hand_computed_tokens(run: Run) -> None:
    by_model: dict[str, list[tuple[int, ...]]] = {}
    for c in run.calls:
        by_model.setdefault(c["model"], []).append(tok(c))
    by_model = {m: sorted(v, reverse=True) for m, v in by_model.items()}  # any file order
    assert by_model == {
        # thoughts inside: 35617 = 35575 + 42; input = 35575 - 24640
        "qwen3.8-sglang": [(10935, 24640, 42, 27), (1000, 35000, 120, 0), (0, 0, 0, 0)],
        # Gemini API: 1085 = 1000 + 50 + 30 + 5; input = 1000 - 200 + 5, output = 50 + 30
        "gemini-2.5-pro": [(805, 200, 80, 30)],
        # the branch's own call, and the subagent's
        "qwen3-coder-plus": [(500, 1500, 100, 0), (500, 0, 10, 0)],
    }
    assert {k: sum(c[k] for c in run.calls) for k in FIELDS} == {
        "input_tokens": 13740,
        "cache_read_tokens": 61340,
        "output_tokens": 352,
        "reasoning_tokens": 57,
    }
    assert run.report.skipped["no_tokens"] == 1 and run.report.skipped["zero_tokens"] == 1


def test_branch_copies_count_once(run: Run) -> None:
    """Every (origin session, uuid) with usage counts once, whichever file holds it."""
    seen: set[tuple[str, str]] = set()
    for p in sorted(CHATS.rglob("*.jsonl")):
        if "." in p.name.removesuffix(".jsonl"):
            continue
        for line in p.read_text().splitlines():
            r = json.loads(line)
            u = r.get("usageMetadata")
            if r["type"] == "assistant" and u and u["totalTokenCount"]:
                f = r.get("forkedFrom") or {}
                seen.add((f.get("sessionId", r["sessionId"]), f.get("messageUuid", r["uuid"])))
    ok = [c for c in run.calls if c["status"] == "ok"]
    assert len(ok) == len(seen) == 5
    copied = [c for c in ok if c["model"] == "qwen3.8-sglang"]
    assert {c["session_id"] for c in copied} == {S1}  # the origin's session, not the branch's
    assert len(run.tools) == 2  # the copied tool result is the origin's tool call


def test_error_subagent_turns_and_fields(run: Run) -> None:
    (err,) = [c for c in run.calls if c["status"] == "error"]
    assert (err["error_code"], err["model"], err["session_id"]) == (
        "rate_limit",
        "qwen3.8-sglang",
        S1,
    )
    (sub,) = [c for c in run.calls if c["is_subagent"]]
    assert sub["agent_id"] == "explore-7f3c"
    s1 = [c for c in run.calls if c["session_id"] == S1 and not c["is_subagent"]]
    assert {c["turn_index"] for c in s1} == {1}  # goal_runtime is not a person's turn
    assert [c["call_index"] for c in s1 if c["status"] == "ok"] == [0, 1, 2]
    assert {c["agent_version"] for c in run.calls} == {"0.22.0"}
    branch = [c for c in run.calls if c["session_id"] == S2]
    assert [c["turn_index"] for c in branch] == [2]
    first = next(c for c in s1 if c["input_tokens"] == 10935)
    assert first["duration_ms"] == 12455  # 11:45:13.242 -> 11:45:25.697
    assert first["timestamp"] == "2026-08-25T11:45:25.697Z"


def test_tools_latency_status_and_call(run: Run) -> None:
    got = {(t["tool_name"], t["status"], t["error_code"], t["duration_ms"]) for t in run.tools}
    assert got == {
        ("get_goal", "ok", None, 1203),  # 25.697 -> 26.900
        ("run_shell_command", "error", "rejected", 11500),  # cancelled
    }
    call_ids = {c["event_id"] for c in run.calls}
    assert all(t["call_event_id"] in call_ids for t in run.tools)


def test_sidecars_are_not_read() -> None:
    found = [Path(f.path).name for f in QwenCode().discover({"HOME": str(RULES)})]
    assert sorted(found) == sorted([f"{S1}.jsonl", f"{S2}.jsonl", "agent-explore-7f3c.jsonl"])


def test_archived_sessions_are_found(tmp_path: Path) -> None:
    chats = tmp_path / ".qwen" / "projects" / "p" / "chats"
    (chats / "archive").mkdir(parents=True)
    shutil.copy(CHATS / f"{S1}.jsonl", chats / "archive" / f"{S1}.jsonl")
    assert len(dry(tmp_path).calls) == 4


def test_discovery_roots_and_overrides(tmp_path: Path) -> None:
    home = tmp_path / "h"
    rt, qh, d1, d2 = (tmp_path / n for n in ("rt", "qh", "d1", "d2"))
    env = {"HOME": str(home), "QWEN_RUNTIME_DIR": str(rt), "QWEN_HOME": str(qh),
           "QWEN_DATA_DIR": f"{d1}, {d2},"}  # fmt: skip
    assert QwenCode().where(env) == [str(p / "projects") for p in (rt, qh, home / ".qwen", d1, d2)]
    for root in (rt, d2):
        shutil.copytree(RULES / ".qwen" / "projects", root / "projects")
    got = list(QwenCode().discover(env))
    assert len(got) == 6
    assert len(dry(home, **{k: v for k, v in env.items() if k != "HOME"}).calls) == 6  # copies once
    win = {"USERPROFILE": str(home)}
    assert qdisc.roots(win, "win32") == [home / ".qwen"]
    assert qdisc.roots({"HOME": str(home), "QWEN_HOME": str(home / ".qwen")}, "darwin") == [
        home / ".qwen"
    ]


def test_malformed_lines_are_counted_and_a_partial_line_waits(tmp_path: Path) -> None:
    f = tmp_path / "x.jsonl"
    good = (CHATS / f"{S1}.jsonl").read_bytes()
    f.write_bytes(b'\xff{"a":1}\n{oops\n[1]\n{"type":"telepathy"}\n' + good + b'{"type":"assis')
    skipped: Counter[str] = Counter()
    calls = [x for x in read(f, skipped) if isinstance(x, CallFact)]
    assert len(calls) == 4
    assert skipped == Counter(
        invalid_utf8=1, malformed_json=1, unrecognized_line=1, unknown_record_type=1,
        no_tokens=1, zero_tokens=1,
    )  # fmt: skip


def test_resume_from_a_stored_state_mid_file(tmp_path: Path) -> None:
    """Stop after the first call (its tool still open), append the rest: same facts."""
    whole = (CHATS / f"{S1}.jsonl").read_bytes().splitlines(keepends=True)
    f = tmp_path / f"{S1}.jsonl"
    f.write_bytes(b"".join(whole[:2]))
    src, skipped = QwenCode(), Counter[str]()
    first = list(src.read(str(f), None, skipped, MAX_LINE))
    f.write_bytes(b"".join(whole))
    second = list(src.read(str(f), first[-1].cursor, skipped, MAX_LINE))
    got = [x for ch in first + second for x in ch.facts]
    want = read(CHATS / f"{S1}.jsonl")

    def key(x: object) -> tuple[Any, ...]:
        if isinstance(x, CallFact):
            return (x.event_id, x.usage, x.turn_index, x.call_index, x.duration_ms)
        assert isinstance(x, ToolFact)
        return (x.event_id, x.duration_ms, x.status, x.call_event_id)

    assert [key(x) for x in got] == [key(x) for x in want]


# -- the canary: no content ever leaves --------------------------------------------------------

CANARY = "CANARY-77ab-qwen-secret"


def test_canary_never_leaves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = CANARY
    base = {"sessionId": "canary-s", "cwd": "/nonexistent/agent-cli-tests/canary",
            "version": "0.22.0", "gitBranch": "main"}  # fmt: skip
    rows = [
        {**base, "uuid": "u", "parentUuid": None, "timestamp": "2026-08-25T10:00:00.000Z",
         "type": "user", "message": {"role": "user", "parts": [{"text": c}]},
         "systemPayload": {"displayText": c, "hookContext": c}},
        {**base, "uuid": "a", "parentUuid": "u", "timestamp": "2026-08-25T10:00:01.000Z",
         "type": "assistant", "model": "qwen3-coder-plus",
         "message": {"role": "model", "parts": [{"text": c, "thought": True}, {"text": c},
                     {"functionCall": {"id": "k1", "name": "read_file",
                                       "args": {"absolute_path": f"/{c}"}}}]},
         "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 2,
                           "totalTokenCount": 12}},
        {**base, "uuid": "t", "parentUuid": "a", "timestamp": "2026-08-25T10:00:02.000Z",
         "type": "tool_result",
         "message": {"role": "user", "parts": [{"functionResponse": {"id": "k1",
                     "name": "read_file", "response": {"output": c}}}]},
         "toolCallResult": {"callId": "k1", "status": "error", "errorType": "invalid_tool_params",
                            "resultDisplay": c, "error": {"message": c}}},
        {**base, "uuid": "x", "parentUuid": "t", "timestamp": "2026-08-25T10:00:03.000Z",
         "type": "system", "subtype": "ui_telemetry",
         "systemPayload": {"uiEvent": {"event.name": "qwen-code.api_error", "error": c,
                                       "error_message": c, "prompt_id": c}}},
        {**base, "uuid": "y", "parentUuid": "x", "timestamp": "2026-08-25T10:00:04.000Z",
         "type": "system", "subtype": "chat_compression",
         "systemPayload": {"info": {}, "compressedHistory": [{"parts": [{"text": c}]}]}},
        {**base, "uuid": "z", "parentUuid": "y", "timestamp": "2026-08-25T10:00:05.000Z",
         "type": "system", "subtype": "custom_title", "systemPayload": {"customTitle": c}},
    ]  # fmt: skip
    chats = tmp_path / ".qwen" / "projects" / "canary" / "chats"
    chats.mkdir(parents=True)
    (chats / "canary-s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["start", "--once", "--dry-run", "--agent", "qwen"])
    assert result.exit_code == 0, result.output
    assert c not in result.stdout and c not in result.stderr
    events = [json.loads(x) for x in result.stdout.splitlines()]
    assert Counter(e["kind"] for e in events) == Counter(llm_call=2, tool_call=1)
    (tool,) = [e for e in events if e["kind"] == "tool_call"]
    assert (tool["status"], tool["error_code"]) == ("error", "validation")
    assert "qwen-code 2" in result.stderr


def test_records_glued_on_one_line_are_recovered(tmp_path: Path) -> None:
    """A crash can leave a record cut off with the next appended to it (Qwen's own reader,
    `_recoverObjectsFromLine`, recovers those); two whole records on a line are both read."""
    rows = (CHATS / f"{S1}.jsonl").read_bytes().splitlines()
    a1, a2 = rows[1], rows[4]  # the two qwen3.8-sglang calls
    f = tmp_path / "g.jsonl"
    f.write_bytes(a1[:40] + a2 + b"\n" + a1 + a2 + b"\n")
    skipped: Counter[str] = Counter()
    calls = [x for x in read(f, skipped) if isinstance(x, CallFact)]
    assert [c.usage.input_tokens for c in calls] == [1000, 10935, 1000]  # a2 twice: one id
    assert len({c.event_id for c in calls}) == 2
    assert skipped == Counter(malformed_json=1)  # the cut-off prefix
