"""Helpers every source needs: timestamps, lenient integers, homes, Gemini-API usage."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from agent_cli.events import Usage


def to_int(v: object) -> int:
    """Return a token count from a JSON value: non-negative int, 0 for anything else."""
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return max(v, 0)
    if isinstance(v, float):
        return max(int(v), 0)
    return 0


_DAYS: dict[str, int] = {}
# Parsed timestamps: the same string is parsed by a reader (a tool's start, a call's span)
# and again by the preparer, and lines of a minute share its prefix. Bounded: cleared when
# full, so a daemon's memory does not grow with its history.
_SEEN: dict[str, int] = {}
_MINUTES: dict[str, int] = {}
_CACHE_MAX = 16_384


def ms(ts: str | None) -> int | None:
    """Milliseconds since the epoch of an ISO timestamp, None when it cannot be parsed."""
    if not ts or not isinstance(ts, str):
        return None
    t = _SEEN.get(ts)
    if t is not None:
        return t
    if len(ts) == 24 and ts[23] == "Z" and ts[10] == "T" and ts[19] == ".":
        # The agents' usual form (2026-10-02T10:00:01.123Z), parsed without datetime: this
        # runs for every call and tool result of a history.
        minute = _MINUTES.get(ts[:16])
        if minute is None:
            minute = _minute(ts)
            if minute is None:
                return None
        try:
            t = minute + int(ts[17:19]) * 1000 + int(ts[20:23])
        except ValueError:
            return None
    else:
        t = _slow_ms(ts)
        if t is None:
            return None
    if len(_SEEN) >= _CACHE_MAX:
        _SEEN.clear()
    _SEEN[ts] = t
    return t


def _minute(ts: str) -> int | None:
    """Epoch ms of the minute `ts[:16]` of a timestamp in the usual form (cached)."""
    day = _DAYS.get(ts[:10])
    if day is None:
        day = _slow_ms(ts[:10] + "T00:00:00+00:00")
        if day is None:
            return None
        _DAYS[ts[:10]] = day
    try:
        minute = day + int(ts[11:13]) * 3_600_000 + int(ts[14:16]) * 60_000
    except ValueError:
        return None
    if len(_MINUTES) >= _CACHE_MAX:
        _MINUTES.clear()
    _MINUTES[ts[:16]] = minute
    return minute


def _slow_ms(ts: str) -> int | None:
    try:
        d = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)  # agents write UTC; a missing zone means UTC
    return int(d.timestamp() * 1000)


def fmt_ms(t: int) -> str:
    """Format epoch milliseconds as the contract's timestamp (UTC, ms, Z)."""
    d = datetime.fromtimestamp(t / 1000, tz=UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t % 1000:03d}Z"


def norm_ts(ts: str) -> str:
    """Normalise an ISO timestamp to UTC with milliseconds and a Z (as is when unparsable)."""
    if len(ts) == 24 and ts[-1] == "Z" and ts[10] == "T":
        return ts
    t = ms(ts)
    return ts if t is None else fmt_ms(t)


def user_home(env: Mapping[str, str], platform: str) -> Path:
    """The home folder the agents use: $HOME wins (tests and the agents agree), then on
    Windows %USERPROFILE% (what Node's `os.homedir()` reads there), else the OS's answer."""
    if env.get("HOME"):
        return Path(env["HOME"])
    if platform == "win32" and env.get("USERPROFILE"):
        return Path(env["USERPROFILE"])
    return Path.home()


def unique_dirs(paths: Iterable[Path]) -> list[Path]:
    """The folders in order, each once (an override that names the default is one root)."""
    seen: set[str] = set()
    out: list[Path] = []
    for p in paths:
        key = os.path.normcase(os.path.abspath(p))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def gemini_usage(
    prompt: int, candidates: int, cached: int, thoughts: int, tool: int, thoughts_inside: bool
) -> Usage:
    """Map Gemini-API usage (`usageMetadata` / Gemini CLI `tokens`) to the contract.

    `cached` is part of `prompt`; `tool` (tool-use prompt tokens) is billed as input.
    `thoughts_inside`: the candidates already include the thoughts (an OpenAI-compatible
    backend's `completion_tokens`, as Qwen Code records it); else they come on top (Gemini).
    """
    cached = min(cached, prompt)
    if thoughts_inside:
        return Usage(
            input_tokens=prompt - cached + tool,
            output_tokens=candidates,
            cache_read_tokens=cached,
            reasoning_tokens=min(thoughts, candidates),
        )
    return Usage(
        input_tokens=prompt - cached + tool,
        output_tokens=candidates + thoughts,
        cache_read_tokens=cached,
        reasoning_tokens=thoughts,
    )


def classify_gemini_error(head: bytes) -> str:
    """Map the head of a Gemini-API error text to the contract's error codes."""
    low = head.lower()
    if b"429" in low or b"quota" in low or b"resource_exhausted" in low or b"rate limit" in low:
        return "rate_limit"
    if b"503" in low or b"overloaded" in low or b"unavailable" in low:
        return "overloaded"
    if b"401" in low or b"403" in low or b"permission_denied" in low or b"unauthenticated" in low:
        return "auth"
    if b"token limit" in low or b"context" in low or b"too long" in low:
        return "context_overflow"
    if b"400" in low or b"invalid_argument" in low:
        return "invalid_request"
    return "server_error"
