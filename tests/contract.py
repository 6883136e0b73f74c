"""The event contract written out as plain dicts: the oracle the encoders are checked against.

`agent_cli.events` encodes events from msgspec Structs whose fields are the contract's, in its
order (fast, and nothing but those fields can be encoded). These dict builders say the same
thing the slow, obvious way; tests compare the two byte for byte.
"""

from __future__ import annotations

from typing import Any

from agent_cli import __version__
from agent_cli.events import CallFact, Place, ToolFact


def llm_call(fact: CallFact, place: Place, cost_usd: float | None, revision: int) -> dict[str, Any]:
    """Build an `llm_call` event from the allow-list of the contract."""
    return {"event_id": fact.event_id, "revision": revision, **_llm_fields(fact, place, cost_usd)}


def _llm_fields(fact: CallFact, place: Place, cost_usd: float | None) -> dict[str, Any]:
    u = fact.usage
    return {
        "kind": "llm_call",
        "timestamp": fact.timestamp,
        "agent": fact.agent,
        "agent_version": fact.context.agent_version,
        "session_id": fact.session_id,
        "parent_session_id": fact.parent_session_id,
        "agent_id": fact.agent_id,
        "is_subagent": fact.is_subagent,
        "turn_index": fact.turn_index,
        "call_index": fact.call_index,
        "provider": fact.provider,
        "model": fact.model,
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cache_read_tokens": u.cache_read_tokens,
        "cache_creation_tokens": u.cache_creation_tokens,
        "cache_creation_1h_tokens": u.cache_creation_1h_tokens,
        "reasoning_tokens": u.reasoning_tokens,
        "output_final": fact.output_final,
        "cost_usd": cost_usd,
        "cost_source": _cost_source(fact, cost_usd),
        "granularity": fact.granularity,
        "billed_quantity": fact.billed_quantity,
        "billed_unit": fact.billed_unit,
        "duration_ms": fact.duration_ms,
        "status": fact.status,
        "error_code": fact.error_code,
        "repo_path": place.repo_path,
        "repo_name": place.repo_name,
        "git_branch": place.git_branch,
        "host": place.host,
        "user": place.user,
        "shipper_version": __version__,
    }


def _cost_source(fact: CallFact, cost_usd: float | None) -> str | None:
    """Say where `cost_usd` came from: the agent's own record, genai-prices, or nowhere."""
    if cost_usd is None:
        return None
    return "agent" if fact.cost_usd is not None else "genai-prices"


def tool_call(fact: ToolFact, place: Place) -> dict[str, Any]:
    """Build a `tool_call` event from the allow-list of the contract."""
    return {
        "event_id": fact.event_id,
        "kind": "tool_call",
        "timestamp": fact.timestamp,
        "agent": fact.agent,
        "session_id": fact.session_id,
        "call_event_id": fact.call_event_id,
        "tool_name": fact.tool_name,
        "duration_ms": fact.duration_ms,
        "status": fact.status,
        "error_code": fact.error_code,
        "repo_path": place.repo_path,
        "repo_name": place.repo_name,
        "git_branch": place.git_branch,
        "host": place.host,
        "user": place.user,
    }
