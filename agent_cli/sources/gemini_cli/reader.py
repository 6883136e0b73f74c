"""The per-file Gemini CLI readers: messages to facts, by the counting rules of the package doc.

`GeminiJsonlReader` reads an append-only `.jsonl` from a cursor; its state (`state()`, stored
with the cursor: metadata, counters, recent prompts and the held records) is the persisted
format and must stay readable. `GeminiJsonReader` reads a whole `session-*.json`, no state.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any

import msgspec

from agent_cli.events import CallFact, Context, ToolFact, event_id
from agent_cli.sources.common import classify_gemini_error, gemini_usage, ms, norm_ts
from agent_cli.sources.common import to_int as _int
from agent_cli.sources.decode import (
    FAILED,
    UNRECOGNIZED_LINE,
    classify,
    decode_state,
    decode_value,
    recover,
    skip,
)
from agent_cli.sources.gemini_cli.format import (
    AGENT,
    CALL_TYPES,
    KNOWN_TYPES,
    PROVIDER,
    Line,
    Msg,
    dec_line,
    dec_session,
    dec_tools,
    encode,
)
from agent_cli.sources.gemini_cli.projects import Projects, split
from agent_cli.sources.gemini_cli.record import Record

_HELD = 16  # message ids kept open in a JSONL file (a message is re-appended right after)
_RECENT_USERS = 64
_ERROR_HEAD = 600

_TOOL_DONE = {
    "success": ("ok", None),
    "error": ("error", "error"),
    "cancelled": ("error", "rejected"),
}


def classify_error(head: bytes) -> str:
    """Map the head of an error message's text to the contract's error codes."""
    return classify_gemini_error(head)


class _Reader:
    """Shared by the JSONL reader and the whole-file reader: messages to facts."""

    def __init__(self, path: str, skipped: Counter[str], projects: Projects) -> None:
        self.path = path
        self.skipped = skipped
        self.projects = projects
        self.project_dir, self.parent_folder = split(path)
        self.nested = self.parent_folder is not None
        stem = Path(path).name.split(".")[0]
        self.session: str | None = stem.removeprefix("session-") if self.nested else None
        self.fallback_session = stem
        self.project_hash: str | None = None
        self.kind: str | None = None
        self.directories: list[str] | None = None
        self.turns = 0
        self.calls = 0
        self.last_ms: int | None = None
        self.out: list[object] = []

    def _meta(
        self,
        session: str | None,
        project_hash: str | None,
        kind: str | None,
        directories: list[str] | None,
    ) -> None:
        if session:
            self.session = session
        if project_hash:
            self.project_hash = project_hash
        if kind:
            self.kind = kind
        if directories:
            self.directories = [d for d in directories if isinstance(d, str)][:16]

    def _record(self, m: Msg | Line) -> Record | None:
        """Turn a gemini/model/error message into a record; count the rest."""
        t = m.type
        if t not in KNOWN_TYPES:
            self.skipped["unknown_message_type"] += 1
            return None
        if not m.id:
            self.skipped["message_without_id"] += 1
            return None
        t_ms = ms(m.timestamp)
        if t == "user":
            self._user(m.id)
            self._seen(t_ms)
            return None
        if t in ("info", "warning"):
            return None
        r = Record()
        r.id, r.session, r.type, r.ts, r.model = m.id, self.session, t, m.timestamp, m.model
        tk = m.tokens
        r.tokens = (
            [_int(tk.input), _int(tk.output), _int(tk.cached), _int(tk.thoughts), _int(tk.tool)]
            if tk is not None
            else None
        )
        r.tools = self._tools(m.toolCalls) if t in CALL_TYPES else []
        r.err = classify_error(bytes(m.content)[:_ERROR_HEAD]) if t == "error" else None
        r.call_index = None
        r.turn = self.turns
        r.dur = None
        if t_ms is not None and self.last_ms is not None and t_ms >= self.last_ms:
            r.dur = t_ms - self.last_ms
        self._seen(t_ms)
        for tc in r.tools:
            self._seen(ms(tc[3]))
        return r

    def _user(self, msg_id: str) -> None:
        self.turns += 1

    def _seen(self, t_ms: int | None) -> None:
        if t_ms is not None and (self.last_ms is None or t_ms > self.last_ms):
            self.last_ms = t_ms

    def _tools(self, raw: msgspec.Raw) -> list[list[Any]]:
        if not raw:
            return []
        calls = decode_value(dec_tools, raw)
        if calls is FAILED:
            self.skipped["unrecognized_tool_calls"] += 1
            return []
        return [[c.id, c.name, c.status, c.timestamp] for c in calls or [] if c.id]

    def _emit(self, r: Record) -> None:
        session = r.session or self.session or self.fallback_session
        tk = r.tokens
        is_call = tk is not None and any(tk)
        eid = event_id(AGENT, session, r.id)
        ctx = Context(cwd=self.projects.cwd(self.project_dir, self.project_hash, self.directories))
        if r.type == "error" and not is_call:
            self.skipped["error_message"] += 1
        elif tk is None or not is_call:
            self.skipped["no_tokens" if tk is None else "zero_tokens"] += 1
        else:
            self._emit_call(r, tk, session, eid, ctx)
        self._emit_tools(r, session, eid if is_call else None, ctx)

    def _emit_call(self, r: Record, tk: list[int], session: str, eid: str, ctx: Context) -> None:
        if r.call_index is None:
            r.call_index = self.calls
            self.calls += 1
        inp, out, cached, thoughts, tool = tk
        usage = gemini_usage(inp, out, cached, thoughts, tool, thoughts_inside=False)
        self.out.append(
            CallFact(
                agent=AGENT,
                event_id=eid,
                rank=usage.total,
                timestamp=norm_ts(r.ts or ""),
                session_id=session,
                model=r.model,
                usage=usage,
                context=ctx,
                parent_session_id=self.parent_folder,
                is_subagent=self.nested or self.kind == "subagent",
                turn_index=r.turn,
                call_index=r.call_index,
                provider=PROVIDER,
                duration_ms=r.dur,
                status="error" if r.type == "error" else "ok",
                error_code=r.err,
            )
        )

    def _emit_tools(self, r: Record, session: str, call_eid: str | None, ctx: Context) -> None:
        """Emit the record's settled tool calls (`call_eid`: the call they belong to, if any)."""
        start = ms(r.ts)
        for tool_id, name, status, ts in r.tools:
            done = _TOOL_DONE.get(status or "")
            if done is None:
                continue  # still scheduled or running: a later record settles it
            end = ms(ts)
            self.out.append(
                ToolFact(
                    agent=AGENT,
                    event_id=event_id(AGENT, "tool", session, tool_id),
                    timestamp=norm_ts(r.ts or ts or ""),
                    session_id=session,
                    call_event_id=call_eid,
                    tool_name=name or "unknown",
                    duration_ms=max(end - start, 0)
                    if start is not None and end is not None
                    else None,
                    status=done[0],
                    error_code=done[1],
                    context=ctx,
                )
            )


