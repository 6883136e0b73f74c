"""The Cline family's files, as msgspec structs that name only the fields the counting rules use.

Classic tasks (Cline <= 4.0.1, Roo Code, Kilo Code <= 5): `tasks/<task id>/ui_messages.json`
is one JSON array of messages, rewritten whole. A usage message's `text` is itself JSON
(`ClineApiReqInfo`); `text` is kept as raw bytes and only decoded for usage messages, so prompts
and outputs are never built as strings. Side files: `task_metadata.json` (Cline's model
timeline), `api_conversation_history.json` (Roo/Kilo: the model in each prompt's environment
details), `history_item.json` (Roo/Kilo: workspace, parent task), `state/taskHistory.json`
(Cline: the task's cwd).

Cline SDK sessions (Cline >= 4.1, extension and CLI): `sessions/<id>/<id>.messages.json`, a
`{"messages": [...]}` document rewritten whole; an assistant message's `metrics` is that call's
usage; `<id>/<id>.json` is the manifest (cwd, model).
"""

from __future__ import annotations

from typing import Any

import msgspec

CLINE = "cline"
ROO = "roo-code"
KILO = "kilo-code"

# The VS Code extension id of each agent (its globalStorage folder name).
EXTENSION_IDS = {
    CLINE: "saoudrizwan.claude-dev",
    ROO: "rooveterinaryinc.roo-cline",
    KILO: "kilocode.kilo-code",
}

NO_RAW = msgspec.Raw(b"")

# Messages whose `text` carries usage (`say` values).
API_REQ = "api_req_started"
API_REQ_FINISHED = "api_req_finished"  # the oldest Cline: counts in a second message
# The summed usage of the messages a checkpoint restore deleted: Cline, Roo/Kilo.
DELETED = frozenset(("deleted_api_reqs", "api_req_deleted"))
SUBAGENT = "subagent_usage"  # Cline: a batch of subagents' usage, summed
CONDENSE = "condense_context"  # Roo/Kilo: a context condense call; only its cost is recorded
USAGE_SAYS = frozenset((API_REQ, API_REQ_FINISHED, SUBAGENT, *DELETED))
USER_SAYS = frozenset(("user_feedback",))  # a user turn after the task's first one


class ModelInfo(msgspec.Struct):
    modelId: str | None = None
    providerId: str | None = None


class Condense(msgspec.Struct):
    cost: Any = None


class UiMessage(msgspec.Struct):
    ts: Any = None
    type: str | None = None
    say: str | None = None
    text: msgspec.Raw = NO_RAW  # decoded only for usage messages
    partial: Any = None
    modelInfo: ModelInfo | None = None
    apiProtocol: str | None = None
    contextCondense: Condense | None = None


class ApiReq(msgspec.Struct):
    """`ClineApiReqInfo`: `request` (the prompt) is not named, so it is never built."""

    tokensIn: Any = None
    tokensOut: Any = None
    cacheWrites: Any = None
    cacheReads: Any = None
    cost: Any = None
    cancelReason: str | None = None
    streamingFailedMessage: msgspec.Raw = NO_RAW
    apiProtocol: str | None = None


class ModelUsage(msgspec.Struct):
    ts: Any = None
    model_id: str | None = None
    model_provider_id: str | None = None


class TaskMetadata(msgspec.Struct):
    model_usage: list[ModelUsage] | None = None


class HistoryItem(msgspec.Struct):
    id: str | None = None
    cwdOnTaskInitialization: str | None = None
    workspace: str | None = None
    parentTaskId: str | None = None
    rootTaskId: str | None = None


class ApiHistoryMessage(msgspec.Struct):
    role: str | None = None
    ts: Any = None
    content: msgspec.Raw = NO_RAW  # scanned for `<model>…</model>` only


# --- Cline SDK sessions ---


class SdkModelInfo(msgspec.Struct):
    id: str | None = None
    provider: str | None = None


class SdkMetrics(msgspec.Struct):
    inputTokens: Any = None
    outputTokens: Any = None
    cacheReadTokens: Any = None
    cacheWriteTokens: Any = None
    cost: Any = None


class SdkBlock(msgspec.Struct):
    """A content block: only its type, tool id, tool name and error flag."""

    type: str | None = None
    id: str | None = None
    tool_use_id: str | None = None
    name: str | None = None
    is_error: Any = None


class SdkMessage(msgspec.Struct):
    id: str | None = None
    role: str | None = None
    ts: Any = None
    content: msgspec.Raw = NO_RAW  # decoded as blocks only for tool ids and names
    modelInfo: SdkModelInfo | None = None
    metrics: SdkMetrics | None = None
    metadata: msgspec.Raw = NO_RAW


class SdkMessageMeta(msgspec.Struct):
    displayOnly: Any = None


class SdkDocument(msgspec.Struct):
    sessionId: str | None = None
    agent: str | None = None
    messages: list[SdkMessage] | None = None


class SdkManifest(msgspec.Struct):
    session_id: str | None = None
    model: str | None = None
    provider: str | None = None
    cwd: str | None = None
    workspace_root: str | None = None


dec_ui = msgspec.json.Decoder(list[msgspec.Raw]).decode  # each message on its own
dec_ui_message = msgspec.json.Decoder(UiMessage).decode
dec_api_req = msgspec.json.Decoder(ApiReq).decode
dec_text = msgspec.json.Decoder(str).decode
dec_meta = msgspec.json.Decoder(TaskMetadata).decode
dec_history_item = msgspec.json.Decoder(HistoryItem).decode
dec_history = msgspec.json.Decoder(list[HistoryItem]).decode
dec_api_history = msgspec.json.Decoder(list[ApiHistoryMessage]).decode
dec_sdk = msgspec.json.Decoder(SdkDocument).decode
dec_sdk_list = msgspec.json.Decoder(list[SdkMessage]).decode
dec_blocks = msgspec.json.Decoder(list[SdkBlock] | str | None).decode
dec_sdk_meta = msgspec.json.Decoder(SdkMessageMeta | None).decode
dec_manifest = msgspec.json.Decoder(SdkManifest).decode
encode = msgspec.json.encode
