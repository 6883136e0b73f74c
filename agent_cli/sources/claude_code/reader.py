"""The per-file Claude Code reader: lines to facts, by the counting rules of the package doc.

State (`state()`, stored with the cursor) holds the open responses, the tool uses waiting for
their results, recent line times and the turn and call counters; its JSON keys and shapes are
the persisted format and must stay readable.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from agent_cli.events import CallFact, Context, ToolFact, Usage, event_id
from agent_cli.sources.claude_code.errors import classify_api_error, classify_tool_error
from agent_cli.sources.claude_code.format import (
    AGENT,
    Block,
    Line,
    Message,
    decode_any,
    decode_blocks,
    decode_loose,
    decode_strict,
    encode,
)
from agent_cli.sources.claude_code.group import Group
from agent_cli.sources.common import ms, norm_ts
from agent_cli.sources.common import to_int as _int
from agent_cli.sources.decode import FAILED, decode_state, decode_value, recover, skip

_RECENT_UUIDS = 256
_MAX_PENDING_TOOLS = 2000


def _text_of(raw: msgspec.Raw | None) -> str:
    """Decode a small content value (string or list of text blocks) to plain text."""
    if not raw:
        return ""
    v = decode_value(decode_any, raw)
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return " ".join(
            b.get("text", "") for b in v if isinstance(b, dict) and isinstance(b.get("text"), str)
        )
    return ""


def _tok(v: object) -> int:
    return v if type(v) is int and v > 0 else _int(v)


def _span(start: str | None, end: str | None) -> int | None:
    """Milliseconds from one ISO timestamp to another (None when either is unknown)."""
    a, b = ms(start), ms(end)
    return None if a is None or b is None else max(b - a, 0)


class State(msgspec.Struct):
    """What a reader keeps between chunks, stored with the cursor (the names are the format)."""

    groups: list[list[Any]] = msgspec.field(default_factory=list)  # Group.to_json()
    tools: dict[str, list[Any]] = msgspec.field(default_factory=dict)  # tool id -> pending use
    recent: list[tuple[str, str]] = msgspec.field(default_factory=list)  # (uuid, timestamp)
    turns: list[int] = msgspec.field(default_factory=lambda: [0, 0])  # main chain, sidechain
    calls: int = 0


_decode_state = msgspec.json.Decoder(State).decode


class ClaudeReader:
    """Turn the lines of one transcript file into facts; its state survives restarts."""

    def __init__(self, path: str, state: bytes | None, skipped: Counter[str]) -> None:
        self.path = path
        self.skipped = skipped
        self.subagent_file = "/subagents/" in path or Path(path).name.startswith("agent-")
        self.groups: dict[tuple[str, ...], Group] = {}
        self.tools: dict[str, list[Any]] = {}
        self.recent: dict[str, str] = {}
        self.turns = [0, 0]  # real prompts seen: main chain, sidechain
        self.calls = 0
        self.out: list[object] = []
        if state:
            self._load(state)

    # -- state -------------------------------------------------------------------------
    def _load(self, state: bytes) -> None:
        s = decode_state(_decode_state, state, self.skipped)
        if s is None:
            return
        for g in s.groups:
            grp = Group.from_json(g)
            self.groups[grp.key] = grp
        self.tools = s.tools
        self.recent = dict(s.recent)
        self.turns = s.turns
        self.calls = s.calls

    def state(self) -> bytes:
        recent = list(self.recent.items())[-64:]
        groups = [g.to_json() for g in self.groups.values()]
        return encode(State(groups, self.tools, recent, self.turns, self.calls))

    # -- lines -------------------------------------------------------------------------
    def feed(self, line: bytes) -> None:
        # Every line is decoded (unknown fields are skipped by msgspec, not built): even
        # bookkeeping lines matter, as the parents whose timestamps start a call's duration.
        try:
            d = decode_strict(line)
        except Exception:
            loose = recover(line, self.skipped, decode_loose)
            if loose is None:
                return
            d = loose
        t = d.type
        try:
            if t == "assistant":
                self._assistant(d)
            elif t == "user":
                self._user(d)
            elif t == "system" and d.subtype == "api_error":
                self.skipped["api_retry_attempts"] += 1  # attempts, not calls: reported only
        except Exception:  # a shape no version wrote so far: skipped and counted
            skip(line, self.skipped)
        if d.uuid and d.timestamp:
            rec = self.recent
            rec[d.uuid] = d.timestamp  # parsed only when a call needs it
            if len(rec) > _RECENT_UUIDS:
                del rec[next(iter(rec))]

    def _assistant(self, d: Line) -> None:
        m = d.message
        if m is None:
            return
        if not d.timestamp:
            if m.usage:
                self.skipped["no_timestamp"] += 1  # a call nobody can place in time
            return
        if d.isApiErrorMessage or m.model == "<synthetic>":
            self._synthetic(d, m)
            return
        u = m.usage
        if not isinstance(u, dict):
            return
        rid = d.requestId or ""
        key = (m.id, rid) if m.id else ("", d.sessionId or "", d.uuid or d.timestamp)
        inp = _tok(u.get("input_tokens"))
        out = _tok(u.get("output_tokens"))
        cr = _tok(u.get("cache_read_input_tokens"))
        cc = _tok(u.get("cache_creation_input_tokens"))
        breakdown = u.get("cache_creation")
        one_h = 0
        if isinstance(breakdown, dict):
            one_h = _tok(breakdown.get("ephemeral_1h_input_tokens"))
            if cc == 0:  # before 2.1.152 the total could be 0 with only the breakdown
                cc = one_h + _tok(breakdown.get("ephemeral_5m_input_tokens"))
        final = m.stop_reason is not None
        rank = (inp + out + cr + cc) * 2 + final
        g = self.groups.get(key)
        if g is None:
            for other in list(self.groups):  # a new response settles the previous ones
                self._emit(self.groups.pop(other))
            g = self._new_group(d, m, key, rid)
            self.groups[key] = g
        if rank >= g.rank:  # ties: the later line wins
            g.rank, g.ts, g.final, g.stop = rank, d.timestamp, final, m.stop_reason
            g.usage = Usage(inp, out, cr, cc, one_h, 0)
            speed = u.get("speed")
            g.speed = speed if isinstance(speed, str) else None
        if d.timestamp > g.last_ts:  # same ISO format within a file: text order is time order
            g.last_ts = d.timestamp
        content = m.content
        if content and not isinstance(content, str):
            for b in self._blocks(content):
                if b.type == "tool_use" and b.id:
                    self._remember_tool(b, d, g.eid)

    def _new_group(self, d: Line, m: Message, key: tuple[str, ...], rid: str) -> Group:
        g = Group()
        g.key = key
        g.eid = event_id(AGENT, *key) if m.id else event_id(AGENT, "line", *key[1:])
        g.alias = m.id if m.id and rid else None
        g.is_side = bool(d.isSidechain)
        g.agent_id = d.agentId
        g.session = d.sessionId
        g.model = m.model
        g.rank = -1
        g.usage = Usage()
        g.ts = d.timestamp or ""
        g.final = False
        g.stop = None
        # The parent's time is looked up now: the window of recent lines may lose it later.
        g.first_parent = self.recent.get(d.parentUuid) if d.parentUuid else None
        g.last_ts = d.timestamp or ""
        g.ctx = Context(d.cwd, d.gitBranch or None, None, d.version)
        g.speed = None
        g.turn = self.turns[1 if g.is_side else 0]
        g.call_index = self.calls
        self.calls += 1
        return g

    def _synthetic(self, d: Line, m: Message) -> None:
        if isinstance(m.content, str):
            text = m.content
        else:
            text = " ".join(_text_of(b.text) for b in self._blocks(m.content) if b.type == "text")
        if not d.isApiErrorMessage and not text.startswith("API Error"):
            self.skipped["synthetic_notice"] += 1  # "No response requested." and the like
            return
        error = _text_of(d.error)
        code = classify_api_error(error, d.apiErrorStatus, _text_of(d.apiError), text)
        key = m.id or d.uuid or d.timestamp or ""
        fact = CallFact(
            agent=AGENT,
            event_id=event_id(AGENT, "error", key),
            rank=1,
            timestamp=norm_ts(d.timestamp or ""),
            session_id=d.sessionId,
            model=None,
            usage=Usage(),
            context=Context(cwd=d.cwd, git_branch=d.gitBranch or None, agent_version=d.version),
            parent_session_id=d.sessionId if (d.isSidechain or self.subagent_file) else None,
            agent_id=d.agentId,
            is_subagent=bool(d.isSidechain) or self.subagent_file,
            turn_index=self.turns[1 if d.isSidechain else 0],
            call_index=self.calls,
            provider="anthropic",
            status="error",
            error_code=code,
            duration_ms=self._duration(d.parentUuid, d.timestamp),
        )
        self.calls += 1
        self.out.append(fact)

    def _user(self, d: Line) -> None:
        m = d.message
        if m is None or not m.content:
            return
        content = m.content
        if isinstance(content, msgspec.Raw):  # the loose fallback: look at the head only
            head = memoryview(content)[:48].tobytes()
            content = head.decode("utf-8", "replace").lstrip('"') if head[:1] == b'"' else content
        if isinstance(content, str):
            if self._is_prompt(d, content[:40]):
                self.turns[1 if d.isSidechain else 0] += 1
            return
        blocks = self._blocks(content)
        results = [b for b in blocks if b.type == "tool_result" and b.tool_use_id]
        if not results:
            if any(b.type == "text" for b in blocks) and self._is_prompt(d, ""):
                self.turns[1 if d.isSidechain else 0] += 1
            return
        for b in results:
            self._tool_result(b, d)

    @staticmethod
    def _is_prompt(d: Line, head: str) -> bool:
        if d.isMeta or d.isCompactSummary:
            return False
        return not head.startswith(("[Request interrupted", "<local-command"))

    def _blocks(self, raw: list[Block] | str | msgspec.Raw | None) -> list[Block]:
        if isinstance(raw, list):
            return raw
        if not raw or isinstance(raw, str):
            return []
        v = decode_value(decode_blocks, raw)
        if v is FAILED:
            self.skipped["unrecognized_content"] += 1
        return v if isinstance(v, list) else []

    # -- tools -------------------------------------------------------------------------
    def _remember_tool(self, b: Block, d: Line, call_eid: str) -> None:
        if b.id is None or b.id in self.tools:
            return
        self.tools[b.id] = [
            b.name or "unknown",
            d.timestamp,
            call_eid,
            d.sessionId,
            d.version,
            d.cwd,
            d.gitBranch or None,
        ]
        if len(self.tools) > _MAX_PENDING_TOOLS:  # unanswered uses (aborts) must not pile up
            self.tools.pop(next(iter(self.tools)))
            self.skipped["tool_use_unanswered"] += 1

    def _tool_result(self, b: Block, d: Line) -> None:
        use = self.tools.pop(b.tool_use_id or "", None)
        if use is None:
            self.skipped["tool_result_unmatched"] += 1
            return
        name, ts, call_eid, session, version, cwd, branch = use
        start, end = ms(ts), ms(d.timestamp)
        duration = max(end - start, 0) if start is not None and end is not None else None
        error = classify_tool_error(_text_of(b.content)) if b.is_error else None
        ctx = Context(cwd, branch, None, version)
        # positional (ToolFact's field order): once per tool call of the history
        self.out.append(
            ToolFact(AGENT, event_id(AGENT, "tool", b.tool_use_id or ""), norm_ts(ts), session,
                     call_eid, name, duration, "error" if b.is_error else "ok", error, ctx)
        )  # fmt: skip

    # -- output ------------------------------------------------------------------------
    def _duration(self, parent: str | None, end: str | None) -> int | None:
        return _span(self.recent.get(parent) if parent else None, end)

    def _emit(self, g: Group) -> None:
        sub = g.is_side or self.subagent_file
        status, code = ("error", "refusal") if g.stop == "refusal" else ("ok", None)
        # positional (CallFact's field order): once per call of the history
        self.out.append(
            CallFact(AGENT, g.eid, g.rank, norm_ts(g.ts), g.session, g.model, g.usage, g.ctx,
                     g.session if sub else None, g.agent_id, sub, g.turn, g.call_index,
                     "anthropic", g.final, _span(g.first_parent, g.last_ts), status, code,
                     g.speed, g.alias, "btw_replay" if g.is_side else None)
        )  # fmt: skip

    def flush(self, eof: bool) -> list[object]:
        """Return the facts found so far.

        At the end of the file the open response is reported too, but stays open in the
        state: if more of its lines arrive, it is reported again and the ledger decides.
        """
        if eof:
            for g in self.groups.values():
                self._emit(g)
        out, self.out = self.out, []
        return out
