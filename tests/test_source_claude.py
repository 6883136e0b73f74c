"""Claude Code through the dry-run pipeline: real transcripts, then one fixture per counting rule.

Expected values never come from the reader: the real transcripts are re-parsed here with the
stdlib `json` module, and the hand-written fixtures carry hand-computed numbers.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent_cli import pipeline
from agent_cli.config import Settings
from agent_cli.events import LLM_FIELDS, TOOL_FIELDS, Usage, event_id
from agent_cli.pricing import Pricer
from agent_cli.sources import claude_code
from tests import dryrun

FIXTURES = Path(__file__).parent / "fixtures" / "claude"
AGENT = "claude-code"
SID = "5e551011-0000-4000-8000-000000000001"
MODEL = "claude-sonnet-4-5-20250929"
CWD = "/nonexistent/agent-cli-tests/proj"  # no such folder: enrichment keeps the cwd as is
T0 = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)

# Hand-checked totals of the copied real transcripts (see fixtures/claude/SOURCES.md).
REAL_LINES = 425
REAL_CALLS = 208
REAL_TOKENS = {
    "input_tokens": 3_114,
    "output_tokens": 56_750,
    "cache_read_tokens": 13_837_199,
    "cache_creation_tokens": 766_985,
    "cache_creation_1h_tokens": 133_720,
}
REAL_TOOL_CALLS = 260
REAL_NOT_FINAL = 182


# -- helpers ---------------------------------------------------------------------------------


def ts(sec: float) -> str:
    t = T0 + timedelta(seconds=sec)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def ms_of(s: str) -> int:
    return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)


def utc_ms(s: str) -> str:
    """An ISO timestamp as the contract writes it: UTC, milliseconds, Z."""
    t = datetime.fromtimestamp(ms_of(s) / 1000, tz=UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def dumps(d: dict[str, Any]) -> str:
    return json.dumps(d, separators=(",", ":"), ensure_ascii=False)


def envelope(uuid: str, parent: str | None, t: float, **kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "parentUuid": parent,
        "isSidechain": False,
        "userType": "external",
        "cwd": CWD,
        "sessionId": SID,
        "version": "2.1.114",
        "gitBranch": "main",
        "uuid": uuid,
        "timestamp": ts(t),
    }
    d.update(kw)
    return d


def usage(
    i: int = 0,
    o: int = 0,
    cr: int = 0,
    cc: int = 0,
    *,
    m5: int | None = None,
    h1: int | None = None,
) -> dict[str, Any]:
    u: dict[str, Any] = {
        "input_tokens": i,
        "cache_creation_input_tokens": cc,
        "cache_read_input_tokens": cr,
        "output_tokens": o,
        "service_tier": "standard",
    }
    if m5 is not None or h1 is not None:
        u["cache_creation"] = {
            "ephemeral_5m_input_tokens": m5 or 0,
            "ephemeral_1h_input_tokens": h1 or 0,
        }
    return u


def prompt(
    uuid: str, parent: str | None, t: float, content: Any = "do the thing", **kw: Any
) -> dict[str, Any]:
    return envelope(
        uuid, parent, t, type="user", message={"role": "user", "content": content}, **kw
    )


def reply(
    uuid: str,
    parent: str | None,
    t: float,
    mid: str | None,
    rid: str | None,
    u: dict[str, Any],
    *,
    stop: str | None = "end_turn",
    content: list[dict[str, Any]] | None = None,
    model: str = MODEL,
    **kw: Any,
) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "model": model,
        "id": mid,
        "type": "message",
        "role": "assistant",
        "content": content or [{"type": "text", "text": "ok"}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": u,
    }
    if mid is None:
        del msg["id"]
    d = envelope(uuid, parent, t, type="assistant", message=msg, **kw)
    if rid is not None:
        d["requestId"] = rid
    return d


def tool_use(tid: str, name: str = "Bash", inp: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "tool_use", "id": tid, "name": name, "input": inp or {"command": "ls"}}


def result(
    uuid: str,
    parent: str | None,
    t: float,
    tid: str,
    content: Any = "done",
    *,
    is_error: bool = False,
    tur: Any = None,
    **kw: Any,
) -> dict[str, Any]:
    block = {"tool_use_id": tid, "type": "tool_result", "content": content, "is_error": is_error}
    return envelope(
        uuid,
        parent,
        t,
        type="user",
        message={"role": "user", "content": [block]},
        toolUseResult=tur if tur is not None else {"stdout": "", "stderr": ""},
        **kw,
    )


def synthetic(
    uuid: str,
    parent: str | None,
    t: float,
    text: str,
    *,
    error: str | None = None,
    status: int | None = None,
    api_error: bool = True,
) -> dict[str, Any]:
    zero = usage()
    zero.update(
        service_tier=None,
        cache_creation={"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
    )
    d = envelope(
        uuid,
        parent,
        t,
        type="assistant",
        message={
            "id": f"{uuid}-0000-4000-8000-synthetic",
            "container": None,
            "model": "<synthetic>",
            "role": "assistant",
            "stop_reason": "stop_sequence",
            "stop_sequence": "",
            "type": "message",
            "usage": zero,
            "content": [{"type": "text", "text": text}],
        },
    )
    if api_error:
        d["isApiErrorMessage"] = True
    if error is not None:
        d["error"] = error
    if status is not None:
        d["apiErrorStatus"] = status
    return d


def write(root: Path, rel: str, lines: list[dict[str, Any] | bytes]) -> Path:
    p = root / "projects" / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "wb") as f:
        for line in lines:
            f.write(line if isinstance(line, bytes) else (dumps(line) + "\n").encode())
    return p


class Run(dryrun.Run):
    def call(self, mid: str, rid: str | None) -> dict[str, Any]:
        eid = event_id(AGENT, mid, rid or "")
        found = [e for e in self.calls if e["event_id"] == eid]
        assert found, f"no llm_call for {mid}/{rid}"
        return found[-1]


def dry(root: Path, home: Path | None = None, **settings: Any) -> Run:
    """Dry-run the Claude source over `root` (a CLAUDE_CONFIG_DIR) and parse stdout."""
    env = {"HOME": str(home or root.parent / "home"), "CLAUDE_CONFIG_DIR": str(root)}
    r = dryrun.dry_run(env, Settings(agents=(AGENT,), **settings))
    return Run(r.events, r.report, r.raw)


def run_files(
    tmp_path: Path, files: dict[str, list[dict[str, Any] | bytes]], **settings: Any
) -> Run:
    root = tmp_path / "claude"
    for rel, lines in files.items():
        write(root, rel, lines)
    return dry(root, tmp_path / "home", **settings)


def tokens(e: dict[str, Any]) -> tuple[int, int, int, int, int]:
    return (
        e["input_tokens"],
        e["output_tokens"],
        e["cache_read_tokens"],
        e["cache_creation_tokens"],
        e["cache_creation_1h_tokens"],
    )


def main_file(name: str = SID) -> str:
    return f"-nonexistent-agent-cli-tests-proj/{name}.jsonl"


# -- the real transcripts, checked against an independent stdlib parse -------------------------


@dataclass
class Expected:
    lines: int
    calls: dict[str, dict[str, Any]]  # event id -> expected fields
    tools: dict[str, dict[str, Any]]


def independent_parse(projects: Path) -> Expected:
    """Group assistant lines by (message.id, requestId), keep the largest usage per group."""
    lines = 0
    best: dict[tuple[str, str], tuple[tuple[int, bool], dict[str, Any]]] = {}
    tools: dict[str, dict[str, Any]] = {}
    for path in sorted(projects.rglob("*.jsonl")):
        rel = path.relative_to(projects).as_posix()
        sub_file = "/subagents/" in rel or path.name.startswith("agent-")
        stamps: dict[str, int] = {}
        uses: dict[str, tuple[str, str, str]] = {}
        firsts: dict[tuple[str, str], str | None] = {}
        lasts: dict[tuple[str, str], int] = {}
        for raw in path.open("rb"):
            try:
                d = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(d, dict):
                continue
            if isinstance(d.get("uuid"), str) and isinstance(d.get("timestamp"), str):
                stamps.setdefault(d["uuid"], ms_of(d["timestamp"]))
            m = d.get("message") if isinstance(d.get("message"), dict) else {}
            content = m.get("content")
            if d.get("type") == "user" and isinstance(content, list):
                for b in content:
                    if isinstance(b, dict) and b.get("type") == "tool_result":
                        use = uses.pop(b["tool_use_id"], None)
                        if use is not None:
                            name, t_use, call = use
                            tools[event_id(AGENT, "tool", b["tool_use_id"])] = {
                                "tool_name": name,
                                "call_event_id": call,
                                "duration_ms": max(ms_of(d["timestamp"]) - ms_of(t_use), 0),
                                "status": "error" if b.get("is_error") else "ok",
                                "timestamp": utc_ms(t_use),
                            }
            if d.get("type") != "assistant" or not isinstance(m.get("usage"), dict):
                continue
            if m.get("model") == "<synthetic>":
                continue
            lines += 1
            u = m["usage"]
            cc = u.get("cache_creation") if isinstance(u.get("cache_creation"), dict) else {}
            toks = {
                "input_tokens": u.get("input_tokens") or 0,
                "output_tokens": u.get("output_tokens") or 0,
                "cache_read_tokens": u.get("cache_read_input_tokens") or 0,
                "cache_creation_tokens": u.get("cache_creation_input_tokens") or 0,
                "cache_creation_1h_tokens": cc.get("ephemeral_1h_input_tokens") or 0,
            }
            key = (m["id"], d.get("requestId") or "")
            eid = event_id(AGENT, *key)
            firsts.setdefault(key, d.get("parentUuid"))
            lasts[key] = max(lasts.get(key, 0), ms_of(d["timestamp"]))
            side = bool(d.get("isSidechain")) or sub_file
            fields = dict(
                toks,
                model=m.get("model"),
                session_id=d.get("sessionId"),
                is_subagent=side,
                agent_id=d.get("agentId"),
                parent_session_id=d.get("sessionId") if side else None,
                output_final=m.get("stop_reason") is not None,
            )
            total = sum(
                toks[k]
                for k in (
                    "input_tokens",
                    "output_tokens",
                    "cache_read_tokens",
                    "cache_creation_tokens",
                )
            )
            rank = (total, m.get("stop_reason") is not None)
            if key not in best or rank >= best[key][0]:
                best[key] = (rank, fields)
            for b in content if isinstance(content, list) else []:
                if isinstance(b, dict) and b.get("type") == "tool_use":
                    uses.setdefault(b["id"], (b["name"], d["timestamp"], eid))
        for key, parent in firsts.items():
            start = stamps.get(parent) if parent else None
            best[key][1]["duration_ms"] = None if start is None else lasts[key] - start
    calls = {event_id(AGENT, *k): v[1] for k, v in best.items()}
    return Expected(lines, calls, tools)


@pytest.fixture(scope="module")
def real() -> tuple[Expected, Run]:
    """The real transcripts, read in place (dry-run writes nothing)."""
    expected = independent_parse(FIXTURES / "projects")
    return expected, dry(FIXTURES, FIXTURES / "no-such-home")


def test_real_totals_match_the_independent_parse_and_the_hand_checked_numbers(
    real: tuple[Expected, Run],
) -> None:
    exp, run = real
    assert exp.lines == REAL_LINES
    assert len(exp.calls) == REAL_CALLS
    sums = {k: sum(c[k] for c in exp.calls.values()) for k in REAL_TOKENS}
    assert sums == REAL_TOKENS

    assert run.report.llm_calls == len(run.calls) == REAL_CALLS
    assert run.report.error_calls == 0
    assert run.report.revisions == 0
    got = {k: sum(e[k] for e in run.calls) for k in REAL_TOKENS}
    assert got == REAL_TOKENS
    assert {k: run.report.tokens[k] for k in REAL_TOKENS} == REAL_TOKENS
    assert run.report.tokens["reasoning_tokens"] == 0
    assert run.report.files == run.report.files_read == 13
    assert not run.report.skipped
    assert not run.report.not_emitted


def test_real_calls_match_one_by_one(real: tuple[Expected, Run]) -> None:
    exp, run = real
    by_id = {e["event_id"]: e for e in run.calls}
    assert set(by_id) == set(exp.calls)
    fields = [
        *REAL_TOKENS,
        "model",
        "session_id",
        "is_subagent",
        "agent_id",
        "parent_session_id",
        "output_final",
    ]
    mismatches = {
        eid: {f: (want[f], by_id[eid][f]) for f in fields if want[f] != by_id[eid][f]}
        for eid, want in exp.calls.items()
    }
    assert {k: v for k, v in mismatches.items() if v} == {}
    assert sum(not e["output_final"] for e in run.calls) == REAL_NOT_FINAL
    for e in run.calls:
        assert e["agent"] == AGENT and e["provider"] == "anthropic"
        assert e["status"] == "ok" and e["error_code"] is None and e["revision"] == 0
        assert e["cost_usd"] is not None and e["cost_usd"] > 0


def test_real_subagent_attribution(real: tuple[Expected, Run]) -> None:
    _, run = real
    subs = Counter((e["agent_id"], e["parent_session_id"]) for e in run.calls if e["is_subagent"])
    spotter = "4d5611e5-241a-462a-8d15-5122611a9569"
    assert subs[("a2898e3", spotter)] == 12  # 2.1.39 <session>/subagents/
    assert subs[("acompact-e1f845", spotter)] == 1  # the compaction call
    assert subs[("a36efb2a1231c41e2", "ef958aa1-0e93-49f0-bb71-150f63befcd1")] == 6  # 2.1.114
    assert subs[("c3d572ee", "5ed31c36-bca8-40fd-8d24-f1a1f0af7901")] == 1  # 2.0.28 legacy
    assert subs[("c63fe96c", "5ed31c36-bca8-40fd-8d24-f1a1f0af7901")] == 1
    assert subs[("3430b97e", "7acd37a8-2745-4b58-a8a9-46164b22ad9e")] == 1  # 2.0.42 warmup
    assert subs[(None, "df749439-8556-41bf-9965-9f49cf38bf2a")] == 3  # 1.0.35 inline sidechain
    assert sum(subs.values()) == 25
    for e in run.calls:
        assert (e["parent_session_id"] is not None) == e["is_subagent"]
        if e["is_subagent"]:
            assert e["session_id"] == e["parent_session_id"]


def test_real_tool_calls_match_one_by_one(real: tuple[Expected, Run]) -> None:
    exp, run = real
    assert len(exp.tools) == REAL_TOOL_CALLS == run.report.tool_calls == len(run.tools)
    got = {
        e["event_id"]: {
            k: e[k] for k in ("tool_name", "call_event_id", "duration_ms", "status", "timestamp")
        }
        for e in run.tools
    }
    assert got == exp.tools
    call_ids = {e["event_id"] for e in run.calls}
    assert all(e["call_event_id"] in call_ids for e in run.tools)
    codes = Counter(e["error_code"] for e in run.tools if e["status"] == "error")
    assert codes["validation"] >= 1 and codes["exit_code"] >= 1 and codes["rejected"] >= 1
    assert all(e["error_code"] is None for e in run.tools if e["status"] == "ok")


def test_real_durations_match_parent_to_last_line(real: tuple[Expected, Run]) -> None:
    exp, run = real
    got = {e["event_id"]: e["duration_ms"] for e in run.calls}
    want = {eid: c["duration_ms"] for eid, c in exp.calls.items()}
    assert {k: (want[k], got[k]) for k in want if want[k] != got[k]} == {}


def test_real_events_have_exactly_the_contract_fields(real: tuple[Expected, Run]) -> None:
    _, run = real
    for e in run.calls:
        assert tuple(e) == LLM_FIELDS
    for e in run.tools:
        assert tuple(e) == TOOL_FIELDS


def test_real_run_is_deterministic_and_machine_independent(
    real: tuple[Expected, Run], tmp_path: Path
) -> None:
    _, first = real
    copy = tmp_path / "elsewhere" / "claude"
    shutil.copytree(FIXTURES / "projects", copy / "projects")
    again = dry(copy, tmp_path / "home")
    assert again.raw == first.raw


# -- streaming lines of one response -------------------------------------------------------


def test_streaming_lines_of_one_response_count_once_with_the_final_usage(tmp_path: Path) -> None:
    ph = usage(3, 9, 11_442, 15_005, m5=15_005, h1=0)
    final = usage(3, 420, 11_442, 15_005, m5=15_005, h1=0)
    run = run_files(
        tmp_path,
        {
            main_file(): [
                prompt("p1", None, 0),
                reply(
                    "a1",
                    "p1",
                    1,
                    "msg_A",
                    "req_A",
                    ph,
                    stop=None,
                    content=[{"type": "thinking", "thinking": "hmm", "signature": "sig"}],
                ),
                reply("a2", "a1", 2, "msg_A", "req_A", ph, stop=None),
                reply(
                    "a3",
                    "a2",
                    3,
                    "msg_A",
                    "req_A",
                    final,
                    stop="tool_use",
                    content=[tool_use("toolu_1")],
                ),
            ]
        },
    )
    assert len(run.calls) == 1
    e = run.calls[0]
    assert tokens(e) == (3, 420, 11_442, 15_005, 0)
    assert e["output_final"] is True
    assert e["revision"] == 0
    assert e["model"] == MODEL
    assert e["timestamp"] == ts(3)
    assert run.report.tokens["output_tokens"] == 420
    assert run.report.tokens["cache_read_tokens"] == 11_442  # not 3 x 11,442


def test_placeholder_only_response_is_not_final(tmp_path: Path) -> None:
    ph = usage(3, 9, 100, 0)
    run = run_files(
        tmp_path,
        {
            main_file(): [
                prompt("p1", None, 0),
                reply("a1", "p1", 1, "msg_A", "req_A", ph, stop=None),
                reply("a2", "a1", 2, "msg_A", "req_A", ph, stop=None),
            ]
        },
    )
    assert len(run.calls) == 1
    assert run.calls[0]["output_final"] is False
    assert tokens(run.calls[0]) == (3, 9, 100, 0, 0)


# -- the same key in several files ---------------------------------------------------------


def _conversation(sid: str, out: int = 50, stop: str | None = "end_turn") -> list[Any]:
    return [
        prompt("p1", None, 0, sessionId=sid),
        reply("a1", "p1", 1, "msg_A", "req_A", usage(5, out, 1000, 200), stop=stop, sessionId=sid),
    ]


def test_same_key_in_two_files_is_counted_once(tmp_path: Path) -> None:
    other = "5e551011-0000-4000-8000-000000000002"  # a resume/fork copy under a new session id
    run = run_files(
        tmp_path,
        {
            main_file(): _conversation(SID),
            main_file(other): _conversation(other),
        },
    )
    assert len(run.calls) == 1
    assert run.report.llm_calls == 1
    assert run.report.not_emitted == Counter({"duplicate": 1})
    assert tokens(run.calls[0]) == (5, 50, 1000, 200, 0)


def test_copy_with_more_usage_is_emitted_again_as_a_revision(tmp_path: Path) -> None:
    run = run_files(
        tmp_path,
        {
            main_file("aaaa0000-0000-4000-8000-000000000001"): _conversation(SID, 7, None),
            main_file("bbbb0000-0000-4000-8000-000000000001"): _conversation(SID, 300),
        },
    )
    assert [
        (e["event_id"], e["revision"], e["output_tokens"], e["output_final"]) for e in run.calls
    ] == [
        (event_id(AGENT, "msg_A", "req_A"), 0, 7, False),
        (event_id(AGENT, "msg_A", "req_A"), 1, 300, True),
    ]
    assert run.report.llm_calls == 1 and run.report.revisions == 1
    assert run.report.tokens["output_tokens"] == 300  # the grown call, not 7 + 300
    assert run.report.tokens["cache_read_tokens"] == 1000


def test_report_totals_after_a_final_call_grows(tmp_path: Path) -> None:
    run = run_files(
        tmp_path,
        {
            main_file("aaaa0000-0000-4000-8000-000000000001"): _conversation(SID, 50, "end_turn"),
            main_file("bbbb0000-0000-4000-8000-000000000001"): _conversation(SID, 300),
        },
    )
    assert [(e["revision"], e["output_tokens"]) for e in run.calls] == [(0, 50), (1, 300)]
    assert run.report.tokens["output_tokens"] == 300
    assert run.report.tokens["cache_read_tokens"] == 1000


# -- /btw replays and subagents ------------------------------------------------------------


def test_btw_replay_in_subagents_is_dropped_and_the_main_call_kept(tmp_path: Path) -> None:
    side = {"isSidechain": True, "agentId": "abtw123"}
    run = run_files(
        tmp_path,
        {
            main_file(): [
                prompt("p1", None, 0),
                reply("a1", "p1", 1, "msg_MAIN", "req_1", usage(4, 80, 50_000, 300)),
            ],
            f"-nonexistent-agent-cli-tests-proj/{SID}/subagents/agent-abtw123.jsonl": [
                prompt("s1", None, 10, "what is X?", **side),
                # the replay: same message id, a new request id, the parent's usage again
                reply("s2", "s1", 11, "msg_MAIN", "req_2", usage(4, 80, 50_000, 300), **side),
                # the side question's own answer is a real call
                reply("s3", "s2", 12, "msg_BTW", "req_3", usage(2, 40, 50_300, 20), **side),
            ],
        },
    )
    assert run.report.not_emitted == Counter({"btw_replay": 1})
    assert {e["event_id"] for e in run.calls} == {
        event_id(AGENT, "msg_MAIN", "req_1"),
        event_id(AGENT, "msg_BTW", "req_3"),
    }
    main = run.call("msg_MAIN", "req_1")
    assert main["is_subagent"] is False and main["agent_id"] is None
    btw = run.call("msg_BTW", "req_3")
    assert btw["is_subagent"] is True and btw["agent_id"] == "abtw123"
    assert run.report.tokens["cache_read_tokens"] == 100_300


def test_inline_sidechain_lines_are_subagent_calls(tmp_path: Path) -> None:
    side = {"isSidechain": True, "version": "1.0.35"}
    main = {"version": "1.0.35"}
    run = run_files(
        tmp_path,
        {
            main_file(): [
                prompt("p1", None, 0, **main),
                reply(
                    "a1",
                    "p1",
                    1,
                    "msg_T",
                    "req_T",
                    usage(3, 30, 1000, 0),
                    stop="tool_use",
                    content=[tool_use("toolu_task", "Task", {"prompt": "look"})],
                    **main,
                ),
                prompt("s1", None, 2, "look", **side),
                reply("s2", "s1", 3, "msg_S1", "req_S1", usage(10, 20, 0, 500), **side),
                reply("s3", "s2", 4, "msg_S2", "req_S2", usage(11, 21, 500, 0), **side),
                result("r1", "a1", 5, "toolu_task", "found it", **main),
                reply("a2", "r1", 6, "msg_F", "req_F", usage(3, 40, 1100, 0), **main),
            ]
        },
    )
    assert len(run.calls) == 4
    for mid in ("msg_S1", "msg_S2"):
        e = run.call(mid, "req_" + mid[4:])
        assert e["is_subagent"] is True
        assert e["agent_id"] is None
        assert e["parent_session_id"] == SID and e["session_id"] == SID
        assert e["agent_version"] == "1.0.35"
    for mid in ("msg_T", "msg_F"):
        e = run.call(mid, "req_" + mid[4:])
        assert e["is_subagent"] is False and e["parent_session_id"] is None
        assert e["turn_index"] == 1  # the sidechain's prompt is not a user turn of the session
    assert [t["tool_name"] for t in run.tools] == ["Task"]


def test_subagent_files_2_0_and_2_1_carry_agent_id_and_parent_session(tmp_path: Path) -> None:
    new_id = "a1b2c3d4e5f6a7b8c"
    side21 = {"isSidechain": True, "agentId": new_id}
    side20 = {"isSidechain": True, "agentId": "c0ffee12", "version": "2.0.28"}
    base = f"-nonexistent-agent-cli-tests-proj/{SID}/subagents/agent-{new_id}"
    root = tmp_path / "claude"
    (root / "projects" / base).parent.mkdir(parents=True)
    (root / "projects" / f"{base}.meta.json").write_text(
        '{"agentType":"general-purpose","description":"look around"}'
    )
    run = run_files(
        tmp_path,
        {
            main_file(): [
                prompt("p1", None, 0),
                reply("a1", "p1", 1, "msg_M", "req_M", usage(1, 2, 3, 4)),
            ],
            f"{base}.jsonl": [
                prompt("s1", None, 2, "look", **side21),
                reply("s2", "s1", 3, "msg_X", "req_X", usage(5, 6, 7, 8), **side21),
            ],
            "-nonexistent-agent-cli-tests-proj/agent-c0ffee12.jsonl": [
                prompt("w1", None, 4, "Warmup", **side20),
                reply("w2", "w1", 5, "msg_W", "req_W", usage(9, 10, 11, 12), **side20),
            ],
            # a subagent file whose lines lack isSidechain is still a subagent by its place
            f"-nonexistent-agent-cli-tests-proj/{SID}/subagents/agent-a00000000000000ff.jsonl": [
                reply(
                    "z1", None, 6, "msg_Z", "req_Z", usage(1, 1, 0, 0), agentId="a00000000000000ff"
                )
            ],
        },
    )
    assert len(run.calls) == 4
    m = run.call("msg_M", "req_M")
    assert (m["is_subagent"], m["agent_id"], m["parent_session_id"]) == (False, None, None)
    x = run.call("msg_X", "req_X")
    assert (x["is_subagent"], x["agent_id"], x["parent_session_id"], x["session_id"]) == (
        True,
        new_id,
        SID,
        SID,
    )
    w = run.call("msg_W", "req_W")
    assert (w["is_subagent"], w["agent_id"], w["parent_session_id"], w["agent_version"]) == (
        True,
        "c0ffee12",
        SID,
        "2.0.28",
    )
    z = run.call("msg_Z", "req_Z")
    assert (z["is_subagent"], z["agent_id"], z["parent_session_id"]) == (
        True,
        "a00000000000000ff",
        SID,
    )
    assert run.report.files == 4  # the .meta.json is not a transcript


def test_journal_and_meta_files_are_not_read(tmp_path: Path) -> None:
    sub = tmp_path / "claude" / "projects" / "p" / SID / "subagents"
    sub.mkdir(parents=True)
    (sub / "journal.jsonl").write_text('{"type":"started","agentId":"a1"}\n')
    (sub / "agent-a1.meta.json").write_text('{"agentType":"x"}')
    run = dry(tmp_path / "claude", tmp_path / "home")
    assert run.report.files == 0 and run.events == []


# -- keys ----------------------------------------------------------------------------------


def test_missing_request_id_keys_on_the_message_id_alone(tmp_path: Path) -> None:
    other = "5e551011-0000-4000-8000-000000000003"
    lines = [
        prompt("p1", None, 0),
        reply("a1", "p1", 1, "msg_P", None, usage(2, 5, 10, 0), stop=None),
        reply("a2", "a1", 2, "msg_P", None, usage(2, 99, 10, 0)),
    ]
    run = run_files(
        tmp_path, {main_file(): lines, main_file(other): [dict(d, sessionId=other) for d in lines]}
    )
    assert len(run.calls) == 1
    e = run.calls[0]
    assert e["event_id"] == event_id(AGENT, "msg_P", "")
    assert tokens(e) == (2, 99, 10, 0, 0) and e["output_final"] is True
    assert run.report.not_emitted == Counter({"duplicate": 1})


def test_lines_without_message_id_are_each_a_call(tmp_path: Path) -> None:
    run = run_files(
        tmp_path,
        {
            main_file(): [
                prompt("p1", None, 0),
                reply("a1", "p1", 1, None, None, usage(1, 10, 0, 0)),
                reply("a2", "a1", 2, None, None, usage(1, 20, 0, 0)),
            ]
        },
    )
    assert sorted(e["output_tokens"] for e in run.calls) == [10, 20]
    assert len({e["event_id"] for e in run.calls}) == 2


# -- copies of usage that are not calls ----------------------------------------------------


def test_progress_payloads_and_tool_use_result_usage_are_not_counted(tmp_path: Path) -> None:
    nested = reply(
        "n1",
        "x",
        3,
        "msg_NESTED",
        "req_NESTED",
        usage(100, 1000, 10_000, 1000),
        isSidechain=True,
        agentId="a2898e3",
    )
    run = run_files(
        tmp_path,
        {
            main_file(): [
                prompt("p1", None, 0),
                reply(
                    "a1",
                    "p1",
                    1,
                    "msg_T",
                    "req_T",
                    usage(3, 30, 1000, 0),
                    stop="tool_use",
                    content=[tool_use("toolu_task", "Task", {"prompt": "look"})],
                ),
                envelope(
                    "g1",
                    "a1",
                    2,
                    type="progress",
                    toolUseID="agent_msg_NESTED",
                    parentToolUseID="toolu_task",
                    data={
                        "type": "agent_progress",
                        "agentId": "a2898e3",
                        "prompt": "look",
                        "normalizedMessages": [],
                        "message": nested,
                    },
                ),
                result(
                    "r1",
                    "a1",
                    5,
                    "toolu_task",
                    [{"type": "text", "text": "done"}],
                    tur={
                        "status": "completed",
                        "agentId": "a2898e3",
                        "totalDurationMs": 3000,
                        "totalTokens": 12_100,
                        "totalToolUseCount": 1,
                        "usage": usage(100, 1000, 10_000, 1000),
                    },
                ),
                reply("a2", "r1", 6, "msg_F", "req_F", usage(3, 40, 1100, 0)),
            ]
        },
    )
    assert {e["event_id"] for e in run.calls} == {
        event_id(AGENT, "msg_T", "req_T"),
        event_id(AGENT, "msg_F", "req_F"),
    }
    assert run.report.tokens["input_tokens"] == 6
    assert run.report.tokens["output_tokens"] == 70


# -- failed calls --------------------------------------------------------------------------

ERROR_CASES = [
    pytest.param(
        "rate_limit",
        429,
        "You've hit your limit · resets 6pm (Europe/Berlin)",
        "rate_limit",
        id="rate_limit-2.1",
    ),
    pytest.param(
        None,
        None,
        "You've hit your weekly limit · resets Sep 17 at 10pm (UTC)",
        "rate_limit",
        id="rate_limit-text-only",
    ),
    pytest.param(
        None, None, "Claude AI usage limit reached|1750000000", "rate_limit", id="rate_limit-1.0.x"
    ),
    pytest.param(
        "server_error",
        529,
        "API Error: 529 Overloaded. This is a server-side issue, usually temporary "
        "— try again in a moment.",
        "overloaded",
        id="overloaded-529",
    ),
    pytest.param(
        None,
        None,
        'API Error: 529 {"type":"error","error":{"type":"overloaded_error",'
        '"message":"Overloaded"}}',
        "overloaded",
        id="overloaded-old-text",
    ),
    pytest.param(
        "server_error",
        500,
        'API Error: 500 {"type":"error","error":{"type":'
        '"api_error","message":"Internal server error"}}',
        "server_error",
        id="server_error-500",
    ),
    pytest.param(
        "unknown",
        None,
        "API Error: Connection closed before a response was received.",
        "server_error",
        id="server_error-network",
    ),
    pytest.param(
        "invalid_request", 400, "Prompt is too long", "context_overflow", id="context_overflow"
    ),
    pytest.param(
        "invalid_request",
        400,
        "prompt is too long: 212000 tokens > 200000 maximum",
        "context_overflow",
        id="context_overflow-count",
    ),
    pytest.param(
        "authentication_failed",
        401,
        'API Error: 401 {"type":"error","error":{"type":"authentication_error",'
        '"message":"OAuth token has expired."}} · Please run /login',
        "auth",
        id="auth",
    ),
    pytest.param(
        "invalid_request",
        400,
        'API Error: 400 {"type":"error","error":{"type":"invalid_request_error",'
        '"message":"messages.3.content.0.tool_result: content cannot be empty"}}',
        "invalid_request",
        id="invalid_request",
    ),
    pytest.param(
        None,
        None,
        "API Error: Claude Code is unable to respond to this request, which "
        "appears to violate our Usage Policy (https://www.anthropic.com/legal/aup). "
        "Please double press esc to edit your last message.",
        "refusal",
        id="refusal",
    ),
]


@pytest.mark.parametrize(("error", "status", "text", "code"), ERROR_CASES)
def test_api_error_lines_are_failed_calls_with_zero_tokens(
    tmp_path: Path, error: str | None, status: int | None, text: str, code: str
) -> None:
    run = run_files(
        tmp_path,
        {
            main_file(): [
                prompt("p1", None, 0),
                synthetic("e1", "p1", 2.5, text, error=error, status=status),
            ]
        },
    )
    assert len(run.calls) == 1
    e = run.calls[0]
    assert e["status"] == "error"
    assert e["error_code"] == code
    assert tokens(e) == (0, 0, 0, 0, 0) and e["reasoning_tokens"] == 0
    assert e["model"] is None
    assert e["cost_usd"] == 0.0
    assert e["duration_ms"] == 2500
    assert (e["turn_index"], e["call_index"]) == (1, 0)
    assert e["timestamp"] == ts(2.5)
    assert run.report.error_calls == 1 and run.report.llm_calls == 1


def test_refusal_stop_reason_on_a_real_message_is_an_error_with_tokens(tmp_path: Path) -> None:
    run = run_files(
        tmp_path,
        {
            main_file(): [
                prompt("p1", None, 0),
                reply("a1", "p1", 1, "msg_R", "req_R", usage(5, 2, 100, 0), stop="refusal"),
            ]
        },
    )
    e = run.calls[0]
    assert (e["status"], e["error_code"]) == ("error", "refusal")
    assert tokens(e) == (5, 2, 100, 0, 0)


def test_retry_lines_and_synthetic_notices_are_not_calls(tmp_path: Path) -> None:
    retry = {
        "type": "system",
        "subtype": "api_error",
        "level": "error",
        "error": {
            "status": 529,
            "headers": {},
            "requestID": "req_x",
            "error": {
                "type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"},
            },
        },
        "retryInMs": 1000,
        "maxRetries": 10,
    }
    run = run_files(
        tmp_path,
        {
            main_file(): [
                prompt("p1", None, 0),
                envelope("y1", "p1", 1, retryAttempt=1, **retry),
                envelope("y2", "y1", 2, retryAttempt=2, **retry),
                envelope("y3", "y2", 3, retryAttempt=3, **retry),
                reply("a1", "y3", 5, "msg_OK", "req_OK", usage(1, 2, 3, 4)),
                prompt("p2", "a1", 6, "<command-name>/compact</command-name>"),
                synthetic("n1", "p2", 7, "No response requested.", api_error=False),
            ]
        },
    )
    assert [e["event_id"] for e in run.calls] == [event_id(AGENT, "msg_OK", "req_OK")]
    assert run.report.error_calls == 0
    assert run.report.skipped["api_retry_attempts"] == 3
    assert run.report.skipped["synthetic_notice"] == 1


# -- tool calls ----------------------------------------------------------------------------

REJECTED = (
    "The user doesn't want to proceed with this tool use. The tool use was rejected "
    "(eg. if it was a file edit, the new_string was NOT written to the file). STOP what "
    "you are doing and wait for the user to tell you how to proceed."
)


@pytest.mark.parametrize(
    ("content", "is_error", "status", "code"),
    [
        pytest.param("file1\nfile2", False, "ok", None, id="ok"),
        pytest.param(
            "<tool_use_error>File has not been read yet. Read it first before writing to "
            "it.</tool_use_error>",
            True,
            "error",
            "validation",
            id="validation",
        ),
        pytest.param(
            "<tool_use_error>InputValidationError: Edit failed due to the following issue:\n"
            "The required parameter `file_path` is missing</tool_use_error>",
            True,
            "error",
            "validation",
            id="validation-schema",
        ),
        pytest.param(
            "Exit code 1\nnpm ERR! Test failed.", True, "error", "exit_code", id="exit_code"
        ),
        pytest.param(
            [{"type": "text", "text": "Exit code 2\nboom"}],
            True,
            "error",
            "exit_code",
            id="exit_code-blocks",
        ),
        pytest.param(REJECTED, True, "error", "rejected", id="rejected"),
        pytest.param(
            "Error: EISDIR: illegal operation on a directory, read",
            True,
            "error",
            "error",
            id="error",
        ),
    ],
)
def test_tool_use_and_result_make_a_tool_call(
    tmp_path: Path, content: Any, is_error: bool, status: str, code: str | None
) -> None:
    run = run_files(
        tmp_path,
        {
            main_file(): [
                prompt("p1", None, 0),
                reply(
                    "a1",
                    "p1",
                    2.5,
                    "msg_A",
                    "req_A",
                    usage(1, 2, 3, 4),
                    stop="tool_use",
                    content=[tool_use("toolu_01", "Edit", {"file_path": "/x/y.py"})],
                ),
                result(
                    "r1",
                    "a1",
                    4.0,
                    "toolu_01",
                    content,
                    is_error=is_error,
                    tur="Error: failed" if is_error else {"stdout": "ok"},
                ),
                reply("a2", "r1", 5, "msg_B", "req_B", usage(1, 2, 3, 4)),
            ]
        },
    )
    assert len(run.tools) == 1
    t = run.tools[0]
    assert t["event_id"] == event_id(AGENT, "tool", "toolu_01")
    assert t["tool_name"] == "Edit"
    assert t["call_event_id"] == event_id(AGENT, "msg_A", "req_A")
    assert t["timestamp"] == ts(2.5)
    assert t["duration_ms"] == 1500
    assert (t["status"], t["error_code"]) == (status, code)
    assert t["session_id"] == SID and "agent_version" not in t  # not in the tool contract
    assert run.report.tool_calls == 1


def test_parallel_tool_uses_of_one_response_and_unmatched_results(tmp_path: Path) -> None:
    run = run_files(
        tmp_path,
        {
            main_file(): [
                prompt("p1", None, 0),
                reply(
                    "a1",
                    "p1",
                    1,
                    "msg_A",
                    "req_A",
                    usage(1, 5, 3, 4),
                    stop=None,
                    content=[tool_use("toolu_R", "Read")],
                ),
                reply(
                    "a2",
                    "a1",
                    2,
                    "msg_A",
                    "req_A",
                    usage(1, 9, 3, 4),
                    stop="tool_use",
                    content=[tool_use("toolu_G", "Grep")],
                ),
                result("r2", "a2", 2.1, "toolu_G", "hit"),  # results out of order
                result("r1", "a1", 3.5, "toolu_R", "text"),
                result("r3", "a1", 3.6, "toolu_unknown", "orphan"),
            ]
        },
    )
    got = {t["tool_name"]: (t["duration_ms"], t["call_event_id"]) for t in run.tools}
    call = event_id(AGENT, "msg_A", "req_A")
    assert got == {"Read": (2500, call), "Grep": (100, call)}
    assert run.report.skipped["tool_result_unmatched"] == 1


# -- turn_index, call_index, duration ------------------------------------------------------


def test_turn_index_counts_real_prompts_and_call_index_counts_calls(tmp_path: Path) -> None:
    run = run_files(
        tmp_path,
        {
            main_file(): [
                prompt("p1", None, 0, "first"),
                reply(
                    "a1",
                    "p1",
                    2,
                    "msg_A",
                    "req_A",
                    usage(1, 1, 0, 0),
                    stop="tool_use",
                    content=[tool_use("toolu_1")],
                ),
                result("r1", "a1", 3, "toolu_1", "out"),  # a tool result is not a prompt
                reply("b1", "r1", 5, "msg_B", "req_B", usage(1, 1, 0, 0)),
                prompt(
                    "m1",
                    "b1",
                    6,
                    "<local-command-caveat>Caveat: ...</local-command-caveat>",
                    isMeta=True,
                ),
                prompt("i1", "m1", 7, "[Request interrupted by user]"),
                prompt("p2", "i1", 10, [{"type": "text", "text": "second"}]),  # a block-list prompt
                reply("c1", "p2", 12, "msg_C", "req_C", usage(1, 1, 0, 0)),
                envelope(
                    "cb",
                    None,
                    19,
                    type="system",
                    subtype="compact_boundary",
                    content="Conversation compacted",
                    logicalParentUuid="c1",
                    compactMetadata={"trigger": "auto", "preTokens": 170_000},
                ),
                prompt(
                    "cs",
                    "cb",
                    20,
                    "This session is being continued from a previous conversation",
                    isCompactSummary=True,
                    isVisibleInTranscriptOnly=True,
                ),
                prompt("p3", "cs", 30, "third"),
                synthetic(
                    "e1",
                    "p3",
                    31,
                    "API Error: 500 Internal server error",
                    error="server_error",
                    status=500,
                ),
                reply("d1", "e1", 40, "msg_D", "req_D", usage(1, 1, 0, 0)),
            ]
        },
    )
    got = {e["event_id"]: (e["turn_index"], e["call_index"]) for e in run.calls}
    assert got == {
        event_id(AGENT, "msg_A", "req_A"): (1, 0),
        event_id(AGENT, "msg_B", "req_B"): (1, 1),
        event_id(AGENT, "msg_C", "req_C"): (2, 2),
        event_id(AGENT, "error", "e1-0000-4000-8000-synthetic"): (3, 3),
        event_id(AGENT, "msg_D", "req_D"): (3, 4),
    }


def test_duration_is_parent_record_to_the_groups_last_line(tmp_path: Path) -> None:
    run = run_files(
        tmp_path,
        {
            main_file(): [
                prompt("p1", None, 0),
                reply(
                    "a1",
                    "p1",
                    1.5,
                    "msg_A",
                    "req_A",
                    usage(1, 2, 0, 0),
                    stop=None,
                    content=[{"type": "thinking", "thinking": "...", "signature": "s"}],
                ),
                reply(
                    "a2",
                    "a1",
                    2.0,
                    "msg_A",
                    "req_A",
                    usage(1, 80, 0, 0),
                    stop="tool_use",
                    content=[tool_use("toolu_1")],
                ),
                # streaming tool execution: a result inside the group, then another block of it
                result("r1", "a2", 2.4, "toolu_1", "out"),
                reply(
                    "a3",
                    "r1",
                    4.25,
                    "msg_A",
                    "req_A",
                    usage(1, 80, 0, 0),
                    stop="tool_use",
                    content=[tool_use("toolu_2")],
                ),
                result("r2", "a3", 6.0, "toolu_2", "out"),
                reply("b1", "r2", 9.5, "msg_B", "req_B", usage(1, 3, 0, 0)),
            ]
        },
    )
    assert run.call("msg_A", "req_A")["duration_ms"] == 4250
    assert run.call("msg_B", "req_B")["duration_ms"] == 3500
    assert run.call("msg_A", "req_A")["output_tokens"] == 80


def test_duration_when_the_parent_is_an_attachment_line(tmp_path: Path) -> None:
    run = run_files(
        tmp_path,
        {
            main_file(): [
                prompt("p1", None, 0),
                envelope(
                    "t1",
                    "p1",
                    0.5,
                    type="attachment",
                    attachment={
                        "type": "hook_success",
                        "hookName": "SessionStart",
                        "content": "ok",
                        "stdout": "",
                        "exitCode": 0,
                    },
                ),
                reply("a1", "t1", 3.0, "msg_A", "req_A", usage(1, 2, 0, 0)),
            ]
        },
    )
    assert run.call("msg_A", "req_A")["duration_ms"] == 2500


def test_duration_is_none_without_a_known_parent(tmp_path: Path) -> None:
    run = run_files(
        tmp_path,
        {
            main_file(): [
                reply("a1", None, 3.0, "msg_A", "req_A", usage(1, 2, 0, 0)),
                reply("b1", "not-in-this-file", 4.0, "msg_B", "req_B", usage(1, 2, 0, 0)),
            ]
        },
    )
    assert [e["duration_ms"] for e in run.calls] == [None, None]


# -- cache writes --------------------------------------------------------------------------


def test_cache_creation_1h_breakdown(tmp_path: Path) -> None:
    run = run_files(
        tmp_path,
        {
            main_file(): [
                prompt("p1", None, 0),
                reply("a1", "p1", 1, "msg_A", "req_A", usage(10, 100, 2000, 1000, m5=400, h1=600)),
                # before 2.1.152 the total could be 0 while the breakdown was reported
                reply("b1", "a1", 2, "msg_B", "req_B", usage(10, 100, 2000, 0, m5=100, h1=50)),
                # 1.0.x: no breakdown at all
                reply("c1", "b1", 3, "msg_C", "req_C", usage(10, 100, 2000, 700)),
            ]
        },
    )
    a, b, c = (
        run.call(m, r) for m, r in (("msg_A", "req_A"), ("msg_B", "req_B"), ("msg_C", "req_C"))
    )
    assert tokens(a) == (10, 100, 2000, 1000, 600)
    assert tokens(b) == (10, 100, 2000, 150, 50)
    assert tokens(c) == (10, 100, 2000, 700, 0)
    pricer = Pricer()
    for e in (a, b, c):
        want = pricer.cost(MODEL, "anthropic", Usage(*tokens(e)))
        assert e["cost_usd"] == pytest.approx(want, rel=1e-12)
    assert a["cost_usd"] > pricer.cost(MODEL, "anthropic", Usage(10, 100, 2000, 1000, 0))
    assert run.report.tokens["cache_creation_1h_tokens"] == 650


# -- bad input -----------------------------------------------------------------------------


def _good(n: int) -> list[dict[str, Any]]:
    return [
        prompt(f"p{n}", None, n),
        reply(f"a{n}", f"p{n}", n + 0.5, f"msg_{n}", f"req_{n}", usage(1, 10, 0, 0)),
    ]


def test_malformed_line_is_skipped_and_counted(tmp_path: Path) -> None:
    run = run_files(
        tmp_path,
        {
            main_file(): [
                *_good(1),
                b'{"type":"assistant","message":{"id":"msg_torn","usage":{"input_tok\n',
                *_good(2),
            ]
        },
    )
    assert len(run.calls) == 2
    assert run.report.skipped == Counter({"malformed_json": 1})


def test_torn_line_without_a_type_is_counted(tmp_path: Path) -> None:
    run = run_files(
        tmp_path,
        {
            main_file(): [
                *_good(1),
                b'{"parentUuid":"a1","isSidechain":false,"userType":"exter\n',
                *_good(2),
            ]
        },
    )
    assert len(run.calls) == 2
    assert run.report.skipped == Counter({"malformed_json": 1})


def test_invalid_utf8_line_is_skipped_and_counted(tmp_path: Path) -> None:
    run = run_files(
        tmp_path,
        {
            main_file(): [
                *_good(1),
                b'\xff\xfe{"type":"user","message":{"content":"x"}}\n',
                *_good(2),
            ]
        },
    )
    assert len(run.calls) == 2
    assert run.report.skipped == Counter({"invalid_utf8": 1})


def test_invalid_utf8_inside_a_decoded_field_is_skipped_not_fatal(tmp_path: Path) -> None:
    bad = dumps(reply("ax", "p1", 1.2, "msg_X", "req_X", usage(1, 1, 0, 0))).encode()
    bad = bad.replace(f'"sessionId":"{SID}"'.encode(), b'"sessionId":"\xff\xfe"')
    run = run_files(tmp_path, {main_file(): [*_good(1), bad + b"\n", *_good(2)]})
    assert len(run.calls) == 2
    assert run.report.skipped == Counter({"invalid_utf8": 1})


def test_oversize_line_is_skipped_and_counted(tmp_path: Path) -> None:
    huge = reply(
        "ax",
        "p1",
        1.2,
        "msg_HUGE",
        "req_HUGE",
        usage(1, 1, 0, 0),
        content=[{"type": "text", "text": "x" * 5000}],
    )
    path = main_file()
    run = run_files(tmp_path, {path: [*_good(1), huge, *_good(2)]}, max_line_bytes=2048)
    assert {e["event_id"] for e in run.calls} == {
        event_id(AGENT, "msg_1", "req_1"),
        event_id(AGENT, "msg_2", "req_2"),
    }
    assert run.report.skipped == Counter({"oversize_line": 1})
    size = (tmp_path / "claude" / "projects" / path).stat().st_size
    assert run.report.bytes_read == size  # streamed past, not left behind


def test_partial_last_line_is_not_read(tmp_path: Path) -> None:
    partial = dumps(reply("a9", "p1", 9, "msg_9", "req_9", usage(1, 10, 0, 0))).encode()
    path = main_file()
    run = run_files(tmp_path, {path: [*_good(1), partial]})  # no trailing newline
    assert [e["event_id"] for e in run.calls] == [event_id(AGENT, "msg_1", "req_1")]
    size = (tmp_path / "claude" / "projects" / path).stat().st_size
    assert run.report.bytes_read == size - len(partial)


def test_partial_last_line_is_reported(tmp_path: Path) -> None:
    partial = dumps(reply("a9", "p1", 9, "msg_9", "req_9", usage(1, 10, 0, 0))).encode()
    run = run_files(tmp_path, {main_file(): [*_good(1), partial]})
    assert run.report.partial_lines == 1 and not run.report.skipped


def test_unknown_types_and_odd_shapes_do_not_stop_the_reader(tmp_path: Path) -> None:
    run = run_files(
        tmp_path,
        {
            main_file(): [
                *_good(1),
                {"type": "assistant", "message": None, "uuid": "n0", "timestamp": ts(1.7)},
                {
                    "type": "assistant",
                    "message": "legacy string",
                    "uuid": "n1",
                    "timestamp": ts(1.8),
                },
                {
                    "type": "user",
                    "message": {"role": "user", "content": None},
                    "uuid": "n2",
                    "timestamp": ts(1.9),
                },
                {"type": "some-future-type", "payload": {"usage": {"input_tokens": 5}}},
                {"type": "summary", "summary": "title", "leafUuid": "a1"},
                [1, 2, 3],
                *_good(2),
            ]
        },
    )
    assert len(run.calls) == 2
    assert set(run.report.skipped) <= {"unrecognized_line"}


# -- ids and --since -----------------------------------------------------------------------


def test_event_ids_are_sha256_of_v1_agent_and_natural_key(tmp_path: Path) -> None:
    lines = [*_good(1), result("r1", "a1", 1.7, "toolu_X", "x")]
    lines[1]["message"]["content"] = [tool_use("toolu_X")]
    first = run_files(tmp_path / "one", {main_file(): lines})
    second = run_files(tmp_path / "two", {main_file(): lines})
    assert first.raw == second.raw

    def sha(*parts: str) -> str:
        return hashlib.sha256(b"v1" + b"".join(b"\x1f" + p.encode() for p in parts)).hexdigest()

    assert sorted(e["event_id"] for e in first.events) == sorted(
        [sha(AGENT, "tool", "toolu_X"), sha(AGENT, "msg_1", "req_1")]
    )


def test_since_filters_calls_and_tools_by_utc_day(tmp_path: Path) -> None:
    day = 86_400
    run = run_files(
        tmp_path,
        {
            main_file(): [
                prompt("p1", None, 0),
                reply(
                    "a1",
                    "p1",
                    1,
                    "msg_OLD",
                    "req_OLD",
                    usage(1, 1, 0, 0),
                    stop="tool_use",
                    content=[tool_use("toolu_old")],
                ),
                result("r1", "a1", 2, "toolu_old", "x"),
                prompt("p2", "r1", day),
                reply(
                    "a2",
                    "p2",
                    day + 1,
                    "msg_NEW",
                    "req_NEW",
                    usage(2, 2, 0, 0),
                    stop="tool_use",
                    content=[tool_use("toolu_new")],
                ),
                result("r2", "a2", day + 2, "toolu_new", "x"),
            ]
        },
        since=date(2026, 3, 2),
    )
    assert {e["event_id"] for e in run.events} == {
        event_id(AGENT, "msg_NEW", "req_NEW"),
        event_id(AGENT, "tool", "toolu_new"),
    }
    assert run.report.not_emitted == Counter({"before_since": 2})
    assert run.report.llm_calls == 1 and run.report.tokens["input_tokens"] == 2


def test_since_skips_files_not_written_since(tmp_path: Path) -> None:
    root = tmp_path / "claude"
    old = write(root, main_file(), _good(1))
    stamp = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    os.utime(old, (stamp, stamp))
    run = dry(root, tmp_path / "home", since=date(2026, 2, 1))
    assert run.report.files == 0 and run.events == []


# -- where the transcripts are -------------------------------------------------------------


def test_default_roots_are_dot_claude_and_dot_config_claude(
    tmp_path: Path, isolated_home: Path
) -> None:
    home = isolated_home
    write(home / ".claude", main_file("aaaa0000-0000-4000-8000-000000000001"), _good(1))
    write(home / ".config" / "claude", main_file("bbbb0000-0000-4000-8000-000000000001"), _good(2))
    env = {"HOME": str(home)}
    assert claude_code.roots(env) == [
        home / ".config" / "claude" / "projects",
        home / ".claude" / "projects",
    ]
    out = io.BytesIO()
    report = pipeline.dry_run(Settings(agents=(AGENT,)), out, env)
    assert report.llm_calls == 2

    xdg = tmp_path / "xdg"
    write(xdg / "claude", main_file(), _good(3))
    assert claude_code.roots({"HOME": str(home), "XDG_CONFIG_HOME": str(xdg)}) == [
        xdg / "claude" / "projects",
        home / ".claude" / "projects",
    ]


def test_claude_config_dir_replaces_the_defaults(tmp_path: Path, isolated_home: Path) -> None:
    write(isolated_home / ".claude", main_file(), _good(1))
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, main_file(), _good(2))
    write(b, main_file(), _good(3))
    env = {"HOME": str(isolated_home), "CLAUDE_CONFIG_DIR": str(a)}
    assert claude_code.roots(env) == [a / "projects"]
    # a `projects` folder itself, a comma list, and the same folder twice
    env["CLAUDE_CONFIG_DIR"] = f"{a / 'projects'}, {b},{a}"
    assert claude_code.roots(env) == [a / "projects", b / "projects"]
    env["CLAUDE_CONFIG_DIR"] = str(tmp_path / "missing")
    assert claude_code.roots(env) == []
