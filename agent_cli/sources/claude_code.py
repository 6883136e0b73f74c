"""Claude Code: `projects/**/*.jsonl` under $CLAUDE_CONFIG_DIR, ~/.config/claude, ~/.claude.

Counting rules (DESIGN.md, research/claude-format.md §3.4):
- only top-level `type == "assistant"` lines with `message.usage` are calls; one response is
  several lines sharing `message.id` + `requestId` (the id alone without a request id): keep
  the line with the largest usage, its stop_reason says whether output is final;
- `progress` payloads and `toolUseResult.usage` are never decoded, so never counted;
- `<synthetic>` lines with `isApiErrorMessage` are failed calls: status error, zero tokens;
- tool_use blocks are matched to tool_result blocks by id and become tool calls;
- sidechain lines are subagent calls; `/btw` replays (a sidechain line reusing a parent's
  message id with another request id) are dropped by the pipeline's ledger via `alias`.
Lines are decoded with msgspec into structs that name only these fields, so the content
(prompts, thinking, tool input and output) is skipped by the decoder, never built.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from agent_cli import config
from agent_cli.events import CallFact, Context, ToolFact, Usage, event_id
from agent_cli.sources import SourceFile, walk_files
from agent_cli.sources.common import bad_line_reason, ms, norm_ts
from agent_cli.sources.common import to_int as _int
from agent_cli.tail import Chunk, Cursor, read_chunks

AGENT = "claude-code"
_RECENT_UUIDS = 256
_MAX_PENDING_TOOLS = 2000


_NO_RAW = msgspec.Raw(b"")


class _Block(msgspec.Struct):
    type: str = ""
    id: str | None = None
    name: str | None = None
    tool_use_id: str | None = None
    is_error: bool | None = None
    content: msgspec.Raw = _NO_RAW
    text: msgspec.Raw = _NO_RAW


class _Message(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    stop_reason: str | None = None
    usage: dict[str, Any] | None = None
    content: msgspec.Raw = _NO_RAW


class _Line(msgspec.Struct):
    type: str | None = None
    uuid: str | None = None
    parentUuid: str | None = None  # noqa: N815 - the transcript's own names
    sessionId: str | None = None  # noqa: N815
    timestamp: str | None = None
    requestId: str | None = None  # noqa: N815
    cwd: str | None = None
    gitBranch: str | None = None  # noqa: N815
    version: str | None = None
    isSidechain: bool | None = None  # noqa: N815
    agentId: str | None = None  # noqa: N815
    isMeta: bool | None = None  # noqa: N815
    isCompactSummary: bool | None = None  # noqa: N815
    isApiErrorMessage: bool | None = None  # noqa: N815
    error: msgspec.Raw = _NO_RAW
    apiErrorStatus: int | None = None  # noqa: N815
    apiError: msgspec.Raw = _NO_RAW  # noqa: N815
    subtype: str | None = None
    message: _Message | None = None


_decode_line = msgspec.json.Decoder(_Line).decode
_decode_blocks = msgspec.json.Decoder(list[_Block] | str | None).decode
_decode_any = msgspec.json.decode
_encode = msgspec.json.encode

def _text_of(raw: msgspec.Raw | None) -> str:
    """Decode a small content value (string or list of text blocks) to plain text."""
    if not raw:
        return ""
    try:
        v = _decode_any(raw)
    except (msgspec.DecodeError, ValueError):
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return " ".join(b.get("text", "") for b in v if isinstance(b, dict)
                        and isinstance(b.get("text"), str))
    return ""


def classify_api_error(error: str, status: int | None, api_error: str, text: str) -> str:
    """Map a synthetic API-error line to the contract's error codes."""
    low = text.lower()
    if "usage policy" in low or "refus" in error:
        return "refusal"
    if "prompt is too long" in low or "context" in error or "too long" in low:
        return "context_overflow"
    if (error == "rate_limit" or status == 429 or "usage limit" in low
            or "out of extra usage" in low or ("limit" in low and "hit your" in low)):
        return "rate_limit"
    if status == 529 or "overloaded" in low:
        return "overloaded"
    if error == "authentication_failed" or status in (401, 403) or "/login" in low:
        return "auth"
    if error == "invalid_request" or api_error == "max_output_tokens" or status == 400:
        return "invalid_request"
    return "server_error"


def classify_tool_error(text: str) -> str:
    """Map a failed tool_result's text to validation | exit_code | rejected | error."""
    head = text[:4000]
    if "<tool_use_error>" in head or "InputValidationError" in head:
        return "validation"
    if head.startswith("Exit code") or "\nExit code " in head[:200]:
        return "exit_code"
    if ("doesn't want to proceed" in head or "rejected" in head.lower()
            or "[Request interrupted by user for tool use]" in head):
        return "rejected"
    return "error"


