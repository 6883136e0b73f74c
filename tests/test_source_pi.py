"""pi: a real session, one hand-written fixture per counting rule, discovery, state, canary.

Expected totals are recomputed here with the stdlib `json` module from the fixture files,
never by the reader.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agent_cli.cli import cli
from agent_cli.config import Settings
from agent_cli.events import CallFact, ToolFact
from agent_cli.sources import pi
from agent_cli.sources.pi.discover import discover, roots
from agent_cli.tail import read_chunks
from tests.dryrun import Run, dry_run

FIX = Path(__file__).parent / "fixtures" / "pi"
MAX_LINE = 64 * 1024 * 1024
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")


def dry(home: Path) -> Run:
    return dry_run({"HOME": str(home)}, Settings(agents=("pi",)))


def files(home: Path) -> list[Path]:
    return sorted((home / ".pi" / "agent" / "sessions").rglob("*.jsonl"))


def assistants(path: Path) -> list[dict[str, Any]]:
    """The assistant entries of a file, with stdlib json (the hand check)."""
    out = []
    for line in path.read_text().splitlines():
        d = json.loads(line)
        if d.get("type") == "message" and d["message"].get("role") == "assistant":
            out.append(d)
    return out


def totals(run: Run) -> dict[str, int]:
    return {k: sum(c[k] for c in run.calls) for k in TOKENS}


def read_facts(path: Path, state: bytes | None = None) -> tuple[list[object], Counter[str]]:
    skipped: Counter[str] = Counter()
    reader = pi.PiReader(str(path), state, skipped)
    for line in path.read_bytes().splitlines(keepends=True):
        reader.feed(line)
    return reader.flush(True), skipped


def calls_of(facts: list[object]) -> list[CallFact]:
    return [f for f in facts if isinstance(f, CallFact)]


# -- the real session -------------------------------------------------------------------------


def test_real_session_totals_token_for_token() -> None:
    home = FIX / "real"
    run = dry(home)
    (path,) = files(home)
    want = assistants(path)
    assert len(run.calls) == len(want) == 11
    assert totals(run) == {
        "input_tokens": sum(d["message"]["usage"]["input"] for d in want),
        "output_tokens": sum(d["message"]["usage"]["output"] for d in want),
        "cache_read_tokens": 0,
        "cache_creation_tokens": 0,
    }
    assert totals(run)["input_tokens"] == 32397 and totals(run)["output_tokens"] == 1555
    c = run.calls[0]
    assert c["session_id"] == "019e03b9-e360-7719-8359-7b45425da299"
    assert (c["model"], c["provider"], c["timestamp"]) == ("gemma4", "ollama", want[0]["timestamp"])
    # duration: from the message's start (ms) to the entry's write time
    assert c["duration_ms"] == 12966
    assert c["cost_usd"] is None and c["cost_source"] is None  # pi recorded 0: local model
    assert [x["turn_index"] for x in run.calls] == [1] * 11
    assert [x["call_index"] for x in run.calls] == list(range(11))
    assert run.report.by_agent == Counter(pi=11)  # llm calls
    # ten tool calls, one failed read; each tied to the call that asked for it
    assert len(run.tools) == 10
    failed = [t for t in run.tools if t["status"] == "error"]
    assert [(t["tool_name"], t["error_code"]) for t in failed] == [("read", "error")]
    ids = {x["event_id"] for x in run.calls}
    assert all(t["call_event_id"] in ids for t in run.tools)
    assert run.tools[0]["duration_ms"] == 11


# -- branches: count each entry once, in-file and across copies -------------------------------


def test_branches_count_once() -> None:
    home = FIX / "branch"
    run = dry(home)
    original, copy = files(home)
    a, c = assistants(original), assistants(copy)
    unique = {(d["timestamp"], d["message"]["timestamp"]): d for d in a + c}
    # the original: 4 calls on two branches; the copy: the path to D again, plus E
    assert len(a) == 4 and len(c) == 3 and len(unique) == 5
    assert len(run.calls) == 5
    assert totals(run) == {
        "input_tokens": sum(d["message"]["usage"]["input"] for d in unique.values()),
        "output_tokens": sum(d["message"]["usage"]["output"] for d in unique.values()),
        "cache_read_tokens": sum(d["message"]["usage"]["cacheRead"] for d in unique.values()),
        "cache_creation_tokens": sum(d["message"]["usage"]["cacheWrite"] for d in unique.values()),
    }
    # the copied calls keep the original session (read first); the new one is the copy's
    by_sid = Counter(x["session_id"] for x in run.calls)
    assert by_sid == Counter(
        {"01970000-0000-7000-8000-00000000aaaa": 4, "01970000-0000-7000-8000-00000000bbbb": 1}
    )
    new = next(x for x in run.calls if x["session_id"].endswith("bbbb"))
    assert new["parent_session_id"] == "01970000-0000-7000-8000-00000000aaaa"
    # pi's own cost wins, and says so; the 1h cache write and reasoning are kept
    first = run.calls[0]
    assert first["cost_usd"] == pytest.approx(0.0415) and first["cost_source"] == "agent"
    assert first["cache_creation_1h_tokens"] == 800 and first["reasoning_tokens"] == 120
    assert run.report.cost_usd == pytest.approx(sum(x["cost_usd"] for x in run.calls))


def test_a_copy_read_alone_gives_the_same_ids() -> None:
    original, copy = files(FIX / "branch")
    ids_a = {c.event_id for c in calls_of(read_facts(original)[0])}
    ids_c = {c.event_id for c in calls_of(read_facts(copy)[0])}
    assert len(ids_a & ids_c) == 2  # A and D, copied verbatim


def test_v1_file_rewritten_by_the_migration_keeps_its_ids() -> None:
    before = read_facts(next((FIX / "v1" / "before").glob("*.jsonl")))[0]
    after = read_facts(next((FIX / "v1" / "after").glob("*.jsonl")))[0]
    assert [c.event_id for c in calls_of(before)] == [c.event_id for c in calls_of(after)]
    (c,) = calls_of(after)
    assert c.session_id == "01970000-0000-7000-8000-00000000dddd"
    assert (c.usage.input_tokens, c.usage.cache_creation_tokens, c.cost_usd) == (10, 3000, 0.01155)


# -- quirks: Google's cached-inside-input, errors, aborted calls -----------------------------


def test_google_cache_inside_input_is_taken_out() -> None:
    run = dry(FIX / "quirks")
    old, new, err, aborted = run.calls
    assert (old["input_tokens"], old["cache_read_tokens"], old["output_tokens"]) == (
        933,
        69905,
        100,
    )
    assert (new["input_tokens"], new["cache_read_tokens"]) == (933, 69905)  # written right
    assert old["cost_usd"] == pytest.approx(0.156657)  # pi's own, as it recorded it
    assert (err["status"], err["error_code"], err["input_tokens"]) == ("error", "rate_limit", 0)
    assert run.report.error_calls == 1
    assert aborted["output_final"] is False and aborted["status"] == "ok"
    assert aborted["provider"] == "openai"  # pi's openai-codex: genai-prices' openai
    assert aborted["cost_source"] == "genai-prices"  # pi recorded 0: priced here


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("429 Too Many Requests", "rate_limit"),
        ('529 {"type":"overloaded_error"}', "overloaded"),
        ("prompt is too long: 210000 tokens > 200000 maximum", "context_overflow"),
        ("401 invalid x-api-key", "auth"),
        ("400 invalid_request_error: messages.1", "invalid_request"),
        ("fetch failed", "server_error"),
        (None, "server_error"),
    ],
)
def test_error_codes(message: str | None, code: str) -> None:
    assert pi.usage.error_code(message) == code  # type: ignore[attr-defined]


# -- bad input, state -------------------------------------------------------------------------


def test_bad_lines_are_skipped_by_reason(tmp_path: Path) -> None:
    src = files(FIX / "real")[0].read_bytes().splitlines(keepends=True)
    bad = [
        b'{"type":"message","id":"x",\n',
        b'{"type":"message","message":{"role":"assistant","usage":{"input":"\xff"}}}\n',
        b"[1, 2]\n",
        b'{"id":"no type"}\n',
        b'{"type":"message","id":"y","message":{"role":"assistant"}}\n',
        b'{"type":"message","id":"z","message":{"role":"toolResult","toolCallId":"nope"}}\n',
    ]
    p = tmp_path / "s.jsonl"
    p.write_bytes(b"".join(src[:5] + bad + src[5:]))
    facts, skipped = read_facts(p)
    assert len(calls_of(facts)) == 11
    assert skipped == Counter(
        malformed_json=1,
        invalid_utf8=1,
        unrecognized_line=2,
        assistant_without_usage=1,
        tool_result_without_call=1,
    )


@pytest.mark.parametrize("cut", [1, 4, 5, 12, 24])
def test_resume_from_stored_state_mid_file(tmp_path: Path, cut: int) -> None:
    src = files(FIX / "real")[0]
    lines = src.read_bytes().splitlines(keepends=True)
    p = tmp_path / src.name
    p.write_bytes(b"".join(lines[:cut]))
    skipped: Counter[str] = Counter()
    mk = lambda s: pi.PiReader(str(p), s, skipped)  # noqa: E731
    facts: list[object] = []
    cursor = None
    for ch in read_chunks(str(p), None, mk, skipped, max_line=MAX_LINE):
        facts += ch.facts
        cursor = ch.cursor
    assert cursor is not None
    with open(p, "ab") as f:
        f.write(b"".join(lines[cut:]))
    for ch in read_chunks(str(p), cursor, mk, skipped, max_line=MAX_LINE):
        facts += ch.facts
    whole = read_facts(src)[0]
    key = lambda f: (type(f).__name__, f.event_id)  # noqa: E731
    assert sorted(map(key, facts)) == sorted(map(key, whole))
    tools = [f for f in facts if isinstance(f, ToolFact)]
    assert len(tools) == 10 and all(t.call_event_id for t in tools)
    assert [c.call_index for c in calls_of(facts)] == list(range(11))
    assert not skipped


# -- discovery --------------------------------------------------------------------------------


def test_discovery_env_settings_and_windows(tmp_path: Path) -> None:
    agent = tmp_path / "custom-agent"
    (agent / "sessions" / "--p--").mkdir(parents=True)
    (agent / "sessions" / "--p--" / "2026-01-01T00-00-00-000Z_b.jsonl").write_text("")
    extra = tmp_path / "elsewhere"
    extra.mkdir()
    (extra / "2025-12-01T00-00-00-000Z_a.jsonl").write_text("")
    (agent / "settings.json").write_text(json.dumps({"sessionDir": str(extra)}))
    env = {"HOME": str(tmp_path / "nohome"), "PI_CODING_AGENT_DIR": str(agent)}
    assert roots(env) == [agent / "sessions", extra]
    names = [Path(f.path).name for f in discover(env)]
    assert names == ["2025-12-01T00-00-00-000Z_a.jsonl", "2026-01-01T00-00-00-000Z_b.jsonl"]
    # `~` in the variable is expanded against the home, as pi does
    home = tmp_path / "h"
    assert pi.agent_dir({"HOME": str(home), "PI_CODING_AGENT_DIR": "~/x"}) == home / "x"
    # Windows: no HOME, the profile folder (Node's os.homedir())
    win = {"USERPROFILE": str(tmp_path / "win")}
    assert pi.agent_dir(win, "win32") == tmp_path / "win" / ".pi" / "agent"
    assert pi.Pi("win32").where(win) == [str(tmp_path / "win" / ".pi" / "agent" / "sessions")]
    for platform in ("linux", "darwin"):
        assert pi.agent_dir({"HOME": str(home)}, platform) == home / ".pi" / "agent"
    # a relative or unreadable sessionDir is ignored
    (agent / "settings.json").write_text('{"sessionDir": "rel/dir"}')
    assert roots(env) == [agent / "sessions"]
    (agent / "settings.json").write_text("{not json")
    assert roots(env) == [agent / "sessions"]


def test_session_of_keeps_only_the_uuid() -> None:
    assert pi.session_of("/a/b/2026-01-01T00-00-00-000Z_u-1.jsonl") == "u-1"
    assert pi.session_of("C:\\Users\\x\\2026_u-2.jsonl") == "u-2"
    assert pi.session_of(None) is None


# -- the canary: no content ever leaves -------------------------------------------------------

CANARY = "CANARY-4e1b-pi-secret"


def test_canary_never_leaves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = CANARY
    home = tmp_path / "home"
    sdir = home / ".pi" / "agent" / "sessions" / f"--{c}--"
    sdir.mkdir(parents=True)
    # every content-bearing field of every entry kind, planted with the canary
    text = (FIX / "canary.jsonl.in").read_text().replace("@@CANARY@@", c)
    (sdir / f"2026-06-01T10-00-00-000Z_{c}.jsonl").write_text(text)
    monkeypatch.setenv("HOME", str(home))
    result = CliRunner().invoke(cli, ["start", "--once", "--dry-run", "--agent", "pi"])
    assert result.exit_code == 0, result.output
    assert CANARY not in result.stdout
    assert CANARY not in result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert sum(e["kind"] == "llm_call" for e in events) == 2
    assert sum(e["kind"] == "tool_call" for e in events) == 1
    assert "by agent: pi 2" in result.stderr


def test_dry_run_summary_names_pi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "pi-home"
    shutil.copytree(FIX / "real", home)
    monkeypatch.setenv("HOME", str(home))
    result = CliRunner().invoke(cli, ["start", "--once", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "pi 11" in result.stderr


def test_odd_content_still_counts_the_call(tmp_path: Path) -> None:
    usage = (
        '"usage":{"input":7,"output":3,"cacheRead":0,"cacheWrite":0,"totalTokens":10,"cost":0.5}'
    )
    lines = [
        '{"type":"session","version":3,"id":"s-odd","timestamp":"2026-06-01T10:00:00.000Z"}',
        '{"type":"message","id":"a","timestamp":"2026-06-01T10:00:02.000Z","message":{"role":'
        f'"assistant","content":[1,2],{usage},"stopReason":"error","errorMessage":{{"x":1}}}}}}',
    ]
    p = tmp_path / "odd.jsonl"
    p.write_text("\n".join(lines) + "\n")
    facts, skipped = read_facts(p)
    (c,) = calls_of(facts)
    assert (c.usage.input_tokens, c.status, c.error_code, c.cost_usd) == (
        7,
        "error",
        "server_error",
        None,  # a cost that is not pi's {..., total} object is not taken
    )
    assert skipped == Counter(unrecognized_content=1)
