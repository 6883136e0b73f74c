"""Kimi CLI: hand-written wire files shaped by the source, each rule, discovery, state, canary.

There is no public real wire.jsonl; the fixtures follow MoonshotAI/kimi-cli's serializers
(tests/fixtures/kimi_cli/SOURCES.md). Expected totals are recomputed with the stdlib `json`
module, never by the reader.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agent_cli.cli import cli
from agent_cli.config import Settings
from agent_cli.enrich import pseudonym
from agent_cli.events import CallFact, ToolFact
from agent_cli.sources import kimi_cli
from agent_cli.sources.kimi_cli.discover import discover, share_dir
from agent_cli.sources.kimi_cli.share import Share
from agent_cli.sources.kimi_cli.status import retry_code, tool_code
from agent_cli.tail import read_chunks
from tests.dryrun import Run, dry_run

FIX = Path(__file__).parent / "fixtures" / "kimi_cli"
WD = "/nonexistent/agent-cli-tests/kimi"
S1 = "5b0c1a9e-1111-4c1e-9d7a-000000000001"
S2 = "5b0c1a9e-2222-4c1e-9d7a-000000000002"
AID = "a7f3c2d1"
MAX_LINE = 64 * 1024 * 1024
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")
FIELDS = ("input_other", "output", "input_cache_read", "input_cache_creation")


def home_copy(tmp_path: Path) -> Path:
    """The fixture home, with the fork made an hour after its source (mtimes order sessions)."""
    home = tmp_path / "kimi-home"
    shutil.copytree(FIX / "home", home)
    sessions = home / ".kimi" / "sessions"
    for i, p in enumerate(sorted(sessions.rglob("wire.jsonl"))):
        os.utime(p, (1774850000 + i * 3600, 1774850000 + i * 3600))
    return home


def dry(home: Path) -> Run:
    return dry_run({"HOME": str(home)}, Settings(agents=("kimi-cli",)))


def wires(home: Path) -> list[Path]:
    return sorted((home / ".kimi" / "sessions").rglob("wire.jsonl"))


def usages(path: Path) -> list[tuple[float, dict[str, Any], str | None, str | None]]:
    """Every StatusUpdate with usage, nested ones too: (ts, usage, message id, agent id)."""
    out = []
    for line in path.read_text().splitlines():
        d = json.loads(line)
        msg, agent = d.get("message"), None
        if msg and msg["type"] == "SubagentEvent":
            agent, msg = msg["payload"]["agent_id"], msg["payload"]["event"]
        if msg and msg["type"] == "StatusUpdate" and msg["payload"].get("token_usage"):
            p = msg["payload"]
            out.append((d["timestamp"], p["token_usage"], p.get("message_id"), agent))
    return out


def expected_calls(home: Path) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The hand rule: one call per message id (or, without one, per own-file record)."""
    calls: dict[tuple[Any, ...], dict[str, Any]] = {}
    for path in wires(home):
        for ts, u, mid, nested in usages(path):
            if mid is None and nested is not None:
                continue  # the subagent's own file has it
            key = ("id", mid) if mid else ("ts", round(ts, 3))
            calls[key + tuple(u[f] for f in FIELDS)] = u
    return calls


def totals(run: Run) -> dict[str, int]:
    return {k: sum(c[k] for c in run.calls) for k in TOKENS}


def read_facts(path: Path, state: bytes | None = None) -> tuple[list[object], Counter[str]]:
    skipped: Counter[str] = Counter()
    reader = kimi_cli.KimiReader(str(path), state, skipped, {})
    for line in path.read_bytes().splitlines(keepends=True):
        reader.feed(line)
    return reader.flush(True), skipped


# -- the fixture home, token for token --------------------------------------------------------


def test_totals_token_for_token(tmp_path: Path) -> None:
    home = home_copy(tmp_path)
    run = dry(home)
    want = expected_calls(home)
    assert len(want) == 7
    ok = [c for c in run.calls if c["status"] == "ok"]
    assert len(ok) == 7
    assert totals(run) == {
        "input_tokens": sum(u["input_other"] for u in want.values()),
        "output_tokens": sum(u["output"] for u in want.values()),
        "cache_read_tokens": sum(u["input_cache_read"] for u in want.values()),
        "cache_creation_tokens": sum(u["input_cache_creation"] for u in want.values()),
    }
    assert totals(run) == {
        "input_tokens": 4947,
        "output_tokens": 478,
        "cache_read_tokens": 49664,
        "cache_creation_tokens": 512,
    }


