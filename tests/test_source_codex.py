"""Codex CLI: real rollouts, one hand-written fixture per counting rule, state and canary.

Expected values never come from the reader: the real rollouts are re-parsed here with the
stdlib `json` module, and the hand-written fixtures (fixtures/codex/rules, one file per rule)
carry hand-computed numbers.
"""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import zstandard
from click.testing import CliRunner

from agent_cli.cli import cli
from agent_cli.config import Settings
from agent_cli.enrich import pseudonym
from agent_cli.events import LLM_FIELDS, TOOL_FIELDS, CallFact, ToolFact, event_id
from agent_cli.sources import codex
from agent_cli.sources.common import norm_ts
from agent_cli.tail import read_chunks
from tests.dryrun import Run, dry_run

FIXTURES = Path(__file__).parent / "fixtures" / "codex"
REAL = FIXTURES / "real"
RULES = FIXTURES / "rules"
AGENT = "codex"
MAX_LINE = 32 * 1024 * 1024

SID_A = "01900000-0000-7000-8000-00000000000a"  # repeats, info null (+ archived copy)
SID_B = "01900000-0000-7000-8000-00000000000b"  # model switch
SID_C = "01900000-0000-7000-8000-00000000000c"  # counter reset
SID_P = "01900000-0000-7000-8000-0000000000a1"  # subagent parent
SID_K = "01900000-0000-7000-8000-0000000000a2"  # subagent child (replays the parent)
SID_R = "01900000-0000-7000-8000-0000000000b1"  # branch root
SID_F = "01900000-0000-7000-8000-0000000000b2"  # branch fork (copies the root's lines)
SID_T = "01900000-0000-7000-8000-0000000000c1"  # tools
SID_M = "01900000-0000-7000-8000-0000000000d1"  # malformed and partial lines
SID_W = "01900000-0000-7000-8000-0000000000e1"  # cache writes


# -- helpers ---------------------------------------------------------------------------------


def dry(codex_home: Path, home: Path) -> Run:
    env = {"HOME": str(home), "CODEX_HOME": str(codex_home)}
    return dry_run(env, Settings(agents=(AGENT,)))


def copy_tree(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "codex-home"
    shutil.copytree(src, dst)
    return dst


def rule_file(sid: str) -> Path:
    found = list((RULES / "sessions").rglob(f"rollout-*-{sid}.jsonl"))
    assert len(found) == 1
    return found[0]


def read_facts(path: Path | str, skipped: Counter[str] | None = None) -> list[object]:
    skipped = Counter() if skipped is None else skipped
    facts: list[object] = []
    for chunk in codex.Codex().read(str(path), None, skipped, MAX_LINE):
        facts += chunk.facts
    return facts


def calls_of(facts: list[object]) -> list[CallFact]:
    return [f for f in facts if isinstance(f, CallFact)]


def tools_of(facts: list[object]) -> list[ToolFact]:
    return [f for f in facts if isinstance(f, ToolFact)]


def tok(c: CallFact) -> tuple[int, int, int, int, int]:
    u = c.usage
    return (
        u.input_tokens,
        u.cache_read_tokens,
        u.cache_creation_tokens,
        u.output_tokens,
        u.reasoning_tokens,
    )


def ms_of(s: str) -> int:
    return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


# -- the real rollouts, checked against an independent stdlib parse ---------------------------

F5 = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
    "total_tokens",
)


@dataclass
class Expected:
    sid: str
    parent: str | None
    subagent: bool
    nickname: str | None
    calls: int  # distinct growths of the cumulative total after the baseline
    delta: dict[str, int]  # final cumulative total minus the baseline
    tools: dict[str, tuple[str, str | None]]  # call_id -> (status, error_code)
    growth_ts: list[str]
    call_ts: dict[str, str]


