"""What `tokensIn` means, agent by agent and date by date, mapped to the contract's buckets.

The contract wants `input_tokens` = uncached input. The Cline family records `tokensIn`,
`cacheReads`, `cacheWrites` and `tokensOut`, but `tokensIn` is not the same quantity everywhere
(docs/counting.md, "Cline, Roo Code and Kilo Code", cites the sources):

- Cline classic: the uncached part for most providers (the buckets are disjoint), but the
  OpenAI-compatible providers in `CLINE_INCLUSIVE` pass `prompt_tokens`, cache included.
- Roo Code from 3.29.5 (2025-11-01) and Kilo Code from 4.119.0 (2025-11-12): the whole prompt,
  cache reads and writes included, for every provider. Before that, an Anthropic-protocol
  request recorded the uncached part and the others the whole prompt.
- Cline SDK `metrics.inputTokens`: the whole prompt, cache included.

A record carries no version, so a `tokensIn` smaller than the cache it claims to include is
always read as the uncached part. Reasoning is not recorded apart from output.
"""

from __future__ import annotations

from agent_cli.events import Usage
from agent_cli.sources.cline.format import CLINE, KILO, ROO
from agent_cli.sources.common import to_int

# Cline classic providers whose usage chunk passes OpenAI `prompt_tokens` (cache included)
# as inputTokens (apps/vscode/src/core/api/providers/<id>.ts at v3.89.2).
CLINE_INCLUSIVE = frozenset(
    ("openai", "litellm", "doubao", "fireworks", "hicap", "lmstudio", "qwen", "xai", "zai", "oca")
)
# The first day each fork recorded the whole prompt in tokensIn (ms since the epoch, UTC).
WHOLE_PROMPT_SINCE = {ROO: 1_761_955_200_000, KILO: 1_762_905_600_000}  # 2025-11-01, -11-12


def includes_cache(
    agent: str, tokens_in: int, cached: int, ts_ms: int, protocol: str | None, provider: str | None
) -> bool:
    """Whether `tokensIn` of this record includes its cache reads and writes."""
    if tokens_in < cached:
        return False  # it cannot include more than it is
    if agent == CLINE:
        return provider in CLINE_INCLUSIVE
    since = WHOLE_PROMPT_SINCE.get(agent)
    if since is None or ts_ms >= since:
        return True
    return protocol != "anthropic"


def classic_usage(
    agent: str,
    raw: tuple[object, object, object, object],
    ts_ms: int,
    protocol: str | None,
    provider: str | None,
) -> Usage:
    """The contract's buckets of one classic record: (tokensIn, tokensOut, cacheWrites,
    cacheReads) as recorded."""
    tokens_in, out, writes, reads = (to_int(v) for v in raw)
    cached = writes + reads
    inp = tokens_in
    if includes_cache(agent, tokens_in, cached, ts_ms, protocol, provider):
        inp = tokens_in - cached
    return Usage(
        input_tokens=inp, output_tokens=out, cache_read_tokens=reads, cache_creation_tokens=writes
    )


def sdk_usage(inp: object, out: object, reads: object, writes: object) -> Usage:
    """The contract's buckets of one SDK `metrics` (inputTokens includes the cache)."""
    i, o, r, w = to_int(inp), to_int(out), to_int(reads), to_int(writes)
    return Usage(
        input_tokens=max(i - r - w, 0),
        output_tokens=o,
        cache_read_tokens=r,
        cache_creation_tokens=w,
    )


def cost(v: object) -> float | None:
    """The agent's recorded cost in USD, None when absent or not a finite non-negative number."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if f >= 0 and f == f and f != float("inf") else None
