"""The pi and Kimi CLI generators against their own truth (not yet part of `generate`).

Totals must match token for token per agent, model and UTC day; the canary planted in every
content field must not leave.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from agent_cli.config import Settings
from agent_cli.pipeline import dry_run
from tests.synth.kimi_cli import generate_kimi
from tests.synth.pi import generate_pi

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import compare  # noqa: E402

CANARY = "CANARY-synth-9b3f"


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("agent", "gen"), [("pi", generate_pi), ("kimi-cli", generate_kimi)])
def test_generated_history_matches_its_truth(tmp_path: Path, agent: str, gen, seed: int) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "gen-home"
    truth = gen(home, 250_000, seed, CANARY).to_dict()
    out = io.BytesIO()
    report = dry_run(Settings(agents=(agent,)), out, {"HOME": str(home)})
    raw = out.getvalue()
    events = [json.loads(line) for line in raw.splitlines()]
    assert compare.diff(truth, events) == []
    assert sum(r["calls"] for r in truth["llm"].values()) > 100
    assert CANARY.encode() not in raw
    assert not report.skipped
    patterns = set(truth["patterns"])
    if agent == "pi":
        assert {"pi.branched_session_copy", "pi.tree_branch"} <= patterns
    else:
        assert {"kimi.fork", "kimi.subagent"} <= patterns
