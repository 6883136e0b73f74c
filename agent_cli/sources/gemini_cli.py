"""Gemini CLI: `tmp/<project>/chats/` under $GEMINI_CLI_HOME/.gemini or ~/.gemini.

Two generations live side by side (research/other-formats.md §2):
- `session-*.json`: one ConversationRecord, rewritten on every update; re-read whole when
  its size or mtime changed (one chunk, cursor at the file's size);
- `*.jsonl` (v0.39+): append-only; line 1 is metadata, then messages, `{"$set": …}` metadata
  updates and `{"$rewindTo": id}`. A message id is re-appended when tokens or toolCalls are
  added: the last record wins. Subagents are `chats/<parentSessionId>/<sessionId>.jsonl`.

Counting rules: one llm_call per `gemini` (or `model`) message with non-null, not-all-zero
`tokens` (they are per call, never cumulative); input = input - cached + tool, cache_read =
cached, output = output + thoughts, reasoning = thoughts. Rewound messages still count: their
tokens were spent. `error` messages are not calls unless they carry tokens.
The natural key is sessionId + message id, so a resumed session's .json and its .jsonl twin
(same ids) count once; rank is the token total, so a bigger later record is a revision.
Only the fields named in the structs below are decoded: content, thoughts, tool args and
results are skipped by the decoder, never built.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from agent_cli import config
from agent_cli.events import CallFact, Context, ToolFact, Usage, event_id
from agent_cli.sources import SourceFile, walk_files
from agent_cli.sources.common import ms, norm_ts
from agent_cli.sources.common import to_int as _int
from agent_cli.sources.decode import (
    FAILED,
    UNRECOGNIZED_LINE,
    Tolerant,
    classify,
    decode_line,
    decode_value,
)
from agent_cli.tail import Chunk, Cursor, read_chunks, read_whole

AGENT = "gemini-cli"
PROVIDER = "google"
_HELD = 16  # message ids kept open in a JSONL file (a message is re-appended right after)
_RECENT_USERS = 64
_ERROR_HEAD = 600

_NO_RAW = msgspec.Raw(b"")


class _Tokens(msgspec.Struct):
    input: Any = 0
    output: Any = 0
    cached: Any = 0
    thoughts: Any = 0
    tool: Any = 0
    total: Any = 0


class _ToolCall(msgspec.Struct):
    id: str | None = None
    name: str | None = None
    status: str | None = None
    timestamp: str | None = None


class _Msg(msgspec.Struct):
    id: str | None = None
    type: str | None = None
    timestamp: str | None = None
    model: str | None = None
    tokens: _Tokens | None = None
    toolCalls: msgspec.Raw = _NO_RAW
    content: msgspec.Raw = _NO_RAW  # only an error message's head is ever looked at


class _Meta(msgspec.Struct):
    sessionId: str | None = None
    projectHash: str | None = None
    kind: str | None = None
    directories: list[str] | None = None


class _Line(_Msg):
    """A JSONL line: metadata, a message, or a `$set` / `$rewindTo` record."""

    sessionId: str | None = None
    projectHash: str | None = None
    kind: str | None = None
    directories: list[str] | None = None
    set_: _Meta | None = msgspec.field(default=None, name="$set")
    rewind: msgspec.Raw = msgspec.field(default=_NO_RAW, name="$rewindTo")


class _Session(msgspec.Struct):
    sessionId: str | None = None
    projectHash: str | None = None
    kind: str | None = None
    directories: list[str] | None = None
    messages: list[_Msg] | None = None


_dec_line = msgspec.json.Decoder(_Line).decode
_dec_session = msgspec.json.Decoder(_Session).decode
_dec_tools = msgspec.json.Decoder(list[_ToolCall] | None).decode
_decode_any = msgspec.json.decode
_encode = msgspec.json.encode

_CALL_TYPES = ("gemini", "model")
_KNOWN_TYPES = ("user", "info", "warning", "error", *_CALL_TYPES)
_TOOL_DONE = {
    "success": ("ok", None),
    "error": ("error", "error"),
    "cancelled": ("error", "rejected"),
}


def classify_error(head: bytes) -> str:
    """Map the head of an error message's text to the contract's error codes."""
    low = head.lower()
    if b"429" in low or b"quota" in low or b"resource_exhausted" in low or b"rate limit" in low:
        return "rate_limit"
    if b"503" in low or b"overloaded" in low or b"unavailable" in low:
        return "overloaded"
    if b"401" in low or b"403" in low or b"permission_denied" in low or b"unauthenticated" in low:
        return "auth"
    if b"token limit" in low or b"context" in low or b"too long" in low:
        return "context_overflow"
    if b"400" in low or b"invalid_argument" in low:
        return "invalid_request"
    return "server_error"


# -- where a project lives -------------------------------------------------------------------
class Projects:
    """Resolve a `tmp/<project-id>` folder to the project's root (the cwd)."""

    def __init__(self) -> None:
        self._registry: dict[str, dict[str, str]] = {}  # gemini dir -> {path: slug}
        self._cache: dict[tuple[str, str | None], str | None] = {}

    def _load_registry(self, gemini_dir: str) -> dict[str, str]:
        reg = self._registry.get(gemini_dir)
        if reg is None:
            reg = {}
            try:
                with open(os.path.join(gemini_dir, "projects.json"), "rb") as f:
                    data = decode_value(_decode_any, f.read(4 * 1024 * 1024))
            except OSError:
                data = None
            projects = data.get("projects") if isinstance(data, dict) else None
            if isinstance(projects, dict):
                reg = {
                    k: v for k, v in projects.items() if isinstance(k, str) and isinstance(v, str)
                }
            self._registry[gemini_dir] = reg
        return reg

    def cwd(
        self, project_dir: str, project_hash: str | None, directories: list[str] | None = None
    ) -> str | None:
        """Return the project root of `<gemini>/tmp/<id>`, or None when it cannot be told."""
        key = (project_dir, project_hash)
        if key in self._cache:
            return self._cache[key]
        found = self._resolve(project_dir, project_hash, directories or [])
        self._cache[key] = found
        return found

    def _resolve(
        self, project_dir: str, project_hash: str | None, directories: list[str]
    ) -> str | None:
        try:
            with open(os.path.join(project_dir, ".project_root"), "rb") as f:
                text = f.read(8192).decode("utf-8").strip()
            if text:
                return text
        except (OSError, UnicodeDecodeError):
            pass
        slug = os.path.basename(project_dir)
        gemini_dir = os.path.dirname(os.path.dirname(project_dir))
        reg = self._load_registry(gemini_dir)
        for path, s in reg.items():
            if s == slug:
                return path
        wanted = {h for h in (slug, project_hash) if h}
        for path in (*reg, *directories):
            if _sha(path) in wanted:
                return path
        return None


