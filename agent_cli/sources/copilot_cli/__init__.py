"""GitHub Copilot CLI: `session-state/<id>/events.jsonl` under $COPILOT_HOME or ~/.copilot.

Counting rules (docs/counting.md): the log records usage only in `session.shutdown`
`modelMetrics` (per model: inputTokens with both cache buckets inside, outputTokens,
cacheReadTokens, cacheWriteTokens, reasoningTokens, requests.cost premium requests, nano-AIU);
`assistant.message` has output only, `session.usage_checkpoint` billing units only, and the
per-call `assistant.usage` is ephemeral (never written). Each snapshot becomes, per model, one
`granularity="session_delta"` event holding what it adds to what was counted for the session
(`counters`: cumulative or per-process, decided by the file), keyed (session, snapshot id,
model): a resumed session's snapshots are summed, a repeated or copied one counts once.
input = inputTokens - cacheRead - cacheWrite; output = outputTokens (+ reasoning for gemini-*);
premium requests go to billed_quantity / billed_unit="premium_request", never dollars.
Tools: `tool.execution_start` / `_complete` by toolCallId (latency, success, error.code).
`session.error` is an error call with no tokens.
"""

from agent_cli.sources.copilot_cli.source import CopilotCli

__all__ = ["CopilotCli"]