class _Group:
    """The lines of one API response seen so far in this file."""

    __slots__ = ("alias", "call_index", "ctx", "eid", "final", "first_parent", "is_side",
                 "agent_id", "last_ms", "model", "rank", "session", "speed", "stop",
                 "ts", "turn", "usage")

    def to_json(self) -> list[Any]:
        u = self.usage
        c = self.ctx
        return [self.eid, self.alias, self.is_side, self.agent_id, self.session, self.model,
                [u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_creation_tokens,
                 u.cache_creation_1h_tokens], self.rank, self.ts, self.final, self.first_parent,
                self.last_ms, [c.cwd, c.git_branch, c.agent_version], self.speed, self.turn,
                self.call_index, self.stop]

    @classmethod
    def from_json(cls, v: list[Any]) -> _Group:
        g = cls()
        (g.eid, g.alias, g.is_side, g.agent_id, g.session, g.model, u, g.rank, g.ts, g.final,
         g.first_parent, g.last_ms, c, g.speed, g.turn, g.call_index, g.stop) = v
        g.usage = Usage(u[0], u[1], u[2], u[3], u[4], 0)
        g.ctx = Context(cwd=c[0], git_branch=c[1], agent_version=c[2])
        return g


class ClaudeReader:
    """Turn the lines of one transcript file into facts; its state survives restarts."""

    def __init__(self, path: str, state: bytes | None, skipped: Counter[str]) -> None:
        self.path = path
        self.skipped = skipped
        self.subagent_file = "/subagents/" in path or Path(path).name.startswith("agent-")
        self.groups: OrderedDict[str, _Group] = OrderedDict()
        self.tools: dict[str, list[Any]] = {}
        self.recent: OrderedDict[str, int] = OrderedDict()
        self.turns = [0, 0]  # real prompts seen: main chain, sidechain
        self.calls = 0
        self.out: list[object] = []
        if state:
            self._load(state)

    # -- state -------------------------------------------------------------------------
    def _load(self, state: bytes) -> None:
        s = _decode_any(state)
        for g in s.get("groups", []):
            grp = _Group.from_json(g)
            self.groups[grp.eid] = grp
        self.tools = s.get("tools", {})
        self.recent = OrderedDict(s.get("recent", []))
        self.turns = s.get("turns", [0, 0])
        self.calls = s.get("calls", 0)

    def state(self) -> bytes:
        recent = list(self.recent.items())[-64:]
        return _encode({"groups": [g.to_json() for g in self.groups.values()],
                        "tools": self.tools, "recent": recent, "turns": self.turns,
                        "calls": self.calls})

    # -- lines -------------------------------------------------------------------------
    def feed(self, line: bytes) -> None:
        # Every line is decoded (unknown fields are skipped by msgspec, not built): even
        # bookkeeping lines matter, as the parents whose timestamps start a call's duration.
        try:
            d = _decode_line(line)
        except msgspec.ValidationError:
            self.skipped["unrecognized_line"] += 1
            return
        except (msgspec.DecodeError, UnicodeDecodeError):
            self.skipped[bad_line_reason(line)] += 1
            return
        t = d.type
        try:
            if t == "assistant":
                self._assistant(d)
            elif t == "user":
                self._user(d)
            elif t == "system" and d.subtype == "api_error":
                self.skipped["api_retry_attempts"] += 1  # attempts, not calls: reported only
        except (TypeError, ValueError, AttributeError, KeyError):
            # A shape no version wrote so far: skip the line, count it, keep going.
            self.skipped["unrecognized_line"] += 1
        if d.uuid and d.timestamp:
            t_ms = ms(d.timestamp)
            if t_ms is not None:
                rec = self.recent
                rec[d.uuid] = t_ms
                if len(rec) > _RECENT_UUIDS:
                    rec.popitem(last=False)

    def _assistant(self, d: _Line) -> None:
        m = d.message
        if m is None or not d.timestamp:
            return
        if d.isApiErrorMessage or m.model == "<synthetic>":
            self._synthetic(d, m)
            return
        if not isinstance(m.usage, dict):
            return
        rid = d.requestId or ""
        if m.id:
            eid = event_id(AGENT, m.id, rid)
        else:
            eid = event_id(AGENT, "line", d.sessionId or "", d.uuid or d.timestamp)
        u = m.usage
        cc = u.get("cache_creation")
        one_h = _int(cc.get("ephemeral_1h_input_tokens")) if isinstance(cc, dict) else 0
        usage = Usage(
            input_tokens=_int(u.get("input_tokens")),
            output_tokens=_int(u.get("output_tokens")),
            cache_read_tokens=_int(u.get("cache_read_input_tokens")),
            cache_creation_tokens=_int(u.get("cache_creation_input_tokens")),
            cache_creation_1h_tokens=one_h,
        )
        if isinstance(cc, dict) and usage.cache_creation_tokens == 0:
            # Before 2.1.152 the total could be 0 when only the breakdown was reported.
            usage.cache_creation_tokens = one_h + _int(cc.get("ephemeral_5m_input_tokens"))
        final = m.stop_reason is not None
        rank = usage.total * 2 + (1 if final else 0)
        t_ms = ms(d.timestamp)
        blocks = self._blocks(m.content)
        g = self.groups.get(eid)
        if g is None:
            for other in list(self.groups):  # a new response settles the previous ones
                self._emit(self.groups.pop(other))
            g = self._new_group(d, m, eid, rid)
            self.groups[eid] = g
        if rank >= g.rank:  # ties: the later line wins
            g.rank, g.usage, g.ts, g.final, g.stop = rank, usage, d.timestamp, final, m.stop_reason
            g.speed = u.get("speed") if isinstance(u.get("speed"), str) else None
        if t_ms is not None and (g.last_ms is None or t_ms > g.last_ms):
            g.last_ms = t_ms
        for b in blocks:
            if b.type == "tool_use" and b.id:
                self._remember_tool(b, d, eid)

    def _new_group(self, d: _Line, m: _Message, eid: str, rid: str) -> _Group:
        g = _Group()
        g.eid, g.alias = eid, (m.id if m.id and rid else None)
        g.is_side = bool(d.isSidechain)
        g.agent_id = d.agentId
        g.session = d.sessionId
        g.model = m.model
        g.rank = -1
        g.usage = Usage()
        g.ts = d.timestamp
        g.final = False
        g.stop = None
        # The parent's time is looked up now: the window of recent lines may lose it later.
        g.first_parent = self.recent.get(d.parentUuid) if d.parentUuid else None
        g.last_ms = None
        g.ctx = Context(cwd=d.cwd, git_branch=d.gitBranch or None, agent_version=d.version)
        g.speed = None
        g.turn = self.turns[1 if g.is_side else 0]
        g.call_index = self.calls
        self.calls += 1
        return g

    def _synthetic(self, d: _Line, m: _Message) -> None:
        blocks = self._blocks(m.content)
        text = " ".join(_text_of(b.text) for b in blocks if b.type == "text")
        if not d.isApiErrorMessage and not text.startswith("API Error"):
            self.skipped["synthetic_notice"] += 1  # "No response requested." and the like
            return
        error = _raw_str(d.error)
        code = classify_api_error(error, d.apiErrorStatus, _raw_str(d.apiError), text)
        key = m.id or d.uuid or d.timestamp or ""
        fact = CallFact(
            agent=AGENT, event_id=event_id(AGENT, "error", key), rank=1,
            timestamp=norm_ts(d.timestamp or ""), session_id=d.sessionId, model=None,
            usage=Usage(),
            context=Context(cwd=d.cwd, git_branch=d.gitBranch or None, agent_version=d.version),
            parent_session_id=d.sessionId if (d.isSidechain or self.subagent_file) else None,
            agent_id=d.agentId, is_subagent=bool(d.isSidechain) or self.subagent_file,
            turn_index=self.turns[1 if d.isSidechain else 0], call_index=self.calls,
            provider="anthropic", status="error", error_code=code,
            duration_ms=self._duration(d.parentUuid, ms(d.timestamp)),
        )
        self.calls += 1
        self.out.append(fact)

    def _user(self, d: _Line) -> None:
        m = d.message
        if m is None or not m.content:
            return
        raw = memoryview(m.content)[:48].tobytes()
        if raw[:1] == b'"':
            if self._is_prompt(d, raw):
                self.turns[1 if d.isSidechain else 0] += 1
            return
        blocks = self._blocks(m.content)
        results = [b for b in blocks if b.type == "tool_result" and b.tool_use_id]
        if not results:
            if any(b.type == "text" for b in blocks) and self._is_prompt(d, b""):
                self.turns[1 if d.isSidechain else 0] += 1
            return
        for b in results:
            self._tool_result(b, d)

    @staticmethod
    def _is_prompt(d: _Line, head: bytes) -> bool:
        if d.isMeta or d.isCompactSummary:
            return False
        return not (head.startswith(b'"[Request interrupted') or head.startswith(b'"<local-command'))

    def _blocks(self, raw: msgspec.Raw | None) -> list[_Block]:
        if not raw:
            return []
        try:
            v = _decode_blocks(raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            self.skipped["unrecognized_content"] += 1
            return []
        return v if isinstance(v, list) else []

    # -- tools -------------------------------------------------------------------------
    def _remember_tool(self, b: _Block, d: _Line, call_eid: str) -> None:
        if b.id in self.tools:
            return
        self.tools[b.id] = [b.name or "unknown", d.timestamp, call_eid, d.sessionId,
                            d.version, d.cwd, d.gitBranch or None]
        if len(self.tools) > _MAX_PENDING_TOOLS:  # unanswered uses (aborts) must not pile up
            self.tools.pop(next(iter(self.tools)))
            self.skipped["tool_use_unanswered"] += 1

    def _tool_result(self, b: _Block, d: _Line) -> None:
        use = self.tools.pop(b.tool_use_id or "", None)
        if use is None:
            self.skipped["tool_result_unmatched"] += 1
            return
        name, ts, call_eid, session, version, cwd, branch = use
        start, end = ms(ts), ms(d.timestamp)
        duration = max(end - start, 0) if start is not None and end is not None else None
        error = classify_tool_error(_text_of(b.content)) if b.is_error else None
        self.out.append(ToolFact(
            agent=AGENT, event_id=event_id(AGENT, "tool", b.tool_use_id or ""),
            timestamp=norm_ts(ts), session_id=session, call_event_id=call_eid, tool_name=name,
            duration_ms=duration, status="error" if b.is_error else "ok", error_code=error,
            context=Context(cwd=cwd, git_branch=branch, agent_version=version),
        ))

    # -- output ------------------------------------------------------------------------
    def _duration(self, parent: str | None, end: int | None) -> int | None:
        start = self.recent.get(parent) if parent else None
        if start is None or end is None:
            return None
        return max(end - start, 0)

    def _emit(self, g: _Group) -> None:
        sub = g.is_side or self.subagent_file
        status, code = ("error", "refusal") if g.stop == "refusal" else ("ok", None)
        self.out.append(CallFact(
            agent=AGENT, event_id=g.eid, rank=g.rank, timestamp=norm_ts(g.ts),
            session_id=g.session, model=g.model, usage=g.usage, context=g.ctx,
            parent_session_id=g.session if sub else None, agent_id=g.agent_id,
            is_subagent=sub, turn_index=g.turn, call_index=g.call_index, provider="anthropic",
            output_final=g.final,
            duration_ms=None if g.first_parent is None or g.last_ms is None
            else max(g.last_ms - g.first_parent, 0),
            status=status, error_code=code, speed=g.speed, alias=g.alias,
            is_sidechain=g.is_side,
        ))

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


def _raw_str(raw: msgspec.Raw | None) -> str:
    if not raw:
        return ""
    try:
        v = _decode_any(raw)
    except (msgspec.DecodeError, ValueError):
        return ""
    return v if isinstance(v, str) else ""


def roots(env: Mapping[str, str]) -> list[Path]:
    """Return the existing `projects/` folders to scan, without duplicates."""
    candidates: list[Path] = []
    if env.get("CLAUDE_CONFIG_DIR"):
        for part in env["CLAUDE_CONFIG_DIR"].split(","):
            if part.strip():
                p = Path(part.strip()).expanduser()
                candidates.append(p if p.name == "projects" else p / "projects")
    else:
        home = config.home(env)
        xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        candidates += [xdg / "claude" / "projects", home / ".claude" / "projects"]
    seen: set[str] = set()
    found = []
    for c in candidates:
        try:
            real = str(c.resolve())
        except OSError:
            continue
        if c.is_dir() and real not in seen:
            seen.add(real)
            found.append(c)
    return found


def _rank(rel_parts: tuple[str, ...]) -> int:
    """Main session files first, then 2.0 agent files, then subagents (for /btw replays)."""
    if len(rel_parts) == 2:
        return 1 if rel_parts[1].startswith("agent-") else 0
    return 2


class ClaudeCode:
    """The Claude Code source."""

    agent = AGENT

    def discover(self, env: Mapping[str, str]) -> Iterator[SourceFile]:
        files = []
        for root in roots(env):
            for e in walk_files(root, (".jsonl",)):
                if e.name == "journal.jsonl":
                    continue  # workflow lifecycle records, not a transcript
                rel = Path(e.path).relative_to(root).parts
                st = e.stat()
                files.append((_rank(rel), e.path, st.st_size, st.st_mtime_ns))
        files.sort()
        for _, path, size, mtime in files:
            yield SourceFile(AGENT, path, size, mtime)

    def read(
        self, path: str, cursor: Cursor | None, skipped: Counter[str], max_line: int
    ) -> Iterator[Chunk]:
        return read_chunks(path, cursor, lambda s: ClaudeReader(path, s, skipped), skipped,
                           max_line=max_line)
