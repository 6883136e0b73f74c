"""Copilot CLI: real session-state files, one fixture per pitfall, state and canary.

Expected values never come from the reader: the real files are re-parsed here with the
stdlib `json` module; the hand-written fixtures carry hand-computed numbers.
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
from agent_cli.sources.copilot_cli import CopilotCli
from agent_cli.sources.copilot_cli import discover as cdisc
from tests.dryrun import Run, dry_run

FIX = Path(__file__).parent / "fixtures" / "copilot_cli"
REAL = FIX / "home" / ".copilot" / "session-state" / "7a80f0ee-0c9f-4e1a-acbd-d655a5721cfe"
RESUMED = FIX / "resumed" / ".copilot" / "session-state" / "aa737378-7ebd-4c0b-9c77-77c050d2df98"
PER_PROCESS = FIX / "per_process" / ".copilot" / "session-state"
PER_PROCESS_FILE = PER_PROCESS / "0b0b0b0b-0000-4000-8000-00000000000b" / "events.jsonl"
AGENT = "copilot-cli"
MAX_LINE = 16 * 1024 * 1024
TOKENS = ("input_tokens", "cache_read_tokens", "cache_creation_tokens", "output_tokens")


def dry(home: Path) -> Run:
    return dry_run({"HOME": str(home)}, Settings(agents=(AGENT,)))


def read(path: Path, skipped: Counter[str] | None = None) -> list[object]:
    skipped = Counter() if skipped is None else skipped
    facts: list[object] = []
    for chunk in CopilotCli().read(str(path), None, skipped, MAX_LINE):
        facts += chunk.facts
    return facts


def calls(facts: list[object]) -> list[CallFact]:
    return [f for f in facts if isinstance(f, CallFact)]


def tok(c: dict[str, Any]) -> tuple[int, ...]:
    return tuple(c[k] for k in (*TOKENS, "reasoning_tokens"))


def total(run: Run) -> dict[str, int]:
    return {k: sum(c[k] for c in run.calls) for k in (*TOKENS, "reasoning_tokens")}


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


# -- the real 1.0.68 capture, against a stdlib parse ------------------------------------------


@pytest.fixture(scope="module")
def real_run() -> Run:
    return dry(FIX / "home")


def test_real_snapshot_is_one_session_delta_per_model(real_run: Run) -> None:
    rows = lines(REAL / "events.jsonl")
    shutdown = [r for r in rows if r["type"] == "session.shutdown"]
    assert len(shutdown) == 1
    metrics = shutdown[0]["data"]["modelMetrics"]
    assert len(real_run.calls) == len(metrics) == 1
    (model, m), c = next(iter(metrics.items())), real_run.calls[0]
    u = m["usage"]
    assert c["model"] == model == "claude-haiku-4.5"
    want = (
        u["inputTokens"] - u["cacheReadTokens"] - u["cacheWriteTokens"],
        u["cacheReadTokens"],
        u["cacheWriteTokens"],
        u["outputTokens"],
        u["reasoningTokens"],
    )
    assert tok(c) == want == (54, 198884, 22998, 3141, 1693)
    assert (c["billed_quantity"], c["billed_unit"]) == (m["requests"]["cost"], "premium_request")
    assert c["granularity"] == "session_delta"
    assert c["timestamp"] == shutdown[0]["timestamp"]
    assert c["session_id"] == rows[0]["data"]["sessionId"]
    assert c["agent_version"] == "1.0.68"
    assert c["provider"] == "anthropic"
    # the per-message output sums to the snapshot's: the evidence `counters` relies on
    out = [r["data"]["outputTokens"] for r in rows if r["type"] == "assistant.message"]
    assert sum(out) == u["outputTokens"] and len(out) == m["requests"]["count"]


def test_real_tool_calls_match_one_by_one(real_run: Run) -> None:
    rows = lines(REAL / "events.jsonl")
    start = {r["data"]["toolCallId"]: r for r in rows if r["type"] == "tool.execution_start"}
    done = [r for r in rows if r["type"] == "tool.execution_complete"]
    got = {(t["tool_name"], t["status"], t["error_code"], t["duration_ms"]) for t in real_run.tools}
    want = set()
    for r in done:
        s = start[r["data"]["toolCallId"]]
        t0 = s["timestamp"][17:23].replace(".", "")
        t1 = r["timestamp"][17:23].replace(".", "")
        dur = (int(t1) - int(t0)) % 60000  # same minute or the next one in this capture
        ok = r["data"]["success"]
        want.add((s["data"]["toolName"], "ok" if ok else "error", None if ok else "error", dur))
    assert len(real_run.tools) == len(done) == 11
    assert got == want
    assert sum(t["status"] == "error" for t in real_run.tools) == 1
    assert {t["call_event_id"] for t in real_run.tools} == {None}


# -- resumed sessions: several snapshots, summed, never twice ---------------------------------


def test_cumulative_snapshots_of_a_resumed_session_count_once(tmp_path: Path) -> None:
    """1.0.78: the second shutdown repeats the first process's model; the block is written
    twice. What counts is each model's last snapshot, once."""
    run = dry(FIX / "resumed")
    rows = lines(RESUMED / "events.jsonl")
    last = [r for r in rows if r["type"] == "session.shutdown"][-1]["data"]["modelMetrics"]
    want = {}
    for model, m in last.items():
        u = m["usage"]
        want[model] = (
            u["inputTokens"] - u["cacheReadTokens"] - u["cacheWriteTokens"],
            u["cacheReadTokens"],
            u["cacheWriteTokens"],
            u["outputTokens"],
            u["reasoningTokens"],
        )
    assert {c["model"]: tok(c) for c in run.calls} == want
    assert len(run.calls) == 2
    assert run.report.skipped["duplicate_snapshot"] == 2
    by = {c["model"]: c for c in run.calls}
    assert by["claude-haiku-4.5"]["billed_quantity"] == 0.33
    assert by["gpt-5-mini"]["billed_quantity"] == 0.0  # a free model: 0 premium requests
    assert by["gpt-5-mini"]["timestamp"] == "2026-08-05T17:02:37.349Z"
    assert by["claude-haiku-4.5"]["timestamp"] == "2026-08-05T17:02:12.931Z"


