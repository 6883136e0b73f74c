"""OpenCode's counting rules, shared by the database and the legacy JSON reader.

One call per assistant message with usage: `tokens.input` is already uncached (OpenCode
subtracts cache read and write), `tokens.output` excludes `tokens.reasoning` in the current
accounting (`total = input + output + reasoning + cache`), so our output adds it back;
an older accounting whose `total` leaves reasoning out already had it inside `output`.
`cost` is OpenCode's own figure. A fork copies messages with new ids but the original
`time.created`: the id's embedded time then disagrees, and the copy is not counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from agent_cli.events import CallFact, Context, ToolFact, Usage, event_id
from agent_cli.sources.common import fmt_ms, to_int
from agent_cli.sources.opencode.format import AGENT, Message, MessageError, Tokens

# An id's 48 time bits hold (ms * 4096 + counter): the ms modulo 2**36 (Identifier.create).
_ID_MS_MOD = 1 << 36
_FORK_SLACK_MS = 2000


@dataclass(slots=True)
class SessionMeta:
    """What a session row (or legacy session file) adds to its messages."""

    parent: str | None = None
    version: str | None = None
    directory: str | None = None


@dataclass(slots=True)
class ToolRow:
    """A tool part's usage fields (the database extracts them in SQL: no content is read)."""

    call_id: str | None
    tool: str | None
    status: str | None
    start: object
    end: object
    rejected: bool


def usage(t: Tokens) -> Usage:
    """Map OpenCode's `tokens` to the contract (output with reasoning inside)."""
    inp, out, rea = to_int(t.input), to_int(t.output), to_int(t.reasoning)
    cr = to_int(t.cache.read) if t.cache else 0
    cw = to_int(t.cache.write) if t.cache else 0
    total = t.total
    inside = rea > 0 and isinstance(total, int) and total == inp + out + cr + cw
    return Usage(
        input_tokens=inp,
        output_tokens=out if inside else out + rea,
        cache_read_tokens=cr,
        cache_creation_tokens=cw,
        reasoning_tokens=rea,
    )


def id_ms(mid: str) -> int | None:
    """The creation time (ms modulo 2**36) an OpenCode id carries, None for another shape."""
    head = mid[4:16] if mid.startswith("msg_") else ""
    try:
        return (int(head, 16) >> 12) if len(head) == 12 else None
    except ValueError:
        return None


def fork_copy(mid: str, created: int) -> bool:
    """True for a message a fork copied: its id was made long after its `time.created`."""
    t = id_ms(mid)
    return t is not None and (t - created) % _ID_MS_MOD > _FORK_SLACK_MS


_STATUS_CODES = {429: "rate_limit", 529: "overloaded", 503: "overloaded", 401: "auth", 403: "auth"}


def api_error(e: MessageError | None) -> tuple[str, str | None]:
    """Status and contract error code of a message's recorded `error`."""
    if e is None or e.name in (None, "MessageAbortedError"):
        return "ok", None  # the user stopped it: the call happened, no API error
    if e.name == "ProviderAuthError":
        return "error", "auth"
    if e.name == "ContextOverflowError":
        return "error", "context_overflow"
    if e.name == "APIError":
        code = to_int(e.data.statusCode) if e.data else 0
        if code in _STATUS_CODES:
            return "error", _STATUS_CODES[code]
        if code >= 500:
            return "error", "server_error"
        if code == 413:
            return "error", "context_overflow"
        if code >= 400:
            return "error", "invalid_request"
    return "error", None


def pending(m: Message) -> bool:
    """An assistant message OpenCode is still writing (no completion time, no error)."""
    done = m.time is not None and to_int(m.time.completed) > 0
    return m.role == "assistant" and not done and m.error is None


def created_ms(mid: str, m: Message, skipped: Counter[str]) -> int:
    """The message's `time.created`, 0 when it is not a countable assistant message."""
    if m.role != "assistant":
        return 0
    created = to_int(m.time.created) if m.time else 0
    if not created:
        skipped["message_without_time"] += 1
        return 0
    if fork_copy(mid, created):
        skipped["fork_copy"] += 1
        return 0
    return created


