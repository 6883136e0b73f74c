"""The per-file Kimi CLI reader: wire records to facts, by the rules of the package doc.

State (`state()`, stored with the cursor) is the `State` struct: the counters, the last
step's start and the tool calls of the open step. Its keys are the persisted format.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import msgspec

from agent_cli.events import CallFact, Context, ToolFact, Usage, event_id
from agent_cli.sources.common import fmt_ms, to_int
from agent_cli.sources.decode import decode_state, recover, skip
from agent_cli.sources.kimi_cli.format import (
    AGENT,
    CodeUsage,
    Envelope,
    Record,
    TokenUsage,
    dec_call,
    dec_record,
    dec_result,
    dec_retry,
    dec_status,
    dec_sub,
)
from agent_cli.sources.kimi_cli.place import place_of
from agent_cli.sources.kimi_cli.share import GOOGLE, Model, Share, subagent_alias
from agent_cli.sources.kimi_cli.status import retry_code, tool_code

_MAX_PENDING_TOOLS = 2000
_MAX_NESTING = 4  # a subagent's subagent's event, at most this deep


class State(msgspec.Struct):
    """What a reader keeps between chunks (the names are the persisted format)."""

    turns: int = 0
    calls: int = 0
    step_ms: int | None = None
    ended: bool = False  # a turn ended
    told: bool = False  # a file with finished turns but no usage was counted as skipped once
    # tool call id -> [name, start ms, call event id | None, [end ms, status, code] | None]
    tools: dict[str, list[Any]] = msgspec.field(default_factory=dict)


_decode_state = msgspec.json.Decoder(State).decode


def _ms(ts: Any) -> int | None:
    if isinstance(ts, bool) or not isinstance(ts, int | float) or ts != ts or ts <= 0:
        return None
    return round(ts * 1000)  # float seconds: rounding, not flooring, keeps the written ms


def _code_provider(model: str | None) -> str | None:
    """Kimi Code's model aliases are `<provider>/<model>`; its own are Moonshot's."""
    if model and model.split("/", 1)[0] in ("kimi-code", "kimi", "moonshot", "moonshotai"):
        return "moonshotai"
    return None


def usage(t: TokenUsage, kind: str | None) -> Usage:
    """Map kosong's TokenUsage (input_other excludes both cache parts) to the contract."""
    other, read = to_int(t.input_other), to_int(t.input_cache_read)
    if kind in GOOGLE and other >= read:
        other -= read  # kosong's Gemini adapter puts promptTokenCount (cache inside) there
    return Usage(
        input_tokens=other,
        output_tokens=to_int(t.output),
        cache_read_tokens=read,
        cache_creation_tokens=to_int(t.input_cache_creation),
    )


