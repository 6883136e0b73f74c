"""Generated mixed histories (Claude Code + Codex + Gemini) against their true totals.

The generator (tests/synth/) records every call it decides to make; its truth is
never computed by parsing the files back. Totals must match token for token per agent,
model and UTC day, in dry-run and after shipping through the reference receiver.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from agent_cli.config import Settings
from agent_cli.pipeline import dry_run, start_once
from tests.conftest import agent_env
from tests.synth import generate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import compare  # noqa: E402

sys.path.insert(0, str(ROOT / "examples"))
import ingest_server  # noqa: E402


def events_of(out: bytes) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_dry_run_matches_the_truth(tmp_path: Path, seed: int) -> None:
    home = tmp_path / "home"
    truth = generate(home, 400_000, seed=seed).to_dict()
    out = io.BytesIO()
    dry_run(Settings(), out, agent_env(home))
    problems = compare.diff(truth, events_of(out.getvalue()))
    assert problems == []
    agents = {k.split("|")[0] for k in truth["llm"]}
    assert agents == {"claude-code", "codex", "gemini-cli"}


def test_shipped_events_match_the_truth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    truth = generate(home, 400_000, seed=7).to_dict()
    for k, v in agent_env(home).items():
        monkeypatch.setenv(k, v)
    server = ingest_server.make_server(
        "127.0.0.1",
        0,
        str(tmp_path / "rx.sqlite"),
        "dev",
        ingest_server.Faults(status_sequence=[503, 200, 429]),
        quiet=True,
    )
    server.start_in_thread()
    try:
        settings = Settings(
            home=tmp_path / "state", once=True, api_key="dev", endpoint=server.url, drain_timeout=60
        )
        result = start_once(settings)
        assert result.exit_code == 0 and result.left == 0
        rows = server.store._conn.execute("SELECT body FROM events").fetchall()
    finally:
        server.stop()
    stored = [json.loads(r[0]) for r in rows]
    assert compare.diff(truth, stored) == []


def test_worker_processes_give_the_same_events(tmp_path: Path) -> None:
    home = tmp_path / "home"
    truth = generate(home, 400_000, seed=5).to_dict()
    single, parallel = io.BytesIO(), io.BytesIO()
    dry_run(Settings(workers=1), single, agent_env(home))
    # forked workers hold the parent's list of files: no environment of their own to set
    # parallel_min_bytes=0: worth starting workers at any size, here
    report = dry_run(Settings(workers=2, parallel_min_bytes=0), parallel, agent_env(home))
    assert report.files_read > 1
    assert parallel.getvalue() == single.getvalue()  # same events, same order
    assert compare.diff(truth, events_of(parallel.getvalue())) == []
