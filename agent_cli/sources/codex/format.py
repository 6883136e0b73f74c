"""The Codex rollout line, as msgspec structs that name only the fields the counting rules use.

A line is an envelope (`timestamp`, `type`, `payload`); the payload is decoded lazily, by
kind. Messages, reasoning, arguments and outputs are skipped by the decoder (an output is
kept as raw bytes, only its head and tail searched for an exit code).
"""

from __future__ import annotations

from typing import Any

import msgspec

AGENT = "codex"  # the `agent` of every event, and the registry key
NO_RAW = msgspec.Raw(b"")


# -- typed views of the lines (only the fields we need) -----------------------------------
class Env(msgspec.Struct):
    timestamp: str | None = None
    type: str | None = None
    payload: msgspec.Raw = NO_RAW


class Kind(msgspec.Struct):
    type: str | None = None


class Git(msgspec.Struct):
    branch: str | None = None
    repository_url: str | None = None


class Spawn(msgspec.Struct):
    parent_thread_id: str | None = None
    agent_nickname: str | None = None


class SubObj(msgspec.Struct):
    thread_spawn: Spawn | None = None


class SourceObj(msgspec.Struct):
    subagent: msgspec.Raw = NO_RAW


class Meta(msgspec.Struct):
    id: str | None = None
    forked_from_id: str | None = None
    parent_thread_id: str | None = None
    timestamp: str | None = None
    cwd: str | None = None
    cli_version: str | None = None
    model_provider: str | None = None
    agent_nickname: str | None = None
    source: msgspec.Raw = NO_RAW
    git: Git | None = None


class CollabSettings(msgspec.Struct):
    model: str | None = None


class Collab(msgspec.Struct):
    settings: CollabSettings | None = None


class Turn(msgspec.Struct):
    model: str | None = None
    collaboration_mode: Collab | None = None


class TokenUsage(msgspec.Struct):
    input_tokens: Any = 0
    cached_input_tokens: Any = 0
    cache_write_input_tokens: Any = 0
    output_tokens: Any = 0
    reasoning_output_tokens: Any = 0
    total_tokens: Any = 0


class Info(msgspec.Struct):
    total_token_usage: TokenUsage | None = None
    last_token_usage: TokenUsage | None = None
    model: str | None = None


class TokenCount(msgspec.Struct):
    info: Info | None = None


class Call(msgspec.Struct):
    call_id: str | None = None
    id: str | None = None
    name: str | None = None


class Output(msgspec.Struct):
    call_id: str | None = None
    output: msgspec.Raw = NO_RAW


class End(msgspec.Struct):
    call_id: str | None = None
    exit_code: Any = None
    status: Any = None
    success: Any = None


dec_env = msgspec.json.Decoder(Env).decode
dec_kind = msgspec.json.Decoder(Kind).decode
dec_meta = msgspec.json.Decoder(Meta).decode
dec_source = msgspec.json.Decoder(str | SourceObj | None).decode
dec_sub = msgspec.json.Decoder(str | SubObj | None).decode
dec_turn = msgspec.json.Decoder(Turn).decode
dec_tc = msgspec.json.Decoder(TokenCount).decode
dec_call = msgspec.json.Decoder(Call).decode
dec_out = msgspec.json.Decoder(Output).decode
dec_end = msgspec.json.Decoder(End).decode
decode_any = msgspec.json.decode
encode = msgspec.json.encode

# Outer line types known to carry nothing we count (read: session_meta, turn_context,
# event_msg, response_item; any other type is counted as unknown_record).
IGNORED_OUTER = frozenset({
    b"compacted", b"token_usage_record", b"world_state", b"inter_agent_communication",
    b"inter_agent_communication_metadata", b"retained_context", b"security_risk_score",
    b"realtime_item",
})  # fmt: skip
EVENTS = frozenset(
    {
        b"token_count",
        b"user_message",
        b"exec_command_end",
        b"patch_apply_end",
        b"task_started",
        b"task_complete",
        b"turn_aborted",
    }
)
ITEMS = frozenset(
    {
        b"function_call",
        b"custom_tool_call",
        b"local_shell_call",
        b"function_call_output",
        b"custom_tool_call_output",
    }
)
CALL_ITEMS = ("function_call", "custom_tool_call", "local_shell_call")
OUTPUT_ITEMS = ("function_call_output", "custom_tool_call_output")
FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
    "total_tokens",
)


def peek(line: bytes) -> tuple[bytes | None, bytes | None]:
    """Return the outer type and payload type from the head of a compact Codex line."""
    head = line[:256]
    i = head.find(b'"type":"')
    if i < 0:
        return None, None
    j = head.find(b'"', i + 8)
    outer = head[i + 8 : j] if j > 0 else None
    inner = None
    k = head.find(b'"payload":{"type":"', i)
    if k >= 0:
        e = head.find(b'"', k + 19)
        inner = head[k + 19 : e] if e > 0 else None
    return outer, inner
