"""Codex CLI: `sessions/**/rollout-*.jsonl` and `archived_sessions/` under $CODEX_HOME or ~/.codex.

Counting rules (DESIGN.md, research/other-formats.md §1.5):
- a call is a `token_count` event whose cumulative `info.total_token_usage` grew; its usage
  is the growth. Repeats (about half of all token_counts) and `info: null` are not calls; a
  counter that goes backwards falls back to `last_token_usage`;
- a forked or subagent file first replays its parent: the first session_meta is the file's
  own, and the token_counts before the file's own first turn_context (or in the replay burst
  stamped within a second of that session_meta) only set the baseline;
- cached input is part of input, reasoning part of output;
- tool calls are `function_call` / `custom_tool_call` / `local_shell_call` items matched to
  their outputs by call_id; `exec_command_end` and `patch_apply_end` refine the status.

Event ids: the natural key of a call is the token_count line's timestamp plus the cumulative
total after the growth (all six fields), without the thread id. Byte-identical copies (the
same rollout in sessions/ and archived_sessions/, a .jsonl.zst of it) and branch copies that
keep the parent's lines with their original timestamps get the same ids and count once; a
subagent replay, which re-stamps the lines, never emits (baseline). Tool ids are the call_id.

Only the fields named in the structs below are decoded: messages, reasoning, arguments and
outputs are skipped by the decoder (an output's first and last bytes are searched for an
exit code, and nothing of it is kept).
"""

from __future__ import annotations

import io
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from agent_cli import config
from agent_cli.events import CallFact, Context, ToolFact, Usage, event_id
from agent_cli.sources import SourceFile, walk_files
from agent_cli.sources.common import ms, norm_ts
from agent_cli.sources.common import to_int as _int
from agent_cli.sources.decode import Tolerant, decode_line
from agent_cli.tail import Chunk, Cursor, read_chunks, read_whole

AGENT = "codex"
_MAX_PENDING_TOOLS = 2000
_REPLAY_BURST_MS = 1000  # a subagent's replayed lines share its creation time
_SAME_RESPONSE_MS = 100  # old builds write a response's token_count just before its calls
_OUT_HEAD = 1024  # bytes of a tool output searched for an exit status
_OUT_TAIL = 256  # old JSON outputs put {"metadata":{"exit_code":N}} at the end

_NO_RAW = msgspec.Raw(b"")


# -- typed views of the lines (only the fields we need) -----------------------------------
class _Env(msgspec.Struct):
    timestamp: str | None = None
    type: str | None = None
    payload: msgspec.Raw = _NO_RAW


class _Kind(msgspec.Struct):
    type: str | None = None


class _Git(msgspec.Struct):
    branch: str | None = None
    repository_url: str | None = None


class _Spawn(msgspec.Struct):
    parent_thread_id: str | None = None
    agent_nickname: str | None = None


class _SubObj(msgspec.Struct):
    thread_spawn: _Spawn | None = None


class _SourceObj(msgspec.Struct):
    subagent: msgspec.Raw = _NO_RAW


class _Meta(msgspec.Struct):
    id: str | None = None
    forked_from_id: str | None = None
    parent_thread_id: str | None = None
    timestamp: str | None = None
    cwd: str | None = None
    cli_version: str | None = None
    model_provider: str | None = None
    agent_nickname: str | None = None
    source: msgspec.Raw = _NO_RAW
    git: _Git | None = None


class _CollabSettings(msgspec.Struct):
    model: str | None = None


class _Collab(msgspec.Struct):
    settings: _CollabSettings | None = None


class _Turn(msgspec.Struct):
    model: str | None = None
    collaboration_mode: _Collab | None = None


class _U(msgspec.Struct):
    input_tokens: Any = 0
    cached_input_tokens: Any = 0
    cache_write_input_tokens: Any = 0
    output_tokens: Any = 0
    reasoning_output_tokens: Any = 0
    total_tokens: Any = 0