def expected_from_json(path: Path) -> Expected:
    """Re-derive what the reader must report from a rollout, with json only."""
    lines = lines_of(path)
    meta = lines[0]["payload"]
    src = meta.get("source")
    spawn = src.get("subagent") if isinstance(src, dict) else None
    child = bool(meta.get("forked_from_id") or spawn)
    parent = meta.get("forked_from_id")
    if isinstance(spawn, dict) and "thread_spawn" in spawn:
        parent = spawn["thread_spawn"]["parent_thread_id"]
    seen_turn = False
    base = dict.fromkeys(F5, 0)
    prev: tuple[int, ...] | None = None
    growths: list[str] = []
    calls: dict[str, str] = {}
    ends: dict[str, int | None] = {}
    outputs: dict[str, str] = {}
    final = dict(base)
    for d in lines:
        p = d.get("payload") or {}
        if d["type"] == "turn_context":
            seen_turn = True
        if d["type"] == "event_msg" and p.get("type") == "token_count" and p.get("info"):
            t = p["info"]["total_token_usage"]
            cur = tuple(t.get(k, 0) for k in F5)
            if child and not seen_turn:
                base = dict(zip(F5, cur, strict=True))
            elif cur != prev:
                growths.append(d["timestamp"])
            prev = cur
            final = dict(zip(F5, cur, strict=True))
        if not (child and not seen_turn):
            if d["type"] == "response_item" and p.get("type") in (
                "function_call",
                "custom_tool_call",
            ):
                calls[p["call_id"]] = d["timestamp"]
            if d["type"] == "response_item" and p.get("type", "").endswith("_call_output"):
                outputs[p["call_id"]] = p["output"]
            if d["type"] == "event_msg" and p.get("type") == "exec_command_end":
                ends[p["call_id"]] = p.get("exit_code")
    tools: dict[str, tuple[str, str | None]] = {}
    for cid in calls:
        if cid not in outputs:
            continue
        out = outputs[cid]
        status: tuple[str, str | None] = ("ok", None)
        if ends.get(cid) not in (None, 0) or (
            "Process exited with code " in out
            and int(out.split("Process exited with code ")[1].split()[0]) != 0
        ):
            status = ("error", "exit_code")
        elif out.startswith("apply_patch verification failed"):
            status = ("error", "error")
        elif out.startswith("{"):
            meta_out = json.loads(out).get("metadata") or {}
            if meta_out.get("exit_code") not in (None, 0):
                status = ("error", "exit_code")
        tools[cid] = status
    return Expected(
        sid=meta["id"],
        parent=parent,
        subagent=spawn is not None,
        nickname=meta.get("agent_nickname"),
        calls=len(growths),
        delta={k: final[k] - base[k] for k in F5},
        tools=tools,
        growth_ts=growths,
        call_ts=calls,
    )


REAL_FILES = sorted((REAL / "sessions").rglob("rollout-*.jsonl"))


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    home = tmp_path_factory.mktemp("home")
    return dry(REAL, home)


def test_real_fixture_set_is_complete() -> None:
    assert len(REAL_FILES) == 9
    assert (FIXTURES / "SOURCES.md").is_file()


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name[8:27])
def test_real_usage_sums_to_the_growth_of_the_cumulative_total(path: Path, real_run: Run) -> None:
    exp = expected_from_json(path)
    calls = real_run.session(exp.sid)
    assert len(calls) == exp.calls
    s = Counter()
    for e in calls:
        for k in (
            "input_tokens",
            "cache_read_tokens",
            "cache_creation_tokens",
            "output_tokens",
            "reasoning_tokens",
        ):
            s[k] += e[k]
    # input_tokens is net of cache: input + cache_read (+ writes) is Codex's input_tokens
    assert (
        s["input_tokens"] + s["cache_read_tokens"] + s["cache_creation_tokens"]
        == exp.delta["input_tokens"]
    )
    assert s["cache_read_tokens"] == exp.delta["cached_input_tokens"]
    assert s["output_tokens"] == exp.delta["output_tokens"]
    assert s["reasoning_tokens"] == exp.delta["reasoning_output_tokens"]
    assert (
        sum(e["input_tokens"] + e["cache_read_tokens"] + e["output_tokens"] for e in calls)
        == exp.delta["total_tokens"]
    )
    assert [e["timestamp"] for e in calls] == [norm_ts(t) for t in exp.growth_ts]
    assert [e["call_index"] for e in calls] == list(range(len(calls)))
    for e in calls:
        assert e["parent_session_id"] == exp.parent
        assert e["is_subagent"] is exp.subagent
        assert e["agent_id"] == exp.nickname
        assert e["provider"] == "openai"
        assert e["model"]


def test_real_totals_match_the_hand_checked_numbers(real_run: Run) -> None:
    by_session = Counter()
    for e in real_run.calls:
        by_session[e["session_id"][-6:]] += (
            e["input_tokens"] + e["cache_read_tokens"] + e["output_tokens"]
        )
    # research/other-formats.md §1.5: the final cumulative totals of the root files, and
    # 13,378 + 13,443 for the subagent file (a naive sum of last_token_usage gives 182,237)
    assert by_session["5ab61a"] == 7_240_100
    assert by_session["0aa6f9"] == 1_766_028
    assert by_session["9726a9"] == 33_944_484
    assert by_session["a1fb40"] == 230_731
    assert by_session["13e66c"] == 26_821