def _sha(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()


def _split(path: str) -> tuple[str, str | None]:
    """Return the project folder `<gemini>/tmp/<id>` of a chat file and a subagent's parent."""
    p = Path(path)
    parts = p.parts
    try:
        i = len(parts) - 1 - parts[::-1].index("chats")
    except ValueError:
        return str(p.parent), None
    project_dir = str(Path(*parts[:i]))
    rel = parts[i + 1 :]
    parent = rel[-2] if len(rel) >= 2 else None
    return project_dir, parent


# -- records -------------------------------------------------------------------------------
class _Record:
    """One message's last record in a file, in a JSON-able form."""

    __slots__ = (
        "call_index",
        "dur",
        "err",
        "id",
        "model",
        "session",
        "tokens",
        "tools",
        "ts",
        "turn",
        "type",
    )
    call_index: int | None
    dur: int | None
    err: str | None
    id: str
    model: str | None
    session: str | None
    tokens: list[int] | None
    tools: list[list[Any]]
    ts: str | None
    turn: int
    type: str

    def to_json(self) -> list[Any]:
        return [
            self.id,
            self.session,
            self.type,
            self.ts,
            self.model,
            self.tokens,
            self.tools,
            self.call_index,
            self.turn,
            self.dur,
            self.err,
        ]

    @classmethod
    def from_json(cls, v: list[Any]) -> _Record:
        r = cls()
        (
            r.id,
            r.session,
            r.type,
            r.ts,
            r.model,
            r.tokens,
            r.tools,
            r.call_index,
            r.turn,
            r.dur,
            r.err,
        ) = v
        return r


class _Reader:
    """Shared by the JSONL reader and the whole-file reader: messages to facts."""

    def __init__(self, path: str, skipped: Counter[str], projects: Projects) -> None:
        self.path = path
        self.skipped = skipped
        self.tolerant = Tolerant(skipped)
        self.projects = projects
        self.project_dir, self.parent_folder = _split(path)
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

    def _record(self, m: _Msg | _Line) -> _Record | None:
        """Turn a gemini/model/error message into a record; count the rest."""
        t = m.type
        if t not in _KNOWN_TYPES:
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
        r = _Record()
        r.id, r.session, r.type, r.ts, r.model = m.id, self.session, t, m.timestamp, m.model
        tk = m.tokens
        r.tokens = (
            [_int(tk.input), _int(tk.output), _int(tk.cached), _int(tk.thoughts), _int(tk.tool)]
            if tk is not None
            else None
        )
        r.tools = self._tools(m.toolCalls) if t in _CALL_TYPES else []
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
        calls = decode_value(_dec_tools, raw)
        if calls is FAILED:
            self.skipped["unrecognized_tool_calls"] += 1
            return []
        return [[c.id, c.name, c.status, c.timestamp] for c in calls or [] if c.id]

    def _emit(self, r: _Record) -> None:
        session = r.session or self.session or self.fallback_session
        tk = r.tokens
        is_call = tk is not None and any(tk)
        eid = event_id(AGENT, session, r.id)
        ctx = Context(cwd=self.projects.cwd(self.project_dir, self.project_hash, self.directories))
        sub = self.nested or self.kind == "subagent"
        if r.type == "error" and not is_call:
            self.skipped["error_message"] += 1
        elif not is_call:
            self.skipped["no_tokens" if tk is None else "zero_tokens"] += 1
        else:
            if r.call_index is None:
                r.call_index = self.calls
                self.calls += 1
            inp, out, cached, thoughts, tool = tk  # type: ignore[misc]  # not None here
            cached = min(cached, inp)
            usage = Usage(
                input_tokens=inp - cached + tool,
                output_tokens=out + thoughts,
                cache_read_tokens=cached,
                reasoning_tokens=thoughts,
            )
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
                    is_subagent=sub,
                    turn_index=r.turn,
                    call_index=r.call_index,
                    provider=PROVIDER,
                    duration_ms=r.dur,
                    status="error" if r.type == "error" else "ok",
                    error_code=r.err,
                )
            )
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
                    call_event_id=eid if is_call else None,
                    tool_name=name or "unknown",
                    duration_ms=max(end - start, 0)
                    if start is not None and end is not None
                    else None,
                    status=done[0],
                    error_code=done[1],
                    context=ctx,
                )
            )