class State(msgspec.Struct):
    """What a JSONL reader keeps between chunks, stored with the cursor (the names and their
    order are the format)."""

    session: str | msgspec.UnsetType | None = msgspec.UNSET
    hash: str | None = None
    kind: str | None = None
    dirs: list[str] | None = None
    turns: int = 0
    calls: int = 0
    last_ms: int | None = None
    users: list[str] = msgspec.field(default_factory=list)  # recent prompt ids
    held: list[list[Any]] = msgspec.field(default_factory=list)  # Record.to_json()


_decode_state = msgspec.json.Decoder(State).decode


class GeminiJsonlReader(_Reader):
    """Lines of a JSONL session to facts; held records and counters survive restarts."""

    def __init__(
        self, path: str, state: bytes | None, skipped: Counter[str], projects: Projects
    ) -> None:
        super().__init__(path, skipped, projects)
        self.held: OrderedDict[str, Record] = OrderedDict()
        self.users: list[str] = []
        if state:
            self._load(state)

    def _load(self, state: bytes) -> None:
        s = decode_state(_decode_state, state, self.skipped)
        if s is None:
            return
        if s.session is not msgspec.UNSET:  # else the session the file name gives
            self.session = s.session
        self.project_hash = s.hash
        self.kind = s.kind
        self.directories = s.dirs
        self.turns = s.turns
        self.calls = s.calls
        self.last_ms = s.last_ms
        self.users = s.users
        for v in s.held:
            r = Record.from_json(v)
            self.held[r.id] = r

    def state(self) -> bytes:
        held = [r.to_json() for r in self.held.values()]
        return encode(
            State(
                self.session,
                self.project_hash,
                self.kind,
                self.directories,
                self.turns,
                self.calls,
                self.last_ms,
                self.users[-_RECENT_USERS:],
                held,
            )
        )

    def _user(self, msg_id: str) -> None:
        if msg_id in self.users:
            return  # the same prompt re-appended
        self.users.append(msg_id)
        del self.users[:-_RECENT_USERS]
        self.turns += 1

    def feed(self, line: bytes) -> None:
        try:
            d = dec_line(line)
        except Exception:
            recover(line, self.skipped)
            return
        try:
            self._line(d)
        except Exception:  # a shape no version wrote so far: skipped and counted
            skip(line, self.skipped)

    def _line(self, d: Line) -> None:
        if d.set_ is not None:
            s = d.set_
            self._meta(s.sessionId, s.projectHash, s.kind, s.directories)
            return
        if d.rewind:
            return  # rewound messages stay counted: their tokens were spent
        if d.type is None and d.id is None:
            if d.sessionId:
                self._meta(d.sessionId, d.projectHash, d.kind, d.directories)
            else:
                self.skipped["unrecognized_line"] += 1
            return
        r = self._record(d)
        if r is None:
            return
        old = self.held.pop(r.id, None)
        if old is not None:  # the same message re-appended: the last record wins
            r.call_index, r.turn, r.dur = old.call_index, old.turn, old.dur
            r.session = old.session or r.session
        self.held[r.id] = r
        while len(self.held) > _HELD:
            self._emit(self.held.popitem(last=False)[1])

    def flush(self, eof: bool) -> list[object]:
        """Return the settled facts; at the end of the file the held records too.

        Held records stay in the state: if a message is re-appended later, it is reported
        again and the ledger keeps the biggest one.
        """
        if eof:
            for r in self.held.values():
                self._emit(r)
        out, self.out = self.out, []
        return out


class GeminiJsonReader(_Reader):
    """A whole-file session (`session-*.json`) to facts."""

    def read_bytes(self, data: bytes) -> list[object]:
        s = decode_value(dec_session, data)
        if s is FAILED:
            # valid JSON of another shape is a checkpoint or another JSON file
            not_ours = classify(data) == UNRECOGNIZED_LINE
            self.skipped["not_a_session" if not_ours else "malformed_session_file"] += 1
            return []
        if s.messages is None or not (s.sessionId or s.projectHash):
            self.skipped["not_a_session"] += 1
            return []
        self._meta(s.sessionId, s.projectHash, s.kind, s.directories)
        records: OrderedDict[str, Record] = OrderedDict()
        for m in s.messages:
            r = self._record(m)
            if r is not None:
                old = records.pop(r.id, None)
                if old is not None:
                    r.turn, r.dur = old.turn, old.dur
                records[r.id] = r
        for r in records.values():
            self._emit(r)
        out, self.out = self.out, []
        return out