class KimiReader:
    """Turn the records of one wire file into facts; its state survives restarts."""

    def __init__(
        self, path: str, state: bytes | None, skipped: Counter[str], shares: dict[str, Share]
    ) -> None:
        self.skipped = skipped
        self.out: list[object] = []
        self.s = State()
        if state:
            s = decode_state(_decode_state, state, skipped)
            if s is not None:
                self.s = s
        p = place_of(path)
        self.place = p
        share = None
        if p.share is not None:
            share = shares.get(p.share) or shares.setdefault(p.share, Share(p.share))
        self.share = share
        self.cwd = share.work_dir(p.work_folder) if share and p.work_folder else None
        self._models: dict[str | None, Model] = {}

    def state(self) -> bytes:
        return msgspec.json.encode(self.s)

    def _model(self, agent_id: str | None) -> Model:
        """The model of the main agent (None) or of a subagent, resolved once per file."""
        m = self._models.get(agent_id)
        if m is None:
            alias = None
            if agent_id is not None and self.place.session_dir is not None:
                alias = subagent_alias(os.path.join(self.place.session_dir, "subagents", agent_id))
            m = self.share.model(alias) if self.share else Model(alias, None, None)
            self._models[agent_id] = m
        return m

    def feed(self, line: bytes) -> None:
        try:
            r = dec_record(line)
        except Exception:
            recover(line, self.skipped)
            return
        try:
            if r.message is not None:
                self._message(r.message, _ms(r.timestamp), self.place.agent_id, 0)
            elif self.place.code and r.type is not None:
                self._code_record(r)
            elif r.type != "metadata":
                self.skipped["unrecognized_line"] += 1
        except Exception:
            skip(line, self.skipped)

    def _message(self, env: Envelope, t: int | None, agent_id: str | None, depth: int) -> None:
        kind = env.type
        if depth:  # a subagent's event copied into its parent's file
            if kind == "StatusUpdate":
                self._status(env, t, agent_id, nested=True)
            elif kind == "SubagentEvent" and depth < _MAX_NESTING:
                self._nested(env, t, depth)
            return
        if kind == "StatusUpdate":
            self._status(env, t, agent_id, nested=False)
        elif kind in ("StepBegin", "StepRetry", "TurnBegin", "TurnEnd"):
            self._boundary(kind, env, t)
        elif kind == "ToolCall":
            self._tool_call(env, t)
        elif kind == "ToolResult":
            self._tool_result(env, t)
        elif kind == "SubagentEvent":
            self._nested(env, t, depth)

    def _nested(self, env: Envelope, t: int | None, depth: int) -> None:
        sub = dec_sub(env.payload)
        if sub.event is not None and sub.agent_id:
            self._message(sub.event, t, sub.agent_id, depth + 1)

    def _boundary(self, kind: str, env: Envelope, t: int | None) -> None:
        self._release()
        if kind == "TurnBegin":
            self.s.turns += 1
        elif kind == "TurnEnd":
            self.s.ended = True
        if kind in ("StepBegin", "StepRetry"):
            self.s.step_ms = t
        if kind == "StepRetry" and t is not None:
            self._retry(env, t)

    def _retry(self, env: Envelope, t: int) -> None:
        """A failed attempt of a step (Kimi retries it): an API error, no tokens recorded."""
        r = dec_retry(env.payload)
        ts = fmt_ms(t)
        eid = event_id(AGENT, "retry", ts, str(r.n), str(r.next_attempt))
        self.out.append(self._fact(eid, ts, Usage(), None, self.place.agent_id, None, r))

    def _status(self, env: Envelope, t: int | None, agent_id: str | None, nested: bool) -> None:
        st = dec_status(env.payload)
        tu = st.token_usage
        if tu is None:
            if st.message_id and not nested:
                self.skipped["step_without_usage"] += 1  # the provider reported none
            return  # else context, plan mode or MCP status only
        if t is None:
            self.skipped["no_timestamp"] += 1
            return
        if nested and not st.message_id and self._has_own_file(agent_id):
            return  # counted from the subagent's own wire file (no id to match the copy)
        model = self._model(agent_id)
        u = usage(tu, model.kind)
        key = "/".join(str(to_int(getattr(tu, f))) for f in TokenUsage.__struct_fields__)
        ts = fmt_ms(t)
        # A fork copies records verbatim and a subagent's step is also copied into its
        # parent's file: the response id (or the time, without one) and the usage make the
        # same id, without the session id.
        eid = event_id(AGENT, "msg", st.message_id, key) if st.message_id else None
        eid = eid or event_id(AGENT, "ts", ts, key)
        self.out.append(self._fact(eid, ts, u, t, agent_id, model, None))
        if not nested:
            self.s.calls += 1
            self._claim(eid)

    def _has_own_file(self, agent_id: str | None) -> bool:
        d = self.place.session_dir
        return bool(agent_id and d and os.path.exists(os.path.join(d, "subagents", agent_id)))

    def _fact(
        self,
        eid: str,
        ts: str,
        u: Usage,
        t: int | None,
        agent_id: str | None,
        model: Model | None,
        retry: Any,
    ) -> CallFact:
        m = model or self._model(agent_id)
        start = self.s.step_ms
        own = agent_id == self.place.agent_id
        duration = t - start if own and t is not None and start is not None and t >= start else None
        return CallFact(
            agent=AGENT,
            event_id=eid,
            rank=1,
            timestamp=ts,
            session_id=self.place.session_id,
            model=m.name,
            usage=u,
            context=Context(cwd=self.cwd),
            agent_id=agent_id,
            is_subagent=agent_id is not None,
            turn_index=self.s.turns if own else None,
            call_index=self.s.calls if own else None,
            provider=m.provider,
            duration_ms=duration,
            status="ok" if retry is None else "error",
            error_code=None if retry is None else retry_code(retry.status_code, retry.error_type),
        )

    # -- Kimi Code -----------------------------------------------------------------------
    def _code_record(self, r: Record) -> None:
        """A Kimi Code record: `usage.record` is one LLM request (every scope: `turn` for a
        turn's step, `session` for compaction and other requests outside a turn)."""
        if r.type == "turn.prompt":
            self.s.turns += 1
            return
        if r.type != "usage.record" or r.usage is None:
            return  # state records with no usage
        t = r.time if isinstance(r.time, int) and not isinstance(r.time, bool) else None
        if t is None or t <= 0:
            self.skipped["no_timestamp"] += 1
            return
        cu = r.usage
        counts = [to_int(getattr(cu, f)) for f in CodeUsage.__struct_fields__]
        u = Usage(counts[0], counts[1], counts[2], counts[3])
        ts = fmt_ms(t)
        key = "/".join(map(str, counts))
        # a forked session copies the agents' files: no session id in the key
        eid = event_id(AGENT, "code", ts, r.model or "", r.usageScope or "", key)
        fact = self._fact(eid, ts, u, t, self.place.agent_id, Model(r.model, None, None), None)
        fact.duration_ms = None  # no step start recorded beside the usage
        fact.provider = _code_provider(r.model)
        self.out.append(fact)
        self.s.calls += 1

    # -- tools ---------------------------------------------------------------------------
    def _tool_call(self, env: Envelope, t: int | None) -> None:
        c = dec_call(env.payload)
        if not c.id:
            return
        if len(self.s.tools) >= _MAX_PENDING_TOOLS:
            self.skipped["too_many_pending_tools"] += 1
            return
        name = c.function.name if c.function is not None and c.function.name else "unknown"
        self.s.tools[c.id] = [name, t, None, None]

    def _tool_result(self, env: Envelope, t: int | None) -> None:
        r = dec_result(env.payload)
        pending = self.s.tools.get(r.tool_call_id or "")
        if pending is None:
            self.skipped["tool_result_without_call"] += 1
            return
        rv = r.return_value
        failed = rv is not None and rv.is_error is True
        code = tool_code(rv.message) if failed and rv is not None else None
        pending[3] = [t, "error" if failed else "ok", code]
        if pending[2] is not None:
            self._emit_tool(r.tool_call_id or "")

    def _claim(self, eid: str) -> None:
        """The step's usage arrived: its tool calls belong to this call."""
        for tid, p in list(self.s.tools.items()):
            if p[2] is None:
                p[2] = eid
                if p[3] is not None:
                    self._emit_tool(tid)

    def _release(self) -> None:
        """A step boundary: finished tools no call claimed go out without one."""
        for tid, p in list(self.s.tools.items()):
            if p[3] is not None:
                self._emit_tool(tid)

    def _emit_tool(self, tid: str) -> None:
        name, start, call_eid, (end, status, code) = self.s.tools.pop(tid)
        self.out.append(
            ToolFact(
                agent=AGENT,
                event_id=event_id(AGENT, "tool", tid),
                timestamp=fmt_ms(end) if end is not None else fmt_ms(start or 0),
                session_id=self.place.session_id,
                call_event_id=call_eid,
                tool_name=name,
                duration_ms=end - start
                if end is not None and start is not None and end >= start
                else None,
                status=status,
                error_code=code,
                context=Context(cwd=self.cwd),
            )
        )

    def flush(self, eof: bool) -> list[object]:
        """Return the facts found so far (finished tools wait for their step's usage)."""
        if eof and self.s.ended and not self.s.calls and not self.s.told:
            # Finished turns but no usage: a release before token usage was recorded (kimi-cli #490,
            # 2025-12), named in the summary rather than read as an idle session.
            self.skipped["wire_without_token_usage"] += 1
            self.s.told = True
        out, self.out = self.out, []
        return out