def test_per_process_snapshots_are_summed() -> None:
    """Each process's snapshot holds its own totals (its output = its messages' output)."""
    run = dry(FIX / "per_process")
    assert [tok(c) for c in run.calls] == [
        (30000 - 20000 - 9000, 20000, 9000, 200, 50),
        (70000 - 50000 - 15000, 50000, 15000, 500, 90),
    ]
    assert total(run) == {
        "input_tokens": 6000,
        "cache_read_tokens": 70000,
        "cache_creation_tokens": 24000,
        "output_tokens": 700,
        "reasoning_tokens": 140,
    }
    assert [c["billed_quantity"] for c in run.calls] == [2.0, 3.0]
    assert [c["turn_index"] for c in run.calls] == [1, 2]
    assert len({c["event_id"] for c in run.calls}) == 2


def _shutdown(i: int, metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "session.shutdown",
        "id": f"s{i}",
        "timestamp": f"2026-04-0{i}T10:00:00.000Z",
        "data": {"modelMetrics": metrics},
    }


def _m(inp: int, out: int, cr: int = 0, cw: int = 0, rs: int = 0) -> dict[str, Any]:
    u = {"inputTokens": inp, "outputTokens": out, "cacheReadTokens": cr, "cacheWriteTokens": cw}
    return {"usage": {**u, "reasoningTokens": rs}}


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_without_message_output_a_covering_snapshot_is_read_as_cumulative(tmp_path: Path) -> None:
    start = {"type": "session.start", "id": "a", "timestamp": "2026-04-01T09:00:00.000Z",
             "data": {"sessionId": "s-1"}}  # fmt: skip
    f = _write(
        tmp_path / "s-1" / "events.jsonl",
        [start, _shutdown(1, {"gpt-5": _m(100, 10)}), _shutdown(2, {"gpt-5": _m(250, 30)})],
    )
    got = [(c.usage.input_tokens, c.usage.output_tokens) for c in calls(read(f))]
    assert got == [(100, 10), (150, 20)]  # never 350 / 40: a wrong guess undercounts


def test_gemini_reasoning_is_added_to_output_and_session_error_is_an_error_call(
    tmp_path: Path,
) -> None:
    rows = [
        {"type": "session.start", "id": "a", "timestamp": "2026-04-01T09:00:00.000Z",
         "data": {"sessionId": "s-2", "copilotVersion": "1.0.90"}},
        {"type": "session.model_change", "id": "b", "timestamp": "2026-04-01T09:00:01.000Z",
         "data": {"newModel": "gemini-3-pro"}},
        {"type": "session.error", "id": "c", "timestamp": "2026-04-01T09:00:02.000Z",
         "data": {"errorType": "rate_limit", "message": "slow down", "statusCode": 429}},
        _shutdown(3, {"gemini-3-pro": _m(1000, 40, cr=600, rs=25) | {"totalNanoAiu": 2_500_000}}),
    ]  # fmt: skip
    facts = calls(read(_write(tmp_path / "s-2" / "events.jsonl", rows)))
    err, call = facts
    assert (err.status, err.error_code, err.usage.total, err.model) == (
        "error", "rate_limit", 0, "gemini-3-pro",
    )  # fmt: skip
    assert err.granularity == "call"
    u = call.usage
    assert (u.input_tokens, u.cache_read_tokens, u.output_tokens, u.reasoning_tokens) == (
        400, 600, 65, 25,
    )  # fmt: skip
    assert (call.billed_quantity, call.billed_unit) == (0.0025, "ai_credit")


