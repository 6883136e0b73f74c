"""Codex tool calls: matched to their outputs by call_id, with a status from the output.

`function_call` / `custom_tool_call` / `local_shell_call` items open a pending call, their
`*_output` items close it; `exec_command_end` and `patch_apply_end` refine the status. A
pending entry is `[name, start ts, call event id | None, refined status | None, done | None]`
and is persisted as is, under the reader state's `tools` key.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from agent_cli.events import Context, ToolFact, event_id
from agent_cli.sources.codex.format import AGENT, End, Env, dec_call, dec_end, dec_out
from agent_cli.sources.common import ms, norm_ts

_MAX_PENDING_TOOLS = 2000
_SAME_RESPONSE_MS = 100  # old builds write a response's token_count just before its calls
_OUT_HEAD = 1024  # bytes of a tool output searched for an exit status
_OUT_TAIL = 256  # old JSON outputs put {"metadata":{"exit_code":N}} at the end
_EXIT_TEXT = re.compile(rb"(?:Process exited with code|Exit code:)\s*(-?\d+)")
_EXIT_JSON = re.compile(rb'\\?"exit_code\\?"\s*:\s*(-?\d+)')


def tool_status(raw: bytes) -> tuple[str, str | None]:
    """Classify a tool output (raw JSON bytes) from its first and last bytes only."""
    head = raw[:_OUT_HEAD]
    tail = raw[-_OUT_TAIL:] if len(raw) > _OUT_HEAD else b""
    for part in (head, tail):
        m = _EXIT_TEXT.search(part) or _EXIT_JSON.search(part)
        if m and int(m.group(1)) != 0:
            return "error", "exit_code"
    if b"apply_patch verification failed" in head or b'"success":false' in head + tail:
        return "error", "error"
    if b"rejected by user" in head or b"aborted by user" in head:
        return "error", "rejected"
    return "ok", None


def end_status(e: End, patch: bool) -> tuple[str, str | None] | None:
    """Status of an exec_command_end / patch_apply_end, None when it says success."""
    status = e.status if isinstance(e.status, str) else None
    if status == "declined":
        return "error", "rejected"
    if patch:
        if e.success is False or status == "failed":
            return "error", "error"
        return None
    code = (
        e.exit_code if isinstance(e.exit_code, int) and not isinstance(e.exit_code, bool) else None
    )
    if code not in (None, 0):
        return "error", "exit_code"
    if status == "failed":
        return "error", "exit_code" if code else "error"
    return None


class ToolMatching:
    """The tool half of `CodexReader` (a mixin): the attributes below are the reader's."""

    tools: dict[str, list[Any]]
    replay: bool
    skipped: Counter[str]
    out: list[object]
    sid: str | None
    last_input_ms: int | None
    last_growth: list[Any] | None  # [event id, ms, boundary seen since]

    def _ctx(self) -> Context:
        raise NotImplementedError

    def _tool_call(self, env: Env, kind: str) -> None:
        if self.replay:
            return  # the parent's calls, replayed
        c = dec_call(env.payload)
        call_id = c.call_id or c.id
        if not call_id:
            self.skipped["tool_call_without_id"] += 1
            return
        if call_id in self.tools:
            return
        name = c.name or ("local_shell" if kind == "local_shell_call" else "unknown")
        ceid = None
        g = self.last_growth
        t_ms = ms(env.timestamp)
        if (
            g is not None
            and not g[2]
            and g[1] is not None
            and t_ms is not None
            and 0 <= t_ms - g[1] <= _SAME_RESPONSE_MS
        ):
            ceid = g[0]  # old builds: the response's token_count came just before its calls
        self.tools[call_id] = [name, env.timestamp, ceid, None, None]
        if len(self.tools) > _MAX_PENDING_TOOLS:  # unanswered calls must not pile up
            self.tools.pop(next(iter(self.tools)))
            self.skipped["tool_call_unanswered"] += 1

    def _end(self, env: Env, patch: bool) -> None:
        e = dec_end(env.payload)
        p = self.tools.get(e.call_id or "")
        if p is None:
            return
        st = end_status(e, patch)
        if st is not None:
            p[3] = list(st)

    def _tool_output(self, env: Env) -> None:
        o = dec_out(env.payload)
        call_id = o.call_id or ""
        p = self.tools.get(call_id)
        if p is None:
            if not self.replay:
                self.skipped["tool_output_unmatched"] += 1
            return
        status, code = tool_status(bytes(o.output)) if o.output else ("ok", None)
        if p[3] is not None:  # exec_command_end / patch_apply_end know better
            status, code = p[3]
        p[4] = [env.timestamp, status, code]
        if p[2] is not None:
            self._emit_tool(call_id)
        if t := ms(env.timestamp):
            self.last_input_ms = t

    def _release_waiting(self) -> None:
        """At a turn boundary, finished tools no later response claimed are emitted alone."""
        for call_id, p in list(self.tools.items()):
            if p[4] is not None:
                self._emit_tool(call_id)

    def _emit_tool(self, call_id: str) -> None:
        name, ts, ceid, _, done = self.tools.pop(call_id)
        end_ts, status, code = done
        start, end = ms(ts), ms(end_ts)
        duration = max(end - start, 0) if start is not None and end is not None else None
        self.out.append(
            ToolFact(
                agent=AGENT,
                event_id=event_id(AGENT, "tool", call_id),
                timestamp=norm_ts(ts or ""),
                session_id=self.sid,
                call_event_id=ceid,
                tool_name=name,
                duration_ms=duration,
                status=status,
                error_code=code,
                context=self._ctx(),
            )
        )

    def _claim_tools(self, eid: str) -> None:
        """A call was emitted: the pending tools no call claimed yet are its tools."""
        for call_id, p in list(self.tools.items()):
            if p[2] is None:
                p[2] = eid
                if p[4] is not None:
                    self._emit_tool(call_id)
