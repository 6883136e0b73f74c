"""Gemini CLI: `tmp/<project>/chats/` under $GEMINI_CLI_HOME/.gemini or ~/.gemini.

Two generations live side by side (research/other-formats.md §2):
- `session-*.json`: one ConversationRecord, rewritten on every update; re-read whole when
  its size or mtime changed (one chunk, cursor at the file's size);
- `*.jsonl` (v0.39+): append-only; line 1 is metadata, then messages, `{"$set": …}` metadata
  updates and `{"$rewindTo": id}`. A message id is re-appended when tokens or toolCalls are
  added: the last record wins. Subagents are `chats/<parentSessionId>/<sessionId>.jsonl`.

Counting rules (docs/counting.md): one llm_call per `gemini` (or `model`) message with
non-null, not-all-zero `tokens` (they are per call, never cumulative); input = input - cached
+ tool, cache_read = cached, output = output + thoughts, reasoning = thoughts. Rewound
messages still count: their tokens were spent. `error` messages are not calls unless they
carry tokens.
The natural key is sessionId + message id, so a resumed session's .json and its .jsonl twin
(same ids) count once; rank is the token total, so a bigger later record is a revision.
Only the fields named in the structs of `format` are decoded: content, thoughts, tool args
and results are skipped by the decoder, never built.

Modules: `format` (the structs), `reader` (the counting rules and state), `record` (a held
message and its stored form), `projects` (a chat's project folder and root), `discover`
(where and in what order), `source` (the `Source`, and whole-file sessions).
"""

from __future__ import annotations

from agent_cli.sources.gemini_cli.discover import root
from agent_cli.sources.gemini_cli.format import AGENT, PROVIDER
from agent_cli.sources.gemini_cli.projects import Projects
from agent_cli.sources.gemini_cli.reader import GeminiJsonlReader, GeminiJsonReader, classify_error
from agent_cli.sources.gemini_cli.source import GeminiCli

__all__ = [
    "AGENT",
    "PROVIDER",
    "GeminiCli",
    "GeminiJsonReader",
    "GeminiJsonlReader",
    "Projects",
    "classify_error",
    "root",
]