class GeminiJsonlReader(_Reader):
    """Lines of a JSONL session to facts; held records and counters survive restarts."""

    def __init__(
        self, path: str, state: bytes | None, skipped: Counter[str], projects: Projects
    ) -> None:
        super().__init__(path, skipped, projects)
        self.held: OrderedDict[str, _Record] = OrderedDict()
        self.users: list[str] = []
        if state:
            self._load(state)

    def _load(self, state: bytes) -> None:
        s = _decode_any(state)
        if not isinstance(s, dict):
            return
        self.session = s.get("session", self.session)
        self.project_hash = s.get("hash")
        self.kind = s.get("kind")
        self.directories = s.get("dirs")
        self.turns = s.get("turns", 0)
        self.calls = s.get("calls", 0)
        self.last_ms = s.get("last_ms")
        self.users = s.get("users", [])
        for v in s.get("held", []):
            r = _Record.from_json(v)
            self.held[r.id] = r

    def state(self) -> bytes:
        return _encode(
            {
                "session": self.session,
                "hash": self.project_hash,
                "kind": self.kind,
                "dirs": self.directories,
                "turns": self.turns,
                "calls": self.calls,
                "last_ms": self.last_ms,
                "users": self.users[-_RECENT_USERS:],
                "held": [r.to_json() for r in self.held.values()],
            }
        )

    def _user(self, msg_id: str) -> None:
        if msg_id in self.users:
            return  # the same prompt re-appended
        self.users.append(msg_id)
        del self.users[:-_RECENT_USERS]
        self.turns += 1

    def feed(self, line: bytes) -> None:
        d = decode_line(line, self.skipped, _dec_line)
        if d is None:
            return
        with self.tolerant(line):  # a shape no version wrote so far: skipped and counted
            self._line(d)

    def _line(self, d: _Line) -> None:
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
        s = decode_value(_dec_session, data)
        if s is FAILED:
            # valid JSON of another shape is a checkpoint or another JSON file
            not_ours = classify(data) == UNRECOGNIZED_LINE
            self.skipped["not_a_session" if not_ours else "malformed_session_file"] += 1
            return []
        if s.messages is None or not (s.sessionId or s.projectHash):
            self.skipped["not_a_session"] += 1
            return []
        self._meta(s.sessionId, s.projectHash, s.kind, s.directories)
        records: OrderedDict[str, _Record] = OrderedDict()
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


