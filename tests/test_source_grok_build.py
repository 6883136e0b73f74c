"""Grok Build: turn usage per billed model, the eventId + model dedup, subagents and forks,
costs the writer trusts, resume from a stored state, skips and the canary.

Expected values never come from the reader: the fixture logs are re-parsed here with the
stdlib `json` module, deduplicated by `_meta.eventId` + model as the rule says.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agent_cli.cli import cli
from agent_cli.config import Settings
from agent_cli.cursor import Cursor
from agent_cli.events import CallFact, ToolFact
from agent_cli.sources.grok_build import GrokBuild
from tests.dryrun import dry_run

HOME = Path(__file__).parent / "fixtures" / "grok_build" / "home"
SESSIONS = HOME / ".grok" / "sessions"
PARENT = "019f5000-0000-7000-8000-000000000000"
CHILD = "019f5000-0000-7000-8000-000000000003"
FORK = "019f6000-0000-7000-8000-000000000001"
PARENT_LOG = SESSIONS / "%2Fworkspace%2Fagentsview" / PARENT / "updates.jsonl"
MAX = 32 * 1024 * 1024
CANARY = "CANARY_91ab_grok_content"


def expected() -> dict[tuple[str, str], tuple[int, int, int, int, int]]:
    """(eventId, model) -> (input uncached, cache read, cache write, output, reasoning)."""
    want: dict[tuple[str, str], tuple[int, int, int, int, int]] = {}
    for log in sorted(SESSIONS.rglob("updates.jsonl")):
        for line in log.read_text().splitlines():
            d = json.loads(line)
            u = d["params"]["update"]
            if u.get("sessionUpdate") != "turn_completed" or not u.get("usage"):
                continue
            for model, r in u["usage"]["modelUsage"].items():
                read, write = r.get("cachedReadTokens", 0), r.get("cacheCreationTokens", 0)
                want[(d["params"]["_meta"]["eventId"], model)] = (
                    r["inputTokens"] - read - write,
                    read,
                    write,
                    r["outputTokens"],
                    r.get("reasoningTokens", 0),
                )
    return want


def tok(e: dict[str, Any]) -> tuple[int, int, int, int, int]:
    return (
        e["input_tokens"],
        e["cache_read_tokens"],
        e["cache_creation_tokens"],
        e["output_tokens"],
        e["reasoning_tokens"],
    )


def test_fixture_totals_match_stdlib_sum() -> None:
    run = dry_run({"HOME": str(HOME)}, Settings(agents=("grok-build",)))
    want = expected()
    assert len(run.calls) == len(want) == 5
    assert sorted(tok(e) for e in run.calls) == sorted(want.values())
    assert run.report.not_emitted["duplicate"] == 1  # the fork repeats its parent's turn
    assert run.report.skipped["turn_without_usage"] == 1  # a cancelled turn


def test_sessions_costs_and_granularity() -> None:
    run = dry_run({"HOME": str(HOME)}, Settings(agents=("grok-build",)))
    parent = run.session(PARENT)
    assert [e["model"] for e in parent] == ["grok-4.5-build", "grok-4.5-build", "grok-code-fast-1"]
    assert [e["granularity"] for e in parent] == ["session_delta", "call", "call"]  # 10 calls, 1, 1
    assert [e["cost_usd"] for e in parent] == [0.2842748, 0.012, 0.0009]
    assert {e["cost_source"] for e in parent} == {"agent"}
    assert parent[1]["duration_ms"] == 2100 and parent[0]["duration_ms"] is None
    (child,) = run.session(CHILD)
    assert child["is_subagent"] is True and child["parent_session_id"] == PARENT
    assert child["cost_source"] == "genai-prices"  # no ticks recorded: priced from tokens
    (fork,) = run.session(FORK)
    assert fork["parent_session_id"] == "019f5000-0000-7000-8000-000000000000"
    assert fork["cost_source"] != "agent"  # costIsPartial: the writer does not trust it
    assert fork["git_branch"] == "feature/parser-audit"  # summary.json head_branch
    tools = run.session(PARENT, "tool_call")
    assert [(t["tool_name"], t["status"], t["duration_ms"]) for t in tools] == [
        ("read", "ok", 450),
        ("execute", "error", 3000),
    ]


def _read(
    path: Path, cursor: Cursor | None, skipped: Counter[str]
) -> tuple[list[object], Cursor | None]:
    facts: list[object] = []
    last = cursor
    for chunk in GrokBuild().read(str(path), cursor, skipped, MAX):
        facts += chunk.facts
        last = chunk.cursor
    return facts, last


def test_resume_mid_file_from_stored_state(tmp_path: Path) -> None:
    lines = PARENT_LOG.read_bytes().splitlines(keepends=True)
    log = tmp_path / "sessions" / "p" / PARENT / "updates.jsonl"
    log.parent.mkdir(parents=True)
    log.write_bytes(b"".join(lines[:4]))  # cut between a tool call and its result
    skipped: Counter[str] = Counter()
    first, cur = _read(log, None, skipped)
    with log.open("ab") as f:
        f.write(b"".join(lines[4:]))
    second, _ = _read(log, cur, skipped)
    whole, _ = _read(log, None, Counter())
    key = [(type(f).__name__, f.event_id) for f in first + second]  # type: ignore[attr-defined]
    assert key == [(type(f).__name__, f.event_id) for f in whole]  # type: ignore[attr-defined]
    tools = [f for f in first + second if isinstance(f, ToolFact)]
    assert [t.duration_ms for t in tools] == [450, 3000]  # the open tool survived the restart
    turns = [f.turn_index for f in second if isinstance(f, CallFact)]
    assert turns == [1, 2, 2]


def test_skip_reasons(tmp_path: Path) -> None:
    log = tmp_path / "s" / "updates.jsonl"
    log.parent.mkdir()
    good = PARENT_LOG.read_bytes().splitlines(keepends=True)[5]
    log.write_bytes(
        b'{"params": {"update": {"sessionUpdate": "turn_completed"\n'
        + b'{"method": "\xff", "x": "turn_completed"}\n'
        + b'{"params": {"update": {"sessionUpdate": "turn_completed", "usage": 5}}}\n'
        + b'{"timestamp": "never", "params": {"update": {"sessionUpdate": "turn_completed",'
        + b' "usage": {"inputTokens": 1}}}}\n'
        + b'{"params": {"update": {"sessionUpdate": "agent_message_chunk"}}}\n'
        + good
    )
    skipped: Counter[str] = Counter()
    facts, _ = _read(log, None, skipped)
    assert len([f for f in facts if isinstance(f, CallFact)]) == 1
    assert skipped == Counter(malformed_json=1, invalid_utf8=1, unrecognized_line=1, no_timestamp=1)


def test_discovery_and_env_override(tmp_path: Path) -> None:
    src = GrokBuild()
    env = {"HOME": str(HOME)}
    found = sorted(Path(f.path).parent.name for f in src.discover(env))
    assert found == sorted([PARENT, CHILD, FORK])
    assert src.where(env) == [str(HOME / ".grok" / "sessions")]
    other = tmp_path / "grok"
    (other / "sessions" / "p" / "s").mkdir(parents=True)
    (other / "sessions" / "p" / "s" / "updates.jsonl").write_text("")
    sub = other / "sessions" / "p" / "s" / "subagents" / "k"
    sub.mkdir(parents=True)
    (sub / "updates.jsonl").write_text("")  # a pointer folder: never a log of its own
    got = [f.path for f in src.discover({"HOME": str(HOME), "GROK_HOME": str(other)})]
    assert got == [str(other / "sessions" / "p" / "s" / "updates.jsonl")]


def test_canary_never_leaves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = CANARY
    session = tmp_path / "grok" / "sessions" / "%2Fnonexistent%2Fagent-cli-tests%2Fgrok" / "s1"
    session.mkdir(parents=True)
    (session / "summary.json").write_text(
        json.dumps({"generated_title": c, "session_summary": c, "info": {"id": "s1"}})
    )
    meta = {"eventId": "e1", "agentTimestampMs": 1784700000000}
    usage = {"inputTokens": 10, "outputTokens": 2, "cachedReadTokens": 4, "modelCalls": 1}
    lines = [
        {"sessionUpdate": "user_message_chunk", "content": {"type": "text", "text": c}},
        {"sessionUpdate": "agent_thought_chunk", "content": {"type": "text", "text": c}},
        {
            "sessionUpdate": "tool_call",
            "toolCallId": "t1",
            "title": c,
            "kind": "read",
            "rawInput": {"path": c},
            "_meta": {"x.ai/tool": {"input": c}},
        },
        {
            "sessionUpdate": "tool_call_update",
            "toolCallId": "t1",
            "status": "completed",
            "rawOutput": c,
            "content": [{"type": "content", "content": {"text": c}}],
        },
        {
            "sessionUpdate": "turn_completed",
            "prompt_id": "p1",
            "stop_reason": "end_turn",
            "agent_result": c,
            "usage": {**usage, "modelUsage": {"grok-4.5": usage}},
        },
    ]
    (session / "updates.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "timestamp": 1784700000,
                    "method": "session/update",
                    "params": {"sessionId": "s1", "update": u, "_meta": meta},
                }
            )
            + "\n"
            for u in lines
        )
    )
    monkeypatch.setenv("GROK_HOME", str(tmp_path / "grok"))
    result = CliRunner().invoke(cli, ["start", "--once", "--dry-run", "--agent", "grok-build"])
    assert result.exit_code == 0, result.output
    assert CANARY not in result.stdout
    assert CANARY not in result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["kind"] for e in events] == ["tool_call", "llm_call"]


def test_generated_history_matches_its_truth(tmp_path: Path) -> None:
    from tests.synth.common import TOKEN_FIELDS, Pools, Truth
    from tests.synth.grok_build import GrokGen

    truth = Truth()
    home = tmp_path / "home"
    GrokGen(home, 300_000, 7, CANARY, truth, Pools(7), 0.05, False).run()
    run = dry_run({"HOME": str(home)}, Settings(agents=("grok-build",)))
    got: dict[str, dict[str, int]] = {}
    for e in run.calls:
        row = got.setdefault(
            f"grok-build|{e['model']}|{e['timestamp'][:10]}", dict.fromkeys(TOKEN_FIELDS, 0)
        )
        row["calls"] += 1
        row["error_calls"] += e["status"] == "error"
        for f in TOKEN_FIELDS[2:]:
            row[f] += e[f]
    assert got == truth.llm
    tools: dict[str, dict[str, int]] = {}
    for t in run.tools:
        row = tools.setdefault(f"grok-build|{t['tool_name']}", {"calls": 0, "errors": 0})
        row["calls"] += 1
        row["errors"] += t["status"] == "error"
    assert tools == truth.tools
    assert truth.patterns["grok.fork_repeats_parent"] >= 1
    assert run.report.not_emitted["duplicate"] > 0
    assert CANARY not in run.raw.decode()