def test_real_subagent_file_replay_is_baseline_only(real_run: Run) -> None:
    child = real_run.session("019e03b2-11a2-7320-9098-5d831813e66c")
    assert [(e["input_tokens"] + e["cache_read_tokens"] + e["output_tokens"]) for e in child] == [
        13_378,
        13_443,
    ]
    assert all(e["model"] == "gpt-5.5" and e["turn_index"] == 1 for e in child)
    assert child[0]["agent_id"] == "Confucius"
    assert child[0]["parent_session_id"] == "019e03b1-6422-7510-b349-b4d4765a28a8"


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name[8:27])
def test_real_tool_calls_match_one_by_one(path: Path, real_run: Run) -> None:
    exp = expected_from_json(path)
    tools = real_run.session(exp.sid, "tool_call")
    got = {}
    for e in tools:
        got[e["event_id"]] = (e["status"], e["error_code"])
    want = {event_id(AGENT, "tool", cid): st for cid, st in exp.tools.items()}
    assert got == want
    call_ids = {e["event_id"] for e in real_run.session(exp.sid)}
    for e in tools:
        assert e["call_event_id"] in call_ids
        assert e["duration_ms"] is not None and e["duration_ms"] >= 0


def test_real_tool_calls_point_at_the_response_that_asked_for_them(real_run: Run) -> None:
    # 0.118 (new order): calls, then the response's token_count; 0.47 (old order): the
    # token_count first, then the calls within a few ms.
    for path, new_order in ((REAL_FILES[-2], True), (REAL_FILES[0], False)):
        exp = expected_from_json(path)
        calls = {e["event_id"]: ms_of(e["timestamp"]) for e in real_run.session(exp.sid)}
        growth = sorted(calls.values())
        for cid, ts in exp.call_ts.items():
            if cid not in exp.tools:
                continue
            tool = next(
                e
                for e in real_run.session(exp.sid, "tool_call")
                if e["event_id"] == event_id(AGENT, "tool", cid)
            )
            t = ms_of(ts)
            want = (
                min(g for g in growth if g >= t) if new_order else max(g for g in growth if g <= t)
            )
            assert calls[tool["call_event_id"]] == want, cid


def test_real_error_statuses(real_run: Run) -> None:
    errors = Counter(
        (e["session_id"][-6:], e["error_code"]) for e in real_run.tools if e["status"] == "error"
    )
    assert errors == {("fcb97d", "exit_code"): 2, ("fcb97d", "error"): 1, ("a1fb40", "error"): 1}


def test_real_context_from_session_meta(real_run: Run) -> None:
    e = real_run.session("019dabc6-8fef-7681-a054-b5bb75fcb97d")[0]
    assert e["agent_version"] == "0.118.0"
    assert e["git_branch"] == "main"
    assert e["repo_name"] == "github.com/empathic/toolpath"
    # that folder is no repository here: it leaves as a hash of exactly that path
    assert e["repo_path"] == pseudonym("/Users/ben/empathic/oss/toolpath", "path")
    assert e["model"] == "gpt-5.4"


def test_real_events_have_exactly_the_contract_fields(real_run: Run) -> None:
    for e in real_run.events:
        assert tuple(e) == (LLM_FIELDS if e["kind"] == "llm_call" else TOOL_FIELDS)
    assert not real_run.report.skipped


# -- one fixture per rule --------------------------------------------------------------------


def test_repeated_totals_and_info_null_are_not_calls() -> None:
    calls = calls_of(read_facts(rule_file(SID_A)))
    # totals 1000/800/50/20 then 2200/1700/80/30; each repeated once; two info:null events
    assert [tok(c) for c in calls] == [(200, 800, 0, 50, 20), (300, 900, 0, 30, 10)]
    assert [c.call_index for c in calls] == [0, 1]
    assert [c.turn_index for c in calls] == [1, 1]
    assert [c.duration_ms for c in calls] == [1900, 3000]  # from the prompt, then the call
    assert [c.timestamp for c in calls] == ["2026-03-01T10:00:03.000Z", "2026-03-01T10:00:06.000Z"]
    c = calls[0]
    assert (c.session_id, c.model, c.provider, c.rank) == (SID_A, "gpt-5-codex", "openai", 1)
    assert (c.context.cwd, c.context.git_branch, c.context.repo_url, c.context.agent_version) == (
        "/nonexistent/agent-cli-tests/codex-proj",
        "feature/rules",
        "https://github.com/acme/codex-proj.git",
        "0.63.0",
    )
    assert (c.parent_session_id, c.is_subagent, c.agent_id) == (None, False, None)
    assert c.event_id == event_id(
        AGENT, "call", "2026-03-01T10:00:03.000Z", "1000/800/0/50/20/1050"
    )


def test_model_switch_mid_session() -> None:
    calls = calls_of(read_facts(rule_file(SID_B)))
    assert [(c.model, c.turn_index, tok(c)) for c in calls] == [
        ("gpt-5-codex", 1, (500, 0, 0, 10, 0)),
        ("gpt-5.1-codex-mini", 2, (100, 300, 0, 15, 5)),
    ]


