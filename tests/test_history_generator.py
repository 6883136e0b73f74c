"""Tests of the synthetic-history generator used by the benchmarks (benchmarks/history.py)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "history.py"
_spec = importlib.util.spec_from_file_location("benchmarks_history", _PATH)
assert _spec is not None and _spec.loader is not None
history = importlib.util.module_from_spec(_spec)
sys.modules["benchmarks_history"] = history
_spec.loader.exec_module(history)

TARGET = 300_000
CANARY = "CANARY-7f3e-do-not-ship"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    home = tmp_path_factory.mktemp("hist") / "home"
    truth = history.generate(home, TARGET, seed=1)
    return home, truth


@pytest.fixture(scope="module")
def made_canary(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    home = tmp_path_factory.mktemp("histc") / "home"
    truth = history.generate(home, TARGET, seed=3, canary=CANARY)
    return home, truth


def _files(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if p.is_file())


def _digest(home: Path) -> dict[str, str]:
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest() for p in _files(home)
    }


def _jsonl(path: Path) -> list[Any]:
    """Complete, decodable lines only (like a tolerant reader)."""
    out = []
    for raw in path.read_bytes().split(b"\n")[:-1]:
        try:
            out.append(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, ValueError):
            continue
    return out


def test_tree_has_all_three_agents(made: tuple[Path, Any]) -> None:
    home, _ = made
    projects = home / ".claude" / "projects"
    mains = [p for p in projects.glob("*/*.jsonl") if not p.name.startswith("agent-")]
    assert len(mains) >= 10
    assert all(p.parent.name.startswith("-home-dev-src-") for p in mains)
    assert list(projects.glob("*/agent-*.jsonl")), "2.0.x legacy agent files"
    assert list(projects.glob("*/*/subagents/agent-*.jsonl")), "2.1.x subagents dir"
    assert list(projects.glob("*/*/subagents/agent-*.meta.json"))
    assert list(projects.glob("*/*/subagents/journal.jsonl"))
    codex = home / ".codex"
    assert list(codex.glob("sessions/2026/[0-9][0-9]/[0-9][0-9]/rollout-2026-*.jsonl"))
    assert list(codex.glob("archived_sessions/rollout-*.jsonl"))
    gem = home / ".gemini"
    assert (gem / "projects.json").is_file()
    assert list(gem.glob("tmp/*/.project_root"))
    jsons = list(gem.glob("tmp/*/chats/session-*.json"))
    jsonls = list(gem.glob("tmp/*/chats/session-*.jsonl"))
    assert jsons and jsonls
    assert {p.stem for p in jsons} & {p.stem for p in jsonls}, "a .json + .jsonl twin"


def test_size_roughly_honoured(made: tuple[Path, Any]) -> None:
    home, truth = made
    files = _files(home)
    total = sum(p.stat().st_size for p in files)
    assert total == truth.bytes
    assert len(files) == truth.files
    assert 0.7 * TARGET <= total <= 1.6 * TARGET
    claude = truth.bytes_by_agent["claude-code"]
    assert claude > truth.bytes_by_agent["codex"] > 0
    assert claude > truth.bytes_by_agent["gemini-cli"] > 0


def test_deterministic_for_a_seed(made: tuple[Path, Any], tmp_path: Path) -> None:
    home, truth = made
    again = history.generate(tmp_path / "a", TARGET, seed=1)
    assert _digest(tmp_path / "a") == _digest(home)
    assert again.to_dict() == truth.to_dict()
    other = history.generate(tmp_path / "b", TARGET, seed=2)
    assert _digest(tmp_path / "b") != _digest(home)
    assert other.to_dict()["llm"] != truth.to_dict()["llm"]


def test_truth_is_rich(made: tuple[Path, Any]) -> None:
    _, truth = made
    d = truth.to_dict()
    agents = {k.split("|")[0] for k in d["llm"]}
    models = {k.split("|")[1] for k in d["llm"]}
    days = {k.split("|")[2] for k in d["llm"]}
    assert agents == {"claude-code", "codex", "gemini-cli"}
    assert len(models) >= 6
    assert "<synthetic>" in models
    assert len(days) >= 5
    assert all(day.startswith("2026-") for day in days)
    tot = d["totals"]["claude-code"]
    assert tot["error_calls"] > 0 and tot["cache_creation_1h_tokens"] > 0
    assert d["totals"]["codex"]["reasoning_tokens"] > 0
    assert d["totals"]["gemini-cli"]["reasoning_tokens"] > 0
    for row in d["llm"].values():
        assert set(row) == set(history.TOKEN_FIELDS)
        if row["error_calls"]:
            assert row["input_tokens"] == row["output_tokens"] == 0
    assert any(v["errors"] for v in d["tools"].values())
    for pattern in (
        "claude.resume_fork_copy",
        "claude.btw_file",
        "claude.inline_sidechain_call",
        "claude.legacy_agent_file",
        "claude.agent_progress_run",
        "claude.partial_last_line",
        "claude.torn_line",
        "claude.invalid_utf8_line",
        "claude.placeholder_only_group",
        "claude.call_without_request_id",
        "claude.synthetic_api_error",
        "claude.group_across_midnight",
        "claude.subagent_call",
        "codex.subagent_file",
        "codex.fork_file",
        "codex.repeated_total",
        "codex.info_null",
        "gemini.twin_jsonl",
        "gemini.reappended_message",
    ):
        assert d["patterns"].get(pattern, 0) > 0, pattern


def test_codex_truth_equals_growth_of_running_totals(made: tuple[Path, Any]) -> None:
    """Independent re-count: per rollout file, sum the growths of total_token_usage after the
    file's first turn_context (before it, a child file replays its parent: baseline only)."""
    home, truth = made
    got = dict.fromkeys(
        ("calls", "input_tokens", "cache_read_tokens", "output_tokens", "reasoning_tokens"), 0
    )
    files = sorted((home / ".codex").rglob("rollout-*.jsonl"))
    assert files
    for path in files:
        prev = (0, 0, 0, 0, 0)
        own = False
        for line in _jsonl(path):
            if line["type"] == "turn_context":
                own = True
            payload = line["payload"]
            if line["type"] != "event_msg" or payload.get("type") != "token_count":
                continue
            if not payload.get("info"):
                continue
            u = payload["info"]["total_token_usage"]
            tot = (
                u["input_tokens"],
                u["cached_input_tokens"],
                u["output_tokens"],
                u["reasoning_output_tokens"],
                u["total_tokens"],
            )
            if own and tot != prev:
                d = [a - b for a, b in zip(tot, prev, strict=True)]
                got["calls"] += 1
                got["input_tokens"] += d[0] - d[1]
                got["cache_read_tokens"] += d[1]
                got["output_tokens"] += d[2]
                got["reasoning_tokens"] += d[3]
            prev = tot
    want = truth.totals("codex")
    assert got == {k: want[k] for k in got}