# -- reading: skips, resume from state --------------------------------------------------------


def test_malformed_lines_are_counted_and_a_partial_line_waits(tmp_path: Path) -> None:
    f = tmp_path / "x" / "events.jsonl"
    shutil.copytree(PER_PROCESS_FILE.parent, f.parent)
    good = f.read_bytes()
    f.write_bytes(b'\xff\xfe{"type":1}\n{not json\n[1,2]\n' + good + b'{"type":"session.shut')
    skipped: Counter[str] = Counter()
    assert len(calls(read(f, skipped))) == 2
    assert skipped == Counter(invalid_utf8=1, malformed_json=1, unrecognized_line=1)


def test_resume_from_a_stored_state_mid_file(tmp_path: Path) -> None:
    """Read up to the first snapshot, store the cursor, append the rest: same totals."""
    whole = PER_PROCESS_FILE.read_bytes().splitlines(keepends=True)
    f = tmp_path / "0b0b" / "events.jsonl"
    f.parent.mkdir()
    f.write_bytes(b"".join(whole[:7]))  # through the resume and the next prompt
    src, skipped = CopilotCli(), Counter[str]()
    first = list(src.read(str(f), None, skipped, MAX_LINE))
    cursor = first[-1].cursor
    f.write_bytes(b"".join(whole))
    second = list(src.read(str(f), cursor, skipped, MAX_LINE))
    got = calls([x for ch in first + second for x in ch.facts])
    want = calls(read(PER_PROCESS_FILE))
    assert [(c.event_id, c.usage, c.turn_index) for c in got] == [
        (c.event_id, c.usage, c.turn_index) for c in want
    ]
    assert skipped == Counter()


# -- discovery --------------------------------------------------------------------------------


def test_discovery_roots_and_overrides(tmp_path: Path) -> None:
    home, custom, xdg = tmp_path / "h", tmp_path / "custom", tmp_path / "xdg"
    for root in (home / ".copilot", custom, xdg / ".copilot"):
        _write(root / "session-state" / f"id-{root.parent.name}" / "events.jsonl", [])
    env = {"HOME": str(home), "COPILOT_HOME": str(custom), "XDG_CONFIG_HOME": str(xdg)}
    src = CopilotCli()
    assert src.where(env)[:3] == [
        str(custom / "session-state"),
        str(home / ".copilot" / "session-state"),
        str(xdg / ".copilot" / "session-state"),
    ]
    assert src.where(env)[3:] == [str(p).replace("session-state", "history-session-state")
                                  for p in src.where(env)[:3]]  # fmt: skip
    assert len(list(src.discover(env))) == 3
    # Windows: %USERPROFILE% when HOME is not set; POSIX ignores it
    win = {"USERPROFILE": str(home)}
    assert cdisc.roots(win, "win32") == [home / ".copilot"]
    assert cdisc.roots(win, "linux") != [home / ".copilot"]
    assert len(list(CopilotCli(platform="win32").discover(win))) == 1
    # the default named twice is one root
    assert cdisc.roots({"HOME": str(home), "COPILOT_HOME": str(home / ".copilot")}, "darwin") == [
        home / ".copilot"
    ]


def test_dry_run_summary_names_the_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(FIX / "home"))
    result = CliRunner().invoke(cli, ["start", "--once", "--dry-run", "--agent", "copilot"])
    assert result.exit_code == 0, result.output
    assert "copilot-cli 1" in result.stderr
    kinds = Counter(json.loads(x)["kind"] for x in result.stdout.splitlines())
    assert kinds == Counter(llm_call=1, tool_call=11)


# -- the canary: no content ever leaves --------------------------------------------------------

CANARY = "CANARY-5e1f-copilot-secret"


