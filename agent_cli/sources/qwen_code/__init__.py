"""Qwen Code (a Gemini CLI fork): `projects/<cwd>/chats/<sessionId>.jsonl` under the runtime
folder ($QWEN_RUNTIME_DIR, $QWEN_HOME or ~/.qwen).

Counting rules (docs/counting.md): one llm_call per `type: "assistant"` record with a
non-zero `usageMetadata` (Gemini-API shape, per response). cached is part of the prompt:
input = prompt - cached + toolUsePrompt, cache_read = cached. Qwen's OpenAI-compatible
converter writes `completion_tokens` (reasoning inside) as candidates and the reasoning as
thoughts, while the Gemini API puts thoughts beside candidates: the record's own
`totalTokenCount` decides (thoughts outside only when the total holds them on top), and
`common.gemini_usage` maps both, as it does for Gemini CLI. `/branch` copies records verbatim
(same uuid) with `forkedFrom`: the natural key is the origin's (session, uuid), so a copy
counts once. `system`/`ui_telemetry` records repeat API responses and are not counted;
their `api_error` events are error calls. Tools: functionCall ids in the assistant message,
settled by the `tool_result` record's `toolCallResult` (status, errorType).
"""

from agent_cli.sources.qwen_code.source import QwenCode

__all__ = ["QwenCode"]
