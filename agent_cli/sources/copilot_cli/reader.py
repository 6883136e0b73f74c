"""Copilot CLI events to facts, by the counting rules of the package doc.

The state (`state()`, stored with the cursor) holds the session's metadata, what was counted
per model so far, the output written since the last snapshot, the snapshots already seen and
the tool calls still open: it is the persisted format and must stay readable.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import msgspec

from agent_cli.events import CallFact, Context, ToolFact, Usage, event_id
from agent_cli.sources.common import ms, norm_ts, to_int
from agent_cli.sources.copilot_cli import counters as cn
from agent_cli.sources.copilot_cli.format import (
    AGENT,
    Data,
    Event,
    ToolError,
    decode,
    decode_error,
)
from agent_cli.sources.decode import decode_state, decode_value, recover, skip

_SEEN = 256  # snapshot ids kept (a session shuts down once per process run)
_OPEN_TOOLS = 512


class State(msgspec.Struct):
    """What the reader keeps between chunks (the names and their order are the format)."""

    session: str | None = None
    version: str | None = None
    cwd: str | None = None
    branch: str | None = None
    model: str | None = None
    turns: int = 0
    counted: dict[str, list[Any]] = msgspec.field(default_factory=dict)
    seg_out: dict[str, int] = msgspec.field(default_factory=dict)
    seen: list[str] = msgspec.field(default_factory=list)
    tools: dict[str, list[Any]] = msgspec.field(default_factory=dict)  # id -> [name, ts]


_decode_state = msgspec.json.Decoder(State).decode


def provider(model: str | None) -> str | None:
    """The model's vendor, for pricing (Copilot routes to several; it names none)."""
    m = (model or "").lower()
    if m.startswith("claude"):
        return "anthropic"
    if m.startswith(("gpt", "o1", "o3", "o4")):
        return "openai"
    if m.startswith("gemini"):
        return "google"
    return None


def api_error_code(error_type: str | None, status: object) -> str:
    """Map `session.error` errorType / statusCode to the contract's error codes."""
    t = (error_type or "").lower()
    if t in ("rate_limit", "quota"):
        return "rate_limit"
    if t in ("authentication", "authorization"):
        return "auth"
    if t == "context_limit":
        return "context_overflow"
    code = to_int(status)
    if code in (503, 529):
        return "overloaded"
    if 400 <= code < 500:
        return "invalid_request"
    return "server_error"


def _tool_status(success: object, code: object) -> tuple[str, str | None]:
    if success is True:
        return "ok", None
    c = code.lower() if isinstance(code, str) else ""
    if "reject" in c or "denied" in c or "cancel" in c:
        return "error", "rejected"
    return "error", "error"


