"""Session-level usage snapshots (`session.shutdown` modelMetrics) turned into deltas.

A snapshot holds, per model, totals since some start. Which start is the question: in the
recordings of Copilot CLI 1.0.77/1.0.78 (nicktoumpelis/clocwork fixtures) a resumed session's
next shutdown repeats the earlier process's models with the same totals (cumulative); ccusage
found per-process totals in older files. The file itself decides, per snapshot:

1. with nothing counted yet for the session, both readings agree: the snapshot is the delta;
2. the `assistant.message.outputTokens` written since the process started (`seg_out`, per
   model; reset at `session.start` / `session.resume`) sum to the process's output
   (toolpath's real 1.0.68 capture: 13 messages, 3141 = the shutdown's outputTokens): if
   every model's output equals counted + seg_out the snapshot is cumulative; if it equals
   seg_out alone it is per process;
3. else cumulative when it covers every model counted with no counter below it, per process
   otherwise (a wrong guess undercounts, never counts twice).

A cumulative snapshot adds its growth over what was counted; a per-process one adds itself.
"""

from __future__ import annotations

from typing import Any

from agent_cli.sources.common import to_int
from agent_cli.sources.copilot_cli.format import ModelMetric

# A model's counters, positionally (the stored state's format): inputTokens (with the cache
# buckets), outputTokens, cacheReadTokens, cacheWriteTokens, reasoningTokens, then the billed
# premium requests (requests.cost) and nano-AIU, which may be floats.
IN, OUT, CR, CW, RS, PREMIUM, NANO = range(7)
Counters = list[Any]


def counters(m: ModelMetric) -> Counters:
    """A modelMetrics row as counters (missing fields are 0; premium None when absent)."""
    u = m.usage
    tokens = (
        [to_int(u.inputTokens), to_int(u.outputTokens), to_int(u.cacheReadTokens),
         to_int(u.cacheWriteTokens), to_int(u.reasoningTokens)]
        if u is not None
        else [0, 0, 0, 0, 0]
    )  # fmt: skip
    cost = m.requests.cost if m.requests is not None else None
    premium = float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None
    return [*tokens, premium, to_int(m.totalNanoAiu)]


def is_cumulative(
    snap: dict[str, Counters], counted: dict[str, Counters], seg_out: dict[str, int]
) -> bool:
    """Whether `snap` counts from the session's start (see the module doc)."""
    if not counted:
        return False
    if seg_out:
        if all(c[OUT] == counted.get(m, [0, 0])[OUT] + seg_out.get(m, 0) for m, c in snap.items()):
            return True
        if all(c[OUT] == seg_out.get(m, 0) for m, c in snap.items()):
            return False
    return all(
        m in snap and all(_num(a) >= _num(b) for a, b in zip(snap[m], c, strict=False))
        for m, c in counted.items()
    )


def delta(now: Counters, before: Counters | None) -> Counters:
    """What `now` adds to `before` (field-wise growth, never below zero)."""
    if before is None:
        return list(now)
    out: Counters = [max(_num(a) - _num(b), 0) for a, b in zip(now, before, strict=False)]
    if now[PREMIUM] is None:
        out[PREMIUM] = None
    return out


def add(a: Counters | None, b: Counters) -> Counters:
    """The sum of two counters (what was counted so far, plus a delta)."""
    if a is None:
        return list(b)
    out: Counters = [_num(x) + _num(y) for x, y in zip(a, b, strict=False)]
    if a[PREMIUM] is None and b[PREMIUM] is None:
        out[PREMIUM] = None
    return out


def _num(v: Any) -> float:
    return v if isinstance(v, int | float) else 0