class _Info(msgspec.Struct):
    total_token_usage: _U | None = None
    last_token_usage: _U | None = None
    model: str | None = None


class _TokenCount(msgspec.Struct):
    info: _Info | None = None


class _Call(msgspec.Struct):
    call_id: str | None = None
    id: str | None = None
    name: str | None = None


class _Output(msgspec.Struct):
    call_id: str | None = None
    output: msgspec.Raw = _NO_RAW


class _End(msgspec.Struct):
    call_id: str | None = None
    exit_code: Any = None
    status: Any = None
    success: Any = None


_dec_env = msgspec.json.Decoder(_Env).decode
_dec_kind = msgspec.json.Decoder(_Kind).decode
_dec_meta = msgspec.json.Decoder(_Meta).decode
_dec_source = msgspec.json.Decoder(str | _SourceObj | None).decode
_dec_sub = msgspec.json.Decoder(str | _SubObj | None).decode
_dec_turn = msgspec.json.Decoder(_Turn).decode
_dec_tc = msgspec.json.Decoder(_TokenCount).decode
_dec_call = msgspec.json.Decoder(_Call).decode
_dec_out = msgspec.json.Decoder(_Output).decode
_dec_end = msgspec.json.Decoder(_End).decode
_decode_any = msgspec.json.decode
_encode = msgspec.json.encode

# Outer line types known to carry nothing we count (read: session_meta, turn_context,
# event_msg, response_item; any other type is counted as unknown_record).
_IGNORED_OUTER = frozenset({
    b"compacted", b"token_usage_record", b"world_state", b"inter_agent_communication",
    b"inter_agent_communication_metadata", b"retained_context", b"security_risk_score",
    b"realtime_item",
})  # fmt: skip
_EVENTS = frozenset(
    {
        b"token_count",
        b"user_message",
        b"exec_command_end",
        b"patch_apply_end",
        b"task_started",
        b"task_complete",
        b"turn_aborted",
    }
)
_ITEMS = frozenset(
    {
        b"function_call",
        b"custom_tool_call",
        b"local_shell_call",
        b"function_call_output",
        b"custom_tool_call_output",
    }
)
_CALL_ITEMS = ("function_call", "custom_tool_call", "local_shell_call")
_OUTPUT_ITEMS = ("function_call_output", "custom_tool_call_output")

_EXIT_TEXT = re.compile(rb"(?:Process exited with code|Exit code:)\s*(-?\d+)")
_EXIT_JSON = re.compile(rb'\\?"exit_code\\?"\s*:\s*(-?\d+)')
_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
    "total_tokens",
)


def _peek(line: bytes) -> tuple[bytes | None, bytes | None]:
    """Return the outer type and payload type from the head of a compact Codex line."""
    head = line[:256]
    i = head.find(b'"type":"')
    if i < 0:
        return None, None
    j = head.find(b'"', i + 8)
    outer = head[i + 8 : j] if j > 0 else None
    inner = None
    k = head.find(b'"payload":{"type":"', i)
    if k >= 0:
        e = head.find(b'"', k + 19)
        inner = head[k + 19 : e] if e > 0 else None
    return outer, inner


def _tuple(u: _U) -> list[int]:
    return [_int(getattr(u, f)) for f in _FIELDS]


def _usage(d: list[int]) -> Usage:
    """Map a Codex (input, cached, cache_write, output, reasoning, total) to the contract."""
    inp, cached, write, out, reasoning, _ = d
    cached = min(cached, inp)
    write = min(write, inp - cached)  # cache writes are part of input_tokens (total = in + out)
    return Usage(
        input_tokens=inp - cached - write,
        output_tokens=out,
        cache_read_tokens=cached,
        cache_creation_tokens=write,
        reasoning_tokens=min(reasoning, out),
    )


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


