"""Grok Build `updates.jsonl` lines to facts: one event per `turn_completed` and billed model.

A turn's usage covers `modelCalls` API calls: an event is `granularity="call"` when it covers
exactly one, else `"session_delta"` (the session's growth over that turn, never one call).
`inputTokens` includes `cachedReadTokens` and `cacheCreationTokens`; `outputTokens` includes
`reasoningTokens`; `totalTokens = inputTokens + outputTokens` (xai-grok-shell
`extensions/notification.rs` `PromptUsageModel`). Cost: `costUsdTicks / 1e10`, trusted only
when neither `costIsPartial` nor `usageIsIncomplete` (the writer's own rule). The id is
`_meta.eventId` + the model (a resumed or forked session repeats its parent's lines), else
session + prompt id + timestamp + model. Cancelled turns (`usage: null`) recorded nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec

from agent_cli.events import CallFact, Context, ToolFact, Usage, event_id
from agent_cli.sources.common import fmt_ms, ms, to_int
from agent_cli.sources.decode import decode_state, recover, skip
from agent_cli.sources.grok_build.format import (
    AGENT,
    PROVIDER,
    TICKS_PER_USD,
    Line,
    ModelRow,
    TurnUsage,
    Update,
    dec_line,
    encode,
)
from agent_cli.sources.grok_build.sessions import SessionInfo

_PENDING = 256  # open tool calls kept in the state
_DONE = {"completed": ("ok", None), "failed": ("error", "error")}


class State(msgspec.Struct):
    """Stored with the cursor (the names are the format)."""

    turns: int = 0
    calls: int = 0
    tools: dict[str, list[Any]] = msgspec.field(default_factory=dict)  # id -> [kind, ms]


_decode_state = msgspec.json.Decoder(State).decode


def line_ms(d: Line) -> int | None:
    """The line's time in ms: `_meta.agentTimestampMs`, else `timestamp` (s, ms or ISO)."""
    meta = d.params.meta if d.params else None
    t = to_int(meta.agentTimestampMs) if meta else 0
    if t:
        return t
    v = d.timestamp
    if isinstance(v, int | float) and not isinstance(v, bool) and v > 0:
        return int(v if v > 1_000_000_000_000 else v * 1000)
    if isinstance(v, str):
        return ms(v)
    return None


def usage_of(row: ModelRow) -> Usage:
    inp, out = to_int(row.inputTokens), to_int(row.outputTokens)
    read, write = to_int(row.cachedReadTokens), to_int(row.cacheCreationTokens)
    reasoning = to_int(row.reasoningTokens)
    read = min(read, inp)
    write = min(write, inp - read)
    return Usage(
        input_tokens=inp - read - write,
        output_tokens=out,
        cache_read_tokens=read,
        cache_creation_tokens=write,
        reasoning_tokens=min(reasoning, out),
    )


def cost_of(row: ModelRow, incomplete: bool) -> float | None:
    ticks = row.costUsdTicks
    if (
        incomplete
        or row.costIsPartial is True
        or isinstance(ticks, bool)
        or not isinstance(ticks, int | float)
    ):
        return None
    return ticks / TICKS_PER_USD if ticks >= 0 else None


class GrokReader:
    """The reader of one `updates.jsonl`; `state()` is stored with the cursor."""

    def __init__(
        self, path: str, state: bytes | None, skipped: Counter[str], info: SessionInfo
    ) -> None:
        self.skipped = skipped
        self.info = info
        self.ctx = Context(cwd=info.cwd, git_branch=info.branch)
        s = decode_state(_decode_state, state, skipped) if state else None
        self.s = s if s is not None else State()
        self.out: list[object] = []

    def state(self) -> bytes:
        return encode(self.s)

    def feed(self, line: bytes) -> None:
        if b"turn_completed" not in line and b"tool_call" not in line:
            return  # message chunks and the rest: nothing to count, never decoded
        try:
            d = dec_line(line)
        except Exception:
            recover(line, self.skipped)
            return
        try:
            self._line(d)
        except Exception:  # a shape no version wrote so far
            skip(line, self.skipped)

    def _line(self, d: Line) -> None:
        u = d.params.update if d.params else None
        if u is None:
            return
        if u.sessionUpdate == "turn_completed":
            self._turn(d, u)
        elif u.sessionUpdate in ("tool_call", "tool_call_update"):
            self._tool(d, u)

    def _turn(self, d: Line, u: Update) -> None:
        self.s.turns += 1
        if u.usage is None:
            self.skipped["turn_without_usage"] += 1  # cancelled: nothing recorded
            return
        t = line_ms(d)
        if t is None:
            self.skipped["no_timestamp"] += 1
            return
        params = d.params
        session = (params.sessionId if params else None) or self.info.session
        meta_id = params.meta.eventId if params and params.meta else None
        for model, row in self._rows(u.usage):
            usage = usage_of(row)
            cost = cost_of(row, u.usage.usageIsIncomplete is True)
            if usage.total == 0:
                self.skipped["zero_tokens"] += 1
                continue
            key = (meta_id, model) if meta_id else (session, u.prompt_id or "", str(t), model)
            one = to_int(row.modelCalls) == 1
            fact = CallFact(
                agent=AGENT,
                event_id=event_id(AGENT, *key),
                rank=usage.total,
                timestamp=fmt_ms(t),
                session_id=session,
                model=model or None,
                usage=usage,
                context=self.ctx,
                parent_session_id=self.info.parent,
                is_subagent=self.info.is_subagent,
                turn_index=self.s.turns,
                call_index=self.s.calls,
                provider=PROVIDER,
                duration_ms=(to_int(row.apiDurationMs) or None) if one else None,
                status="error" if u.stop_reason == "error" else "ok",
                error_code="server_error" if u.stop_reason == "error" else None,
                cost_usd=cost,
                granularity="call" if one else "session_delta",
            )
            self.s.calls += 1
            self.out.append(fact)

    def _rows(self, usage: TurnUsage) -> list[tuple[str, ModelRow]]:
        if usage.modelUsage:
            return sorted(usage.modelUsage.items())
        return [(self.info.model or "", usage)]

    def _tool(self, d: Line, u: Update) -> None:
        tool_id = u.toolCallId or u.tool_call_id
        t = line_ms(d)
        if not tool_id:
            return
        tools = self.s.tools
        if u.sessionUpdate == "tool_call" and tool_id not in tools:
            tools[tool_id] = [u.kind or "unknown", t]
            while len(tools) > _PENDING:
                del tools[next(iter(tools))]
        done = _DONE.get(u.status or "")
        if done is None or tool_id not in tools:
            return
        kind, start = tools.pop(tool_id)
        if u.kind and kind == "unknown":
            kind = u.kind
        self.out.append(
            ToolFact(
                agent=AGENT,
                event_id=event_id(AGENT, "tool", tool_id),  # a fork repeats the line: once
                timestamp=fmt_ms(t or start or 0),
                session_id=self.info.session,
                call_event_id=None,
                tool_name=kind,
                duration_ms=max(t - start, 0) if t and start else None,
                status=done[0],
                error_code=done[1],
                context=self.ctx,
            )
        )

    def flush(self, eof: bool) -> list[object]:
        out, self.out = self.out, []  # a turn_completed line is final; nothing is held
        return out