def test_model_session_cwd_and_subagents(tmp_path: Path) -> None:
    run = dry(home_copy(tmp_path))
    main = [c for c in run.calls if not c["is_subagent"] and c["status"] == "ok"]
    subs = [c for c in run.calls if c["is_subagent"]]
    # the model is the config's default (the wire file names none), its provider Moonshot
    assert {(c["model"], c["provider"]) for c in main} == {("kimi-for-coding", "moonshotai")}
    # a subagent's model is its meta.json alias, resolved through the config
    assert {(c["model"], c["agent_id"]) for c in subs} == {("kimi-k2-turbo-preview", AID)}
    assert len(subs) == 2 and {c["session_id"] for c in subs} == {S1}
    assert {c["repo_path"] for c in run.calls} == {pseudonym(WD, "path")}
    assert all(c["cost_source"] in ("genai-prices", None) for c in run.calls)
    first = run.calls[0]
    assert first["timestamp"] == "2026-03-30T07:16:12.582Z"
    assert first["duration_ms"] == 2572  # StepBegin to the step's StatusUpdate
    assert (first["turn_index"], first["call_index"]) == (1, 0)


def test_fork_copies_count_once(tmp_path: Path) -> None:
    run = dry(home_copy(tmp_path))
    by_sid = Counter(c["session_id"] for c in run.calls if c["status"] == "ok")
    assert by_sid == Counter({S1: 6, S2: 1})  # the fork's copied turn stays the source's
    original, fork = (p for p in wires(FIX / "home") if "subagents" not in str(p))
    ids = lambda p: {f.event_id for f in read_facts(p)[0] if isinstance(f, CallFact)}  # noqa: E731
    assert len(ids(original) & ids(fork)) == 3  # two calls and the failed attempt
    assert Counter(t["tool_name"] for t in run.tools) == Counter(Shell=1, Agent=1, ReadFile=1)


def test_subagent_steps_copied_into_the_parent_count_once(tmp_path: Path) -> None:
    home = home_copy(tmp_path)
    main = next(p for p in wires(home) if S1 in str(p) and "subagents" not in str(p))
    sub = next(p for p in wires(home) if "subagents" in str(p))
    in_main = {f.event_id for f in read_facts(main)[0] if isinstance(f, CallFact) and f.is_subagent}
    in_sub = {f.event_id for f in read_facts(sub)[0] if isinstance(f, CallFact)}
    assert len(in_sub) == 2 and len(in_main) == 1 and in_main < in_sub
    # without the subagent's own file (older Kimi CLI), the copies are all there is
    shutil.rmtree(sub.parent)
    facts = read_facts(main)[0]
    assert sum(isinstance(f, CallFact) and f.is_subagent for f in facts) == 2


def test_retry_is_an_error_event(tmp_path: Path) -> None:
    run = dry(home_copy(tmp_path))
    errors = [c for c in run.calls if c["status"] == "error"]
    assert len(errors) == 1 and run.report.error_calls == 1
    (e,) = errors
    assert (e["error_code"], e["input_tokens"], e["output_tokens"]) == ("rate_limit", 0, 0)
    assert e["timestamp"] == "2026-03-30T07:16:14.000Z"


def test_tools_matched_with_status_and_latency(tmp_path: Path) -> None:
    run = dry(home_copy(tmp_path))
    tools = {t["tool_name"]: t for t in run.tools}
    assert (tools["Shell"]["status"], tools["Shell"]["duration_ms"]) == ("ok", 1400)
    assert (tools["Agent"]["status"], tools["Agent"]["error_code"]) == ("error", "rejected")
    assert tools["ReadFile"]["error_code"] == "validation"
    calls = {c["event_id"] for c in run.calls}
    assert all(t["call_event_id"] in calls for t in run.tools)


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (429, "APIStatusError", "rate_limit"),
        (None, "RateLimitError", "rate_limit"),
        (529, None, "overloaded"),
        (401, "AuthenticationError", "auth"),
        (400, "BadRequestError", "invalid_request"),
        (None, "APITimeoutError", "server_error"),
        (500, "InternalServerError", "server_error"),
    ],
)
def test_retry_codes(status: int | None, kind: str | None, code: str) -> None:
    assert retry_code(status, kind) == code


