"""The per-file pi reader: session entries to facts, by the rules of the package doc.

State (`state()`, stored with the cursor) is the `State` struct: the header's session
facts, the current model, the counters and the tool calls waiting for their results.
Its keys are the persisted format and must stay readable.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import msgspec

from agent_cli.events import CallFact, Context, ToolFact, event_id
from agent_cli.sources.common import fmt_ms, ms, norm_ts, to_int
from agent_cli.sources.decode import FAILED, decode_state, decode_value, recover, skip
from agent_cli.sources.pi.format import AGENT, Entry, Message, Part, decode, decode_parts
from agent_cli.sources.pi.usage import cost, error_code, usage

_MAX_PENDING_TOOLS = 2000
# pi's provider names where genai-prices knows the same provider under another id (so a
# call pi recorded no cost for is still priced); any other name is kept as pi wrote it.
_PROVIDERS = {
    "google-vertex": "google", "google-gemini-cli": "google", "google-antigravity": "google",
    "amazon-bedrock": "aws", "xai": "x-ai", "openai-codex": "openai",
    "azure-openai-responses": "azure", "moonshotai-cn": "moonshotai",
    "kimi-coding": "moonshotai", "zai-coding-cn": "zai", "minimax-cn": "minimax",
}  # fmt: skip


class State(msgspec.Struct):
    """What a reader keeps between chunks (the names are the persisted format)."""

    sid: str | None = None
    parent: str | None = None
    cwd: str | None = None
    provider: str | None = None
    model: str | None = None
    turns: int = 0
    calls: int = 0
    # toolCallId -> [tool name, start ms | None, call event id]
    tools: dict[str, list[Any]] = msgspec.field(default_factory=dict)


_decode_state = msgspec.json.Decoder(State).decode


def session_of(path: str | None) -> str | None:
    """The session uuid of a pi file path (`<ts>_<uuid>.jsonl`); the path itself is dropped."""
    if not path or not isinstance(path, str):
        return None
    name = os.path.basename(path.replace("\\", "/"))
    stem = name.removesuffix(".jsonl")
    return stem.split("_", 1)[1] if "_" in stem else (stem or None)


def _provider(name: str | None) -> str | None:
    return _PROVIDERS.get(name, name) if name else None


def _msg_ms(m: Message) -> int | None:
    t = m.timestamp
    if isinstance(t, bool) or not isinstance(t, int | float) or t <= 0:
        return None
    return int(t)


class PiReader:
    """Turn the entries of one pi session file into facts; its state survives restarts."""

    def __init__(self, path: str, state: bytes | None, skipped: Counter[str]) -> None:
        self.path = path
        self.skipped = skipped
        self.out: list[object] = []
        self.s = State()
        if state:
            s = decode_state(_decode_state, state, skipped)
            if s is not None:
                self.s = s
        if self.s.sid is None:
            self.s.sid = session_of(path)  # until the header says otherwise

    def state(self) -> bytes:
        return msgspec.json.encode(self.s)

    def feed(self, line: bytes) -> None:
        try:
            e = decode(line)
        except Exception:
            recover(line, self.skipped)
            return
        try:
            self._entry(e)
        except Exception:
            skip(line, self.skipped)

    def _entry(self, e: Entry) -> None:
        t = e.type
        if t == "session":
            self.s.sid = e.id or self.s.sid
            self.s.cwd = e.cwd or self.s.cwd
            self.s.parent = session_of(e.parentSession)
        elif t == "model_change":
            self.s.provider = e.provider or self.s.provider
            self.s.model = e.modelId or self.s.model
        elif t == "message" and e.message is not None:
            m = e.message
            if m.role == "assistant":
                self._assistant(e, m)
            elif m.role == "toolResult":
                self._tool_result(e, m)
            elif m.role == "user":
                self.s.turns += 1
        elif t is None:
            self.skipped["unrecognized_line"] += 1

    def _assistant(self, e: Entry, m: Message) -> None:
        if m.usage is None:
            self.skipped["assistant_without_usage"] += 1
            return
        start = _msg_ms(m)
        ts = norm_ts(e.timestamp) if e.timestamp else (fmt_ms(start) if start else None)
        if ts is None:
            self.skipped["no_timestamp"] += 1
            return
        u = usage(m.usage)
        u_key = "/".join(str(to_int(getattr(m.usage, f))) for f in _KEY_FIELDS)
        # Entry ids are left out of the key on purpose: a v1 file is given new random ids
        # when pi migrates it (and rewrites it), and 8 hex digits collide across a history.
        # A branched or forked copy keeps the entry verbatim, so it gets the same id.
        eid = event_id(AGENT, "call", ts, str(start or ""), m.responseId or "", u_key)
        end = ms(ts)
        duration = end - start if end is not None and start is not None and end >= start else None
        model = m.responseModel or m.model or self.s.model
        if m.model:
            self.s.model = m.model
            self.s.provider = m.provider or self.s.provider
        failed = m.stopReason == "error"
        self.out.append(
            CallFact(
                agent=AGENT,
                event_id=eid,
                rank=1,
                timestamp=ts,
                session_id=self.s.sid,
                model=model,
                usage=u,
                context=Context(cwd=self.s.cwd),
                parent_session_id=self.s.parent,
                turn_index=self.s.turns,
                call_index=self.s.calls,
                provider=_provider(m.provider or self.s.provider),
                output_final=m.stopReason != "aborted",
                duration_ms=duration,
                status="error" if failed else "ok",
                error_code=error_code(m.errorMessage) if failed else None,
                cost_usd=cost(m.usage),
            )
        )
        self.s.calls += 1
        if m.content:
            parts = decode_value(decode_parts, m.content)
            if parts is FAILED:
                self.skipped["unrecognized_content"] += 1  # the call counts; its tools cannot
            elif isinstance(parts, list):
                self._tool_calls(parts, end, eid)

    def _tool_calls(self, parts: list[Part], start: int | None, eid: str) -> None:
        for p in parts:
            if p.type == "toolCall" and p.id:
                if len(self.s.tools) >= _MAX_PENDING_TOOLS:
                    self.skipped["too_many_pending_tools"] += 1
                    return
                self.s.tools[p.id] = [p.name or "unknown", start, eid]

    def _tool_result(self, e: Entry, m: Message) -> None:
        pending = self.s.tools.pop(m.toolCallId or "", None)
        if pending is None:
            self.skipped["tool_result_without_call"] += 1
            return
        name, start, call_eid = pending
        end = _msg_ms(m) or (ms(e.timestamp) if e.timestamp else None)
        ts = fmt_ms(end) if end is not None else norm_ts(e.timestamp or "")
        failed = m.isError is True
        self.out.append(
            ToolFact(
                agent=AGENT,
                event_id=event_id(AGENT, "tool", m.toolCallId or "", call_eid),
                timestamp=ts,
                session_id=self.s.sid,
                call_event_id=call_eid,
                tool_name=m.toolName or name,
                duration_ms=end - start
                if end is not None and start is not None and end >= start
                else None,
                status="error" if failed else "ok",
                error_code="error" if failed else None,
                context=Context(cwd=self.s.cwd),
            )
        )

    def flush(self, eof: bool) -> list[object]:
        """Return the facts found so far (a pi entry is final once written)."""
        out, self.out = self.out, []
        return out


_KEY_FIELDS = ("input", "output", "cacheRead", "cacheWrite", "totalTokens")
