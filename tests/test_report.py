"""`agent-cli report` end to end, as real processes, on a generated history.

The oracle is the generator's truth (tests/synth), keyed "agent|model|YYYY-MM-DD" (UTC):
`report --by day --by model --by agent --json --timezone UTC` must equal it token for token,
before and after the transcripts are deleted, and after `start` shipped what the report read
to the reference receiver (whose totals must equal it too: nothing lost, nothing sent twice).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.synth import generate
from tests.test_e2e import KEY, Receiver, agent, agent_env, no_traceback, ship_env

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import compare  # noqa: E402

FIELDS = ("calls", "error_calls", *compare.FIELDS)
TRUTH_ARGS = ["report", "--by", "day", "--by", "model", "--by", "agent", "--json"]
TRUTH_ARGS += ["--timezone", "UTC"]
CANARY = "CANARY-5d1e-report-must-not-show"


def by_truth_key(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    out = {}
    for r in report["rows"]:
        if not any(r[f] for f in FIELDS):  # tool calls only (their call was on another day)
            assert r["tool_calls"] > 0, r
            continue
        key = f"{r['agent']}|{r['model'] or '<synthetic>'}|{r['day']}"
        assert key not in out
        out[key] = {f: r[f] for f in FIELDS}
    return out


def truth_rows(truth: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {k: {f: v[f] for f in FIELDS} for k, v in truth["llm"].items()}


def run_report(env: dict[str, str], *extra: str) -> dict[str, Any]:
    p = agent([*TRUTH_ARGS, *extra], env)
    no_traceback(p)
    assert p.returncode == 0, p.stderr
    data: dict[str, Any] = json.loads(p.stdout)
    return data


def history_rows(state: Path) -> int:
    db = sqlite3.connect(state / "spool.sqlite")
    try:
        return int(db.execute("SELECT count(*) FROM history").fetchone()[0])
    finally:
        db.close()


def outbox_rows(state: Path) -> int:
    db = sqlite3.connect(state / "spool.sqlite")
    try:
        return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        db.close()


@pytest.fixture
def generated(isolated_home: Path) -> dict[str, Any]:
    return generate(isolated_home, 400_000, seed=11).to_dict()


def state_dir(env: dict[str, str]) -> Path:
    return Path(env["AGENT_CLI_HOME"])


def test_report_equals_the_truth_then_without_transcripts_then_after_start(
    generated: dict[str, Any], isolated_home: Path, tmp_path: Path
) -> None:
    want = truth_rows(generated)
    env = agent_env()  # no key: report needs none
    first = run_report(env)
    assert by_truth_key(first) == want
    state = state_dir(env)
    queued = outbox_rows(state)
    assert queued > 0 and history_rows(state) == queued  # read once, waiting for a start

    for name in (".claude", ".codex", ".gemini"):  # the agents cleaned up their transcripts
        shutil.rmtree(isolated_home / name)
    assert by_truth_key(run_report(env)) == want

    with Receiver(tmp_path / "rx") as rx:
        p = agent(["start", "--once", "--drain-timeout", "120"], ship_env(rx))
        no_traceback(p)
        assert p.returncode == 0, p.stderr
        events = list(rx.events().values())
        requests = rx.stats()["requests"]
    assert compare.diff(generated, events) == []  # what the report read, shipped whole
    assert sum(r["duplicates"] for r in requests) == 0  # and each event once
    assert sum(r["accepted"] for r in requests) == queued
    assert outbox_rows(state) == 0 and history_rows(state) == queued  # kept after delivery
    assert by_truth_key(run_report(env)) == want


def test_report_then_start_with_the_transcripts_reads_nothing_twice(
    generated: dict[str, Any], tmp_path: Path
) -> None:
    env = agent_env()
    assert by_truth_key(run_report(env)) == truth_rows(generated)
    queued = outbox_rows(state_dir(env))
    with Receiver(tmp_path / "rx") as rx:
        p = agent(["start", "--once", "--drain-timeout", "120"], ship_env(rx))
        no_traceback(p)
        assert p.returncode == 0, p.stderr
        events = list(rx.events().values())
        requests = rx.stats()["requests"]
        # a second report and start find nothing new
        again = run_report(ship_env(rx))
        p = agent(["start", "--once", "--drain-timeout", "120"], ship_env(rx))
        assert p.returncode == 0, p.stderr
        after = rx.stats()["requests"]
    assert compare.diff(generated, events) == []
    assert sum(r["accepted"] for r in requests) == queued
    assert sum(r["duplicates"] for r in requests) == 0
    assert sum(r["accepted"] for r in after) == queued  # the second start sent nothing
    assert by_truth_key(again) == truth_rows(generated)
    assert history_rows(state_dir(env)) == queued


def test_start_writes_the_history_too(generated: dict[str, Any], tmp_path: Path) -> None:
    with Receiver(tmp_path / "rx") as rx:
        p = agent(["start", "--once", "--drain-timeout", "120"], ship_env(rx))
        assert p.returncode == 0, p.stderr
    assert by_truth_key(run_report(agent_env())) == truth_rows(generated)


def test_tools_and_totals_match_the_truth(generated: dict[str, Any]) -> None:
    env = agent_env()
    p = agent(["report", "--by", "agent", "--by", "tool", "--json", "--timezone", "UTC"], env)
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    got = {f"{r['agent']}|{r['tool']}": (r["tool_calls"], r["tool_errors"]) for r in data["rows"]}
    want = {k: (v["calls"], v["errors"]) for k, v in generated["tools"].items()}
    assert got == want
    totals = run_report(env)["totals"]
    for agent_name, t in generated["totals"].items():
        assert t["calls"] > 0, agent_name
    for f in FIELDS:
        assert totals[f] == sum(t[f] for t in generated["totals"].values()), f


@pytest.mark.parametrize(
    "args",
    [
        ["report", "--by", "colour"],
        ["report", "--since", "last tuesday"],
        ["report", "--until", "2026-02-30"],
        ["report", "--timezone", "Mars/Olympus_Mons"],
        ["report", "--order", "vibes"],
        ["report", "--agent", "vim"],
        ["report", "--history-days", "0"],
        ["report", "sessions", "x"],
        ["report", "session", "no-such-session"],
    ],
)
def test_bad_flags_exit_2_with_one_sentence(args: list[str], isolated_home: Path) -> None:
    p = agent(args, agent_env())
    no_traceback(p)
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), p.stderr
    assert p.stdout == ""


def test_empty_history_reports_nothing(isolated_home: Path) -> None:
    env = agent_env()
    data = run_report(env)
    assert data["rows"] == [] and data["totals"]["calls"] == 0
    p = agent(["report"], env)
    assert p.returncode == 0 and "no events in this window" in p.stdout


def test_a_report_while_start_holds_the_spool_reads_beside_it(
    generated: dict[str, Any], isolated_home: Path
) -> None:
    env = agent_env()
    run_report(env)  # the history exists
    from agent_cli.statedir import Lock

    lock = Lock(state_dir(env))
    lock.acquire()  # as a running start does
    try:
        assert by_truth_key(run_report(env)) == truth_rows(generated)
    finally:
        lock.release()


def test_canary_never_reaches_the_history_or_any_report(
    isolated_home: Path, tmp_path: Path
) -> None:
    generate(isolated_home, 300_000, seed=4, canary=CANARY)
    env = agent_env()
    outputs = {}
    for name, args in {
        "json": TRUTH_ARGS,
        "table": ["report", "--by", "session", "--by", "tool", "--breakdown", "--since", "all"],
        "every dimension": ["report", "--json", *(x for d in ("block", "session", "repo",
            "branch", "host", "user", "subagent", "error") for x in ("--by", d))],
        "html": ["report", "--html", str(tmp_path / "r.html")],
    }.items():  # fmt: skip
        p = agent(args, env)
        assert p.returncode == 0, p.stderr
        outputs[name] = p.stdout + p.stderr
    sessions = json.loads(agent(["report", "--by", "session", "--json"], env).stdout)["rows"]
    for r in sessions[:5]:
        p = agent(["report", "session", r["session"], "--json"], env)
        assert p.returncode == 0, p.stderr
        outputs[f"session {r['session']}"] = p.stdout
    outputs["html file"] = (tmp_path / "r.html").read_text()
    state = state_dir(env)
    db = sqlite3.connect(state / "spool.sqlite")
    names = [s for (s,) in db.execute("SELECT s FROM hnames")]
    db.close()
    assert names and not [s for s in names if CANARY in s]
    outputs["spool files"] = b"".join(
        p.read_bytes() for p in state.iterdir() if p.is_file()
    ).decode("latin-1")
    leaked = [name for name, text in outputs.items() if CANARY in text]
    assert not leaked, f"the canary leaked into: {leaked}"
    assert KEY not in "".join(outputs.values())