def test_tool_codes() -> None:
    assert tool_code("Error parsing JSON arguments: x") == "validation"
    assert tool_code("Tool `Foo` not found") == "validation"
    assert tool_code("The tool call is rejected by the user.") == "rejected"
    assert tool_code("Command failed with exit code 2") == "error"
    assert tool_code(None) == "error"


# -- Kimi Code (the successor): flat usage.record lines, the model recorded ------------------


def test_kimi_code_usage_records(tmp_path: Path) -> None:
    home = tmp_path / "code-home"
    shutil.copytree(FIX / "code-home", home)
    run = dry(home)
    want = []
    for p in sorted((home / ".kimi-code").rglob("wire.jsonl")):
        for line in p.read_text().splitlines():
            d = json.loads(line)
            if d["type"] == "usage.record":
                want.append(d["usage"])
    assert len(run.calls) == len(want) == 4  # every scope: the compaction's request too
    assert totals(run) == {
        "input_tokens": sum(u["inputOther"] for u in want),
        "output_tokens": sum(u["output"] for u in want),
        "cache_read_tokens": sum(u["inputCacheRead"] for u in want),
        "cache_creation_tokens": sum(u["inputCacheCreation"] for u in want),
    }
    first = run.calls[0]
    assert first["timestamp"] == "2026-06-27T02:27:25.226Z"
    assert (first["model"], first["provider"]) == ("kimi-code/kimi-for-coding", "moonshotai")
    assert first["session_id"] == "session_90dbd78a-5176-4f37-88e8-43d27da01ed4"
    assert first["repo_path"] == pseudonym("/nonexistent/agent-cli-tests/kimi-code", "path")
    (sub,) = [c for c in run.calls if c["is_subagent"]]
    assert (sub["agent_id"], sub["model"]) == ("agent-7", "kimi-code/kimi-k2-turbo")
    assert [c["turn_index"] for c in run.calls if not c["is_subagent"]] == [1, 1, 1]
    assert not run.report.skipped


# -- the model: where it comes from ------------------------------------------------------------


