"""The OTLP sink's wire, one attempt at a time (httpx.MockTransport): the Sutrace sink's retry
table, 413 halving, 400 bisection, partial_success, gzip, JSON, headers kept secret, no
redirect followed; and its settings from the standard OTEL_* variables."""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from agent_cli.errors import ConfigError
from agent_cli.sinks import Outgoing, Verdict
from agent_cli.sinks.otlp import BREAKER_THRESHOLD, OtlpSink
from agent_cli.sinks.otlp_config import OtlpConfig, otlp_config

SECRET = "api-key=s3cr3t-value-0001"
BASE = "https://collector.example.test"


def event(i: int, **extra: Any) -> Outgoing:
    body = {"event_id": f"{i:064x}", "revision": 0, "kind": "llm_call", "agent": "claude-code",
            "model": "m", "input_tokens": 1, "output_tokens": 2, "cache_read_tokens": 3,
            "cache_creation_tokens": 4, "status": "ok", **extra}  # fmt: skip
    return Outgoing(i, body["event_id"], 0, json.dumps(body).encode())


def config(**kw: Any) -> OtlpConfig:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_EXPORTER_OTLP_HEADERS": SECRET}
    found = otlp_config({**env, **kw})
    assert found is not None
    return found


def make(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> OtlpSink:
    client = httpx.Client(transport=httpx.MockTransport(handler), follow_redirects=True)
    cfg = config(**kw.pop("env", {}))
    return OtlpSink(cfg, client=client, **kw)


def records(request: httpx.Request) -> list[str]:
    """The event ids of the log records in a request."""
    assert request.headers["content-encoding"] == "gzip"
    msg = ExportLogsServiceRequest()
    msg.ParseFromString(gzip.decompress(request.content))
    return [
        kv.value.string_value
        for rl in msg.resource_logs
        for sl in rl.scope_logs
        for r in sl.log_records
        for kv in r.attributes
        if kv.key == "agent_cli.event_id"
    ]


EVENTS = [event(i) for i in range(1, 9)]

RETRY_TABLE = [
    (429, {"Retry-After": "7"}, Verdict.RETRY, 7.0),
    (503, {"Retry-After": "2"}, Verdict.RETRY, 2.0),
    (500, {}, Verdict.RETRY, None),
    (502, {}, Verdict.RETRY, None),
    (408, {}, Verdict.RETRY, None),
    (401, {}, Verdict.PAUSE_AUTH, None),
    (403, {}, Verdict.PAUSE_AUTH, None),
    (404, {}, Verdict.PAUSE_ENDPOINT, None),
    (501, {}, Verdict.PAUSE_ENDPOINT, None),
    (307, {"Location": "https://elsewhere.example.test/v1/logs"}, Verdict.PAUSE_ENDPOINT, None),
]


@pytest.mark.parametrize(("code", "headers", "verdict", "wait"), RETRY_TABLE)
def test_the_retry_table_is_the_sutrace_sinks(
    code: int, headers: dict[str, str], verdict: Verdict, wait: float | None
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(code, headers=headers)

    res = make(handler).send(EVENTS)
    assert res.verdict is verdict and res.retry_after == wait
    assert sorted(res.pending) == [e.key for e in EVENTS] and not res.delivered
    # one request, to the collector only: a redirect is never followed with the headers
    assert [r.url.host for r in seen] == ["collector.example.test"]
    assert SECRET.split("=")[1] not in res.detail


@pytest.mark.parametrize(
    "error", [httpx.ReadTimeout, httpx.ConnectError, httpx.RemoteProtocolError]
)
def test_transport_errors_retry_and_never_show_a_header(error: type[httpx.HTTPError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error(f"boom {request.headers['api-key']}", request=request)

    res = make(handler).send(EVENTS)
    assert res.verdict is Verdict.RETRY and len(res.pending) == len(EVENTS)
    assert "s3cr3t" not in res.detail and "boom" in res.detail


def test_headers_go_to_the_collector_and_nowhere_else(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    caplog.set_level(logging.DEBUG)
    sink = make(handler)
    res = sink.send(EVENTS)
    assert res.verdict is Verdict.OK and sorted(res.delivered) == [e.key for e in EVENTS]
    assert seen[0].headers["api-key"] == "s3cr3t-value-0001"
    assert seen[0].url == f"{BASE}/v1/logs"
    assert seen[0].headers["content-type"] == "application/x-protobuf"
    assert records(seen[0]) == [e.event_id for e in EVENTS]
    assert "s3cr3t" not in repr(sink) and "s3cr3t" not in repr(sink.config)
    assert "s3cr3t" not in caplog.text


def test_413_halves_until_the_collector_takes_it() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(413 if len(records(request)) > 2 else 200)

    sink = make(handler)
    res = sink.send(EVENTS)
    assert res.verdict is Verdict.OK and sorted(res.delivered) == [e.key for e in EVENTS]
    assert sink.max_batch_bytes < 1024 * 1024  # later batches are cut smaller


def test_a_single_record_refused_as_too_large_is_quarantined() -> None:
    res = make(lambda r: httpx.Response(413)).send(EVENTS[:1])
    assert res.quarantined == [(1, "oversize_event")] and res.verdict is Verdict.OK


def test_400_is_bisected_to_the_one_bad_record() -> None:
    bad = EVENTS[5].event_id

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400 if bad in records(request) else 200)

    res = make(handler).send(EVENTS)
    assert res.quarantined == [(6, "rejected_by_server")]
    assert sorted(res.delivered) == [e.key for e in EVENTS if e.key != 6]


def test_the_breaker_pauses_after_many_refusals_in_a_row() -> None:
    sink = make(lambda r: httpx.Response(400))
    many = [event(i) for i in range(1, BREAKER_THRESHOLD + 5)]
    res = sink.send(many)
    assert len(res.quarantined) == BREAKER_THRESHOLD
    assert res.verdict is Verdict.PAUSE_INCOMPATIBLE and res.pending


def _partial(n: int) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        answer = ExportLogsServiceResponse()
        answer.partial_success.rejected_log_records = n
        answer.partial_success.error_message = "bad\nattr"
        return httpx.Response(200, content=answer.SerializeToString())

    return handler


def test_partial_success_whole_batch_is_quarantined() -> None:
    res = make(_partial(len(EVENTS))).send(EVENTS)
    assert sorted(k for k, _ in res.quarantined) == [e.key for e in EVENTS]
    assert {why for _, why in res.quarantined} == {"rejected:bad attr"}


def test_partial_success_of_some_is_counted_and_the_rest_delivered() -> None:
    res = make(_partial(3)).send(EVENTS)
    assert sorted(res.delivered) == [e.key for e in EVENTS] and not res.quarantined
    assert getattr(res, "partial", None) == 3


def test_an_oversized_answer_is_read_only_in_part() -> None:
    res = make(lambda r: httpx.Response(200, content=b"\x00" * (5 * 1024 * 1024))).send(EVENTS)
    assert res.verdict is Verdict.OK and len(res.delivered) == len(EVENTS)


def test_json_encoding_with_hex_ids() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    env = {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
    sink = OtlpSink(
        OtlpConfig(**{**config(**env).__dict__, "traces": True}),
        client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    tool = event(99, kind="tool_call", call_event_id=f"{1:064x}", tool_name="Bash")
    assert sink.send([EVENTS[0], tool]).verdict is Verdict.OK
    logs, traces = (json.loads(gzip.decompress(r.content)) for r in seen)
    assert seen[0].headers["content-type"] == "application/json"
    attrs = logs["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"]
    assert {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "8"}} in attrs
    spans = traces["resourceSpans"][0]["scopeSpans"][0]["spans"]
    call, tool_span = spans[0], spans[1]
    assert len(call["traceId"]) == 32 and len(call["spanId"]) == 16
    assert tool_span["parentSpanId"] == call["spanId"]  # a tool under its call


def test_spans_failing_after_logs_resend_only_the_spans() -> None:
    paths: list[str] = []
    answers = iter([200, 503, 200])  # logs ok, traces down; then the traces again

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(next(answers))

    sink = OtlpSink(
        OtlpConfig(**{**config().__dict__, "traces": True}),
        client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    assert sink.send(EVENTS).verdict is Verdict.RETRY
    assert sink.send(EVENTS).verdict is Verdict.OK
    assert paths == ["/v1/logs", "/v1/traces", "/v1/traces"]


# -- settings ---------------------------------------------------------------------------------


def test_no_endpoint_no_sink() -> None:
    assert otlp_config({}) is None


def test_signal_endpoints_and_the_flag() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318/",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://m.example.test/custom",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=dev,team=a%2Cb,service.name=x",
        "OTEL_SERVICE_NAME": "agents",
    }
    c = otlp_config(env)
    assert c is not None
    assert c.logs_url == "http://localhost:4318/v1/logs"
    assert c.metrics_url == "https://m.example.test/custom"
    assert c.traces_url == "http://localhost:4318/v1/traces"
    assert dict(c.resource) == {"deployment.environment": "dev", "team": "a,b",
                                "service.name": "agents"}  # fmt: skip
    flagged = otlp_config(env, "http://127.0.0.1:9999")
    assert flagged is not None and flagged.metrics_url == "http://127.0.0.1:9999/v1/metrics"


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.example.test:4318"}, "plain http"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://u:p4ss@c.example.test"}, "user name"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "gRPC"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "pairs"),
        ({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": BASE}, "LOGS_ENDPOINT"),
    ],
)
def test_bad_settings_are_one_sentence(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says) as info:
        otlp_config(env)
    assert "p4ss" not in str(info.value)


def test_a_refused_retry_of_logs_still_delivers_the_spans_of_the_others() -> None:
    """Logs taken, spans failed; the retry adds an event whose record the collector refuses
    whole: it is quarantined, the others (logs already in) get their spans and are delivered."""
    answers = iter([httpx.Response(200), httpx.Response(503)])
    refuse = ExportLogsServiceResponse()
    refuse.partial_success.rejected_log_records = 1

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/logs" and EVENTS[-1].event_id in records(request):
            assert records(request) == [EVENTS[-1].event_id]  # only the new one's logs
            return httpx.Response(200, content=refuse.SerializeToString())
        return next(answers, httpx.Response(200))

    sink = OtlpSink(
        OtlpConfig(**{**config().__dict__, "traces": True}),
        client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    assert sink.send(EVENTS[:-1]).verdict is Verdict.RETRY
    res = sink.send(EVENTS)
    assert res.verdict is Verdict.OK
    assert [k for k, _ in res.quarantined] == [EVENTS[-1].key]
    assert sorted(res.delivered) == [e.key for e in EVENTS[:-1]]
