"""pi's recorded usage mapped to the contract, and its error messages to the error codes.

pi writes `input` (uncached), `cacheRead`, `cacheWrite` (with `cacheWrite1h` inside),
`output` (reasoning inside; `reasoning` is that part, when the provider reports it) and
`totalTokens`. One quirk is corrected from the numbers themselves: pi's Google and Vertex
adapters before the fix of 2026-03 (earendil-works/pi PR #2588) stored Gemini's
`promptTokenCount`, which includes the cached tokens, as `input`. Such a record adds up
without `cacheRead` (`totalTokens == input + output + cacheWrite` while `cacheRead > 0`),
so the cached part is taken out of input. Any other record is taken as written.
"""

from __future__ import annotations

from agent_cli.events import Usage
from agent_cli.sources.common import to_int
from agent_cli.sources.pi.format import Usage as PiUsage


def usage(u: PiUsage) -> Usage:
    """Map one assistant message's `usage` to the contract's token fields."""
    inp, out = to_int(u.input), to_int(u.output)
    read, write, total = to_int(u.cacheRead), to_int(u.cacheWrite), to_int(u.totalTokens)
    if read and inp >= read and total == inp + out + write:
        inp -= read  # cached tokens counted inside input (Google adapters before the fix)
    return Usage(
        input_tokens=inp,
        output_tokens=out,
        cache_read_tokens=read,
        cache_creation_tokens=write,
        cache_creation_1h_tokens=min(to_int(u.cacheWrite1h), write),
        reasoning_tokens=min(to_int(u.reasoning), out),
    )


def cost(u: PiUsage) -> float | None:
    """pi's own computed cost of the call (USD), None when it recorded none or zero.

    Zero is what pi writes for a model its catalogue has no price for (local and custom
    models too), so it is left to genai-prices rather than taken as free.
    """
    c = u.cost.get("total") if isinstance(u.cost, dict) else None
    if isinstance(c, bool) or not isinstance(c, int | float) or c != c or c <= 0:
        return None
    return float(c)


def error_code(message: object) -> str:
    """Map an assistant `errorMessage` (read here, never kept) to the contract's codes."""
    low = (message if isinstance(message, str) else "")[:2000].lower()
    if "context" in low and ("length" in low or "window" in low or "exceed" in low):
        return "context_overflow"
    if "too long" in low or "too many tokens" in low or "maximum context" in low:
        return "context_overflow"
    if "429" in low or "rate limit" in low or "rate_limit" in low or "quota" in low:
        return "rate_limit"
    if "529" in low or "overloaded" in low:
        return "overloaded"
    if "401" in low or "403" in low or "unauthorized" in low or "api key" in low:
        return "auth"
    if "authentication" in low or "permission" in low:
        return "auth"
    if "refus" in low or "content policy" in low or "safety" in low:
        return "refusal"
    if "400" in low or "invalid" in low:
        return "invalid_request"
    return "server_error"