def _end_status(e: _End, patch: bool) -> tuple[str, str | None] | None:
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


class CodexReader:
    """Turn the lines of one rollout file into facts; its state survives restarts."""

    def __init__(self, path: str, state: bytes | None, skipped: Counter[str]) -> None:
        self.path = path
        self.skipped = skipped
        self.tolerant = Tolerant(skipped)
        self.out: list[object] = []
        # session_meta (the file's own: the first one)
        self.meta = False
        self.sid: str | None = None
        self.parent: str | None = None
        self.sub = False
        self.agent_id: str | None = None
        self.provider = "openai"
        self.cwd: str | None = None
        self.branch: str | None = None
        self.url: str | None = None
        self.version: str | None = None
        self.meta_ms: int | None = None
        # counting
        self.child = False
        self.replay = False
        self.prev: list[int] | None = None
        self.model: str | None = None
        self.turns = 0
        self.calls = 0
        self.last_input_ms: int | None = None
        self.last_growth: list[Any] | None = None  # [event id, ms, boundary seen since]
        # call_id -> [name, ts, call eid | None, refined status | None, done | None]
        self.tools: dict[str, list[Any]] = {}
        if state:
            self._load(state)

    # -- state -------------------------------------------------------------------------
    _KEYS = (
        "meta",
        "sid",
        "parent",
        "sub",
        "agent_id",
        "provider",
        "cwd",
        "branch",
        "url",
        "version",
        "meta_ms",
        "child",
        "replay",
        "prev",
        "model",
        "turns",
        "calls",
        "last_input_ms",
        "last_growth",
        "tools",
    )

    def _load(self, state: bytes) -> None:
        s = _decode_any(state)
        if not isinstance(s, dict):
            return
        for k in self._KEYS:
            if k in s:
                setattr(self, k, s[k])

    def state(self) -> bytes:
        return _encode({k: getattr(self, k) for k in self._KEYS})

    # -- lines -------------------------------------------------------------------------
    def feed(self, line: bytes) -> None:
        outer, inner = _peek(line)
        if outer is not None:
            if outer in _IGNORED_OUTER:
                return
            if outer == b"event_msg" and inner is not None and inner not in _EVENTS:
                return
            if outer == b"response_item" and inner is not None and inner not in _ITEMS:
                return
        env = decode_line(line, self.skipped, _dec_env)
        if env is None:
            return
        # The payload is decoded lazily, by record kind: a payload of a shape no version
        # wrote so far, or with invalid UTF-8 inside, skips the line under its reason.
        with self.tolerant(line):
            self._dispatch(env, inner)

    def _dispatch(self, env: _Env, inner: bytes | None) -> None:
        t = env.type
        if t is None or not env.timestamp:
            self.skipped["unrecognized_line"] += 1  # gen-B lines: no envelope, no usage
            return
        if t == "session_meta":
            self._session_meta(env)
            return
        if t == "turn_context":
            self._turn_context(env)
            return
        if t not in ("event_msg", "response_item"):
            if t.encode() not in _IGNORED_OUTER:
                self.skipped["unknown_record"] += 1
            return
        kind = inner.decode() if inner is not None else _dec_kind(env.payload).type
        if t == "event_msg":
            if kind == "token_count":
                self._token_count(env)
            elif kind == "user_message":
                if not self.replay:
                    self.turns += 1
                    self._boundary(env.timestamp)
            elif kind in ("task_started", "task_complete", "turn_aborted"):
                if not self.replay:
                    self._boundary(env.timestamp)
            elif kind in ("exec_command_end", "patch_apply_end"):
                self._end(env, kind == "patch_apply_end")
        elif kind in _CALL_ITEMS:
            self._tool_call(env, kind)
        elif kind in _OUTPUT_ITEMS:
            self._tool_output(env)

    def _session_meta(self, env: _Env) -> None:
        if self.meta:
            return  # a later session_meta belongs to the replayed parent
        m = _dec_meta(env.payload)
        self.meta = True
        self.sid = m.id
        self.cwd = m.cwd
        self.version = m.cli_version
        self.provider = m.model_provider or "openai"
        if m.git is not None:
            self.branch = m.git.branch or None
            self.url = m.git.repository_url or None
        self.agent_id = m.agent_nickname
        parent = m.forked_from_id or m.parent_thread_id
        src = _dec_source(m.source) if m.source else None
        if isinstance(src, _SourceObj) and src.subagent:
            self.sub = True
            sub = _dec_sub(src.subagent)
            if isinstance(sub, _SubObj) and sub.thread_spawn is not None:
                parent = sub.thread_spawn.parent_thread_id or parent
                self.agent_id = self.agent_id or sub.thread_spawn.agent_nickname
        self.parent = parent
        self.child = bool(m.forked_from_id or self.sub)
        self.replay = self.child
        self.meta_ms = ms(env.timestamp)

    def _turn_context(self, env: _Env) -> None:
        c = _dec_turn(env.payload)
        model = c.model
        if not model and c.collaboration_mode and c.collaboration_mode.settings:
            model = c.collaboration_mode.settings.model
        if model:
            self.model = model
        self.replay = False
        self._boundary(env.timestamp)

    def _boundary(self, ts: str | None) -> None:
        """A turn boundary or other input: the next request starts after it."""
        t = ms(ts)
        if t is not None:
            self.last_input_ms = t
        if self.last_growth is not None:
            self.last_growth[2] = True
        self._release_waiting()

    # -- calls -------------------------------------------------------------------------
    def _token_count(self, env: _Env) -> None:
        tc = _dec_tc(env.payload)
        info = tc.info
        if info is None or info.total_token_usage is None:
            return  # rate limits only
        tot = _tuple(info.total_token_usage)
        t_ms = ms(env.timestamp)
        if self.replay and self.child:
            self.prev = tot  # the parent's history: baseline only
            return
        if (
            self.child
            and self.meta_ms is not None
            and t_ms is not None
            and abs(t_ms - self.meta_ms) <= _REPLAY_BURST_MS
        ):
            self.prev = tot  # the replay burst, stamped with the child's creation time
            return
        prev = self.prev
        if prev == tot:
            return  # a re-emit: same totals, new timestamp
        if prev is None:
            delta = tot
        elif all(a >= b for a, b in zip(tot, prev, strict=True)):
            delta = [a - b for a, b in zip(tot, prev, strict=True)]
        else:
            if info.last_token_usage is None:
                self.skipped["counter_reset_without_last"] += 1
                self.prev = tot
                return
            delta = _tuple(info.last_token_usage)  # went backwards: trust the per-call usage
        self.prev = tot
        if not any(delta[:5]):
            return  # only total_tokens moved (a context-size marker), or nothing at all
        key = "/".join(str(v) for v in tot)
        ts = norm_ts(env.timestamp or "")
        eid = event_id(AGENT, "call", ts, key)
        duration = None
        if t_ms is not None and self.last_input_ms is not None and t_ms >= self.last_input_ms:
            duration = t_ms - self.last_input_ms
        self.out.append(
            CallFact(
                agent=AGENT,
                event_id=eid,
                rank=1,
                timestamp=ts,
                session_id=self.sid,
                model=self.model or info.model,
                usage=_usage(delta),
                context=self._ctx(),
                parent_session_id=self.parent,
                agent_id=self.agent_id,
                is_subagent=self.sub,
                turn_index=self.turns,
                call_index=self.calls,
                provider=self.provider,
                duration_ms=duration,
            )
        )
        self.calls += 1
        if t_ms is not None:
            self.last_input_ms = t_ms
        self.last_growth = [eid, t_ms, False]
        for call_id, p in list(self.tools.items()):
            if p[2] is None:
                p[2] = eid
                if p[4] is not None:
                    self._emit_tool(call_id)

    def _ctx(self) -> Context:
        return Context(
            cwd=self.cwd, git_branch=self.branch, repo_url=self.url, agent_version=self.version
        )

    # -- tools -------------------------------------------------------------------------
    def _tool_call(self, env: _Env, kind: str) -> None:
        if self.replay:
            return  # the parent's calls, replayed
        c = _dec_call(env.payload)
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

    def _end(self, env: _Env, patch: bool) -> None:
        e = _dec_end(env.payload)
        p = self.tools.get(e.call_id or "")
        if p is None:
            return
        st = _end_status(e, patch)
        if st is not None:
            p[3] = list(st)

    def _tool_output(self, env: _Env) -> None:
        o = _dec_out(env.payload)
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

    def flush(self, eof: bool) -> list[object]:
        """Return the facts found so far (Codex calls never grow once written)."""
        out, self.out = self.out, []
        return out