def test_counter_reset_falls_back_to_last_usage() -> None:
    calls = calls_of(read_facts(rule_file(SID_C)))
    assert [tok(c) for c in calls] == [
        (1000, 0, 0, 100, 0),  # first counter of a root session: absolute
        (1000, 1000, 0, 100, 50),  # growth
        (500, 100, 0, 40, 0),  # went backwards: last_token_usage
        (200, 200, 0, 20, 0),  # grows again from the new counter
    ]  # the total-only marker after it (fact 4 of the research) is a repeat


def test_subagent_replay_is_baseline_and_own_calls_count() -> None:
    parent = read_facts(rule_file(SID_P))
    child = read_facts(rule_file(SID_K))
    assert [tok(c) for c in calls_of(parent)] == [(500, 500, 0, 100, 40), (500, 1000, 0, 50, 20)]
    kc = [c for c in calls_of(child) if c.copy is None]
    assert [tok(c) for c in kc] == [(300, 900, 0, 40, 10), (200, 600, 0, 30, 0)]
    # the replay: copies of the parent's calls, tied to them by the cumulative totals
    copies = [c for c in calls_of(child) if c.copy is not None]
    assert [tok(c) for c in copies] == [tok(c) for c in calls_of(parent)]
    assert [c.alias for c in copies] == [c.alias for c in calls_of(parent)]
    assert all((c.copy, c.session_id) == ("fork_replay", SID_P) for c in copies)
    assert all(
        (c.session_id, c.parent_session_id, c.is_subagent, c.agent_id, c.model, c.turn_index)
        == (SID_K, SID_P, True, "Euclid", "gpt-5-codex-mini", 1)
        for c in kc
    )
    assert [c.call_index for c in kc] == [0, 1]
    # the replayed tool call belongs to the parent; the child's own one points at its call
    kt = tools_of(child)
    assert [(t.tool_name, t.status, t.error_code, t.duration_ms, t.call_event_id) for t in kt] == [
        ("exec_command", "error", "exit_code", 1000, kc[0].event_id)
    ]
    pt = tools_of(parent)
    assert [(t.event_id, t.status, t.duration_ms, t.call_event_id) for t in pt] == [
        (event_id(AGENT, "tool", "call_parent_1"), "ok", 300, calls_of(parent)[0].event_id)
    ]


def test_branch_copy_with_original_timestamps_counts_once(tmp_path: Path) -> None:
    run = dry(RULES, tmp_path / "home")
    root = run.session(SID_R)
    fork = run.session(SID_F)
    assert [(e["input_tokens"], e["cache_read_tokens"], e["output_tokens"]) for e in root] == [
        (800, 0, 80),
        (500, 700, 40),
    ]
    assert [(e["input_tokens"], e["cache_read_tokens"], e["output_tokens"]) for e in fork] == [
        (200, 800, 40)
    ]
    assert fork[0]["parent_session_id"] == SID_R and fork[0]["is_subagent"] is False
    # the fork's copies of the root's two calls have the root's ids
    fork_facts = calls_of(read_facts(rule_file(SID_F)))
    assert {c.event_id for c in fork_facts[:2]} == {e["event_id"] for e in root}


def test_archived_copy_of_the_same_session_counts_once(tmp_path: Path) -> None:
    run = dry(RULES, tmp_path / "home")
    assert len(run.session(SID_A)) == 2
    # two copied calls in the fork, two in the archived copy
    assert run.report.not_emitted["duplicate"] == 4
    assert len({e["event_id"] for e in run.events}) == len(run.events)


def test_whole_rules_tree_totals(tmp_path: Path) -> None:
    run = dry(RULES, tmp_path / "home")
    per = Counter()
    for e in run.calls:
        per[e["session_id"]] += 1
    assert per == {
        SID_A: 2,
        SID_B: 2,
        SID_C: 4,
        SID_P: 2,
        SID_K: 2,
        SID_R: 2,
        SID_F: 1,
        SID_T: 5,
        SID_M: 1,
        SID_W: 1,
    }
    assert run.report.skipped == {
        "malformed_json": 1,
        "invalid_utf8": 1,
        "unknown_record": 1,
        "unrecognized_line": 1,
        "tool_output_unmatched": 1,
    }


def test_zst_rollouts_are_read_and_a_plain_sibling_wins(tmp_path: Path) -> None:
    home = copy_tree(RULES, tmp_path)
    archived = home / "archived_sessions" / rule_file(SID_A).name
    # the archived copy compressed: same ids as the live .jsonl
    archived.with_name(archived.name + ".zst").write_bytes(
        zstandard.ZstdCompressor().compress(archived.read_bytes())
    )
    archived.unlink()
    # a .zst beside its .jsonl is not read
    live_b = next((home / "sessions").rglob(f"*{SID_B}.jsonl"))
    sibling = live_b.with_name(live_b.name + ".zst")
    sibling.write_bytes(b"not zstd at all")
    found = [sf.path for sf in codex.Codex().discover({"CODEX_HOME": str(home)})]
    assert str(sibling) not in found
    zst = str(archived) + ".zst"
    assert zst in found
    facts = read_facts(zst)
    assert [tok(c) for c in calls_of(facts)] == [(200, 800, 0, 50, 20), (300, 900, 0, 30, 10)]
    assert {c.event_id for c in calls_of(facts)} == {
        c.event_id for c in calls_of(read_facts(rule_file(SID_A)))
    }
    run = dry(home, tmp_path / "home")
    assert len(run.session(SID_A)) == 2 and len(run.session(SID_B)) == 2


