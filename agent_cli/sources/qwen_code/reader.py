"""Qwen Code chat records to facts, by the counting rules of the package doc.

The state (`state()`, stored with the cursor: counters, the last timestamp and the function
calls still waiting for their result) is the persisted format and must stay readable.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import msgspec

from agent_cli.events import CallFact, Context, ToolFact, Usage, event_id
from agent_cli.sources.common import gemini_usage, ms, norm_ts, to_int
from agent_cli.sources.decode import FAILED, decode_state, decode_value, recover, skip
from agent_cli.sources.qwen_code.format import (
    AGENT,
    Record,
    UsageMetadata,
    decode,
    decode_content,
    decode_ui,
)

_OPEN_TOOLS = 512


class State(msgspec.Struct):
    """What the reader keeps between chunks (the names and their order are the format)."""

    turns: int = 0
    calls: int = 0
    last_ms: int | None = None
    tools: dict[str, list[Any]] = msgspec.field(default_factory=dict)  # id -> [name, ts, call]


_decode_state = msgspec.json.Decoder(State).decode


def usage_of(u: UsageMetadata) -> Usage:
    """The contract's usage of one response (see the package doc for the thoughts rule)."""
    prompt, cand = to_int(u.promptTokenCount), to_int(u.candidatesTokenCount)
    cached, thoughts = to_int(u.cachedContentTokenCount), to_int(u.thoughtsTokenCount)
    tool, total = to_int(u.toolUsePromptTokenCount), to_int(u.totalTokenCount)
    outside = thoughts > 0 and total >= prompt + cand + thoughts + tool
    return gemini_usage(prompt, cand, cached, thoughts, tool, thoughts_inside=not outside)


def api_error_code(status: object, error_type: str | None) -> str:
    """Map a recorded API error's status code / type to the contract's error codes."""
    code, t = to_int(status), (error_type or "").lower()
    if code == 429 or "rate" in t or "quota" in t:
        return "rate_limit"
    if code in (401, 403) or "auth" in t:
        return "auth"
    if code in (503, 529) or "overload" in t:
        return "overloaded"
    if "context" in t or "token" in t:
        return "context_overflow"
    if 400 <= code < 500:
        return "invalid_request"
    return "server_error"


def _tool_status(status: str | None, error_type: str | None) -> tuple[str, str | None]:
    if status == "success":
        return "ok", None
    if status == "cancelled":
        return "error", "rejected"
    t = (error_type or "").lower()
    return "error", "validation" if "invalid" in t or "param" in t else "error"


_MAX_STARTS = 64


def glued(line: bytes) -> list[bytes] | None:
    """Split a line holding several records written without a newline between them.

    Qwen's own reader recovers these (`jsonl-utils` `_recoverObjectsFromLine`): a crash can
    leave a record cut off with the next one appended to it. Returns [b"" or the cut-off
    prefix, record, record, ...] when the line, from its start or from a `{"uuid"`, is a run
    of complete JSON objects; None when it is not (then the line is an ordinary bad line).
    """
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # a record starts with its uuid (`createBaseRecord`): only those places are tried
    starts = [0]
    i = text.find('{"uuid"', 1)
    while i > 0 and len(starts) < _MAX_STARTS:
        starts.append(i)
        i = text.find('{"uuid"', i + 1)
    for start in starts:
        records = _objects(text, start)
        if records is not None and (len(records) > 1 or start > 0):
            return [text[:start].encode(), *records]
    return None


def _objects(text: str, start: int) -> list[bytes] | None:
    dec, i, out = json.JSONDecoder(), start, []
    end = len(text.rstrip())
    while i < end:
        try:
            obj, i = dec.raw_decode(text, i)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        out.append(json.dumps(obj).encode())
        while i < end and text[i] in " \t":
            i += 1
    return out or None