# -- discovery and reading ------------------------------------------------------------------
def root(env: Mapping[str, str]) -> Path:
    """Return the Codex home: $CODEX_HOME, else ~/.codex."""
    if env.get("CODEX_HOME"):
        return Path(env["CODEX_HOME"]).expanduser()
    return config.home(env) / ".codex"


def _order_key(path: str) -> tuple[str, str]:
    """Parents before children: by the name's creation time (then uuid v7), then path."""
    name = os.path.basename(path)
    stem = name.removeprefix("rollout-").removesuffix(".zst").removesuffix(".jsonl")
    return stem, path


class Codex:
    """The Codex CLI source."""

    agent = AGENT

    def where(self, env: Mapping[str, str]) -> list[str]:
        return [str(root(env))]

    def discover(self, env: Mapping[str, str]) -> Iterator[SourceFile]:
        home = root(env)
        found: dict[str, tuple[int, int]] = {}
        for sub in ("sessions", "archived_sessions"):
            d = home / sub
            if not d.is_dir():
                continue
            for e in walk_files(d, (".jsonl", ".jsonl.zst")):
                if not e.name.startswith("rollout-"):
                    continue
                try:
                    st = e.stat()
                except OSError:
                    continue
                found[e.path] = (st.st_size, st.st_mtime_ns)
        paths = [p for p in found if not (p.endswith(".zst") and p[:-4] in found)]
        for p in sorted(paths, key=_order_key):
            size, mtime = found[p]
            yield SourceFile(AGENT, p, size, mtime)

    def read(
        self, path: str, cursor: Cursor | None, skipped: Counter[str], max_line: int
    ) -> Iterator[Chunk]:
        if path.endswith(".zst"):
            return _read_zst(path, cursor, skipped, max_line)
        return read_chunks(
            path, cursor, lambda s: CodexReader(path, s, skipped), skipped, max_line=max_line
        )


def _read_zst(
    path: str, cursor: Cursor | None, skipped: Counter[str], max_line: int
) -> Iterator[Chunk]:
    """Read a compressed rollout whole (it is not appended to), streaming line by line."""

    def parse(f: BinaryIO, st: os.stat_result) -> tuple[list[object], int]:
        import zstandard

        reader = CodexReader(path, None, skipped)
        total = 0
        try:
            stream = io.BufferedReader(
                zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True),
                buffer_size=1024 * 1024,
            )
            while True:
                line = stream.readline(max_line + 1)
                if not line:
                    break
                total += len(line)
                if len(line) > max_line and line[-1:] != b"\n":
                    skipped["oversize_line"] += 1
                    while line and line[-1:] != b"\n":
                        line = stream.readline(1024 * 1024)
                        total += len(line)
                    continue
                reader.feed(line)
        except (zstandard.ZstdError, OSError, EOFError, ValueError):
            skipped["corrupt_zst"] += 1
        return reader.flush(True), total

    return read_whole(path, cursor, skipped, parse)
