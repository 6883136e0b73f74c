"""The event contract (schema 1): facts from a source in, allow-listed encoded events out.

A source reports what a transcript says as `CallFact` and `ToolFact` records. They carry
working data (cwd, natural keys) that must never leave the machine as such;
`encode_llm_call()` and `encode_tool_call()` copy only the contract's fields into a struct
that has no others (`LLM_FIELDS`, `TOOL_FIELDS`, in order), so nothing else can leak.

Token fields mean the same for every agent: input + cache_read + cache_creation + output is
the call's total; `cache_creation_1h_tokens` is part of `cache_creation_tokens` and
`reasoning_tokens` part of `output_tokens`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import msgspec

from agent_cli import __version__

_encode = msgspec.json.encode

# Exactly the fields of DESIGN.md's contract, in this order ("event_id" and "revision" first:
# see `llm_call_body`). A tool call is never revised and carries no revision.
LLM_FIELDS = (
    "event_id", "revision", "kind", "timestamp", "agent", "agent_version",
    "session_id", "parent_session_id", "agent_id", "is_subagent", "turn_index", "call_index",
    "provider", "model", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_creation_tokens", "cache_creation_1h_tokens", "reasoning_tokens", "output_final",
    "cost_usd", "cost_source", "granularity", "billed_quantity", "billed_unit", "duration_ms",
    "status", "error_code", "repo_path", "repo_name", "git_branch", "host", "user",
    "shipper_version",
)  # fmt: skip
TOOL_FIELDS = (
    "event_id", "kind", "timestamp", "agent", "session_id", "call_event_id", "tool_name",
    "duration_ms", "status", "error_code", "repo_path", "repo_name", "git_branch", "host",
    "user",
)  # fmt: skip
TOKEN_FIELDS = (
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
    "cache_creation_1h_tokens", "reasoning_tokens",
)  # fmt: skip


def event_id(agent: str, *natural_key: str) -> str:
    """Return the deterministic id of an event: sha256 over "v1", the agent and the key."""
    text = "\x1f".join(("v1", agent, *natural_key))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# Usage, Context and the facts are msgspec Structs, not dataclasses: built once or more per
# event, and a Struct's __init__ (C) costs a fifth of a dataclass's with keywords. Neither
# kind is ever encoded as it is; Usage and Context hold only scalars (no GC tracking).
class Usage(msgspec.Struct, gc=False):
    """Token counts of one call in the shared meaning (see the module docstring)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_creation_1h_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total(self) -> int:
        return (
            self.input_tokens + self.output_tokens + self.cache_read_tokens
            + self.cache_creation_tokens
        )  # fmt: skip


class Context(msgspec.Struct, gc=False):
    """Where a call happened: used for enrichment, never copied into events as is."""

    cwd: str | None = None
    git_branch: str | None = None
    repo_url: str | None = None  # a remote URL the transcript recorded (Codex session_meta)
    agent_version: str | None = None


class CallFact(msgspec.Struct):
    """One API call as the transcript shows it, after the source's counting rules."""

    agent: str
    event_id: str
    rank: int  # grows with the call's usage; a higher rank is re-emitted as a new revision
    timestamp: str
    session_id: str | None
    model: str | None
    usage: Usage
    context: Context
    parent_session_id: str | None = None
    agent_id: str | None = None
    is_subagent: bool = False
    turn_index: int | None = None
    call_index: int | None = None
    provider: str | None = None
    output_final: bool = True
    duration_ms: int | None = None
    status: str = "ok"
    error_code: str | None = None
    speed: str | None = None  # "fast" selects the fast-mode price
    # A call written again under another id (ledger.py, "Copies"): `alias` is the key the
    # copy and its original share, `copy` the reason a copy is dropped when its original is
    # known (None for an original).
    alias: str | None = None
    copy: str | None = None
    # The agent's own recorded cost of the call (USD); when set it wins over genai-prices.
    cost_usd: float | None = None
    # "call": one API call; "session_delta": the growth of a session-level total between two
    # snapshots of a format that records no per-call usage (never mistaken for a call).
    granularity: str = "call"
    # What the agent bills in when it is not USD tokens (e.g. 1.0 "premium_request"): kept
    # as the agent recorded it, never converted to dollars.
    billed_quantity: float | None = None
    billed_unit: str | None = None