def test_canary_never_leaves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = CANARY
    rows = [
        {"type": "session.start", "id": "a", "timestamp": "2026-04-01T09:00:00.000Z",
         "data": {"sessionId": "canary-s", "copilotVersion": "1.0.90", "producer": c,
                  "context": {"cwd": "/nonexistent/agent-cli-tests/canary", "branch": "main",
                              "gitRoot": f"/{c}", "repository": c, "headCommit": c}}},
        {"type": "system.message", "id": "b", "timestamp": "2026-04-01T09:00:00.100Z",
         "data": {"role": "system", "content": c}},
        {"type": "user.message", "id": "u", "timestamp": "2026-04-01T09:00:01.000Z",
         "data": {"content": c, "transformedContent": c, "attachments": [{"path": c}]}},
        {"type": "assistant.message", "id": "m", "timestamp": "2026-04-01T09:00:02.000Z",
         "data": {"messageId": c, "model": "gpt-5", "content": c, "reasoningText": c,
                  "reasoningOpaque": c, "outputTokens": 7, "requestId": c,
                  "toolRequests": [{"toolCallId": "t1", "name": "bash",
                                    "arguments": {"command": c}, "intentionSummary": c}]}},
        {"type": "tool.execution_start", "id": "t", "timestamp": "2026-04-01T09:00:03.000Z",
         "data": {"toolCallId": "t1", "toolName": "bash", "arguments": {"command": c}}},
        {"type": "tool.execution_complete", "id": "d", "timestamp": "2026-04-01T09:00:04.000Z",
         "data": {"toolCallId": "t1", "success": False, "result": {"content": c},
                  "error": {"message": c, "code": "failure"}, "toolTelemetry": {c: c}}},
        {"type": "session.error", "id": "e", "timestamp": "2026-04-01T09:00:05.000Z",
         "data": {"errorType": "query", "message": c, "stack": c, "url": c}},
        {"type": "session.shutdown", "id": "z", "timestamp": "2026-04-01T09:00:06.000Z",
         "data": {"shutdownType": "error", "errorReason": c,
                  "codeChanges": {"filesModified": [f"/{c}.py"]},
                  "modelMetrics": {"gpt-5": _m(100, 7, cr=20)}}},
    ]  # fmt: skip
    _write(tmp_path / ".copilot" / "session-state" / "canary-s" / "events.jsonl", rows)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["start", "--once", "--dry-run", "--agent", AGENT])
    assert result.exit_code == 0, result.output
    assert c not in result.stdout and c not in result.stderr
    kinds = Counter(json.loads(x)["kind"] for x in result.stdout.splitlines())
    assert kinds == Counter(llm_call=2, tool_call=1)


def test_tool_facts_have_latency_and_error_class() -> None:
    tools = [f for f in read(REAL / "events.jsonl") if isinstance(f, ToolFact)]
    task = next(t for t in tools if t.tool_name == "task")
    assert task.duration_ms == 4874  # 15:28:48.478 -> 15:28:53.352
    failed = [t for t in tools if t.status == "error"]
    assert [(t.tool_name, t.error_code) for t in failed] == [("view", "error")]


def test_shapes_other_releases_may_write_do_not_lose_the_line(tmp_path: Path) -> None:
    """A tool error given as text and a null modelMetrics entry still read the rest."""
    rows = [
        {"type": "session.start", "id": "a", "timestamp": "2026-04-01T09:00:00.000Z",
         "data": {"sessionId": "s-3"}},
        {"type": "tool.execution_start", "id": "b", "timestamp": "2026-04-01T09:00:01.000Z",
         "data": {"toolCallId": "t", "toolName": "bash"}},
        {"type": "tool.execution_complete", "id": "c", "timestamp": "2026-04-01T09:00:02.500Z",
         "data": {"toolCallId": "t", "success": False, "error": "denied by the user"}},
        _shutdown(4, {"gpt-5": _m(50, 5), "gone": None}),
    ]  # fmt: skip
    skipped: Counter[str] = Counter()
    facts = read(_write(tmp_path / "s-3" / "events.jsonl", rows), skipped)
    (tool,) = [f for f in facts if isinstance(f, ToolFact)]
    assert (tool.status, tool.error_code, tool.duration_ms) == ("error", "error", 1500)
    assert [(c.model, c.usage.input_tokens) for c in calls(facts)] == [("gpt-5", 50)]
    assert skipped == Counter()


def test_only_the_old_layout_is_named_as_found_but_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / ".copilot" / "history-session-state"
    old.mkdir(parents=True)
    (old / "session_1.json").write_text('{"sessionId": "1", "chatMessages": []}')
    monkeypatch.setenv("HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["start", "--once", "--dry-run", "--agent", AGENT])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stderr.splitlines() if x.startswith("found, not read: "))
    assert "copilot-cli (" in line and "history-session-state" in line