def call_fact(
    mid: str,
    sid: str,
    m: Message,
    meta: SessionMeta,
    index: tuple[int, int] | None,
    skipped: Counter[str],
) -> CallFact | None:
    """The call of an assistant message without `step-finish` parts (its own tokens), None
    when it is not one (yet) or not counted."""
    created = created_ms(mid, m, skipped)
    if not created:
        return None
    u = usage(m.tokens) if m.tokens else Usage()
    completed = to_int(m.time.completed) if m.time else 0
    if u.total == 0 and not completed and m.error is None:
        skipped["message_in_progress"] += 1  # read again when OpenCode updates it
        return None
    final = bool(completed) or m.error is not None
    # grows with the usage; completion (or an error) lifts it once more
    rank = u.total * 2 + (1 if final else 0)
    return make_call(mid, sid, m, meta, index, Step(0, u, m.cost, created, completed, final, rank),
                     m.error)  # fmt: skip


@dataclass(slots=True)
class Step:
    """One API call of a message: its position, usage, cost, times and rank."""

    k: int
    usage: Usage
    cost: object
    start: int
    end: int
    final: bool
    rank: int


def make_call(
    mid: str,
    sid: str,
    m: Message,
    meta: SessionMeta,
    index: tuple[int, int] | None,
    step: Step,
    error: MessageError | None,
) -> CallFact:
    """The call of step `step.k` of message `mid` (step 0 is keyed by the message id alone)."""
    status, code = api_error(error)
    cost = step.cost
    cost = cost if isinstance(cost, int | float) and not isinstance(cost, bool) else None
    sub = meta.parent is not None
    key = (mid,) if step.k == 0 else (mid, str(step.k))
    return CallFact(
        agent=AGENT,
        event_id=event_id(AGENT, *key),
        rank=step.rank,
        timestamp=fmt_ms(step.start),
        session_id=sid,
        model=m.modelID,
        usage=step.usage,
        context=Context(cwd=(m.path.cwd if m.path else None) or meta.directory,
                        agent_version=meta.version or None),
        parent_session_id=meta.parent,
        agent_id=(m.agent or m.mode) if sub else None,
        is_subagent=sub,
        turn_index=index[0] if index else None,
        call_index=index[1] if index else None,
        provider=m.providerID,
        output_final=step.final,
        duration_ms=max(step.end - step.start, 0) if step.end else None,
        status=status,
        error_code=code,
        cost_usd=float(cost) if cost is not None and cost > 0 else None,
    )  # fmt: skip


def retry_fact(call: CallFact, part_id: str, error: MessageError, created: int) -> CallFact:
    """A `retry` part: an API request that failed before the message's call succeeded.

    It is an error call of its own (no usage), on the message's model and session.
    """
    status, code = api_error(error)
    return CallFact(
        agent=AGENT,
        event_id=event_id(AGENT, "retry", part_id),
        rank=1,
        timestamp=fmt_ms(created) if created else call.timestamp,
        session_id=call.session_id,
        model=call.model,
        usage=Usage(),
        context=call.context,
        parent_session_id=call.parent_session_id,
        agent_id=call.agent_id,
        is_subagent=call.is_subagent,
        turn_index=call.turn_index,
        provider=call.provider,
        status="error" if status == "ok" else status,
        error_code=code,
    )


def tool_fact(call: CallFact, t: ToolRow) -> ToolFact | None:
    """The tool call of a finished tool part (None while it is pending or running)."""
    if t.status not in ("completed", "error") or not t.call_id or not t.tool:
        return None
    start, end = to_int(t.start), to_int(t.end)
    failed = t.status == "error"
    return ToolFact(
        agent=AGENT,
        event_id=event_id(AGENT, "tool", call.session_id or "", t.call_id),
        timestamp=fmt_ms(start) if start else call.timestamp,
        session_id=call.session_id,
        call_event_id=call.event_id,
        tool_name=t.tool,
        duration_ms=max(end - start, 0) if start and end else None,
        status="error" if failed else "ok",
        error_code=("rejected" if t.rejected else "error") if failed else None,
        context=call.context,
    )


def rejected(error: str | None) -> bool:
    """Whether a tool's error text says the user refused it (the text is never kept)."""
    return bool(error) and "rejected" in (error or "")[:200]