class CopilotReader:
    """The reader of one `events.jsonl`; nothing is held (every event is final)."""

    def __init__(self, path: str, state: bytes | None, skipped: Counter[str]) -> None:
        self.skipped = skipped
        self.s = State()
        if state:
            s = decode_state(_decode_state, state, skipped)
            if s is not None:
                self.s = s
        self.fallback_session = os.path.basename(os.path.dirname(path)) or "unknown"
        self.out: list[object] = []

    def state(self) -> bytes:
        return msgspec.json.encode(self.s)

    def feed(self, line: bytes) -> None:
        try:
            e = decode(line)
        except Exception:
            recover(line, self.skipped)
            return
        try:
            self._event(e)
        except Exception:  # a shape no version wrote so far: skipped and counted
            skip(line, self.skipped)

    def flush(self, eof: bool) -> list[object]:
        out, self.out = self.out, []
        return out

    @property
    def session(self) -> str:
        return self.s.session or self.fallback_session

    def _context(self) -> Context:
        return Context(cwd=self.s.cwd, git_branch=self.s.branch, agent_version=self.s.version)

    def _event(self, e: Event) -> None:
        t, d = e.type, e.data or Data()
        if t in ("session.start", "session.resume"):
            # a new process: the output of one killed before its shutdown is in no snapshot
            self.s.seg_out = {}
            if t == "session.start" and d.sessionId and not self.s.session:
                self.s.session = d.sessionId
            self.s.version = d.copilotVersion or self.s.version
            if d.context is not None:
                self.s.cwd = d.context.cwd or self.s.cwd
                self.s.branch = d.context.branch or self.s.branch
        elif t == "session.model_change":
            self.s.model = d.newModel or self.s.model
        elif t == "user.message":
            self.s.turns += 1
        elif t == "assistant.message":
            model = d.model or self.s.model or "unknown"
            if d.model and d.model != "auto":
                self.s.model = d.model
            out = d.outputTokens
            if isinstance(out, int) and not isinstance(out, bool):
                self.s.seg_out[model] = self.s.seg_out.get(model, 0) + max(out, 0)
        elif t == "tool.execution_start":
            self._tool_start(e, d)
        elif t == "tool.execution_complete":
            self._tool_done(e, d)
        elif t == "session.error":
            self._api_error(e, d)
        elif t == "session.shutdown":
            self._shutdown(e, d)
        elif t is None:
            self.skipped["unrecognized_line"] += 1

    def _tool_start(self, e: Event, d: Data) -> None:
        if d.toolCallId:
            self.s.tools[d.toolCallId] = [d.toolName or "unknown", e.timestamp]
            while len(self.s.tools) > _OPEN_TOOLS:
                del self.s.tools[next(iter(self.s.tools))]

    def _tool_done(self, e: Event, d: Data) -> None:
        opened = self.s.tools.pop(d.toolCallId or "", None)
        if opened is None or not d.toolCallId:
            self.skipped["tool_result_without_start"] += 1
            return
        name, start_ts = opened
        start, end = ms(start_ts), ms(e.timestamp)
        status, code = _tool_status(
            d.success, self._error_code(d) if d.success is not True else None
        )
        self.out.append(
            ToolFact(
                agent=AGENT,
                event_id=event_id(AGENT, "tool", self.session, d.toolCallId),
                timestamp=norm_ts(start_ts or e.timestamp or ""),
                session_id=self.session,
                call_event_id=None,  # the usage is per session, not per call
                tool_name=name,
                duration_ms=max(end - start, 0) if start is not None and end is not None else None,
                status=status,
                error_code=code,
                context=self._context(),
            )
        )

    def _error_code(self, d: Data) -> object:
        if not d.error:
            return None
        err = decode_value(decode_error, d.error)
        return err.code if isinstance(err, ToolError) else None

    def _api_error(self, e: Event, d: Data) -> None:
        if not e.id or not e.timestamp:
            self.skipped["error_without_id"] += 1
            return
        model = self.s.model if self.s.model != "auto" else None
        self.out.append(
            CallFact(
                agent=AGENT,
                event_id=event_id(AGENT, self.session, "error", e.id),
                rank=0,
                timestamp=norm_ts(e.timestamp),
                session_id=self.session,
                model=model,
                usage=Usage(),
                context=self._context(),
                is_subagent=e.agentId is not None,
                agent_id=e.agentId,
                turn_index=self.s.turns,
                provider=provider(model),
                status="error",
                error_code=api_error_code(d.errorType, d.statusCode),
            )
        )

    def _shutdown(self, e: Event, d: Data) -> None:
        key = e.id or e.timestamp
        if not key or not e.timestamp:
            self.skipped["snapshot_without_id"] += 1
            return
        if key in self.s.seen:
            self.skipped["duplicate_snapshot"] += 1
            return
        self.s.seen.append(key)
        del self.s.seen[:-_SEEN]
        snap = {m: cn.counters(v) for m, v in (d.modelMetrics or {}).items() if m and v}
        cumulative = cn.is_cumulative(snap, self.s.counted, self.s.seg_out)
        self.s.seg_out = {}
        for model, now in snap.items():
            grown = cn.delta(now, self.s.counted.get(model) if cumulative else None)
            self.s.counted[model] = cn.add(self.s.counted.get(model), grown)
            self._emit_delta(e.timestamp, key, model, grown)

    def _emit_delta(self, ts: str, key: str, model: str, g: list[Any]) -> None:
        cache_read, cache_write = int(g[cn.CR]), int(g[cn.CW])
        out, reasoning = int(g[cn.OUT]), int(g[cn.RS])
        if model.lower().startswith("gemini"):
            out += reasoning  # Gemini reports thoughts beside the output (ccusage's finding)
        usage = Usage(
            input_tokens=max(int(g[cn.IN]) - cache_read - cache_write, 0),
            output_tokens=out,
            cache_read_tokens=cache_read,
            cache_creation_tokens=cache_write,
            reasoning_tokens=min(reasoning, out),
        )
        billed, unit = _billed(g)
        if usage.total == 0 and not billed:
            return  # this model did nothing since the last snapshot
        self.out.append(
            CallFact(
                agent=AGENT,
                event_id=event_id(AGENT, self.session, key, model),
                rank=usage.total,
                timestamp=norm_ts(ts),
                session_id=self.session,
                model=model,
                usage=usage,
                context=self._context(),
                turn_index=self.s.turns,
                provider=provider(model),
                granularity="session_delta",
                billed_quantity=billed,
                billed_unit=unit,
            )
        )


def _billed(g: list[Any]) -> tuple[float | None, str | None]:
    """Premium requests (`requests.cost`) when recorded, else AI credits from nano-AIU."""
    if g[cn.PREMIUM] is not None:
        return round(float(g[cn.PREMIUM]), 6), "premium_request"
    if g[cn.NANO]:
        return round(g[cn.NANO] / 1e9, 9), "ai_credit"
    return None, None
