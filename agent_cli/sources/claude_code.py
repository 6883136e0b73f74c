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

import os
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from agent_cli import config
from agent_cli.events import CallFact, Context, ToolFact, Usage, event_id
from agent_cli.sources import SourceFile, walk_files
from agent_cli.sources.common import ms, norm_ts
from agent_cli.sources.common import to_int as _int
from agent_cli.sources.decode import FAILED, Tolerant, decode_line, decode_value
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
    content: list[_Block] | str | None = None


class _LooseMessage(_Message):
    """Fallback when `content` has a shape no version wrote so far: kept undecoded."""

    content: msgspec.Raw = _NO_RAW  # type: ignore[assignment]


class _Line(msgspec.Struct):
    type: str | None = None
    uuid: str | None = None
    parentUuid: str | None = None
    sessionId: str | None = None
    timestamp: str | None = None
    requestId: str | None = None
    cwd: str | None = None
    gitBranch: str | None = None
    version: str | None = None
    isSidechain: bool | None = None
    agentId: str | None = None
    isMeta: bool | None = None
    isCompactSummary: bool | None = None
    isApiErrorMessage: bool | None = None
    error: msgspec.Raw = _NO_RAW
    apiErrorStatus: int | None = None
    apiError: msgspec.Raw = _NO_RAW
    subtype: str | None = None
    message: _Message | None = None


class _LooseLine(_Line):
    message: _LooseMessage | None = None


_decode_line = msgspec.json.Decoder(_Line).decode
_decode_loose = msgspec.json.Decoder(_LooseLine).decode
_decode_blocks = msgspec.json.Decoder(list[_Block] | str | None).decode
_decode_any = msgspec.json.decode
_encode = msgspec.json.encode


def _text_of(raw: msgspec.Raw | None) -> str:
    """Decode a small content value (string or list of text blocks) to plain text."""
    if not raw:
        return ""
    v = decode_value(_decode_any, raw)
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


def classify_api_error(error: str, status: int | None, api_error: str, text: str) -> str:
    """Map a synthetic API-error line to the contract's error codes."""
    low = text.lower()
    if "usage policy" in low or "refus" in error:
        return "refusal"
    if "prompt is too long" in low or "context" in error or "too long" in low:
        return "context_overflow"
    if (
        error == "rate_limit"
        or status == 429
        or "usage limit" in low
        or "out of extra usage" in low
        or ("limit" in low and "hit your" in low)
    ):
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
    if (
        "doesn't want to proceed" in head
        or "rejected" in head.lower()
        or "[Request interrupted by user for tool use]" in head
    ):
        return "rejected"
    return "error"


class _Group:
    """The lines of one API response seen so far in this file."""

    __slots__ = (
        "agent_id",
        "alias",
        "call_index",
        "ctx",
        "eid",
        "final",
        "first_parent",
        "is_side",
        "key",
        "last_ts",
        "model",
        "rank",
        "session",
        "speed",
        "stop",
        "ts",
        "turn",
        "usage",
    )
    agent_id: str | None
    alias: str | None
    call_index: int
    ctx: Context
    eid: str
    final: bool
    first_parent: str | None  # timestamp of the record the response answers
    is_side: bool
    key: tuple[str, ...]
    last_ts: str
    model: str | None
    rank: int
    session: str | None
    speed: str | None
    stop: str | None
    ts: str
    turn: int
    usage: Usage

    def to_json(self) -> list[Any]:
        u = self.usage
        c = self.ctx
        return [
            self.eid,
            self.alias,
            self.is_side,
            self.agent_id,
            self.session,
            self.model,
            [
                u.input_tokens,
                u.output_tokens,
                u.cache_read_tokens,
                u.cache_creation_tokens,
                u.cache_creation_1h_tokens,
            ],
            self.rank,
            self.ts,
            self.final,
            self.first_parent,
            self.last_ts,
            [c.cwd, c.git_branch, c.agent_version],
            self.speed,
            self.turn,
            self.call_index,
            self.stop,
            list(self.key),
        ]

    @classmethod
    def from_json(cls, v: list[Any]) -> _Group:
        g = cls()
        (
            g.eid,
            g.alias,
            g.is_side,
            g.agent_id,
            g.session,
            g.model,
            u,
            g.rank,
            g.ts,
            g.final,
            g.first_parent,
            g.last_ts,
            c,
            g.speed,
            g.turn,
            g.call_index,
            g.stop,
            key,
        ) = v
        g.key = tuple(key)
        g.usage = Usage(u[0], u[1], u[2], u[3], u[4], 0)
        g.ctx = Context(cwd=c[0], git_branch=c[1], agent_version=c[2])
        return g


