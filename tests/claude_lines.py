"""Tiny builders of Claude Code transcript lines for tests (shapes from real transcripts)."""

from __future__ import annotations

import json
from typing import Any

SESSION = "11111111-2222-3333-4444-555555555555"


def assistant(
    msg_id: str,
    req: str | None,
    *,
    out: int = 10,
    inp: int = 5,
    cr: int = 100,
    cc: int = 20,
    stop: str | None = "end_turn",
    ts: str = "2026-10-02T10:00:01.000Z",
    uuid: str | None = None,
    parent: str | None = None,
    session: str = SESSION,
    sidechain: bool = False,
    model: str = "claude-sonnet-4-5-20250929",
    blocks: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "parentUuid": parent,
        "isSidechain": sidechain,
        "userType": "external",
        "cwd": "/nonexistent/proj",
        "sessionId": session,
        "version": "2.1.114",
        "gitBranch": "main",
        "type": "assistant",
        "uuid": uuid or f"u-{msg_id}-{out}",
        "timestamp": ts,
        "message": {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks or [{"type": "text", "text": "hello"}],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {
                "input_tokens": inp,
                "cache_creation_input_tokens": cc,
                "cache_read_input_tokens": cr,
                "output_tokens": out,
            },
        },
    }
    if req is not None:
        d["requestId"] = req
    d.update(extra)
    return d


def user(
    text: str,
    *,
    uuid: str = "u-prompt",
    ts: str = "2026-10-02T10:00:00.000Z",
    session: str = SESSION,
    **extra: Any,
) -> dict[str, Any]:
    d = {
        "parentUuid": None,
        "isSidechain": False,
        "type": "user",
        "uuid": uuid,
        "timestamp": ts,
        "sessionId": session,
        "cwd": "/nonexistent/proj",
        "version": "2.1.114",
        "message": {"role": "user", "content": text},
    }
    d.update(extra)
    return d


def jsonl(*lines: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)
