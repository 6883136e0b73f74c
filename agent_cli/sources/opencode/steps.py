"""A message's facts from its parts: one call per `step-finish`, its tools and its retries.

OpenCode's processor, on each `finish-step`, adds the step's cost to the message
(`cost += usage.cost`) but *replaces* its tokens (`tokens = usage.tokens`) and writes a
`step-finish` part with that step's tokens and cost. A message of several steps (builds that
ran many steps in one message) therefore holds only its last step's tokens: the parts hold
every step. So a message with `step-finish` parts is one call per part (step 0 keyed by the
message id, as a message without parts is, so both views of a one-step message agree); a
message without them is one call with its own tokens. A tool or retry part belongs to the
first step that finishes after it (ids are time-ordered), else the last step.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass

from agent_cli.events import CallFact, Usage
from agent_cli.sources.common import to_int
from agent_cli.sources.opencode.format import Message, MessageError, Tokens
from agent_cli.sources.opencode.record import (
    SessionMeta,
    Step,
    ToolRow,
    api_error,
    call_fact,
    created_ms,
    id_ms,
    make_call,
    retry_fact,
    tool_fact,
    usage,
)

_ID_MS_MOD = 1 << 36


@dataclass(slots=True)
class PartRow:
    """The usage fields of one part: a `tool`, a `retry` or a `step-finish`."""

    kind: str
    pid: str
    tool: ToolRow | None = None
    error: MessageError | None = None  # a retry's
    created: int = 0  # a retry's time
    tokens: Tokens | None = None  # a step-finish's
    cost: object = None


def part_ms(pid: str, near: int) -> int:
    """The full ms time of a part id (its 36 low bits), taken as at or after `near`."""
    t = id_ms("msg_" + pid[4:]) if pid.startswith("prt_") else None
    return near + (t - near) % _ID_MS_MOD if t is not None else 0


def message_facts(
    mid: str,
    sid: str,
    m: Message,
    meta: SessionMeta,
    index: tuple[int, int] | None,
    parts: list[PartRow],
    skipped: Counter[str],
) -> list[object]:
    """The calls, tool calls and retries of one message, given its parts in id order."""
    finishes = [p for p in parts if p.kind == "step-finish" and p.tokens is not None]
    if finishes:
        calls = _step_calls(mid, sid, m, meta, index, finishes, skipped)
    else:
        one = call_fact(mid, sid, m, meta, index, skipped)
        calls = [one] if one is not None else []
    if not calls:
        return []
    ends = [p.pid for p in finishes]
    out: list[object] = []
    extra: list[list[object]] = [[] for _ in calls]
    for p in parts:
        k = min(bisect.bisect_left(ends, p.pid), len(calls) - 1) if ends else 0
        fact: object | None = None
        if p.kind == "tool" and p.tool is not None:
            fact = tool_fact(calls[k], p.tool)
        elif p.kind == "retry" and p.error is not None:
            fact = retry_fact(calls[k], p.pid, p.error, p.created)
        if fact is not None:
            extra[k].append(fact)
    for call, facts in zip(calls, extra, strict=True):
        out.append(call)
        out.extend(facts)
    return out


def _step_calls(
    mid: str,
    sid: str,
    m: Message,
    meta: SessionMeta,
    index: tuple[int, int] | None,
    finishes: list[PartRow],
    skipped: Counter[str],
) -> list[CallFact]:
    created = created_ms(mid, m, skipped)
    if not created:
        return []
    calls: list[CallFact] = []
    start = created
    completed = to_int(m.time.completed) if m.time else 0
    for k, p in enumerate(finishes):
        # a step ends when its step-finish was written; the last one when the message did
        last = k == len(finishes) - 1
        end = completed if last and completed else part_ms(p.pid, start)
        u = usage(p.tokens) if p.tokens is not None else Usage()
        step = Step(k, u, p.cost, start, end, True, u.total * 2 + 1)
        calls.append(make_call(mid, sid, m, meta, index, step, None))
        start = max(start, end)
    if api_error(m.error)[0] == "error":  # the request after the last step failed
        tail = Step(len(finishes), Usage(), None, start, completed, True, 1)
        calls.append(make_call(mid, sid, m, meta, index, tail, m.error))
    return calls
