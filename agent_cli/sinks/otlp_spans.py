"""Traces (optional): a span per call and per tool, under a span per session.

Ids are derived from the events, so a re-send (or a later revision) is the same span:
a call's or tool's span id from its event id; the session span's from agent and session;
the trace id from the root session (a subagent's parent session), so a subagent's spans
share its parent's trace, its session span under the parent's session span (the contract
does not say which call spawned it). A tool span is under its call's span. A session span is
sent with each batch holding events of that session, spanning that batch's events: the
same id every time, with the widest times last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from agent_cli.sinks.otlp_map import (
    SCOPE,
    attributes,
    hex_id,
    identity,
    log_attributes,
    nanos,
    resource_of,
)


def _ids(ev: Mapping[str, Any]) -> tuple[bytes, bytes, bytes]:
    """(trace id, session span id, parent of the session span or b"")."""
    agent = str(ev.get("agent") or "")
    session = str(ev.get("session_id") or "")
    parent = ev.get("parent_session_id")
    root = str(parent) if parent else session
    trace = hex_id("trace", agent, root, size=16)
    above = hex_id("session", agent, str(parent), size=8) if parent else b""
    return trace, hex_id("session", agent, session, size=8), above


def _times(ev: Mapping[str, Any]) -> tuple[int, int]:
    end = nanos(ev.get("timestamp"))
    ms = ev.get("duration_ms")
    start = end - int(ms) * 1_000_000 if isinstance(ms, int) and ms > 0 and end else end
    return start, end


def _span(ev: Mapping[str, Any]) -> Span:
    trace, session, _ = _ids(ev)
    start, end = _times(ev)
    tool = ev.get("kind") == "tool_call"
    parent = session
    if tool and isinstance(ev.get("call_event_id"), str):
        parent = hex_id("span", ev["call_event_id"], size=8)
    error = ev.get("status") not in (None, "ok", "superseded")
    return Span(
        trace_id=trace,
        span_id=hex_id("span", str(ev.get("event_id")), size=8),
        parent_span_id=parent,
        name=f"execute_tool {ev.get('tool_name')}" if tool else f"chat {ev.get('model')}",
        kind=Span.SPAN_KIND_INTERNAL if tool else Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=log_attributes(ev),
        status=Status(code=Status.STATUS_CODE_ERROR, message=str(ev.get("error_code") or ""))
        if error
        else Status(),
    )


def _session_span(first: Mapping[str, Any], start: int, end: int) -> Span:
    trace, session, above = _ids(first)
    pairs = [
        ("gen_ai.operation.name", "invoke_agent"),
        ("gen_ai.agent.name", first.get("agent")),
        ("gen_ai.conversation.id", first.get("session_id")),
        ("agent_cli.is_subagent", bool(first.get("parent_session_id"))),
    ]
    return Span(
        trace_id=trace,
        span_id=session,
        parent_span_id=above,
        name=f"invoke_agent {first.get('agent')}",
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=attributes(pairs),
    )


def spans_request(
    events: Sequence[Mapping[str, Any]], extra: Sequence[tuple[str, str]]
) -> ExportTraceServiceRequest:
    groups: dict[tuple[str | None, str | None], list[Span]] = {}
    sessions: dict[tuple[Any, Any], tuple[Mapping[str, Any], int, int]] = {}
    for ev in events:
        groups.setdefault(identity(ev), []).append(_span(ev))
        start, end = _times(ev)
        k = (ev.get("agent"), ev.get("session_id"))
        first, lo, hi = sessions.get(k, (ev, start, end))
        sessions[k] = (first, min(lo, start), max(hi, end))
    for first, lo, hi in sessions.values():
        groups.setdefault(identity(first), []).append(_session_span(first, lo, hi))
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=resource_of(who, extra), scope_spans=[ScopeSpans(scope=SCOPE, spans=spans)]
            )
            for who, spans in groups.items()
        ]
    )
