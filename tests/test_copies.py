"""Copies of a call in other files count once, whichever files exist and in whatever order
they are read (ledger.py, "Copies"): a Codex fork's replay of its parent, a Claude /btw
replay. A copy read first is emitted; its original, read later, supersedes it with a new
revision that carries no usage, so a receiver keeping the highest revision counts it once."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterable
from itertools import permutations
from pathlib import Path
from typing import Any

import pytest

from agent_cli.events import TOKEN_FIELDS
from agent_cli.ledger import Ledger, MemoryStore
from agent_cli.prepare import Builder, Report
from agent_cli.sources.claude_code import ClaudeCode
from tests.claude_lines import jsonl
from tests.test_e2e import KEY, Receiver, agent, agent_env, no_traceback
from tests.test_source_claude import SID, prompt, reply, usage
from tests.test_source_codex import MAX_LINE, REAL, SID_K, SID_P, read_facts, rule_file

View = dict[str, dict[str, Any]]


def _receive(view: View, bodies: Iterable[bytes]) -> None:
    """Keep the highest revision of each event, as a receiver does."""
    for body in bodies:
        ev = json.loads(body)
        old = view.get(ev["event_id"])
        if old is None or ev.get("revision", 0) > old.get("revision", 0):
            view[ev["event_id"]] = ev


def _tokens(view: View) -> Counter[str]:
    total: Counter[str] = Counter()
    for ev in view.values():
        if ev["kind"] == "llm_call":
            total["calls"] += ev["status"] != "superseded"
            for name in TOKEN_FIELDS:
                total[name] += ev[name]
    return total


def _read(order: list[list[object]]) -> View:
    """Admit the facts of each file in `order` through one ledger; what a receiver keeps."""
    builder = Builder(Ledger(MemoryStore()), Report(), None)
    view: View = {}
    for facts in order:
        _receive(view, (a.body for a in builder.build(facts)))
    return view


# -- Codex: a subagent file replays its parent ---------------------------------------------


def test_codex_replayed_calls_count_once_whichever_files_exist_in_any_order() -> None:
    parent, child = read_facts(rule_file(SID_P)), read_facts(rule_file(SID_K))
    alone_p, alone_k = _tokens(_read([parent])), _tokens(_read([child]))
    both = [_tokens(_read(list(order))) for order in permutations([parent, child])]
    assert both[0] == both[1]  # either order
    assert alone_p["calls"] == 2 and alone_k["calls"] == 4  # the child alone: 2 copies + 2
    assert both[0]["calls"] == 4  # parent 2 + the child's own 2
    # the child alone counts the parent's calls it replays, token for token
    own = _tokens(_read([[f for f in child if getattr(f, "copy", None) is None]]))
    assert alone_k - own == alone_p
    assert both[0] == alone_p + own


def test_codex_copy_is_superseded_by_its_original_read_later() -> None:
    parent, child = read_facts(rule_file(SID_P)), read_facts(rule_file(SID_K))
    view = _read([child, parent])
    gone = [e for e in view.values() if e["kind"] == "llm_call" and e["status"] == "superseded"]
    assert len(gone) == 2 and all(e["revision"] == 1 for e in gone)
    assert all(e[name] == 0 for e in gone for name in TOKEN_FIELDS)
    assert all(e["cost_usd"] == 0.0 and e["cost_source"] is None for e in gone)


def test_codex_real_fork_without_its_parent_counts_the_replayed_calls(tmp_path: Path) -> None:
    # the real subagent file of 2026-05-07: its parent is not in the fixtures
    child = next((REAL / "sessions").rglob("*019e03b2-11a2-7320-9098-5d831813e66c.jsonl"))
    facts = read_facts(child)
    copies = [f for f in facts if getattr(f, "copy", None) == "fork_replay"]
    assert len(copies) == 9
    assert {f.session_id for f in copies} == {"019e03b1-6422-7510-b349-b4d4765a28a8"}  # type: ignore[attr-defined]
    view = _read([facts])
    replayed = [
        e for e in view.values() if e["session_id"] == "019e03b1-6422-7510-b349-b4d4765a28a8"
    ]
    total = sum(e["input_tokens"] + e["cache_read_tokens"] + e["output_tokens"] for e in replayed)
    assert len(replayed) == 9 and total == 139_028  # the parent's cumulative total at the fork


# -- Claude: a /btw replay read before its original ----------------------------------------


def _claude_files(tmp_path: Path) -> tuple[Path, Path]:
    side = {"isSidechain": True, "agentId": "abtw123"}
    root = tmp_path / "claude" / "projects" / "-nonexistent-agent-cli-tests-proj"
    main = root / f"{SID}.jsonl"
    sub = root / SID / "subagents" / "agent-abtw123.jsonl"
    sub.parent.mkdir(parents=True)
    main.write_bytes(
        jsonl(
            prompt("p1", None, 0),
            reply("a1", "p1", 1, "msg_MAIN", "req_1", usage(4, 80, 50_000, 300)),
        )
    )
    sub.write_bytes(
        jsonl(
            prompt("s1", None, 10, "what is X?", **side),
            reply("s2", "s1", 11, "msg_MAIN", "req_2", usage(4, 80, 50_000, 300), **side),
            reply("s3", "s2", 12, "msg_BTW", "req_3", usage(2, 40, 50_300, 20), **side),
        )
    )
    return main, sub


def _claude_facts(path: Path) -> list[object]:
    facts: list[object] = []
    for chunk in ClaudeCode().read(str(path), None, Counter(), MAX_LINE):
        facts += chunk.facts
    return facts


def test_btw_replay_read_before_its_original_counts_once(tmp_path: Path) -> None:
    main, sub = (_claude_facts(p) for p in _claude_files(tmp_path))
    in_order, reversed_ = _tokens(_read([main, sub])), _tokens(_read([sub, main]))
    assert in_order == reversed_
    assert in_order["calls"] == 2 and in_order["cache_read_tokens"] == 100_300


# -- through the spool to a real receiver ---------------------------------------------------


@pytest.mark.slow
def test_a_copy_shipped_before_its_original_is_retired_at_the_receiver(
    tmp_path: Path, isolated_home: Path
) -> None:
    codex_home = tmp_path / "codex-home"
    day = codex_home / "sessions" / "2026" / "03" / "02"
    day.mkdir(parents=True)
    shutil.copy(rule_file(SID_K), day)  # the child first, alone
    with Receiver(tmp_path / "rx", key=KEY) as rx:
        env = agent_env(SUTRACE_ENDPOINT=rx.url, SUTRACE_API_KEY=KEY, CODEX_HOME=str(codex_home))
        for _ in range(2):
            p = agent(["start", "--once", "--agent", "codex", "--drain-timeout", "600"], env)
            no_traceback(p)
            assert p.returncode == 0, p.stderr
            shutil.copy(rule_file(SID_P), day)  # then its parent appears
        got = _tokens(dict(rx.events()))
    want = _tokens(_read([read_facts(rule_file(SID_P)), read_facts(rule_file(SID_K))]))
    assert got == want and got["calls"] == 4


def test_report_counts_a_superseded_copy_once(tmp_path: Path, isolated_home: Path) -> None:
    """The history keeps a superseded copy as zeros; `report` does not count it as a call."""
    codex_home = tmp_path / "codex-home"
    day = codex_home / "sessions" / "2026" / "03" / "02"
    day.mkdir(parents=True)
    shutil.copy(rule_file(SID_K), day)  # the child first: its replayed calls are copies
    env = agent_env(CODEX_HOME=str(codex_home))
    args = ["report", "--since", "all", "--json", "--timezone", "UTC", "--agent", "codex"]
    totals = []
    for _ in range(2):
        p = agent(args, env)
        no_traceback(p)
        assert p.returncode == 0, p.stderr
        totals.append(json.loads(p.stdout)["totals"])
        shutil.copy(rule_file(SID_P), day)  # then its parent appears
    want = _tokens(_read([read_facts(rule_file(SID_P)), read_facts(rule_file(SID_K))]))
    assert totals[0]["calls"] == 4 and totals[1]["calls"] == 4  # 2 copies + 2, then 2 + 2
    assert {n: totals[1][n] for n in TOKEN_FIELDS} == {n: want[n] for n in TOKEN_FIELDS}