class QwenReader:
    """The reader of one chat file; nothing is held (every record is final when written)."""

    def __init__(self, path: str, state: bytes | None, skipped: Counter[str]) -> None:
        self.skipped = skipped
        self.s = State()
        if state:
            s = decode_state(_decode_state, state, skipped)
            if s is not None:
                self.s = s
        self.fallback_session = os.path.basename(path).removesuffix(".jsonl")
        self.out: list[object] = []

    def state(self) -> bytes:
        return msgspec.json.encode(self.s)

    def flush(self, eof: bool) -> list[object]:
        out, self.out = self.out, []
        return out

    def feed(self, line: bytes) -> None:
        try:
            r = decode(line)
        except Exception:
            parts = glued(line)
            if parts is None:
                recover(line, self.skipped)
                return
            if parts[0]:
                self.skipped["malformed_json"] += 1  # a record cut off by a crash
            for part in parts[1:]:
                self.feed(part)
            return
        try:
            self._record(r)
        except Exception:  # a shape no version wrote so far: skipped and counted
            skip(line, self.skipped)

    def _record(self, r: Record) -> None:
        t_ms = ms(r.timestamp)
        if r.type == "user":
            # a person's prompt; Qwen's own continuations (goal_runtime, notifications) are not
            if r.provenance == "real_user" or (r.provenance is None and r.subtype is None):
                self.s.turns += 1
        elif r.type == "assistant":
            self._assistant(r, t_ms)
        elif r.type == "tool_result":
            self._tool_result(r)
        elif r.type == "system":
            if r.subtype == "ui_telemetry":
                self._telemetry(r)
        else:
            self.skipped["unknown_record_type"] += 1
        if t_ms is not None and (self.s.last_ms is None or t_ms > self.s.last_ms):
            self.s.last_ms = t_ms

    def _key(self, r: Record) -> tuple[str, str] | None:
        """The origin's (session, uuid): a /branch copy keeps the uuid and names its origin."""
        f = r.forkedFrom
        session = (f.sessionId if f is not None else None) or r.sessionId or self.fallback_session
        uuid = (f.messageUuid if f is not None else None) or r.uuid
        return (session, uuid) if uuid else None

    def _context(self, r: Record) -> Context:
        return Context(cwd=r.cwd, git_branch=r.gitBranch, agent_version=r.version)

    def _assistant(self, r: Record, t_ms: int | None) -> None:
        key = self._key(r)
        if key is None or not r.timestamp:
            self.skipped["record_without_id"] += 1
            return
        if r.usageMetadata is None:
            self.skipped["no_tokens"] += 1
            self._open_tools(r, key, None)
            return
        usage = usage_of(r.usageMetadata)
        if usage.total == 0:
            self.skipped["zero_tokens"] += 1
            self._open_tools(r, key, None)
            return
        eid = event_id(AGENT, *key)
        dur = None
        if t_ms is not None and self.s.last_ms is not None and t_ms >= self.s.last_ms:
            dur = t_ms - self.s.last_ms
        self.out.append(
            CallFact(
                agent=AGENT,
                event_id=eid,
                rank=usage.total,
                timestamp=norm_ts(r.timestamp),
                session_id=key[0],
                model=r.model,
                usage=usage,
                context=self._context(r),
                agent_id=r.agentId,
                is_subagent=bool(r.isSidechain or r.agentId),
                turn_index=self.s.turns,
                call_index=self.s.calls,
                duration_ms=dur,
            )
        )
        self.s.calls += 1
        self._open_tools(r, key, eid)

    def _open_tools(self, r: Record, key: tuple[str, str], eid: str | None) -> None:
        if not r.message:
            return
        content = decode_value(decode_content, r.message)
        if content is FAILED:
            self.skipped["unrecognized_content"] += 1
            return
        for p in content.parts or []:
            fc = p.functionCall
            if fc is not None and fc.id:
                self.s.tools[fc.id] = [fc.name or "unknown", r.timestamp, eid, key[0]]
        while len(self.s.tools) > _OPEN_TOOLS:
            del self.s.tools[next(iter(self.s.tools))]

    def _tool_result(self, r: Record) -> None:
        res = r.toolCallResult
        opened = self.s.tools.pop(res.callId or "", None) if res is not None else None
        if res is None or opened is None or not res.callId:
            self.skipped["tool_result_without_call"] += 1
            return
        name, start_ts, call_eid, session = opened
        start, end = ms(start_ts), ms(r.timestamp)
        status, code = _tool_status(res.status, res.errorType)
        self.out.append(
            ToolFact(
                agent=AGENT,
                event_id=event_id(AGENT, "tool", session, res.callId),
                timestamp=norm_ts(start_ts or r.timestamp or ""),
                session_id=session,
                call_event_id=call_eid,
                tool_name=name,
                duration_ms=max(end - start, 0) if start is not None and end is not None else None,
                status=status,
                error_code=code,
                context=self._context(r),
            )
        )

    def _telemetry(self, r: Record) -> None:
        """An `api_error` UI event is an error call; other UI events repeat counted rows."""
        if not r.systemPayload:
            return
        p = decode_value(decode_ui, r.systemPayload)
        if p is FAILED or p.uiEvent is None or not (p.uiEvent.name or "").endswith("api_error"):
            return
        key = self._key(r)
        if key is None or not r.timestamp:
            self.skipped["record_without_id"] += 1
            return
        ev = p.uiEvent
        self.out.append(
            CallFact(
                agent=AGENT,
                event_id=event_id(AGENT, *key),
                rank=0,
                timestamp=norm_ts(r.timestamp),
                session_id=key[0],
                model=ev.model or r.model,
                usage=Usage(),
                context=self._context(r),
                agent_id=r.agentId,
                is_subagent=bool(r.isSidechain or r.agentId),
                turn_index=self.s.turns,
                status="error",
                error_code=api_error_code(ev.status_code, ev.error_type),
            )
        )
