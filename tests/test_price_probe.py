"""The price prober: genai-prices asked in a child process gives `pricing._load`'s answers,
and any failure of the child is answered here instead, never a crash, a stall or a wrong price."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent_cli import pricing
from agent_cli.events import Usage
from agent_cli.price_probe import Prober

# known (one tier and long-context tiers), fast mode, unknown, no provider
CASES = [
    ("claude-sonnet-4-5", "anthropic", None),
    ("claude-sonnet-4-5-20250929", "anthropic", None),
    ("gemini-2.5-pro", "google", None),
    ("claude-opus-4-6", "anthropic", "fast"),
    ("gpt-5", None, None),
    ("no-such-model-xyz", "anthropic", None),
]


def in_child() -> Prober:
    return Prober(loaded=lambda: False)  # the pytest process has genai-prices loaded


@pytest.mark.parametrize(("model", "provider", "speed"), CASES)
def test_the_child_answers_what_load_answers_here(
    model: str, provider: str | None, speed: str | None
) -> None:
    probe = in_child()
    try:
        assert probe(model, provider, speed) == pricing._load(model, provider, speed)
        assert probe._child is not None and probe._child.poll() is None  # it was asked
    finally:
        probe.close()


def test_one_child_answers_many_and_exits_when_let_go() -> None:
    probe = in_child()
    probe.start()
    child = probe._child
    assert child is not None
    for case in CASES:
        assert probe(*case) == pricing._load(*case)
    assert probe._child is child  # the same child for the whole scan
    probe.close()
    assert child.returncode == 0  # it left on the end of its input
    assert probe("claude-sonnet-4-5", "anthropic", None) == pricing._load(
        "claude-sonnet-4-5", "anthropic", None
    )  # a miss after close starts another
    probe.close()


def test_a_killed_child_is_answered_here() -> None:
    probe = in_child()
    probe.start()
    assert probe._child is not None
    probe._child.kill()
    probe._child.wait()
    case = CASES[0]
    assert probe(*case) == pricing._load(*case)
    assert probe._child is None and probe._broken  # the rest of the run probes here


@pytest.mark.parametrize(
    "script",
    [
        "import sys; sys.stdin.readline(); print('not json'); sys.stdout.flush()",
        "import sys; sys.stdin.readline(); print('[[1, 2], [[1]]]'); sys.stdout.flush()",
        "import sys; sys.exit(3)",
        "import sys, time; sys.stdin.readline(); time.sleep(60)",  # never answers
    ],
)
def test_a_child_that_answers_nonsense_or_nothing_is_answered_here(script: str) -> None:
    probe = Prober(loaded=lambda: False, command=[sys.executable, "-c", script], timeout=2)
    case = CASES[2]
    assert probe(*case) == pricing._load(*case)
    assert probe._broken and probe._child is None


def test_a_child_that_cannot_start_is_answered_here(tmp_path: Path) -> None:
    probe = Prober(loaded=lambda: False, command=[str(tmp_path / "missing")])
    probe.start()
    assert probe(*CASES[0]) == pricing._load(*CASES[0])


def test_with_the_data_loaded_here_no_child_is_started() -> None:
    probe = Prober()  # this process has imported genai-prices already
    import genai_prices  # noqa: F401

    probe.start()
    assert probe(*CASES[0]) == pricing._load(*CASES[0])
    assert probe._child is None


def test_a_forked_copy_probes_itself_not_through_the_parents_pipes() -> None:
    probe = in_child()
    probe.start()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the copy: it must not touch the parent's child
        try:
            ok = probe._here() and probe(*CASES[0]) == pricing._load(*CASES[0])
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    os.close(read)
    assert probe(*CASES[1]) == pricing._load(*CASES[1])  # the parent's child still answers
    probe.close()


def test_a_pricer_with_the_prober_prices_as_genai_prices_does(tmp_path: Path) -> None:
    probe = in_child()
    p = pricing.Pricer(pricing.RateCache(tmp_path / pricing.CACHE_NAME), probe, probe.close)
    here = pricing.Pricer()
    u = Usage(input_tokens=300_000, output_tokens=2_000, cache_read_tokens=10_000)
    for model, provider, speed in CASES:
        assert p.cost(model, provider, u, speed) == here.cost(model, provider, u, speed)
    p.release()
    assert probe._child is None


def test_a_fresh_process_never_imports_genai_prices_yet_prices_the_same(
    isolated_home: Path, tmp_path: Path
) -> None:
    """A real dry-run in a new interpreter: its costs equal the in-process ones, and the
    shipper's own process never loaded genai-prices' data."""
    import shutil

    fixture = Path(__file__).parent / "fixtures" / "claude" / "projects"
    shutil.copytree(fixture, isolated_home / ".claude" / "projects", dirs_exist_ok=True)
    run = (
        "import sys\n"
        "from agent_cli.cli import cli\n"
        "try:\n"
        "    cli(['start', '--once', '--dry-run'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write('GENAI_LOADED=%s' % ('genai_prices' in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    done = subprocess.run(
        [sys.executable, "-c", run], capture_output=True, env=env, timeout=300, check=False
    )
    assert done.stderr.endswith(b"GENAI_LOADED=False"), done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    costs = [e["cost_usd"] for e in events if e["kind"] == "llm_call"]
    assert costs and any(c for c in costs)

    from click.testing import CliRunner

    from agent_cli.cli import cli

    here = CliRunner().invoke(cli, ["start", "--once", "--dry-run"], catch_exceptions=False)
    assert here.stdout_bytes == done.stdout  # the same events, the same costs, byte for byte


def test_a_child_started_early_and_never_asked_is_let_go_at_once() -> None:
    probe = in_child()
    probe.start()
    child = probe._child
    assert child is not None
    probe.close()
    assert child.returncode is not None  # reaped, not left behind


def test_the_child_is_not_given_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUTRACE_API_KEY", "sk_secret_canary")
    script = (
        "import os, sys; sys.stdin.readline()\n"
        "ok = 'SUTRACE_API_KEY' not in os.environ\n"
        "print('[null, null]' if ok else 'leaked'); sys.stdout.flush()\n"
    )
    probe = Prober(loaded=lambda: False, command=[sys.executable, "-c", script])
    assert probe(*CASES[0]) == (None, None)  # the child's own answer: it had no key
    assert not probe._broken
    probe.close()