def test_zst_is_reread_only_when_changed_and_corrupt_zst_is_counted(tmp_path: Path) -> None:
    p = tmp_path / "rollout-2026-03-01T10-00-00-x.jsonl.zst"
    p.write_bytes(zstandard.ZstdCompressor().compress(rule_file(SID_A).read_bytes()))
    src = codex.Codex()
    chunks = list(src.read(str(p), None, Counter(), MAX_LINE))
    assert len(chunks) == 1 and chunks[0].cursor.offset == p.stat().st_size
    assert list(src.read(str(p), chunks[0].cursor, Counter(), MAX_LINE)) == []
    bad = tmp_path / "rollout-bad.jsonl.zst"
    bad.write_bytes(b"\x28\xb5\x2f\xfd garbage")
    skipped: Counter[str] = Counter()
    assert calls_of(read_facts(bad, skipped)) == []
    assert skipped["corrupt_zst"] == 1


def test_tool_statuses_durations_and_calls() -> None:
    facts = read_facts(rule_file(SID_T), skipped := Counter())
    calls = calls_of(facts)
    assert len(calls) == 5
    tools = {t.event_id: t for t in tools_of(facts)}
    got = {
        cid: (
            tools[event_id(AGENT, "tool", cid)].tool_name,
            tools[event_id(AGENT, "tool", cid)].status,
            tools[event_id(AGENT, "tool", cid)].error_code,
            tools[event_id(AGENT, "tool", cid)].duration_ms,
            calls.index(
                next(
                    c
                    for c in calls
                    if c.event_id == tools[event_id(AGENT, "tool", cid)].call_event_id
                )
            ),
        )
        for cid in ("call_t1", "call_t2", "call_t3", "call_t4", "call_t5")
    }
    assert got == {
        "call_t1": ("exec_command", "ok", None, 300, 0),
        "call_t2": ("exec_command", "error", "exit_code", 300, 0),  # exec_command_end: 2
        "call_t3": ("apply_patch", "error", "error", 60, 1),  # patch_apply_end success false
        "call_t4": ("exec_command", "error", "rejected", 700, 2),  # declined
        "call_t5": ("shell", "error", "exit_code", 399, 3),  # old order; JSON metadata at end
    }
    assert len(tools) == 5
    assert skipped == {"tool_output_unmatched": 1}
    assert tools[event_id(AGENT, "tool", "call_t1")].timestamp == "2026-03-04T14:00:05.000Z"


@pytest.mark.parametrize(
    ("output", "want"),
    [
        (
            "Chunk ID: 1\nWall time: 0.1 seconds\nProcess exited with code 0\nOutput:\n",
            ("ok", None),
        ),
        ("Process exited with code 127\nOutput:\n", ("error", "exit_code")),
        ("Exit code: 1\nWall time: 0.2 seconds\nOutput:\n", ("error", "exit_code")),
        (
            '{"output":"' + "y" * 5000 + '","metadata":{"exit_code":2,"duration_seconds":0.1}}',
            ("error", "exit_code"),
        ),
        ('{"output":"fine","metadata":{"exit_code":0,"duration_seconds":0.0}}', ("ok", None)),
        ("apply_patch verification failed: Failed to find expected lines", ("error", "error")),
        ("exec command rejected by user", ("error", "rejected")),
        ("Plan updated", ("ok", None)),
    ],
)
def test_tool_output_classification(output: str, want: tuple[str, str | None]) -> None:
    raw = json.dumps(output).encode()
    assert codex.tool_status(raw) == want


def test_malformed_unknown_and_partial_lines() -> None:
    skipped: Counter[str] = Counter()
    calls = calls_of(read_facts(rule_file(SID_M), skipped))
    assert [tok(c) for c in calls] == [(500, 200, 0, 30, 0)]  # the partial last line waits
    assert skipped == {
        "malformed_json": 1,
        "invalid_utf8": 1,
        "unknown_record": 1,
        "unrecognized_line": 1,
    }