class ClaudeReader:
    """Turn the lines of one transcript file into facts; its state survives restarts."""

    def __init__(self, path: str, state: bytes | None, skipped: Counter[str]) -> None:
        self.path = path
        self.skipped = skipped
        self.tolerant = Tolerant(skipped)
        self.subagent_file = "/subagents/" in path or Path(path).name.startswith("agent-")
        self.groups: dict[tuple[str, ...], _Group] = {}
        self.tools: dict[str, list[Any]] = {}
        self.recent: dict[str, str] = {}
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
            self.groups[grp.key] = grp
        self.tools = s.get("tools", {})
        self.recent = dict(s.get("recent", []))
        self.turns = s.get("turns", [0, 0])
        self.calls = s.get("calls", 0)

    def state(self) -> bytes:
        recent = list(self.recent.items())[-64:]
        return _encode(
            {
                "groups": [g.to_json() for g in self.groups.values()],
                "tools": self.tools,
                "recent": recent,
                "turns": self.turns,
                "calls": self.calls,
            }
        )

    # -- lines -------------------------------------------------------------------------
    def feed(self, line: bytes) -> None:
        # Every line is decoded (unknown fields are skipped by msgspec, not built): even
        # bookkeeping lines matter, as the parents whose timestamps start a call's duration.
        d = decode_line(line, self.skipped, _decode_line, _decode_loose)
        if d is None:
            return
        t = d.type
        with self.tolerant(line):  # a shape no version wrote so far: skipped and counted
            if t == "assistant":
                self._assistant(d)
            elif t == "user":
                self._user(d)
            elif t == "system" and d.subtype == "api_error":
                self.skipped["api_retry_attempts"] += 1  # attempts, not calls: reported only
        if d.uuid and d.timestamp:
            rec = self.recent
            rec[d.uuid] = d.timestamp  # parsed only when a call needs it
            if len(rec) > _RECENT_UUIDS:
                del rec[next(iter(rec))]

    def _assistant(self, d: _Line) -> None:
        m = d.message
        if m is None or not d.timestamp:
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

    def _new_group(self, d: _Line, m: _Message, key: tuple[str, ...], rid: str) -> _Group:
        g = _Group()
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
        g.ctx = Context(cwd=d.cwd, git_branch=d.gitBranch or None, agent_version=d.version)
        g.speed = None
        g.turn = self.turns[1 if g.is_side else 0]
        g.call_index = self.calls
        self.calls += 1
        return g

    def _synthetic(self, d: _Line, m: _Message) -> None:
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

    def _user(self, d: _Line) -> None:
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
    def _is_prompt(d: _Line, head: str) -> bool:
        if d.isMeta or d.isCompactSummary:
            return False
        return not head.startswith(("[Request interrupted", "<local-command"))

    def _blocks(self, raw: list[_Block] | str | msgspec.Raw | None) -> list[_Block]:
        if isinstance(raw, list):
            return raw
        if not raw or isinstance(raw, str):
            return []
        v = decode_value(_decode_blocks, raw)
        if v is FAILED:
            self.skipped["unrecognized_content"] += 1
        return v if isinstance(v, list) else []

    # -- tools -------------------------------------------------------------------------
    def _remember_tool(self, b: _Block, d: _Line, call_eid: str) -> None:
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

    def _tool_result(self, b: _Block, d: _Line) -> None:
        use = self.tools.pop(b.tool_use_id or "", None)
        if use is None:
            self.skipped["tool_result_unmatched"] += 1
            return
        name, ts, call_eid, session, version, cwd, branch = use
        start, end = ms(ts), ms(d.timestamp)
        duration = max(end - start, 0) if start is not None and end is not None else None
        error = classify_tool_error(_text_of(b.content)) if b.is_error else None
        self.out.append(
            ToolFact(
                agent=AGENT,
                event_id=event_id(AGENT, "tool", b.tool_use_id or ""),
                timestamp=norm_ts(ts),
                session_id=session,
                call_event_id=call_eid,
                tool_name=name,
                duration_ms=duration,
                status="error" if b.is_error else "ok",
                error_code=error,
                context=Context(cwd=cwd, git_branch=branch, agent_version=version),
            )
        )

    # -- output ------------------------------------------------------------------------
    def _duration(self, parent: str | None, end: str | None) -> int | None:
        return _span(self.recent.get(parent) if parent else None, end)

    def _emit(self, g: _Group) -> None:
        sub = g.is_side or self.subagent_file
        status, code = ("error", "refusal") if g.stop == "refusal" else ("ok", None)
        self.out.append(
            CallFact(
                agent=AGENT,
                event_id=g.eid,
                rank=g.rank,
                timestamp=norm_ts(g.ts),
                session_id=g.session,
                model=g.model,
                usage=g.usage,
                context=g.ctx,
                parent_session_id=g.session if sub else None,
                agent_id=g.agent_id,
                is_subagent=sub,
                turn_index=g.turn,
                call_index=g.call_index,
                provider="anthropic",
                output_final=g.final,
                duration_ms=_span(g.first_parent, g.last_ts),
                status=status,
                error_code=code,
                speed=g.speed,
                alias=g.alias,
                is_sidechain=g.is_side,
            )
        )

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


def _rank(rel: str, name: str) -> int:
    """Main session files first, then 2.0 agent files, then subagents (for /btw replays)."""
    if rel.count(os.sep) == 1:  # projects/<project>/<file>
        return 1 if name.startswith("agent-") else 0
    return 2


class ClaudeCode:
    """The Claude Code source."""

    agent = AGENT

    def where(self, env: Mapping[str, str]) -> list[str]:
        if env.get("CLAUDE_CONFIG_DIR"):
            return [p.strip() for p in env["CLAUDE_CONFIG_DIR"].split(",") if p.strip()]
        home = config.home(env)
        return [
            str(Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "claude"),
            str(home / ".claude"),
        ]

    def discover(self, env: Mapping[str, str]) -> Iterator[SourceFile]:
        files = []
        for root in roots(env):
            cut = len(str(root)) + 1
            for e in walk_files(root, (".jsonl",)):
                if e.name == "journal.jsonl":
                    continue  # workflow lifecycle records, not a transcript
                try:
                    st = e.stat()
                except OSError:
                    continue  # deleted while we looked
                files.append((_rank(e.path[cut:], e.name), e.path, st.st_size, st.st_mtime_ns))
        files.sort()
        for _, path, size, mtime in files:
            yield SourceFile(AGENT, path, size, mtime)

    def read(
        self, path: str, cursor: Cursor | None, skipped: Counter[str], max_line: int
    ) -> Iterator[Chunk]:
        return read_chunks(
            path, cursor, lambda s: ClaudeReader(path, s, skipped), skipped, max_line=max_line
        )
