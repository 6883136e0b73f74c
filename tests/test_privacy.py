"""Privacy canary: content planted in every content-bearing field never leaves the process.

The canary goes into prompts, replies, thinking, tool inputs (file paths too), tool results,
summaries, progress payloads, system and attachment content, queue operations and API error
texts. A dry-run (in process through CliRunner, and as a real subprocess) must not print it on
stdout or stderr, nor write it to any file under the state folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agent_cli.cli import cli
from agent_cli.events import LLM_FIELDS, TOOL_FIELDS

CANARY = "CANARY-7f3a"
SID = "c0a1a2a3-0000-4000-8000-00000000c0de"
AGENT_ID = "a0123456789abcdef"
CWD = "/nonexistent/privacy/proj"


def env_(uuid: str, parent: str | None, sec: int, **kw: Any) -> dict[str, Any]:
    d = {
        "parentUuid": parent,
        "isSidechain": False,
        "userType": "external",
        "cwd": CWD,
        "sessionId": SID,
        "version": "2.1.39",
        "gitBranch": "main",
        "uuid": uuid,
        "timestamp": f"2026-03-01T10:{sec // 60:02d}:{sec % 60:02d}.000Z",
        "slug": f"slug-{CANARY}",
        "promptId": CANARY,
        "agentName": CANARY,
    }
    d.update(kw)
    return d


def usage(o: int) -> dict[str, Any]:
    return {
        "input_tokens": 3,
        "output_tokens": o,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 200,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 100},
        "service_tier": "standard",
    }


def assistant(
    uuid: str,
    parent: str | None,
    sec: int,
    mid: str,
    block: dict[str, Any],
    o: int = 50,
    stop: str | None = "tool_use",
    **kw: Any,
) -> dict[str, Any]:
    return env_(
        uuid,
        parent,
        sec,
        type="assistant",
        requestId=f"req_{mid}",
        message={
            "model": "claude-opus-4-7",
            "id": f"msg_{mid}",
            "type": "message",
            "role": "assistant",
            "content": [block],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage(o),
        },
        **kw,
    )


def tool_result(
    uuid: str,
    parent: str,
    sec: int,
    tid: str,
    content: Any,
    tur: Any,
    is_error: bool = False,
    **kw: Any,
) -> dict[str, Any]:
    return env_(
        uuid,
        parent,
        sec,
        type="user",
        message={
            "role": "user",
            "content": [
                {
                    "tool_use_id": tid,
                    "type": "tool_result",
                    "content": content,
                    "is_error": is_error,
                }
            ],
        },
        toolUseResult=tur,
        sourceToolAssistantUUID=parent,
        **kw,
    )


def canary_main() -> list[dict[str, Any] | bytes]:
    c = CANARY
    path = f"/home/dev/{c}/secret_{c}.py"
    nested = assistant(
        "n1", "x", 20, "NESTED", {"type": "text", "text": c}, isSidechain=True, agentId=AGENT_ID
    )
    return [
        {"type": "summary", "summary": f"Title {c}", "leafUuid": c},
        {
            "type": "file-history-snapshot",
            "messageId": "m0",
            "isSnapshotUpdate": False,
            "snapshot": {
                "messageId": "m0",
                "timestamp": "2026-03-01T10:00:00.000Z",
                "trackedFileBackups": {path: {"backupFileName": c, "version": 1}},
            },
        },
        {"type": "permission-mode", "permissionMode": "default", "sessionId": SID},
        env_("p1", None, 1, type="user", message={"role": "user", "content": f"fix {c} now"}),
        env_(
            "p1m",
            "p1",
            1,
            type="user",
            isMeta=True,
            message={"role": "user", "content": f"<command-message>{c}</command-message>"},
        ),
        env_(
            "t1",
            "p1m",
            2,
            type="attachment",
            attachment={
                "type": "hook_success",
                "hookName": "UserPromptSubmit",
                "content": c,
                "stdout": c,
                "stderr": c,
                "exitCode": 0,
            },
        ),
        env_(
            "t2",
            "t1",
            2,
            type="attachment",
            attachment={"type": "queued_command", "prompt": f"also {c}"},
        ),
        assistant(
            "a1",
            "t2",
            3,
            "A",
            {"type": "thinking", "thinking": f"think {c}", "signature": c},
            o=9,
            stop=None,
        ),
        assistant("a2", "a1", 4, "A", {"type": "text", "text": f"I will {c}"}, o=9, stop=None),
        assistant(
            "a3",
            "a2",
            5,
            "A",
            {"type": "tool_use", "id": "toolu_read", "name": "Read", "input": {"file_path": path}},
            o=120,
        ),
        env_(
            "g1",
            "a3",
            6,
            type="progress",
            toolUseID="toolu_read",
            parentToolUseID="toolu_read",
            data={
                "type": "hook_progress",
                "hookEvent": "PreToolUse",
                "hookName": c,
                "command": f"echo {c}",
            },
        ),
        tool_result(
            "r1",
            "a3",
            7,
            "toolu_read",
            f"1\tsecret = '{c}'",
            {
                "type": "text",
                "file": {
                    "filePath": path,
                    "content": c,
                    "numLines": 1,
                    "startLine": 1,
                    "totalLines": 1,
                },
            },
        ),
        assistant(
            "b1",
            "r1",
            8,
            "B",
            {
                "type": "tool_use",
                "id": "toolu_bash",
                "name": "Bash",
                "input": {"command": f"cat {path} | grep {c}", "description": c},
            },
        ),
        env_(
            "g2",
            "b1",
            9,
            type="progress",
            toolUseID="bash-progress-0",
            parentToolUseID="toolu_bash",
            data={
                "type": "bash_progress",
                "output": c,
                "fullOutput": c,
                "elapsedTimeSeconds": 1,
                "totalLines": 1,
            },
        ),
        tool_result(
            "r2", "b1", 10, "toolu_bash", f"Exit code 1\n{c}", f"Error: {c}", is_error=True
        ),
        assistant(
            "c1",
            "r2",
            11,
            "C",
            {
                "type": "tool_use",
                "id": "toolu_task",
                "name": "Task",
                "input": {"prompt": c, "description": c, "subagent_type": "general-purpose"},
            },
        ),
        env_(
            "g3",
            "c1",
            12,
            type="progress",
            toolUseID=f"agent_msg_{c}",
            parentToolUseID="toolu_task",
            data={
                "type": "agent_progress",
                "agentId": AGENT_ID,
                "prompt": c,
                "normalizedMessages": [],
                "message": nested,
            },
        ),
        tool_result(
            "r3",
            "c1",
            30,
            "toolu_task",
            [{"type": "text", "text": c}],
            {
                "status": "completed",
                "prompt": c,
                "agentId": AGENT_ID,
                "content": [{"type": "text", "text": c}],
                "totalDurationMs": 18000,
                "totalTokens": 1,
                "totalToolUseCount": 0,
                "usage": usage(1),
            },
        ),
        assistant(
            "d1",
            "r3",
            31,
            "D",
            {
                "type": "tool_use",
                "id": "toolu_edit",
                "name": "Edit",
                "input": {"file_path": path, "old_string": c, "new_string": c},
            },
        ),
        tool_result(
            "r4",
            "d1",
            32,
            "toolu_edit",
            f"<tool_use_error>String to replace not found in file.\nString: {c}</tool_use_error>",
            f"Error: String to replace not found {c}",
            is_error=True,
        ),
        assistant("e1", "r4", 33, "E", {"type": "text", "text": f"Done {c}"}, stop="end_turn"),
        env_(
            "s1",
            "e1",
            34,
            type="system",
            subtype="stop_hook_summary",
            hookCount=1,
            hookInfos=[{"command": c, "durationMs": 5}],
            hookErrors=[c],
            preventedContinuation=False,
            stopReason=c,
            hasOutput=True,
            level="suggestion",
        ),
        env_("s2", "s1", 35, type="system", subtype="turn_duration", durationMs=34000),
        {
            "type": "queue-operation",
            "operation": "enqueue",
            "timestamp": "2026-03-01T10:00:36.000Z",
            "sessionId": SID,
            "content": f"queued {c}",
        },
        env_(
            "p2",
            "s2",
            40,
            type="user",
            message={
                "role": "user",
                "content": [
                    {"type": "text", "text": f"second {c}"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": c},
                    },
                ],
            },
        ),
        env_(
            "y1",
            "p2",
            41,
            type="system",
            subtype="api_error",
            level="error",
            error={
                "status": 529,
                "headers": {"x": c},
                "requestID": c,
                "error": {"type": "error", "error": {"type": "overloaded_error", "message": c}},
            },
            retryInMs=1000,
            retryAttempt=1,
            maxRetries=10,
        ),
        env_(
            "x1",
            "y1",
            42,
            type="assistant",
            isApiErrorMessage=True,
            error="rate_limit",
            apiErrorStatus=429,
            message={
                "id": "0e0e0e0e-0000-4000-8000-000000000001",
                "model": "<synthetic>",
                "role": "assistant",
                "stop_reason": "stop_sequence",
                "type": "message",
                "usage": {"input_tokens": 0, "output_tokens": 0},
                "content": [{"type": "text", "text": f"You've hit your limit {c}"}],
            },
        ),
        env_(
            "l1",
            "x1",
            43,
            type="system",
            subtype="local_command",
            content=f"<local-command-stdout>{c}</local-command-stdout>",
            level="info",
        ),
        env_(
            "cb",
            None,
            50,
            type="system",
            subtype="compact_boundary",
            content=c,
            logicalParentUuid="l1",
            compactMetadata={"trigger": "auto", "preTokens": 1},
        ),
        env_(
            "cs",
            "cb",
            51,
            type="user",
            isCompactSummary=True,
            isVisibleInTranscriptOnly=True,
            message={"role": "user", "content": f"This session is being continued {c}"},
        ),
        {"type": "last-prompt", "lastPrompt": c, "sessionId": SID},
        {"type": "custom-title", "customTitle": c, "sessionId": SID},
        f'{{"type":"user","message":{{"content":"{c} torn'.encode() + b"\n",
        f'{{"note":"{c}" no type\n'.encode(),
    ]


def canary_subagent() -> list[dict[str, Any]]:
    c = CANARY
    side = {"isSidechain": True, "agentId": AGENT_ID}
    return [
        env_("q1", None, 13, type="user", message={"role": "user", "content": c}, **side),
        assistant(
            "q2",
            "q1",
            14,
            "SUB1",
            {
                "type": "tool_use",
                "id": "toolu_grep",
                "name": "Grep",
                "input": {"pattern": c, "path": f"/{c}"},
            },
            **side,
        ),
        tool_result(
            "q3",
            "q2",
            15,
            "toolu_grep",
            f"/{c}/x.py",
            {"mode": "files_with_matches", "filenames": [f"/{c}/x.py"], "numFiles": 1},
            **side,
        ),
        assistant("q4", "q3", 16, "SUB2", {"type": "text", "text": c}, stop="end_turn", **side),
    ]


@pytest.fixture
def canary_home(isolated_home: Path) -> Path:
    proj = isolated_home / ".claude" / "projects" / "-nonexistent-privacy-proj"
    sub = proj / SID / "subagents"
    sub.mkdir(parents=True)
    for path, lines in (
        (proj / f"{SID}.jsonl", canary_main()),
        (sub / f"agent-{AGENT_ID}.jsonl", canary_subagent()),
    ):
        with open(path, "wb") as f:
            for line in lines:
                f.write(
                    line
                    if isinstance(line, bytes)
                    else (json.dumps(line, ensure_ascii=False) + "\n").encode()
                )
    (sub / f"agent-{AGENT_ID}.meta.json").write_text(
        json.dumps({"agentType": "general-purpose", "description": CANARY})
    )
    assert CANARY.encode() in (proj / f"{SID}.jsonl").read_bytes()
    return isolated_home


def check_events(stdout: str) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in stdout.splitlines()]
    calls = [e for e in events if e["kind"] == "llm_call"]
    tools = [e for e in events if e["kind"] == "tool_call"]
    assert len(calls) + len(tools) == len(events)
    # A, B, C, D, E, the rate-limit error, and the subagent's two calls
    assert len(calls) == 8
    assert sum(e["status"] == "error" for e in calls) == 1
    assert {e["tool_name"] for e in tools} == {"Read", "Bash", "Task", "Edit", "Grep"}
    for e in calls:
        assert tuple(e) == LLM_FIELDS
        assert set(e) == set(LLM_FIELDS)
    for e in tools:
        assert tuple(e) == TOOL_FIELDS
        assert set(e) == set(TOOL_FIELDS)
    return events


def state_files(state: Path) -> list[Path]:
    return [p for p in state.rglob("*") if p.is_file()] if state.exists() else []


def test_canary_never_leaves_through_the_cli(canary_home: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["start", "--once", "--dry-run"])
    assert r.exit_code == 0, r.stderr
    assert CANARY not in r.stdout
    assert CANARY not in r.stderr
    check_events(r.stdout)
    for p in state_files(tmp_path / "state"):
        assert CANARY.encode() not in p.read_bytes(), p


def test_canary_never_leaves_through_a_subprocess(canary_home: Path, tmp_path: Path) -> None:
    env = dict(os.environ)  # HOME and AGENT_CLI_HOME already point into tmp_path
    assert env["HOME"] == str(canary_home)
    proc = subprocess.run(
        [sys.executable, "-m", "agent_cli", "start", "--once", "--dry-run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert CANARY.encode() not in proc.stdout
    assert CANARY.encode() not in proc.stderr
    check_events(proc.stdout.decode())
    assert b"llm calls: 8 (1 failed)" in proc.stderr
    for p in state_files(Path(env["AGENT_CLI_HOME"])):
        assert CANARY.encode() not in p.read_bytes(), p