def test_partial_last_line_is_read_once_complete(tmp_path: Path) -> None:
    src = rule_file(SID_M)
    p = tmp_path / src.name
    p.write_bytes(src.read_bytes())
    reader = codex.Codex()
    skipped: Counter[str] = Counter()
    chunks = list(reader.read(str(p), None, skipped, MAX_LINE))
    first = [c for ch in chunks for c in calls_of(ch.facts)]
    with open(p, "ab") as f:
        f.write(b"\n")
    more = [
        c
        for ch in reader.read(str(p), chunks[-1].cursor, skipped, MAX_LINE)
        for c in calls_of(ch.facts)
    ]
    assert [tok(c) for c in first] == [(500, 200, 0, 30, 0)]
    assert [tok(c) for c in more] == [(1000, 0, 0, 30, 0)]
    assert more[0].call_index == 1


def test_cache_writes_are_part_of_input() -> None:
    (c,) = calls_of(read_facts(rule_file(SID_W)))
    # input 10000 = 6000 cached + 3000 written + 1000 uncached; total = input + output
    assert tok(c) == (1000, 6000, 3000, 200, 50)
    assert c.usage.total == 10_200
    assert c.model == "gpt-5.5"


def test_lines_before_session_meta_and_without_turn_context() -> None:
    reader = codex.CodexReader("x", None, Counter())
    reader.feed(
        json.dumps(
            {
                "timestamp": "2026-01-01T00:00:01Z",
                "type": "event_msg",
                "payload": {
                    "type": "token_count",
                    "info": {
                        "total_token_usage": {
                            "input_tokens": 10,
                            "output_tokens": 2,
                            "total_tokens": 12,
                        }
                    },
                },
            }
        ).encode()
    )
    (c,) = calls_of(reader.flush(True))
    assert (c.session_id, c.model, c.provider, tok(c)) == (None, None, "openai", (10, 0, 0, 2, 0))
    assert c.timestamp == "2026-01-01T00:00:01.000Z"


# -- state: resume anywhere ------------------------------------------------------------------


def _split_read(path: Path, tmp_path: Path, cut: int) -> list[object]:
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    p = tmp_path / f"cut{cut}" / path.name
    p.parent.mkdir()
    p.write_bytes(b"".join(lines[:cut]))
    skipped: Counter[str] = Counter()
    mk = lambda s: codex.CodexReader(str(p), s, skipped)  # noqa: E731
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


def _summary(facts: list[object]) -> tuple[list[Any], list[Any]]:
    calls = [
        (
            c.event_id,
            tok(c),
            c.model,
            c.turn_index,
            c.call_index,
            c.session_id,
            c.parent_session_id,
            c.is_subagent,
            c.agent_id,
            c.duration_ms,
        )
        for c in calls_of(facts)
    ]
    tools = sorted(
        (t.event_id, t.status, t.error_code, t.duration_ms, t.call_event_id)
        for t in tools_of(facts)
    )
    return calls, tools


@pytest.mark.parametrize("sid", [SID_K, SID_T, SID_C])
def test_resuming_from_state_at_any_line_gives_the_same_facts(sid: str, tmp_path: Path) -> None:
    path = rule_file(sid)
    whole = _summary(read_facts(path))
    n = len(path.read_bytes().splitlines())
    for cut in range(1, n):
        assert _summary(_split_read(path, tmp_path, cut)) == whole, cut


def test_resuming_the_real_subagent_file(tmp_path: Path) -> None:
    path = REAL_FILES[-1]
    whole = _summary(read_facts(path))
    for cut in (1, 2, 10, 27, 28, 31, 33, 39, 40, 44):
        assert _summary(_split_read(path, tmp_path, cut)) == whole, cut


def test_state_is_json_and_bounded() -> None:
    reader = codex.CodexReader("x", None, Counter())
    for i in range(codex._MAX_PENDING_TOOLS + 10):
        reader.feed(
            json.dumps(
                {
                    "timestamp": "2026-01-01T00:00:01Z",
                    "type": "response_item",
                    "payload": {
                        "type": "function_call",
                        "name": "x",
                        "arguments": "{}",
                        "call_id": f"c{i}",
                    },
                }
            ).encode()
        )
    s = json.loads(reader.state())
    assert len(s["tools"]) == codex._MAX_PENDING_TOOLS
    assert reader.skipped["tool_call_unanswered"] == 10


# -- discovery -------------------------------------------------------------------------------


def test_discovery_orders_parents_before_children_and_reads_archives(tmp_path: Path) -> None:
    found = [sf.path for sf in codex.Codex().discover({"CODEX_HOME": str(RULES)})]
    names = [Path(p).name for p in found]
    assert len(found) == 11
    assert names.index(rule_file(SID_P).name) < names.index(rule_file(SID_K).name)
    assert names.index(rule_file(SID_R).name) < names.index(rule_file(SID_F).name)
    assert any("archived_sessions" in p for p in found)


