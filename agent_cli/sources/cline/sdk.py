"""A Cline SDK session's `<id>.messages.json` to facts.

One call per assistant message with `metrics` (that call's usage: `inputTokens` includes the
cache, `cost` is Cline's own figure), except `metadata.displayOnly` banners. The id is the
message id + its `ts`, not the session: a fork copies its parent's messages with their ids,
so the copied history counts once. A file whose stem is not its folder's session id is a
subagent or teammate of that session. Tools: each `tool_use` block, matched to the
`tool_result` with its id (status from `is_error`, duration from the two messages' `ts`).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

from agent_cli.events import CallFact, Context, ToolFact, event_id
from agent_cli.sources.cline import tokens
from agent_cli.sources.cline.format import (
    SdkManifest,
    SdkMessage,
    dec_blocks,
    dec_manifest,
    dec_sdk,
    dec_sdk_list,
    dec_sdk_meta,
)
from agent_cli.sources.common import fmt_ms, to_int
from agent_cli.sources.decode import FAILED, UNRECOGNIZED_LINE, classify, decode_value

SDK_SUFFIX = ".messages.json"
# The user message Cline appends after a classic task's history carried into an SDK session
# (apps/vscode/src/sdk/legacy-task-handling.ts `LEGACY_RESUME_MODEL_WARNING`); the last
# carried assistant message gets the whole classic task's totals as its `metrics`.
LEGACY_MARK = b"Warning: this is a legacy conversation, which means tool names may have changed"


@dataclass(frozen=True, slots=True)
class SessionFile:
    """What the path and the manifest say about one messages file."""

    session: str
    agent_id: str | None
    cwd: str | None
    model: str | None
    provider: str | None


def session_file(path: str, max_bytes: int) -> SessionFile:
    folder = os.path.dirname(path)
    session = os.path.basename(folder)
    stem = os.path.basename(path)[: -len(SDK_SUFFIX)]
    manifest: SdkManifest | None = None
    try:
        with open(os.path.join(folder, session + ".json"), "rb") as f:
            got = decode_value(dec_manifest, f.read(max_bytes))
            manifest = None if got is FAILED else got
    except OSError:
        manifest = None
    m = manifest or SdkManifest()
    return SessionFile(
        session, None if stem == session else stem, m.cwd or m.workspace_root, m.model, m.provider
    )


def _messages(data: bytes, skipped: Counter[str]) -> list[SdkMessage] | None:
    doc = decode_value(dec_sdk, data)
    if doc is not FAILED and doc.messages is not None:
        return doc.messages
    bare = decode_value(dec_sdk_list, data)  # an older bare array
    if bare is not FAILED:
        return bare
    not_ours = classify(data) == UNRECOGNIZED_LINE
    skipped["not_a_session" if not_ours else "malformed_session_file"] += 1
    return None


def _display_only(m: SdkMessage) -> bool:
    if not m.metadata:
        return False
    meta = decode_value(dec_sdk_meta, m.metadata)
    return meta is not FAILED and meta is not None and meta.displayOnly is True


def read_sdk(
    agent: str, path: str, data: bytes, skipped: Counter[str], max_bytes: int
) -> list[object]:
    """The facts of one SDK messages file (no state: records are never deleted from it)."""
    messages = _messages(data, skipped)
    if messages is None:
        return []
    sf = session_file(path, max_bytes)
    ctx = Context(cwd=sf.cwd)
    out: list[object] = []
    pending: dict[str, tuple[str, int, str]] = {}  # tool id -> (name, ts, call event id)
    turns = calls = 0
    carried = _carried(messages)
    for k, m in enumerate(messages):
        if k < carried:  # a classic task's history: counted from its ui_messages.json
            skipped["legacy_carryover"] += m.role == "assistant" and m.metrics is not None
            continue
        ts = to_int(m.ts)
        if m.role == "user":
            if _results(agent, sf, ctx, m, ts, pending, out) == 0:
                turns += 1  # a prompt, not only tool results
            continue
        if m.role != "assistant" or not m.id or not ts or _display_only(m):
            continue
        eid = event_id(agent, "sdk", m.id, str(ts))
        for block_id, name in _tool_uses(m, skipped):
            pending[block_id] = (name, ts, eid)
        if m.metrics is None:
            skipped["no_tokens"] += 1
            continue
        x = m.metrics
        usage = tokens.sdk_usage(
            x.inputTokens, x.outputTokens, x.cacheReadTokens, x.cacheWriteTokens
        )
        cost = tokens.cost(x.cost)
        if usage.total == 0 and not cost:
            skipped["zero_tokens"] += 1
            continue
        info = m.modelInfo
        out.append(
            CallFact(
                agent=agent,
                event_id=eid,
                rank=usage.total,
                timestamp=fmt_ms(ts),
                session_id=sf.session,
                model=(info.id if info else None) or sf.model,
                usage=usage,
                context=ctx,
                parent_session_id=sf.session if sf.agent_id else None,
                agent_id=sf.agent_id,
                is_subagent=sf.agent_id is not None,
                turn_index=turns,
                call_index=calls,
                provider=(info.provider if info else None) or sf.provider,
                cost_usd=cost,
            )
        )
        calls += 1
    return out


def _carried(messages: list[SdkMessage]) -> int:
    """How many leading messages a resumed classic task carried in (0: none)."""
    for k in range(len(messages) - 1, -1, -1):
        m = messages[k]
        if m.role == "user" and LEGACY_MARK in bytes(m.content):
            return k
    return 0


def _blocks(m: SdkMessage) -> list[object]:
    if not m.content:
        return []
    got = decode_value(dec_blocks, m.content)
    return got if isinstance(got, list) else []


def _tool_uses(m: SdkMessage, skipped: Counter[str]) -> list[tuple[str, str]]:
    found = []
    for b in _blocks(m):
        if getattr(b, "type", None) == "tool_use" and getattr(b, "id", None):
            found.append((b.id, getattr(b, "name", None) or "unknown"))  # type: ignore[attr-defined]
    return found


def _results(
    agent: str,
    sf: SessionFile,
    ctx: Context,
    m: SdkMessage,
    ts: int,
    pending: dict[str, tuple[str, int, str]],
    out: list[object],
) -> int:
    """Emit the tools a user message answers; return how many it answered."""
    n = 0
    for b in _blocks(m):
        tool_id = getattr(b, "tool_use_id", None)
        if getattr(b, "type", None) != "tool_result" or not tool_id or tool_id not in pending:
            continue
        name, start, call_eid = pending.pop(tool_id)
        err = getattr(b, "is_error", None) is True
        out.append(
            ToolFact(
                agent=agent,
                event_id=event_id(agent, "sdk-tool", tool_id),
                timestamp=fmt_ms(ts or start),
                session_id=sf.session,
                call_event_id=call_eid,
                tool_name=name,
                duration_ms=max(ts - start, 0) if ts else None,
                status="error" if err else "ok",
                error_code="error" if err else None,
                context=ctx,
            )
        )
        n += 1
    return n