def test_model_resolution(tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    assert Share(str(share)).model().name is None  # no config: no model
    (share / "config.json").write_text(
        json.dumps(
            {
                "default_model": "k2",
                "models": {"k2": {"provider": "g", "model": "gemini-2.5-pro"}},
                "providers": {"g": {"type": "gemini", "api_key": "x"}},
            }
        )
    )
    m = Share(str(share)).model()  # the JSON config of older releases
    assert (m.name, m.provider, m.kind) == ("gemini-2.5-pro", "google", "gemini")
    assert Share(str(share)).model("unknown-alias").name == "unknown-alias"
    (share / "config.toml").write_text('default_model = "k2"\n[models.k2]\nmodel = "x"\n')
    assert Share(str(share)).model().name == "x"  # TOML wins over JSON
    (share / "config.toml").write_text("not = [toml")
    assert Share(str(share)).model().name is None


def test_a_wire_file_without_usage_is_named(tmp_path: Path) -> None:
    p = tmp_path / "sessions" / "w" / "s-old" / "wire.jsonl"
    p.parent.mkdir(parents=True)

    def rec(t: float, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"timestamp": t, "message": {"type": kind, "payload": payload}}

    old = [
        {"type": "metadata", "protocol_version": "1.1"},
        rec(1765000000.0, "TurnBegin", {"user_input": "x"}),
        rec(1765000001.0, "StepBegin", {"n": 1}),
        rec(1765000002.0, "StatusUpdate", {"context_usage": 0.1}),
        rec(1765000003.0, "TurnEnd", {}),
    ]
    p.write_text("".join(json.dumps(r) + "\n" for r in old))
    facts, skipped = read_facts(p)
    assert facts == [] and skipped == Counter(wire_without_token_usage=1)


def test_gemini_cache_inside_input_is_taken_out() -> None:
    tu = kimi_cli.format.TokenUsage(input_other=1000, output=10, input_cache_read=900)
    assert kimi_cli.reader.usage(tu, "gemini").input_tokens == 100
    assert kimi_cli.reader.usage(tu, "kimi").input_tokens == 1000


# -- bad input, state -------------------------------------------------------------------------


def test_bad_lines_are_skipped_by_reason(tmp_path: Path) -> None:
    src = next(p for p in wires(FIX / "home") if S1 in str(p) and "subagents" not in str(p))
    lines = src.read_bytes().splitlines(keepends=True)
    bad = [
        b'{"timestamp": 1, "message": \n',
        b'{"timestamp": 1, "message": {"type": "StatusUpdate", "payload": {"message_id": "'
        b'\xff"}}}\n',
        b"[1]\n",
        b'{"hello": "world"}\n',
        b'{"message": {"type": "StatusUpdate", "payload": {"token_usage": {"output": 1}}}}\n',
        b'{"timestamp": 2, "message": {"type": "ToolResult", "payload": {"tool_call_id": "z"}}}\n',
        b'{"timestamp": 3, "message": {"type": "StatusUpdate", "payload": {"message_id": "m"}}}\n',
    ]
    p = tmp_path / "sessions" / "w" / S1 / "wire.jsonl"
    p.parent.mkdir(parents=True)
    p.write_bytes(b"".join(lines[:3] + bad + lines[3:]))
    facts, skipped = read_facts(p)
    # 4 calls, 1 failed attempt, 2 subagent steps (no subagent file beside this copy)
    assert sum(isinstance(f, CallFact) for f in facts) == 7
    assert skipped == Counter(
        malformed_json=1,
        invalid_utf8=1,
        unrecognized_line=2,
        no_timestamp=1,
        tool_result_without_call=1,
        step_without_usage=1,
    )


@pytest.mark.parametrize("cut", [1, 5, 6, 7, 12, 17, 20])
def test_resume_from_stored_state_mid_file(tmp_path: Path, cut: int) -> None:
    home = home_copy(tmp_path)
    src = next(p for p in wires(home) if S1 in str(p) and "subagents" not in str(p))
    whole = read_facts(src)[0]
    lines = src.read_bytes().splitlines(keepends=True)
    src.write_bytes(b"".join(lines[:cut]))
    skipped: Counter[str] = Counter()
    shares: dict[str, Share] = {}
    mk = lambda s: kimi_cli.KimiReader(str(src), s, skipped, shares)  # noqa: E731
    facts: list[object] = []
    cursor = None
    for ch in read_chunks(str(src), None, mk, skipped, max_line=MAX_LINE):
        facts += ch.facts
        cursor = ch.cursor
    assert cursor is not None
    with open(src, "ab") as f:
        f.write(b"".join(lines[cut:]))
    for ch in read_chunks(str(src), cursor, mk, skipped, max_line=MAX_LINE):
        facts += ch.facts
    key = lambda f: (type(f).__name__, f.event_id, getattr(f, "call_event_id", None))  # noqa: E731
    assert sorted(map(key, facts)) == sorted(map(key, whole))
    assert sum(isinstance(f, ToolFact) for f in facts) == 2
    assert not skipped


# -- discovery --------------------------------------------------------------------------------


def test_discovery_env_and_platforms(tmp_path: Path) -> None:
    share = tmp_path / "share"
    for rel in ("sessions/w/s1/wire.jsonl", "sessions/w/s1/subagents/a/wire.jsonl",
                "sessions/w/s1/context.jsonl", "sessions/w/s1/other/x/wire.jsonl",
                "sessions/w/wire.jsonl"):  # fmt: skip
        (share / rel).parent.mkdir(parents=True, exist_ok=True)
        (share / rel).write_text("")
    env = {"HOME": str(tmp_path / "nohome"), "KIMI_SHARE_DIR": str(share)}
    found = [os.path.relpath(f.path, share) for f in discover(env)]
    assert found == [
        os.path.join("sessions", "w", "s1", "wire.jsonl"),
        os.path.join("sessions", "w", "s1", "subagents", "a", "wire.jsonl"),
    ]
    assert kimi_cli.KimiCli().where(env)[0] == str(share / "sessions")
    code = tmp_path / "code"
    for rel in ("sessions/ws/s/agents/main/wire.jsonl", "sessions/ws/s/agents/a-1/wire.jsonl",
                "sessions/ws/s/wire.jsonl", "sessions/ws/s/agents/main/x.jsonl"):  # fmt: skip
        (code / rel).parent.mkdir(parents=True, exist_ok=True)
        (code / rel).write_text("")
    env = {"HOME": str(tmp_path / "nohome"), "KIMI_CODE_HOME": str(code)}
    found = [os.path.relpath(f.path, code) for f in discover(env)]
    assert found == [
        os.path.join("sessions", "ws", "s", "agents", "main", "wire.jsonl"),
        os.path.join("sessions", "ws", "s", "agents", "a-1", "wire.jsonl"),
    ]
    assert kimi_cli.KimiCli().where(env)[1] == str(code / "sessions")
    home = tmp_path / "h"
    for platform in ("linux", "darwin"):
        assert share_dir({"HOME": str(home)}, platform) == home / ".kimi"
    win = {"USERPROFILE": str(tmp_path / "win"), "HOME": str(tmp_path / "msys")}
    assert share_dir(win, "win32") == tmp_path / "win" / ".kimi"  # Python ignores HOME there


# -- the canary: no content ever leaves -------------------------------------------------------

CANARY = "CANARY-2c8e-kimi-secret"


def test_canary_never_leaves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = CANARY
    home = tmp_path / "canary-home"
    share = home / ".kimi"
    sdir = share / "sessions" / "c" / "s-canary"
    (sdir / "subagents" / "sub1").mkdir(parents=True)
    (share / "config.toml").write_text(
        f'default_model = "m"\n[models.m]\nprovider = "p"\nmodel = "kimi-k2-turbo-preview"\n'
        f'max_context_size = 1\n[providers.p]\ntype = "kimi"\nbase_url = "https://{c}"\n'
        f'api_key = "{c}"\ncustom_headers = {{ x = "{c}" }}\n'
    )
    (share / "kimi.json").write_text(json.dumps({"work_dirs": [{"path": f"/x/{c}"}]}))
    (sdir / "subagents" / "sub1" / "meta.json").write_text(
        json.dumps({"description": c, "launch_spec": {"effective_model": "m"}})
    )
    text = (FIX / "canary.jsonl.in").read_text().replace("@@CANARY@@", c)
    (sdir / "wire.jsonl").write_text(text)
    # Kimi Code: content in every record kind beside the usage
    cdir = home / ".kimi-code" / "sessions" / "ws" / "s-code" / "agents" / "main"
    cdir.mkdir(parents=True)
    (home / ".kimi-code" / "workspaces.json").write_text(
        json.dumps({"workspaces": {"ws": {"root": f"/x/{c}"}}})
    )
    code = [
        {"type": "metadata", "protocol_version": "1.4", "created_at": 1, "time": 1},
        {"type": "turn.prompt", "input": [{"type": "text", "text": c}], "time": 2},
        {"type": "context.append_message", "message": {"role": "user", "content": c}, "time": 3},
        {"type": "config.update", "systemPrompt": c, "time": 4},
        {"type": "usage.record", "model": "kimi-code/k2", "usageScope": "turn",
         "time": 1780000000000,
         "usage": {"inputOther": 1, "output": 2, "inputCacheRead": 3, "inputCacheCreation": 0}},
    ]  # fmt: skip
    (cdir / "wire.jsonl").write_text("".join(json.dumps(r) + "\n" for r in code))
    monkeypatch.setenv("HOME", str(home))
    result = CliRunner().invoke(cli, ["start", "--once", "--dry-run", "--agent", "kimi-cli"])
    assert result.exit_code == 0, result.output
    assert CANARY not in result.stdout
    assert CANARY not in result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    # two calls and one retry (Kimi CLI), one call (Kimi Code)
    assert sum(e["kind"] == "llm_call" for e in events) == 4
    assert sum(e["kind"] == "tool_call" for e in events) == 1
    assert "by agent: kimi-cli 4" in result.stderr


def test_dry_run_summary_names_kimi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(home_copy(tmp_path)))
    result = CliRunner().invoke(cli, ["start", "--once", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "kimi-cli 8" in result.stderr