def test_default_root_is_dot_codex_under_home(tmp_path: Path, isolated_home: Path) -> None:
    shutil.copytree(RULES, isolated_home / ".codex")
    found = list(codex.Codex().discover({"HOME": str(isolated_home)}))
    assert len(found) == 11
    assert list(codex.Codex().discover({"HOME": str(tmp_path / "nobody")})) == []


def test_non_rollout_files_are_ignored(tmp_path: Path) -> None:
    home = tmp_path / "c"
    (home / "sessions" / "2026").mkdir(parents=True)
    (home / "sessions" / "2026" / "notes.jsonl").write_text("{}\n")
    (home / "history.jsonl").write_text("{}\n")
    assert list(codex.Codex().discover({"CODEX_HOME": str(home)})) == []


# -- never crash ------------------------------------------------------------------------------


def test_mangled_real_lines_never_raise() -> None:
    rng = random.Random(7)
    lines = [line for p in REAL_FILES[-2:] for line in p.read_bytes().splitlines()]
    skipped: Counter[str] = Counter()
    reader = codex.CodexReader("x", None, skipped)
    for line in lines:
        for _ in range(3):
            b = bytearray(line)
            op = rng.randrange(4)
            if op == 0 and b:
                del b[rng.randrange(len(b)) :]
            elif op == 1 and b:
                b[rng.randrange(len(b))] = rng.randrange(256)
            elif op == 2:
                b = bytearray(line.replace(b'"', b"", 1))
            else:
                b = bytearray(line.replace(b"[", b"{", 1).replace(b"null", b"1", 1))
            reader.feed(bytes(b) + b"\n")
    reader.flush(True)
    json.loads(reader.state())
    assert sum(skipped.values()) > 0


# -- the canary: no content ever leaves --------------------------------------------------------

CANARY = "CANARY-7f3e-codex-secret"