# -- discovery and reading ------------------------------------------------------------------
def root(env: Mapping[str, str]) -> Path:
    """Return the Gemini CLI folder: $GEMINI_CLI_HOME/.gemini, else ~/.gemini."""
    if env.get("GEMINI_CLI_HOME"):
        return Path(env["GEMINI_CLI_HOME"]).expanduser() / ".gemini"
    return config.home(env) / ".gemini"


def _wanted(name: str, nested: bool) -> bool:
    """Session files: `session-*.json`, any `.jsonl`, and nested subagent files."""
    if name.endswith(".jsonl"):
        return True
    return name.endswith(".json") and (name.startswith("session-") or nested)


class GeminiCli:
    """The Gemini CLI source."""

    agent = AGENT

    def __init__(self) -> None:
        self.projects = Projects()

    def where(self, env: Mapping[str, str]) -> list[str]:
        return [str(root(env))]

    def discover(self, env: Mapping[str, str]) -> Iterator[SourceFile]:
        tmp = root(env) / "tmp"
        try:
            projects = sorted(e.path for e in os.scandir(tmp) if e.is_dir())
        except OSError:
            return
        files = []
        for proj in projects:
            chats = os.path.join(proj, "chats")
            if not os.path.isdir(chats):
                continue
            for e in walk_files(Path(chats), (".json", ".jsonl")):
                depth = os.path.relpath(e.path, chats).count(os.sep)
                if not _wanted(e.name, depth > 0):
                    continue
                try:
                    st = e.stat()
                except OSError:
                    continue
                # main sessions before subagents; a .jsonl before its .json twin
                files.append((depth, e.name.endswith(".json"), e.path, st.st_size, st.st_mtime_ns))
        files.sort()
        for _, _, path, size, mtime in files:
            yield SourceFile(AGENT, path, size, mtime)

    def read(
        self, path: str, cursor: Cursor | None, skipped: Counter[str], max_line: int
    ) -> Iterator[Chunk]:
        if path.endswith(".jsonl"):
            return read_chunks(
                path,
                cursor,
                lambda s: GeminiJsonlReader(path, s, skipped, self.projects),
                skipped,
                max_line=max_line,
            )
        return self._read_json(path, cursor, skipped, max_line)

    def _read_json(
        self, path: str, cursor: Cursor | None, skipped: Counter[str], max_line: int
    ) -> Iterator[Chunk]:
        """Re-read a whole-file session when its size or mtime changed."""

        def parse(f: BinaryIO, st: os.stat_result) -> tuple[list[object], int]:
            if st.st_size > max_line:  # a whole-file session is one value: the line cap holds
                skipped["oversize_file"] += 1
                return [], 0
            data = f.read(st.st_size)
            return GeminiJsonReader(path, skipped, self.projects).read_bytes(data), len(data)

        return read_whole(path, cursor, skipped, parse)
