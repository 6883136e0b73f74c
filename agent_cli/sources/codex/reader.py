"""The per-file Codex reader: rollout lines to facts, by the counting rules of the package doc.

State (`state()`, stored with the cursor) is the `_KEYS` attributes as one JSON object: the
file's own session_meta, the baseline totals, the counters and the pending tools. The keys
and their shapes are the persisted format and must stay readable.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec

from agent_cli.events import CallFact, Context, Usage, event_id
from agent_cli.sources.codex.format import (
    AGENT,
    CALL_ITEMS,
    EVENTS,
    FIELDS,
    IGNORED_OUTER,
    ITEMS,
    OUTPUT_ITEMS,
    Env,
    Info,
    SourceObj,
    SubObj,
    TokenUsage,
    dec_env,
    dec_kind,
    dec_meta,
    dec_source,
    dec_sub,
    dec_tc,
    dec_turn,
    encode,
    peek,
)
from agent_cli.sources.codex.tools import ToolMatching
from agent_cli.sources.common import ms, norm_ts
from agent_cli.sources.common import to_int as _int
from agent_cli.sources.decode import decode_state, recover, skip

_REPLAY_BURST_MS = 1000  # a subagent's replayed lines share its creation time


def _tuple(u: TokenUsage) -> list[int]:
    return [_int(getattr(u, f)) for f in FIELDS]


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


class State(msgspec.Struct):
    """What a reader keeps between chunks, stored with the cursor: the reader's attributes of
    these names (the names and their order are the format)."""

    # session_meta (the file's own: the first one)
    meta: bool = False
    sid: str | None = None
    parent: str | None = None
    sub: bool = False
    agent_id: str | None = None
    provider: str = "openai"
    cwd: str | None = None
    branch: str | None = None
    url: str | None = None
    version: str | None = None
    meta_ms: int | None = None
    # counting
    child: bool = False
    replay: bool = False
    prev: list[int] | None = None  # the last cumulative totals
    model: str | None = None
    turns: int = 0
    calls: int = 0
    last_input_ms: int | None = None
    last_growth: list[Any] | None = None  # [event id, ms, boundary seen since]
    # call_id -> [name, ts, call eid | None, refined status | None, done | None]
    tools: dict[str, list[Any]] = msgspec.field(default_factory=dict)
    origin: str | None = None  # the session of the replayed lines (their session_meta)


STATE_FIELDS = State.__struct_fields__
_decode_state = msgspec.json.Decoder(State).decode


class CodexReader(ToolMatching):
    """Turn the lines of one rollout file into facts; its state survives restarts."""

    def __init__(self, path: str, state: bytes | None, skipped: Counter[str]) -> None:
        self.path = path
        self.skipped = skipped
        self.out: list[object] = []
        # the persisted attributes (State; tests/test_source_codex.py checks the defaults agree)
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
        self.last_growth: list[Any] | None = None
        self.tools: dict[str, list[Any]] = {}
        self.origin: str | None = None
        if state:
            self._load(state)

    # -- state -------------------------------------------------------------------------
    def _load(self, state: bytes) -> None:
        s = decode_state(_decode_state, state, self.skipped)
        if s is None:
            return
        for k in STATE_FIELDS:
            setattr(self, k, getattr(s, k))

    def state(self) -> bytes:
        return encode(State(*(getattr(self, k) for k in STATE_FIELDS)))

    # -- lines -------------------------------------------------------------------------
    def feed(self, line: bytes) -> None:
        outer, inner = peek(line)
        if outer is not None:
            if outer in IGNORED_OUTER:
                return
            if outer == b"event_msg" and inner is not None and inner not in EVENTS:
                return
            if outer == b"response_item" and inner is not None and inner not in ITEMS:
                return
        try:
            env = dec_env(line)
        except Exception:
            recover(line, self.skipped)
            return
        # The payload is decoded lazily, by record kind: a payload of a shape no version
        # wrote so far, or with invalid UTF-8 inside, skips the line under its reason.
        try:
            self._dispatch(env, inner)
        except Exception:
            skip(line, self.skipped)

    def _dispatch(self, env: Env, inner: bytes | None) -> None:
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
            if t.encode() not in IGNORED_OUTER:
                self.skipped["unknown_record"] += 1
            return
        kind = inner.decode() if inner is not None else dec_kind(env.payload).type
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
        elif kind in CALL_ITEMS:
            self._tool_call(env, kind)
        elif kind in OUTPUT_ITEMS:
            self._tool_output(env)

    def _session_meta(self, env: Env) -> None:
        m = dec_meta(env.payload)
        if self.meta:
            self.origin = m.id  # a later session_meta belongs to the replayed parent
            return
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
        src = dec_source(m.source) if m.source else None
        if isinstance(src, SourceObj) and src.subagent:
            self.sub = True
            sub = dec_sub(src.subagent)
            if isinstance(sub, SubObj) and sub.thread_spawn is not None:
                parent = sub.thread_spawn.parent_thread_id or parent
                self.agent_id = self.agent_id or sub.thread_spawn.agent_nickname
        self.parent = parent
        self.child = bool(m.forked_from_id or self.sub)
        self.replay = self.child
        self.meta_ms = ms(env.timestamp)

    def _turn_context(self, env: Env) -> None:
        c = dec_turn(env.payload)
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
    def _token_count(self, env: Env) -> None:
        tc = dec_tc(env.payload)
        info = tc.info
        if info is None or info.total_token_usage is None:
            return  # rate limits only
        tot = _tuple(info.total_token_usage)
        t_ms = ms(env.timestamp)
        replayed = self._replayed(t_ms)
        delta = self._growth(info, tot)
        if delta is None:
            return
        key = "/".join(str(v) for v in tot)
        ts = norm_ts(env.timestamp or "")
        if replayed:
            self.out.append(self._copy(info, delta, key, ts))
            return
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
                alias=f"replica/{key}",
            )
        )
        self.calls += 1
        if t_ms is not None:
            self.last_input_ms = t_ms
        self.last_growth = [eid, t_ms, False]
        self._claim_tools(eid)

    def _copy(self, info: Info, delta: list[int], key: str, ts: str) -> CallFact:
        """A parent's call replayed into a child file (a fork or subagent): its copy.

        The copy keeps the parent's payload but gets the child's timestamp, so only the
        cumulative totals tie it to its original: both carry the alias `replica/<totals>`.
        The ledger drops the copy when its original is known and emits it (under its own id)
        when it is not; an original read later supersedes it (ledger.py, "Copies").
        """
        return CallFact(
            agent=AGENT,
            event_id=event_id(AGENT, "replica", key),
            rank=1,
            timestamp=ts,
            session_id=self.origin or self.parent,
            model=info.model,  # the replay has no turn_context: the parent's model is unknown
            usage=_usage(delta),
            context=self._ctx(),
            provider=self.provider,
            alias=f"replica/{key}",
            copy="fork_replay",
        )

    def _replayed(self, t_ms: int | None) -> bool:
        """Whether a token_count at `t_ms` is part of the parent's history a child replays:
        before the child's own first turn_context, or in the burst stamped with the child's
        creation time."""
        if not self.child:
            return False
        if self.replay:
            return True
        return (
            self.meta_ms is not None
            and t_ms is not None
            and abs(t_ms - self.meta_ms) <= _REPLAY_BURST_MS
        )

    def _growth(self, info: Info, tot: list[int]) -> list[int] | None:
        """Move the baseline to `tot`; return the growth that is a call, None when none is."""
        prev = self.prev
        if prev == tot:
            return None  # a re-emit: same totals, new timestamp
        if prev is None:
            delta = tot
        elif all(a >= b for a, b in zip(tot, prev, strict=True)):
            delta = [a - b for a, b in zip(tot, prev, strict=True)]
        else:
            if info.last_token_usage is None:
                self.skipped["counter_reset_without_last"] += 1
                self.prev = tot
                return None
            delta = _tuple(info.last_token_usage)  # went backwards: trust the per-call usage
        self.prev = tot
        if not any(delta[:5]):
            return None  # only total_tokens moved (a context-size marker), or nothing at all
        return delta

    def _ctx(self) -> Context:
        return Context(
            cwd=self.cwd, git_branch=self.branch, repo_url=self.url, agent_version=self.version
        )

    def flush(self, eof: bool) -> list[object]:
        """Return the facts found so far (Codex calls never grow once written)."""
        out, self.out = self.out, []
        return out
