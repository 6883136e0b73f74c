"""Cline, Roo Code, Kilo Code: discovery per OS and editor, tokensIn per agent and date, the
whole-file rewrite and restore pitfalls, SDK sessions (a real file), skips and the canary.

Expected values never come from the reader: the real SDK session is re-parsed here with the
stdlib `json` module; the hand-written tasks (fixtures/cline/home) carry hand-computed numbers.
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
from agent_cli.cursor import Cursor
from agent_cli.events import CallFact, ToolFact
from agent_cli.sources.cline import Cline, ClineFamily, KiloCode, RooCode
from agent_cli.sources.cline.discover import EDITORS
from tests.dryrun import dry_run

FIXTURES = Path(__file__).parent / "fixtures" / "cline"
HOME = FIXTURES / "home"
SDK_ID = "1784094124598_rruoq"
SDK_FILE = HOME / ".cline" / "data" / "sessions" / SDK_ID / f"{SDK_ID}.messages.json"
MAX = 32 * 1024 * 1024
CANARY = "CANARY_7f3e_cline_content"


def tok(e: dict[str, Any]) -> tuple[int, int, int, int]:
    return (
        e["input_tokens"],
        e["cache_read_tokens"],
        e["cache_creation_tokens"],
        e["output_tokens"],
    )


def total(events: list[dict[str, Any]]) -> tuple[int, int, int, int]:
    return tuple(sum(x) for x in zip(*(tok(e) for e in events), strict=True)) or (0, 0, 0, 0)  # type: ignore[return-value]


def read(
    src: ClineFamily, path: Path, cursor: Cursor | None = None
) -> tuple[list[object], Cursor | None, Counter[str]]:
    skipped: Counter[str] = Counter()
    facts: list[object] = []
    last = cursor
    for chunk in src.read(str(path), cursor, skipped, MAX):
        facts += chunk.facts
        last = chunk.cursor
    return facts, last, skipped


def calls(facts: list[object]) -> list[CallFact]:
    return [f for f in facts if isinstance(f, CallFact)]


def usage(c: CallFact) -> tuple[int, int, int, int]:
    u = c.usage
    return (u.input_tokens, u.cache_read_tokens, u.cache_creation_tokens, u.output_tokens)


def write_task(path: Path, messages: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(messages))
    return path


def req(ts: int, **kw: Any) -> dict[str, Any]:
    return {
        "ts": ts,
        "type": "say",
        "say": "api_req_started",
        "text": json.dumps({"request": "p", **kw}),
    }


# -- the fixture home, end to end ------------------------------------------------------------


def test_fixture_home_dry_run_totals() -> None:
    run = dry_run({"HOME": str(HOME)}, Settings())
    by = Counter(e["agent"] for e in run.calls)
    assert by == Counter({"cline": 5 + 16, "roo-code": 5, "kilo-code": 1})
    classic = [e for e in run.calls if e["agent"] == "cline" and e["session_id"] == "1760000000000"]
    # hand-computed from the fixture (tokensIn disjoint for anthropic, inclusive for openai)
    assert [tok(e) for e in classic] == [
        (12, 0, 4000, 250),
        (5, 4000, 300, 120),
        (2000, 3000, 0, 100),
        (10, 0, 0, 0),
        (800, 100, 0, 80),  # the subagents ran on the task's provider then: openai, inclusive
    ]
    assert [e["cost_usd"] for e in classic] == [0.018786, 0.004125, 0.00565, 0.00002, 0.00399]
    assert {e["cost_source"] for e in classic} == {"agent"}
    assert [e["model"] for e in classic] == ["claude-sonnet-4-5"] * 2 + ["gpt-4.1"] * 3
    assert [e["status"] for e in classic] == ["ok", "ok", "ok", "error", "ok"]
    assert classic[3]["error_code"] == "rate_limit"
    assert classic[4]["granularity"] == "session_delta" and classic[4]["is_subagent"] is True
    assert [e["turn_index"] for e in classic] == [1, 1, 2, 2, 2]
    assert run.report.skipped["pending_request"] == 1


def test_roo_and_kilo_whole_prompt_and_models() -> None:
    run = dry_run({"HOME": str(HOME)}, Settings(agents=("roo-code", "kilo-code")))
    roo = run.session("019a1b2c-roo-task")
    # Roo >= 3.29.5: tokensIn includes both caches; the model comes from each prompt
    assert [tok(e) for e in roo] == [(12, 0, 18000, 410), (30, 18000, 500, 220), (0, 0, 0, 0)]
    assert [e["model"] for e in roo] == ["claude-sonnet-4-5", "claude-opus-4-1", "claude-opus-4-1"]
    assert roo[2]["cost_usd"] == 0.0125  # the condense call: only its cost is recorded
    assert {e["parent_session_id"] for e in roo} == {"019a0000-roo-parent"}
    old = run.session("1750000000000")
    # before 3.29.5: an anthropic request's tokensIn is the uncached part, openai's the whole
    assert [tok(e) for e in old] == [(20000, 6000, 1000, 300), (1000, 8000, 0, 50)]
    kilo = run.session("1766000000000")
    assert [tok(e) for e in kilo] == [(1000, 11000, 0, 640)]
    assert kilo[0]["model"] == "x-ai/grok-code-fast-1"


def test_real_sdk_session_matches_stdlib_sum() -> None:
    doc = json.loads(SDK_FILE.read_text())
    want = [0, 0, 0, 0]
    cost = 0.0
    n = 0
    for m in doc["messages"]:
        x = m.get("metrics")
        if m["role"] == "assistant" and x:
            n += 1
            want[0] += x["inputTokens"] - x["cacheReadTokens"] - x["cacheWriteTokens"]
            want[1] += x["cacheReadTokens"]
            want[2] += x["cacheWriteTokens"]
            want[3] += x["outputTokens"]
            cost += x["cost"]
    facts, _, _ = read(Cline(), SDK_FILE)
    got = calls(facts)
    assert len(got) == n == 16
    assert tuple(sum(x) for x in zip(*(usage(c) for c in got), strict=True)) == tuple(want)
    assert sum(c.cost_usd or 0 for c in got) == pytest.approx(cost)
    assert {c.context.cwd for c in got} == {"/Users/example/dev/cline"}
    tools = [f for f in facts if isinstance(f, ToolFact)]
    uses = sum(
        1
        for m in doc["messages"]
        if m["role"] == "assistant"
        for b in m["content"]
        if isinstance(b, dict) and b.get("type") == "tool_use"
    )
    assert len(tools) == uses and all(t.call_event_id for t in tools)


def test_sdk_fork_counts_copied_history_once(tmp_path: Path) -> None:
    sessions = tmp_path / "sessions"
    shutil.copytree(SDK_FILE.parent, sessions / SDK_ID)
    fork = sessions / "1784099999999_forkd"
    fork.mkdir()
    doc = json.loads(SDK_FILE.read_text())
    doc["sessionId"] = fork.name
    (fork / f"{fork.name}.messages.json").write_text(json.dumps(doc))
    env = {"HOME": str(tmp_path), "CLINE_SESSION_DATA_DIR": str(sessions)}
    run = dry_run(env, Settings(agents=("cline",)))
    assert len(run.calls) == 16
    assert run.report.not_emitted["duplicate"] == 16


# -- discovery: every editor, every OS, every extension id -----------------------------------


@pytest.mark.parametrize(
    ("platform", "base"),
    [
        ("linux", ".config"),
        ("darwin", "Library/Application Support"),
        ("win32", "AppData/Roaming"),
    ],
)
def test_discovery_per_os_and_editor(tmp_path: Path, platform: str, base: str) -> None:
    for agent, ext in (
        ("cline", "saoudrizwan.claude-dev"),
        ("roo-code", "rooveterinaryinc.roo-cline"),
        ("kilo-code", "kilocode.kilo-code"),
    ):
        for editor in EDITORS:
            write_task(
                tmp_path / base / editor / "User/globalStorage" / ext / "tasks/1/ui_messages.json",
                [],
            )
        src = {"cline": Cline, "roo-code": RooCode, "kilo-code": KiloCode}[agent](platform)
        found = [f.path for f in src.discover({"HOME": str(tmp_path)})]
        assert len(found) == len(EDITORS), agent
        assert all(ext in p for p in found)
        assert any("Cursor" in w for w in src.where({"HOME": str(tmp_path)}))


def test_discovery_env_overrides(tmp_path: Path) -> None:
    write_task(
        tmp_path
        / "xdg/Windsurf/User/globalStorage/saoudrizwan.claude-dev/tasks/1/ui_messages.json",
        [],
    )
    write_task(
        tmp_path
        / "roaming/VSCodium/User/globalStorage/saoudrizwan.claude-dev/tasks/2/ui_messages.json",
        [],
    )
    write_task(tmp_path / "cdata/tasks/3/ui_messages.json", [])
    write_task(tmp_path / "sess/s1/s1.messages.json", [])
    write_task(tmp_path / "sess/s1/agent-7.messages.json", [])
    write_task(
        tmp_path
        / ".vscode-server/data/User/globalStorage/saoudrizwan.claude-dev/tasks/4/ui_messages.json",
        [],
    )
    env = {
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "APPDATA": str(tmp_path / "roaming"),
        "CLINE_DATA_DIR": str(tmp_path / "cdata"),
        "CLINE_SESSION_DATA_DIR": str(tmp_path / "sess"),
    }
    linux = [os.path.relpath(f.path, tmp_path) for f in Cline("linux").discover(env)]
    assert linux == [
        "xdg/Windsurf/User/globalStorage/saoudrizwan.claude-dev/tasks/1/ui_messages.json",
        ".vscode-server/data/User/globalStorage/saoudrizwan.claude-dev/tasks/4/ui_messages.json",
        "cdata/tasks/3/ui_messages.json",
        "sess/s1/s1.messages.json",  # the session's own file before its subagents
        "sess/s1/agent-7.messages.json",
    ]
    win = [os.path.relpath(f.path, tmp_path) for f in Cline("win32").discover(env)]
    assert win[0].startswith("roaming/VSCodium")
    env2 = {"HOME": str(tmp_path), "CLINE_DIR": str(tmp_path / "cdir")}
    assert str(tmp_path / "cdir" / "data" / "sessions") in Cline("linux").where(env2)


def test_same_task_in_two_editors_counts_once(tmp_path: Path) -> None:
    task = [req(1770000001000, tokensIn=10, tokensOut=5, cacheWrites=0, cacheReads=0, cost=0.001)]
    for editor in ("Code", "Cursor"):
        write_task(
            tmp_path
            / ".config"
            / editor
            / "User/globalStorage/saoudrizwan.claude-dev/tasks/1770000000000/ui_messages.json",
            task,
        )
    run = dry_run({"HOME": str(tmp_path)}, Settings(agents=("cline",)))
    assert len(run.calls) == 1
    assert run.report.not_emitted["duplicate"] == 1


# -- the whole-file pitfalls -----------------------------------------------------------------


def test_rewrite_keeps_ids_when_positions_shift(tmp_path: Path) -> None:
    path = tmp_path / "tasks" / "1770000000000" / "ui_messages.json"
    a = req(1770000001000, tokensIn=10, tokensOut=5, cacheWrites=0, cacheReads=0, cost=0.001)
    b = req(1770000002000)  # a placeholder: the stream is still running
    write_task(path, [a, b])
    src = Cline()
    first, cur, skipped = read(src, path)
    assert len(calls(first)) == 1 and skipped["pending_request"] == 1
    filled = req(1770000002000, tokensIn=7, tokensOut=9, cacheWrites=0, cacheReads=3, cost=0.002)
    greeting = {"ts": 1770000000500, "type": "say", "say": "text", "text": "inserted before"}
    write_task(path, [greeting, a, filled])
    os.utime(path, ns=(1, 2))  # a new mtime even on a coarse clock
    second, _, _ = read(src, path, cur)
    assert [usage(c) for c in calls(second)] == [(7, 3, 0, 9)]  # only what is new
    fresh = {c.event_id: usage(c) for c in calls(read(Cline(), path)[0])}
    assert fresh[calls(first)[0].event_id] == (10, 0, 0, 5)  # same id though its place moved
    assert fresh[calls(second)[0].event_id] == (7, 3, 0, 9)


def test_restore_counts_deleted_requests_once(tmp_path: Path) -> None:
    path = tmp_path / "tasks" / "1770000000000" / "ui_messages.json"
    a = req(1770000001000, tokensIn=10, tokensOut=1, cacheWrites=0, cacheReads=0, cost=0.1)
    b = req(1770000002000, tokensIn=20, tokensOut=2, cacheWrites=0, cacheReads=0, cost=0.2)
    write_task(path, [a, b])
    src = Cline()
    first, cur, _ = read(src, path)
    assert len(calls(first)) == 2
    # unseen by us: c (30 in, 3 out) ran, then a restore to after `a` deleted b and c
    deleted = {
        "ts": 1770000009000,
        "type": "say",
        "say": "deleted_api_reqs",
        "text": json.dumps(
            {"tokensIn": 50, "tokensOut": 5, "cacheWrites": 0, "cacheReads": 0, "cost": 0.5}
        ),
    }
    write_task(path, [a, deleted])
    os.utime(path, ns=(1, 3))
    second, cur2, _ = read(src, path, cur)
    delta = calls(second)
    new = [c for c in delta if c.granularity == "session_delta"]
    assert len(new) == 1 and usage(new[0]) == (30, 0, 0, 3)
    assert new[0].cost_usd == pytest.approx(0.3)
    # a later read of the same file finds nothing more to account for
    os.utime(path, ns=(1, 4))
    third, _, _ = read(src, path, cur2)
    assert calls(third) == []


def test_restore_seen_first_counts_the_whole_deleted_total(tmp_path: Path) -> None:
    path = tmp_path / "tasks" / "1770000000000" / "ui_messages.json"
    a = req(1770000001000, tokensIn=10, tokensOut=1, cacheWrites=0, cacheReads=0, cost=0.1)
    deleted = {
        "ts": 1770000009000,
        "type": "say",
        "say": "deleted_api_reqs",
        "text": json.dumps(
            {"tokensIn": 50, "tokensOut": 5, "cacheWrites": 2, "cacheReads": 4, "cost": 0.5}
        ),
    }
    write_task(path, [a, deleted])
    got = calls(read(Cline(), path)[0])
    assert sorted(usage(c) for c in got) == [(10, 0, 0, 1), (50, 4, 2, 5)]


def test_oldest_cline_api_req_finished_joins_its_start(tmp_path: Path) -> None:
    path = tmp_path / "tasks" / "1710000000000" / "ui_messages.json"
    start = {
        "ts": 1710000001000,
        "type": "say",
        "say": "api_req_started",
        "text": json.dumps({"request": "p"}),
    }
    done = {
        "ts": 1710000003000,
        "type": "say",
        "say": "api_req_finished",
        "text": json.dumps(
            {"tokensIn": 4, "tokensOut": 6, "cacheWrites": 1, "cacheReads": 2, "cost": 0.01}
        ),
    }
    write_task(path, [start, done])
    got = calls(read(Cline(), path)[0])
    assert [usage(c) for c in got] == [(4, 2, 1, 6)]
    assert got[0].timestamp == "2024-03-09T16:00:01.000Z"  # the start's ts keys it


@pytest.mark.parametrize(
    ("agent", "ts", "text", "want"),
    [
        ("cline", 1770000000000, {"tokensIn": 900, "cacheReads": 100, "cacheWrites": 0}, 900),
        ("roo-code", 1770000000000, {"tokensIn": 900, "cacheReads": 100, "cacheWrites": 50}, 750),
        (
            "roo-code",
            1750000000000,
            {"tokensIn": 900, "cacheReads": 100, "apiProtocol": "anthropic"},
            900,
        ),
        (
            "roo-code",
            1750000000000,
            {"tokensIn": 900, "cacheReads": 100, "apiProtocol": "openai"},
            800,
        ),
        ("roo-code", 1770000000000, {"tokensIn": 5, "cacheReads": 100, "cacheWrites": 0}, 5),
        (
            "kilo-code",
            1762000000000,
            {"tokensIn": 900, "cacheReads": 100, "apiProtocol": "anthropic"},
            900,
        ),
        (
            "kilo-code",
            1763000000000,
            {"tokensIn": 900, "cacheReads": 100, "apiProtocol": "anthropic"},
            800,
        ),
    ],
)
def test_tokens_in_per_agent_and_date(
    tmp_path: Path, agent: str, ts: int, text: dict[str, Any], want: int
) -> None:
    path = write_task(tmp_path / "tasks" / "t" / "ui_messages.json", [req(ts, tokensOut=1, **text)])
    got = calls(read(ClineFamily(agent), path)[0])
    assert [c.usage.input_tokens for c in got] == [want]


def test_cline_openai_compatible_provider_includes_cache(tmp_path: Path) -> None:
    info = {"modelId": "grok-4", "providerId": "xai"}
    m = req(1770000000000, tokensIn=900, tokensOut=1, cacheReads=100, cacheWrites=0) | {
        "modelInfo": info
    }
    path = write_task(tmp_path / "tasks" / "t" / "ui_messages.json", [m])
    got = calls(read(Cline(), path)[0])
    assert [usage(c) for c in got] == [(800, 100, 0, 1)]
    assert got[0].model == "grok-4" and got[0].provider == "xai"


# -- bad input -------------------------------------------------------------------------------


def test_skip_reasons(tmp_path: Path) -> None:
    src = Cline()
    bad = tmp_path / "a" / "ui_messages.json"
    bad.parent.mkdir()
    bad.write_bytes(b'[{"ts": 1, "type": "say"')
    assert read(src, bad)[2] == Counter(malformed_task_file=1)
    odd = write_task(tmp_path / "b" / "ui_messages.json", {"not": "a list"})  # type: ignore[arg-type]
    assert read(src, odd)[2] == Counter(not_a_task=1)
    text = write_task(
        tmp_path / "c" / "ui_messages.json",
        [
            {"ts": 5, "type": "say", "say": "api_req_started", "text": "not json"},
            {"ts": 6, "type": "say", "say": "api_req_started", "text": None},
            req(7, tokensIn=0, tokensOut=0, cacheWrites=0, cacheReads=0, cost=0),
            {"ts": "x", "type": 3, "say": ["odd"]},
        ],
    )
    facts, _, skipped = read(src, text)
    assert facts == []
    assert skipped == Counter(unrecognized_usage_message=2, zero_tokens=1, unrecognized_message=1)
    sdk = tmp_path / "s" / "s.messages.json"
    sdk.parent.mkdir()
    sdk.write_bytes(b"\xff\xfe")
    assert read(src, sdk)[2] == Counter(malformed_session_file=1)


# -- the canary: no content ever leaves --------------------------------------------------------


def _canary_home(home: Path) -> None:
    c = CANARY
    ext = home / ".config/Code/User/globalStorage/saoudrizwan.claude-dev"
    task = ext / "tasks" / "1770000000000"
    write_task(
        task / "ui_messages.json",
        [
            {
                "ts": 1770000000000,
                "type": "say",
                "say": "task",
                "text": c,
                "images": [c],
                "files": [c],
            },
            {
                "ts": 1770000001000,
                "type": "say",
                "say": "api_req_started",
                "modelInfo": {"modelId": "claude-sonnet-4-5", "providerId": "anthropic", "mode": c},
                "text": json.dumps(
                    {
                        "request": c,
                        "tokensIn": 3,
                        "tokensOut": 4,
                        "cacheWrites": 5,
                        "cacheReads": 6,
                        "cost": 0.01,
                        "streamingFailedMessage": c,
                        "cancelReason": "streaming_failed",
                    }
                ),
            },
            {"ts": 1770000002000, "type": "say", "say": "text", "text": c, "reasoning": c},
            {
                "ts": 1770000003000,
                "type": "ask",
                "ask": "tool",
                "text": json.dumps({"tool": "readFile", "path": c, "content": c}),
            },
            {"ts": 1770000004000, "type": "say", "say": "user_feedback", "text": c},
            {
                "ts": 1770000005000,
                "type": "say",
                "say": "subagent_usage",
                "text": json.dumps(
                    {
                        "source": c,
                        "tokensIn": 1,
                        "tokensOut": 1,
                        "cacheWrites": 0,
                        "cacheReads": 0,
                        "cost": 0,
                    }
                ),
            },
        ],
    )
    write_task(task / "api_conversation_history.json", [{"role": "user", "ts": 1, "content": c}])  # type: ignore[list-item]
    (task / "task_metadata.json").write_text(
        json.dumps(
            {
                "files_in_context": [{"path": c}],
                "model_usage": [
                    {
                        "ts": 1,
                        "model_id": "claude-sonnet-4-5",
                        "model_provider_id": "anthropic",
                        "mode": c,
                    }
                ],
            }
        )
    )
    write_task(
        ext / "state" / "taskHistory.json",
        [
            {
                "id": "1770000000000",
                "task": c,
                "cwdOnTaskInitialization": "/nonexistent/agent-cli-tests/cline",
            }
        ],
    )
    roo = home / ".config/Code/User/globalStorage/rooveterinaryinc.roo-cline/tasks/r1"
    write_task(
        roo / "ui_messages.json",
        [
            {"ts": 1770000000000, "type": "say", "say": "text", "text": c},
            {
                "ts": 1770000001000,
                "type": "say",
                "say": "api_req_started",
                "text": json.dumps(
                    {
                        "apiProtocol": "anthropic",
                        "request": c,
                        "tokensIn": 9,
                        "tokensOut": 2,
                        "cacheWrites": 0,
                        "cacheReads": 0,
                        "cost": 0.001,
                    }
                ),
            },
            {
                "ts": 1770000002000,
                "type": "say",
                "say": "condense_context",
                "contextCondense": {
                    "cost": 0.002,
                    "summary": c,
                    "prevContextTokens": 9,
                    "newContextTokens": 1,
                },
            },
        ],
    )
    write_task(
        roo / "api_conversation_history.json",
        [
            {
                "role": "user",
                "ts": 1770000001100,
                "content": [{"type": "text", "text": c + "<model>claude-sonnet-4-5</model>"}],
            }
        ],
    )
    (roo / "history_item.json").write_text(
        json.dumps({"id": "r1", "task": c, "workspace": "/nonexistent/agent-cli-tests/roo"})
    )
    sdk = home / ".cline/data/sessions/s1"
    sdk.mkdir(parents=True)
    (sdk / "s1.json").write_text(
        json.dumps(
            {
                "session_id": "s1",
                "prompt": c,
                "cwd": "/nonexistent/agent-cli-tests/sdk",
                "metadata": {"title": c},
                "model": "m",
            }
        )
    )
    (sdk / "s1.messages.json").write_text(
        json.dumps(
            {
                "sessionId": "s1",
                "messages": [
                    {
                        "id": "u1",
                        "role": "user",
                        "ts": 1770000000000,
                        "content": [
                            {"type": "text", "text": c},
                            {"type": "file", "path": c, "content": c},
                        ],
                    },
                    {
                        "id": "a1",
                        "role": "assistant",
                        "ts": 1770000001000,
                        "content": [
                            {"type": "text", "text": c},
                            {"type": "thinking", "thinking": c},
                            {
                                "type": "tool_use",
                                "id": "t1",
                                "name": "read_files",
                                "input": {"path": c},
                            },
                        ],
                        "modelInfo": {
                            "id": "anthropic/claude-sonnet-4.5",
                            "provider": "cline",
                            "family": c,
                        },
                        "metrics": {
                            "inputTokens": 30,
                            "outputTokens": 3,
                            "cacheReadTokens": 10,
                            "cacheWriteTokens": 0,
                            "cost": 0.01,
                        },
                        "metadata": {"note": c},
                    },
                    {
                        "id": "u2",
                        "role": "user",
                        "ts": 1770000001500,
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": "t1",
                                "name": "read_files",
                                "content": c,
                                "is_error": True,
                            }
                        ],
                    },
                ],
            }
        )
    )


def test_canary_never_leaves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    _canary_home(home)
    monkeypatch.setenv("HOME", str(home))
    args = ["start", "--once", "--dry-run", "--agent", "cline", "--agent", "roo-code"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert CANARY not in result.stdout
    assert CANARY not in result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert sum(e["kind"] == "llm_call" for e in events) == 5
    assert sum(e["kind"] == "tool_call" for e in events) == 1


# -- the synthetic generator: its truth, exactly ---------------------------------------------


def test_generated_history_matches_its_truth(tmp_path: Path) -> None:
    from tests.synth.cline import ClineGen
    from tests.synth.common import TOKEN_FIELDS, Pools, Truth

    truth = Truth()
    home = tmp_path / "home"
    ClineGen(home, 400_000, 5, CANARY, truth, Pools(5), 0.05, False).run()
    run = dry_run({"HOME": str(home)}, Settings(agents=("cline", "roo-code", "kilo-code")))
    got: dict[str, dict[str, int]] = {}
    for e in run.calls:
        key = f"{e['agent']}|{e['model']}|{e['timestamp'][:10]}"
        row = got.setdefault(key, dict.fromkeys(TOKEN_FIELDS, 0))
        row["calls"] += 1
        row["error_calls"] += e["status"] == "error"
        for f in TOKEN_FIELDS[2:]:
            row[f] += e[f]
    assert got == truth.llm
    tools: dict[str, dict[str, int]] = {}
    for t in run.tools:
        row = tools.setdefault(f"{t['agent']}|{t['tool_name']}", {"calls": 0, "errors": 0})
        row["calls"] += 1
        row["errors"] += t["status"] == "error"
    assert tools == truth.tools
    assert {"cline.deleted_api_reqs", "cline.subagent_usage"} <= set(truth.patterns)
    assert CANARY not in run.raw.decode()


def test_kilo_7_database_is_named_never_read(tmp_path: Path) -> None:
    db = tmp_path / ".local" / "share" / "kilo" / "kilo.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    env = {"HOME": str(tmp_path)}
    assert str(db.parent) in KiloCode("linux").where(env)
    run = dry_run(env, Settings(agents=("kilo-code",)))
    assert run.events == []
    assert run.report.skipped["kilo_db_not_read"] == 1
    other = tmp_path / "k"
    other.mkdir()
    (other / "kilo.db").write_bytes(b"x")
    found = [
        f.path
        for f in KiloCode("linux").discover({"HOME": str(tmp_path), "KILO_DATA_DIR": str(other)})
    ]
    assert found == [str(other / "kilo.db")]


def _deleted(ts: int, say: str, tin: int, out: int, cost: float) -> dict[str, Any]:
    text = {"tokensIn": tin, "tokensOut": out, "cacheWrites": 0, "cacheReads": 0, "cost": cost}
    return {"ts": ts, "type": "say", "say": say, "text": json.dumps(text)}


def _reads(src: ClineFamily, path: Path, versions: list[list[dict[str, Any]]]) -> list[CallFact]:
    """Read each version of a task file in turn, resuming from the stored cursor."""
    out: list[CallFact] = []
    cur: Cursor | None = None
    for n, messages in enumerate(versions):
        write_task(path, messages)
        os.utime(path, ns=(1, 10 + n))
        facts, cur, _ = read(src, path, cur)
        out += calls(facts)
    return out


def test_cline_nested_restores_count_every_request_once(tmp_path: Path) -> None:
    path = tmp_path / "tasks" / "1770000000000" / "ui_messages.json"
    a = req(1770000001000, tokensIn=1, tokensOut=1, cacheWrites=0, cacheReads=0, cost=0.0)
    x = req(1770000002000, tokensIn=10, tokensOut=1, cacheWrites=0, cacheReads=0, cost=0.0)
    d1 = _deleted(1770000003000, "deleted_api_reqs", 30, 3, 0.0)  # x + an unseen y (20, 2)
    z = req(1770000004000, tokensIn=100, tokensOut=1, cacheWrites=0, cacheReads=0, cost=0.0)
    # a restore to after `a` deletes d1 and z, and an unseen w (1000, 10): Cline nests d1 in d2
    d2 = _deleted(1770000009000, "deleted_api_reqs", 30 + 100 + 1000, 3 + 1 + 10, 0.0)
    got = _reads(Cline(), path, [[a, x], [a], [a, d1], [a, d1, z], [a, d2]])
    assert sorted(usage(c)[0] for c in got) == [1, 10, 20, 100, 1000]  # a, x, y, z, w


def test_roo_restores_are_not_nested(tmp_path: Path) -> None:
    path = tmp_path / "tasks" / "t" / "ui_messages.json"
    a = req(1770000001000, tokensIn=1, tokensOut=1, cacheWrites=0, cacheReads=0, cost=0.0)
    x = req(1770000002000, tokensIn=10, tokensOut=1, cacheWrites=0, cacheReads=0, cost=0.0)
    d1 = _deleted(1770000003000, "api_req_deleted", 30, 3, 0.0)  # x + an unseen y (20, 2)
    z = req(1770000004000, tokensIn=100, tokensOut=1, cacheWrites=0, cacheReads=0, cost=0.0)
    d2 = _deleted(1770000009000, "api_req_deleted", 100 + 1000, 1 + 10, 0.0)  # z + unseen w
    got = _reads(RooCode(), path, [[a, x], [a, d1], [a, d1, z], [a, d2]])
    assert sorted(usage(c)[0] for c in got) == [1, 10, 20, 100, 1000]


def test_a_classic_task_resumed_as_an_sdk_session_counts_once(tmp_path: Path) -> None:
    """Cline >= 4.1 carries a classic task's history into a new SDK session and stamps the last
    carried assistant message with the classic task's whole totals: not a new call."""
    folder = tmp_path / "sessions" / "s9"
    folder.mkdir(parents=True)
    warning = (
        "Warning: this is a legacy conversation, which means tool names may have changed."
        " Please use the most up-to-date tools you are aware of."
    )
    carried = {
        "inputTokens": 9000,
        "outputTokens": 900,
        "cacheReadTokens": 0,
        "cacheWriteTokens": 0,
        "cost": 1.0,
    }
    new = {
        "inputTokens": 50,
        "outputTokens": 5,
        "cacheReadTokens": 20,
        "cacheWriteTokens": 0,
        "cost": 0.01,
    }
    doc = {
        "sessionId": "s9",
        "messages": [
            {
                "id": "m1",
                "role": "user",
                "ts": 1770000000000,
                "content": [{"type": "text", "text": "old"}],
            },
            {
                "id": "m2",
                "role": "assistant",
                "ts": 1770000000001,
                "content": [],
                "metrics": carried,
                "modelInfo": {"id": "claude-sonnet-4-5", "provider": "unknown"},
            },
            {"id": "m3", "role": "user", "ts": 1770000000002, "content": warning},
            {
                "id": "m4",
                "role": "user",
                "ts": 1770000005000,
                "content": [{"type": "text", "text": "go on"}],
            },
            {"id": "m5", "role": "assistant", "ts": 1770000006000, "content": [], "metrics": new},
        ],
    }
    (folder / "s9.messages.json").write_text(json.dumps(doc))
    facts, _, skipped = read(Cline(), folder / "s9.messages.json")
    assert [usage(c) for c in calls(facts)] == [(30, 20, 0, 5)]
    assert skipped["legacy_carryover"] == 1
