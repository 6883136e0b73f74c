"""All twelve agents in one generated HOME, one spool, one ledger and one receiver.

The truth comes from the generators (tests/synth/, ``agents="all"``), never from reading the
files back. Dry-run and the reference receiver must both equal it token for token per agent,
model and UTC day; a second ``start --once`` sends nothing; a canary planted in every content
field reaches neither stdout/stderr, the spool, the log nor any HTTP body.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path

import httpx
import pytest

from agent_cli.config import Settings
from agent_cli.pipeline import dry_run, start_once
from agent_cli.render import render_run
from agent_cli.sources import AGENT_NAMES
from tests.synth import generate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import compare  # noqa: E402

sys.path.insert(0, str(ROOT / "examples"))
import ingest_server  # noqa: E402

CANARY = "CANARY-synthall-7f3e9b"
SIZE = 2_000_000  # about 2.4 MB on disk: every generator writes a few sessions


def events_of(out: bytes) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def agents_in(truth: dict) -> set[str]:
    return {k.split("|")[0] for k in truth["llm"]}


@pytest.mark.parametrize("seed", [1, 2])
def test_dry_run_of_all_agents_matches_the_truth(tmp_path: Path, seed: int) -> None:
    home = tmp_path / "home"
    truth = generate(home, SIZE, seed=seed, agents="all").to_dict()
    assert agents_in(truth) == set(AGENT_NAMES)
    out = io.BytesIO()
    dry_run(Settings(), out, {"HOME": str(home)})  # no agent variable: default folders only
    assert compare.diff(truth, events_of(out.getvalue())) == []


class Bodies:
    """Every request body the shipper sends, decompressed (an httpx request hook)."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def __call__(self, request: httpx.Request) -> None:
        body = request.read()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        self.seen.append(body)


def test_all_agents_ship_exactly_once_without_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    truth = generate(home, SIZE, seed=3, canary=CANARY, agents="all").to_dict()
    monkeypatch.setenv("HOME", str(home))
    server = ingest_server.make_server(
        "127.0.0.1",
        0,
        str(tmp_path / "rx.sqlite"),
        "dev",
        ingest_server.Faults(status_sequence=[503, 200, 429]),
        quiet=True,
    )
    server.start_in_thread()
    bodies = Bodies()
    state = tmp_path / "state"
    settings = Settings(
        home=state, once=True, api_key="dev", endpoint=server.url, drain_timeout=60,
        log_level="DEBUG",
    )  # fmt: skip
    try:
        with httpx.Client(event_hooks={"request": [bodies]}) as client:
            first = start_once(settings, client=client)
            sent_first = len(bodies.seen)
            second = start_once(settings, client=client)
        rows = server.store._conn.execute("SELECT body FROM events").fetchall()
    finally:
        server.stop()
    assert first.exit_code == 0 and first.left == 0
    assert compare.diff(truth, [json.loads(r[0]) for r in rows]) == []
    # a second run: nothing new to send, and no event travels again
    assert second.exit_code == 0 and second.delivered == 0 and second.left == 0
    assert not any(b'"event_id"' in b for b in bodies.seen[sent_first:])

    summary = render_run(first)
    line = next(x for x in summary.splitlines() if x.startswith("by agent: "))
    calls = {a: sum(r["calls"] for k, r in truth["llm"].items() if k.startswith(a + "|"))
             for a in AGENT_NAMES}  # fmt: skip
    for agent, n in calls.items():
        assert n > 0 and f"{agent} {n} calls in " in line, (agent, n, line)

    said = capsys.readouterr()
    places = {
        "stdout/stderr": (said.out + said.err + summary).encode(),
        "http bodies": b"".join(bodies.seen),
        "log": b"".join(p.read_bytes() for p in state.rglob("*.log*")),
        "spool": b"".join(p.read_bytes() for p in state.glob("spool.sqlite*")),
    }
    assert places["http bodies"] and places["spool"]
    for where, data in places.items():
        assert CANARY.encode() not in data, where
    # the canary really was planted in every agent's folder (.claude ... .local/share/opencode)
    folders = sorted(home.iterdir())
    assert len(folders) >= 10
    for folder in folders:
        assert any(CANARY.encode() in p.read_bytes() for p in folder.rglob("*")
                   if p.is_file()), folder.name  # fmt: skip
