"""The event contract in OpenTelemetry's terms: attributes, resources and log records.

One log record per event. Fields with a GenAI semantic-convention name get it; every other
contract field goes under `agent_cli.` (see docs/otlp.md for the table). The convention counts
cached input inside input, so `gen_ai.usage.input_tokens` is input + cache_read +
cache_creation; the contract's own `input_tokens` is kept as
`agent_cli.usage.uncached_input_tokens`.
Only fields of the event body are mapped: nothing that is not in the allow-listed event can
reach a record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import (
    SEVERITY_NUMBER_INFO,
    SEVERITY_NUMBER_WARN,
    LogRecord,
    ResourceLogs,
    ScopeLogs,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from agent_cli import __version__

SCOPE = InstrumentationScope(name="agent-cli", version=__version__)

# contract field -> attribute name (both kinds of event); absent or null fields are left out
_NAMES = {
    "event_id": "agent_cli.event_id",
    "agent": "gen_ai.agent.name",
    "agent_version": "agent_cli.agent_version",
    "session_id": "gen_ai.conversation.id",
    "parent_session_id": "agent_cli.parent_session_id",
    "agent_id": "agent_cli.agent_id",
    "is_subagent": "agent_cli.is_subagent",
    "turn_index": "agent_cli.turn_index",
    "call_index": "agent_cli.call_index",
    "provider": "gen_ai.provider.name",
    "model": "gen_ai.request.model",
    "output_tokens": "gen_ai.usage.output_tokens",
    "cache_read_tokens": "gen_ai.usage.cache_read.input_tokens",
    "cache_creation_tokens": "gen_ai.usage.cache_creation.input_tokens",
    "cache_creation_1h_tokens": "agent_cli.usage.cache_creation_1h.input_tokens",
    "reasoning_tokens": "gen_ai.usage.reasoning.output_tokens",
    "input_tokens": "agent_cli.usage.uncached_input_tokens",
    "output_final": "agent_cli.output_final",
    "cost_usd": "agent_cli.cost_usd",
    "cost_source": "agent_cli.cost_source",
    "granularity": "agent_cli.granularity",
    "billed_quantity": "agent_cli.billed_quantity",
    "billed_unit": "agent_cli.billed_unit",
    "duration_ms": "agent_cli.duration_ms",
    "status": "agent_cli.status",
    "error_code": "agent_cli.error_code",
    "repo_path": "agent_cli.repo_path",
    "repo_name": "agent_cli.repo",
    "git_branch": "agent_cli.git_branch",
    "shipper_version": "agent_cli.shipper_version",
    "call_event_id": "agent_cli.call_event_id",
    "tool_name": "gen_ai.tool.name",
}
# into the resource, not the record (`resource_of`)
_RESOURCE_FIELDS = {"host": "host.name", "user": "user.name"}


def value(v: Any) -> AnyValue:
    """An AnyValue of a JSON scalar (bool before int: True is an int in Python)."""
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    return AnyValue(string_value=str(v))


def attributes(pairs: Iterable[tuple[str, Any]]) -> list[KeyValue]:
    return [KeyValue(key=k, value=value(v)) for k, v in pairs if v is not None]


def input_tokens(ev: Mapping[str, Any]) -> int:
    """Input as the GenAI convention counts it: cached input included."""
    return sum(
        int(ev.get(k) or 0) for k in ("input_tokens", "cache_read_tokens", "cache_creation_tokens")
    )


def nanos(timestamp: Any) -> int:
    """Unix nanoseconds of an ISO timestamp; 0 (unknown) for anything else."""
    if not isinstance(timestamp, str):
        return 0
    try:
        return int(datetime.fromisoformat(timestamp).timestamp() * 1_000_000) * 1000
    except (ValueError, OverflowError):
        return 0


def event_name(ev: Mapping[str, Any]) -> str:
    return "agent_cli.tool_call" if ev.get("kind") == "tool_call" else "agent_cli.llm_call"


def log_attributes(ev: Mapping[str, Any]) -> list[KeyValue]:
    pairs: list[tuple[str, Any]] = [
        ("event.name", event_name(ev)),
        ("agent_cli.revision", ev.get("revision") or 0),  # a tool call is never revised: 0
    ]
    if ev.get("kind") == "llm_call":
        pairs.append(("gen_ai.usage.input_tokens", input_tokens(ev)))
        pairs.append(("gen_ai.operation.name", "chat"))
    else:
        pairs.append(("gen_ai.operation.name", "execute_tool"))
    if ev.get("error_code"):
        pairs.append(("error.type", ev["error_code"]))
    pairs.extend((_NAMES[k], v) for k, v in ev.items() if k in _NAMES)
    return attributes(pairs)


def log_record(ev: Mapping[str, Any], observed: int) -> LogRecord:
    ok = ev.get("status") in (None, "ok", "superseded")  # a retired copy is no error
    return LogRecord(
        time_unix_nano=nanos(ev.get("timestamp")),
        observed_time_unix_nano=observed,
        severity_number=SEVERITY_NUMBER_INFO if ok else SEVERITY_NUMBER_WARN,
        severity_text="INFO" if ok else "WARN",
        event_name=event_name(ev),
        attributes=log_attributes(ev),
    )


def identity(ev: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(host, user) of an event as the privacy settings shaped them when it was read."""
    host, user = ev.get("host"), ev.get("user")
    return (host if isinstance(host, str) else None, user if isinstance(user, str) else None)


def resource_of(who: tuple[str | None, str | None], extra: Sequence[tuple[str, str]]) -> Resource:
    """service.name/version, OTEL_RESOURCE_ATTRIBUTES, then host.name and user.name."""
    base = {"service.name": "agent-cli", **dict(extra), "service.version": __version__}
    base.update({k: v for k, v in zip(_RESOURCE_FIELDS.values(), who, strict=True) if v})
    if not base.get("service.name"):
        base["service.name"] = "agent-cli"
    return Resource(attributes=attributes(base.items()))


def resource_logs(
    events: Sequence[Mapping[str, Any]], extra: Sequence[tuple[str, str]], observed: int
) -> list[ResourceLogs]:
    """The events' records, grouped by the resource (host, user) each belongs to."""
    groups: dict[tuple[str | None, str | None], list[LogRecord]] = {}
    for ev in events:
        groups.setdefault(identity(ev), []).append(log_record(ev, observed))
    return [
        ResourceLogs(
            resource=resource_of(who, extra),
            scope_logs=[ScopeLogs(scope=SCOPE, log_records=records)],
        )
        for who, records in groups.items()
    ]


def hex_id(*parts: str, size: int) -> bytes:
    """A deterministic id of `size` bytes (a trace or span id) from `parts`; never all zero."""
    digest = hashlib.sha256("\x1f".join(("agent-cli otlp", *parts)).encode()).digest()[:size]
    return digest if any(digest) else b"\x01" * size