def _canary_rollout(root: Path) -> None:
    c = CANARY
    sid = "01900000-0000-7000-8000-0000000000f1"
    ts = "2026-03-09T10:00:0{}.000Z"
    rl = {"primary": None, "secondary": None}
    lines: list[dict[str, Any] | bytes] = [
        {
            "timestamp": ts.format(0),
            "type": "session_meta",
            "payload": {
                "id": sid,
                "timestamp": ts.format(0),
                "cwd": "/nonexistent/agent-cli-tests/canary",
                "originator": "codex_cli_rs",
                "cli_version": "0.63.0",
                "source": "cli",
                "instructions": c,
                "base_instructions": {"text": c},
                "user_instructions": c,
                "git": {
                    "commit_hash": "0" * 40,
                    "branch": "main",
                    "repository_url": "https://github.com/acme/canary.git",
                },
            },
        },
        {
            "timestamp": ts.format(0),
            "type": "turn_context",
            "payload": {
                "cwd": "/nonexistent/agent-cli-tests/canary",
                "model": "gpt-5-codex",
                "user_instructions": c,
                "developer_instructions": c,
                "summary": "auto",
            },
        },
        {
            "timestamp": ts.format(1),
            "type": "response_item",
            "payload": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": c}],
            },
        },
        {
            "timestamp": ts.format(1),
            "type": "response_item",
            "payload": {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": c}],
            },
        },
        {
            "timestamp": ts.format(1),
            "type": "event_msg",
            "payload": {"type": "user_message", "message": c, "images": [c]},
        },
        {
            "timestamp": ts.format(2),
            "type": "response_item",
            "payload": {
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": c}],
                "content": [{"type": "reasoning_text", "text": c}],
                "encrypted_content": c,
            },
        },
        {
            "timestamp": ts.format(2),
            "type": "event_msg",
            "payload": {"type": "agent_reasoning", "text": c},
        },
        {
            "timestamp": ts.format(2),
            "type": "response_item",
            "payload": {
                "type": "function_call",
                "name": "exec_command",
                "call_id": "call_c1",
                "arguments": json.dumps({"cmd": f"cat /home/u/{c}.txt", "workdir": f"/{c}"}),
            },
        },
        {
            "timestamp": ts.format(2),
            "type": "response_item",
            "payload": {
                "type": "custom_tool_call",
                "name": "apply_patch",
                "call_id": "call_c2",
                "status": "completed",
                "input": f"*** Begin Patch\n*** Add File: /{c}.py\n+{c}\n",
            },
        },
        {
            "timestamp": ts.format(2),
            "type": "response_item",
            "payload": {
                "type": "local_shell_call",
                "call_id": "call_c3",
                "status": "completed",
                "action": {"type": "exec", "command": ["echo", c], "working_directory": f"/{c}"},
            },
        },
        {
            "timestamp": ts.format(2),
            "type": "response_item",
            "payload": {
                "type": "web_search_call",
                "status": "completed",
                "action": {"type": "search", "query": c},
            },
        },
        {
            "timestamp": ts.format(3),
            "type": "event_msg",
            "payload": {
                "type": "token_count",
                "info": {
                    "total_token_usage": {
                        "input_tokens": 100,
                        "cached_input_tokens": 0,
                        "output_tokens": 10,
                        "reasoning_output_tokens": 0,
                        "total_tokens": 110,
                    }
                },
                "rate_limits": rl,
            },
        },
        {
            "timestamp": ts.format(4),
            "type": "event_msg",
            "payload": {
                "type": "exec_command_end",
                "call_id": "call_c1",
                "command": ["cat", c],
                "cwd": f"/{c}",
                "stdout": c,
                "stderr": c,
                "aggregated_output": c,
                "formatted_output": c,
                "exit_code": 1,
                "status": "failed",
            },
        },
        {
            "timestamp": ts.format(4),
            "type": "response_item",
            "payload": {
                "type": "function_call_output",
                "call_id": "call_c1",
                "output": f"Process exited with code 1\nOutput:\n{c}\n",
            },
        },
        {
            "timestamp": ts.format(4),
            "type": "event_msg",
            "payload": {
                "type": "patch_apply_end",
                "call_id": "call_c2",
                "stdout": c,
                "stderr": c,
                "success": True,
                "changes": {f"/{c}.py": {"add": {"content": c}}},
            },
        },
        {
            "timestamp": ts.format(4),
            "type": "response_item",
            "payload": {
                "type": "custom_tool_call_output",
                "call_id": "call_c2",
                "output": json.dumps({"output": c, "metadata": {"exit_code": 0}}),
            },
        },
        {
            "timestamp": ts.format(4),
            "type": "response_item",
            "payload": {
                "type": "function_call_output",
                "call_id": "call_c3",
                "output": [{"type": "input_text", "text": c}],
            },
        },
        {
            "timestamp": ts.format(5),
            "type": "response_item",
            "payload": {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": c}],
            },
        },
        {
            "timestamp": ts.format(5),
            "type": "event_msg",
            "payload": {"type": "agent_message", "message": c},
        },
        {
            "timestamp": ts.format(5),
            "type": "compacted",
            "payload": {
                "message": c,
                "replacement_history": [
                    {"type": "message", "role": "user", "content": [{"text": c}]}
                ],
            },
        },
        {
            "timestamp": ts.format(6),
            "type": "event_msg",
            "payload": {
                "type": "token_count",
                "info": {
                    "total_token_usage": {
                        "input_tokens": 250,
                        "cached_input_tokens": 100,
                        "output_tokens": 30,
                        "reasoning_output_tokens": 5,
                        "total_tokens": 280,
                    }
                },
                "rate_limits": rl,
            },
        },
        {
            "timestamp": ts.format(6),
            "type": "event_msg",
            "payload": {"type": "task_complete", "last_agent_message": c},
        },
        {
            "timestamp": ts.format(7),
            "type": "event_msg",
            "payload": {"type": "error", "message": c},
        },
        {"timestamp": ts.format(7), "type": f"unknown-{c}", "payload": {"x": c}},
        f'{{"timestamp":"{ts.format(8)}","type":"event_msg","payload":{{"type":"token_count",'
        f'"info":{{"{c}":\n'.encode(),
        f'{{"timestamp":"{ts.format(8)}","type":"turn_context","payload":{{"model":"{c}\xe9'.encode(
            "latin-1"
        )
        + b'"}}\n',
    ]
    p = root / "sessions" / "2026" / "03" / "09" / f"rollout-2026-03-09T10-00-00-{sid}.jsonl"
    p.parent.mkdir(parents=True)
    with open(p, "wb") as f:
        for line in lines:
            f.write(line if isinstance(line, bytes) else (json.dumps(line) + "\n").encode())
    zst = root / "archived_sessions" / f"rollout-2026-03-09T11-00-00-{sid[:-1]}2.jsonl.zst"
    zst.parent.mkdir(parents=True)
    zst.write_bytes(
        zstandard.ZstdCompressor().compress(
            p.read_bytes()
            .replace(sid.encode(), sid[:-1].encode() + b"2")
            .replace(b"2026-03-09T10:", b"2026-03-09T11:")
            .replace(b"call_c", b"call_z")
        )
    )


def test_canary_never_leaves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "codex-home"
    _canary_rollout(root)
    monkeypatch.setenv("CODEX_HOME", str(root))
    result = CliRunner().invoke(cli, ["start", "--once", "--dry-run", "--agent", "codex"])
    assert result.exit_code == 0, result.output
    assert CANARY not in result.stdout
    assert CANARY not in result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert sum(e["kind"] == "llm_call" for e in events) == 4  # two calls in each copy
    assert sum(e["kind"] == "tool_call" for e in events) == 6
    assert "llm calls: 4" in result.stderr