def test_gemini_truth_last_record_per_id_across_twins(made: tuple[Path, Any]) -> None:
    home, truth = made
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((home / ".gemini" / "tmp").rglob("session-*")):
        if path.suffix == ".json":
            conv = json.loads(path.read_text())
            sid, msgs = conv["sessionId"], conv["messages"]
        else:
            recs = _jsonl(path)
            sid = recs[0]["sessionId"]
            msgs = [r for r in recs[1:] if "id" in r]
        for m in msgs:
            last[(sid, m["id"])] = m
    calls = [m for m in last.values() if m["type"] == "gemini" and m.get("tokens")]
    want = truth.totals("gemini-cli")
    assert len(calls) == want["calls"]
    assert (
        sum(m["tokens"]["output"] + m["tokens"]["thoughts"] for m in calls) == want["output_tokens"]
    )
    assert sum(m["tokens"]["cached"] for m in calls) == want["cache_read_tokens"]


def test_malformed_lines_present(made: tuple[Path, Any]) -> None:
    home, _ = made
    no_newline = bad_json = bad_utf8 = 0
    for path in (home / ".claude" / "projects").rglob("*.jsonl"):
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            no_newline += 1
        for raw in data.split(b"\n")[:-1]:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                bad_utf8 += 1
                continue
            try:
                json.loads(text)
            except ValueError:
                bad_json += 1
    assert no_newline and bad_json and bad_utf8


def test_canary_in_content_never_in_metadata(made_canary: tuple[Path, Any]) -> None:
    home, truth = made_canary
    assert CANARY not in json.dumps(truth.to_dict())
    seen = 0
    for path in (home / ".claude" / "projects").rglob("*.jsonl"):
        for d in _jsonl(path):
            for key in (
                "cwd",
                "sessionId",
                "version",
                "gitBranch",
                "timestamp",
                "uuid",
                "requestId",
                "agentId",
                "slug",
            ):
                assert CANARY not in str(d.get(key, "")), (path, key)
            if d.get("type") == "assistant":
                msg = d["message"]
                assert CANARY not in msg["model"] + msg["id"]
                for b in msg["content"]:
                    if b["type"] == "tool_use":
                        assert CANARY not in b["name"] and CANARY in json.dumps(b["input"])
                    else:
                        assert CANARY in (b.get("text") or b.get("thinking") or "")
                        seen += 1
    assert seen > 20
    for path in (home / ".codex").rglob("*.jsonl"):
        for d in _jsonl(path):
            p = d["payload"]
            if d["type"] == "session_meta":
                assert CANARY not in json.dumps(
                    {k: p.get(k) for k in ("id", "cwd", "git", "cli_version")}
                )
            if d["type"] == "turn_context":
                assert CANARY not in json.dumps(p)
            if p.get("type") in ("function_call", "user_message", "agent_message"):
                assert CANARY in json.dumps(p)
    for path in (home / ".gemini" / "tmp").rglob("session-*.jsonl"):
        for d in _jsonl(path):
            if d.get("type") == "gemini":
                assert CANARY not in d["model"] + d["id"] + d["timestamp"]
                assert CANARY in d["content"]


def test_cli_writes_truth_beside_home(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert history.main([str(out), "--size", "150KB", "--seed", "5"]) == 0
    assert (out / "home" / ".claude").is_dir()
    data = json.loads((out / "truth.json").read_text())
    assert not list((out / "home").rglob("truth.json"))
    assert data["seed"] == 5 and data["llm"] and data["tools"]
    # a second run replaces its own output
    assert history.main([str(out), "--size", "150KB", "--seed", "5"]) == 0
    assert json.loads((out / "truth.json").read_text()) == data


def test_parse_size() -> None:
    assert history.parse_size("300KB") == 300 * 1024
    assert history.parse_size("1GB") == 1 << 30
    assert history.parse_size("1.5 MiB") == int(1.5 * (1 << 20))
    assert history.parse_size("1234") == 1234
    with pytest.raises(ValueError):
        history.parse_size("lots")
