"""Generated Copilot CLI and Qwen Code histories against the truth their generators recorded.

The generators (tests/synth/copilot.py, qwen.py) are not yet part of `tests.synth.generate`
(the lead wires them with the other new agents); this runs them on their own: per-process and
cumulative Copilot snapshots, killed processes, Qwen's two thoughts conventions, /branch
copies, telemetry repeats, subagents. Totals must match per agent, model and UTC day.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from agent_cli.config import Settings
from agent_cli.pipeline import dry_run
from tests.synth.common import Pools, Truth
from tests.synth.copilot import CopilotGen
from tests.synth.qwen import QwenGen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import compare  # noqa: E402

CANARY = "CANARY-synth-3c9d"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_dry_run_matches_the_generated_truth(tmp_path: Path, seed: int) -> None:
    home = tmp_path / "home"
    truth, pools = Truth(), Pools(seed)
    for cls in (CopilotGen, QwenGen):
        cls(home, 150_000, seed, CANARY, truth, pools, 0.05, False).run()
    out = io.BytesIO()
    dry_run(Settings(agents=("copilot-cli", "qwen-code")), out, {"HOME": str(home)})
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    t = truth.to_dict()
    assert compare.diff(t, events) == []
    assert {k.split("|")[0] for k in t["llm"]} == {"copilot-cli", "qwen-code"}
    assert t["totals"]["copilot-cli"]["error_calls"] + t["totals"]["qwen-code"]["error_calls"]
    assert CANARY.encode() not in out.getvalue()
    planted = sum(CANARY.encode() in p.read_bytes() for p in home.rglob("*.jsonl"))
    assert planted > 0
    deltas = [e for e in events if e["agent"] == "copilot-cli" and e["kind"] == "llm_call"]
    assert {e["granularity"] for e in deltas} == {"session_delta", "call"}  # errors are calls
