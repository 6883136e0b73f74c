"""Grok Build (xAI's Grok CLI): `sessions/**/updates.jsonl` under $GROK_HOME or ~/.grok.

Counting rules (docs/counting.md): one event per `turn_completed` line and billed model in
`usage.modelUsage` (the top-level usage with summary.json's model when the map is absent);
`granularity="call"` when the row covers one model call (`modelCalls == 1`), else
`"session_delta"`. input = inputTokens - cachedReadTokens - cacheCreationTokens (both inside
input), output = outputTokens (reasoning inside), reasoning = reasoningTokens; cost =
costUsdTicks / 1e10 (the agent's own figure) unless costIsPartial. The natural key is
`_meta.eventId` + model, so lines a resumed or forked session repeats count once. Subagents are
sibling sessions with their own logs (counted once, parent from the parent's
`subagents/*/meta.json`). Tools: `tool_call` ... `tool_call_update` (completed | failed), named
by their ACP `kind`.
"""

from agent_cli.sources.grok_build.source import GrokBuild

__all__ = ["GrokBuild"]