class ToolFact(msgspec.Struct):
    """One tool use matched to its result."""

    agent: str
    event_id: str
    timestamp: str
    session_id: str | None
    call_event_id: str | None
    tool_name: str
    duration_ms: int | None
    status: str
    error_code: str | None
    context: Context = msgspec.field(default_factory=Context)


@dataclass(frozen=True, slots=True)
class Place:
    """Enrichment of a context: repository, branch, host and user."""

    repo_path: str | None
    repo_name: str | None
    git_branch: str | None
    host: str | None
    user: str | None


_GP = "genai-prices"


class _LlmTail(msgspec.Struct):
    """An `llm_call` event without its id and revision: LLM_FIELDS[2:], in that order.

    Only encoded, never decoded: the annotations say what the fields hold, nothing checks.
    """

    kind: str
    timestamp: str
    agent: str
    agent_version: str | None
    session_id: str | None
    parent_session_id: str | None
    agent_id: str | None
    is_subagent: bool
    turn_index: int | None
    call_index: int | None
    provider: str | None
    model: str | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int
    cache_creation_1h_tokens: int
    reasoning_tokens: int
    output_final: bool
    cost_usd: float | None
    cost_source: str | None
    granularity: str
    billed_quantity: float | None
    billed_unit: str | None
    duration_ms: int | None
    status: str
    error_code: str | None
    repo_path: str | None
    repo_name: str | None
    git_branch: str | None
    host: str | None
    user: str | None
    shipper_version: str


class _ToolEvent(msgspec.Struct):
    """A `tool_call` event: TOOL_FIELDS, in that order (only encoded)."""

    event_id: str
    kind: str
    timestamp: str
    agent: str
    session_id: str | None
    call_event_id: str | None
    tool_name: str
    duration_ms: int | None
    status: str
    error_code: str | None
    repo_path: str | None
    repo_name: str | None
    git_branch: str | None
    host: str | None
    user: str | None


def encode_llm_call(fact: CallFact, place: Place, cost_usd: float | None) -> bytes:
    """Encode an `llm_call` event but its id and revision: the tail `llm_call_body` takes.

    The ledger decides the revision after the event is built (in a worker process, during a
    large backfill), so the rest is encoded once and the two leading fields joined later.
    The struct has the contract's fields in its order (tests compare it byte for byte with
    the plain dict form in tests/contract.py).
    """
    u = fact.usage
    c = fact.context
    cost_source = None if cost_usd is None else "agent" if fact.cost_usd is not None else _GP
    return _encode(
        _LlmTail("llm_call", fact.timestamp, fact.agent, c.agent_version, fact.session_id,
                 fact.parent_session_id, fact.agent_id, fact.is_subagent, fact.turn_index,
                 fact.call_index, fact.provider, fact.model, u.input_tokens, u.output_tokens,
                 u.cache_read_tokens, u.cache_creation_tokens, u.cache_creation_1h_tokens,
                 u.reasoning_tokens, fact.output_final, cost_usd, cost_source,
                 fact.granularity, fact.billed_quantity, fact.billed_unit, fact.duration_ms,
                 fact.status, fact.error_code, place.repo_path, place.repo_name,
                 place.git_branch, place.host, place.user, __version__)
    )[1:]  # fmt: skip


def llm_call_body(event_id: str, revision: int, tail: bytes) -> bytes:
    """Return the whole encoded event: the id and revision joined to the tail."""
    return b'{"event_id":"%s","revision":%d,%s' % (event_id.encode(), revision, tail)


def superseded_tail(tail: bytes) -> bytes:
    """Empty an `encode_llm_call` tail: the event of a copy superseded by its original.

    The fields but usage, cost and status stay the original's; tokens and cost are zero and
    `status` is `superseded`, so a receiver keeping the highest revision counts nothing.
    """
    fields = msgspec.json.decode(b"{" + tail)
    for name in TOKEN_FIELDS:
        fields[name] = 0
    fields.update(cost_usd=0.0, cost_source=None, status="superseded", error_code=None)
    return _encode(fields)[1:]


def encode_tool_call(fact: ToolFact, place: Place) -> bytes:
    """Encode a `tool_call` event (never revised: the encoding is final), from a struct of
    the contract's fields in order."""
    return _encode(
        _ToolEvent(fact.event_id, "tool_call", fact.timestamp, fact.agent, fact.session_id,
                   fact.call_event_id, fact.tool_name, fact.duration_ms, fact.status,
                   fact.error_code, place.repo_path, place.repo_name, place.git_branch,
                   place.host, place.user)
    )  # fmt: skip
