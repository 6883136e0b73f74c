"""A test OTLP/HTTP receiver on 127.0.0.1: decodes every request with opentelemetry-proto.

It keeps what a collector would: every log record and span (flattened to dicts) and, per
metric series, the newest cumulative data point; also every request body (decompressed) for
the canary test. Faults: `down` answers 503 to everything; `script[path]` is a list of
statuses answered first (then 200); `retry_after` goes with a 429/503; `partial[path]` is a
rejected count put in the next 2xx answer's partial_success.
"""

from __future__ import annotations

import gzip
import json
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from google.protobuf.json_format import Parse
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

REQUESTS: dict[str, tuple[type[Message], type[Message], str]] = {
    "/v1/logs": (ExportLogsServiceRequest, ExportLogsServiceResponse, "rejected_log_records"),
    "/v1/metrics": (
        ExportMetricsServiceRequest,
        ExportMetricsServiceResponse,
        "rejected_data_points",
    ),
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse, "rejected_spans"),
}


def plain(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    return None if kind is None else getattr(v, kind)


def attrs(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        assert kv.key not in out, f"attribute {kv.key} twice"
        out[kv.key] = plain(kv.value)
    return out


class OtlpReceiver:
    """The receiver (a context manager); `url` is its base URL."""

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        """`tls`: (certificate, key) to serve HTTPS instead of HTTP."""
        self.lock = threading.Lock()
        self.logs: list[dict[str, Any]] = []
        self.spans: list[dict[str, Any]] = []
        self.points: dict[tuple[str, str], dict[str, Any]] = {}
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.counts: dict[str, int] = {}
        self.errors: list[str] = []  # checks that failed while decoding a request
        self.down = False
        self.script: dict[str, list[int]] = {}
        self.retry_after: str | None = None
        self.partial: dict[str, int] = {}
        self.on_request: Callable[[str], None] | None = None
        # hold the answer to the `hold_at`-th logs request (counted from `reset_hold`) until
        # `release` is set: the records are kept, the answer is not sent (yet)
        self.hold_at = 0
        self.held = 0
        self.release = threading.Event()
        self._logs_seen = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)
        if exc[0] is None:
            assert not self.errors, self.errors

    def reset_hold(self, at: int) -> None:
        with self.lock:
            self.hold_at, self._logs_seen, self.held = at, 0, 0
            self.release = threading.Event()

    # -- what tests read ---------------------------------------------------------------------
    def latest_logs(self) -> dict[str, dict[str, Any]]:
        """event_id -> the record of its highest revision."""
        best: dict[str, dict[str, Any]] = {}
        with self.lock:
            for rec in self.logs:
                eid = rec["attributes"]["agent_cli.event_id"]
                rev = rec["attributes"].get("agent_cli.revision", 0)
                if eid not in best or rev > best[eid]["attributes"].get("agent_cli.revision", 0):
                    best[eid] = rec
        return best

    def metric_sum(self, name: str, **where: Any) -> float:
        """The sum over series of `name` (newest point each) whose attributes match."""
        with self.lock:
            return sum(
                p["value"]
                for (n, _), p in self.points.items()
                if n == name and all(p["attributes"].get(k) == v for k, v in where.items())
            )

    # -- the server ----------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        rx = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                try:
                    rx._post(self)
                except AssertionError as e:  # a check failed: the test reads `errors`
                    rx.errors.append(f"{self.path}: {e}")
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

        return Handler

    def _post(self, h: BaseHTTPRequestHandler) -> None:
        raw = h.rfile.read(int(h.headers.get("content-length") or 0))
        path = h.path
        with self.lock:
            self.counts[path] = self.counts.get(path, 0) + 1
            self.headers.append({k.lower(): v for k, v in h.headers.items()})
            scripted = self.script.get(path) or []
            status = 503 if self.down else (scripted.pop(0) if scripted else 200)
        if self.on_request is not None:
            self.on_request(path)
        if status != 200 or path not in REQUESTS:
            h.send_response(status if path in REQUESTS else 404)
            if self.retry_after and status in (429, 503):
                h.send_header("Retry-After", self.retry_after)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        assert h.headers.get("content-encoding") == "gzip"
        body = gzip.decompress(raw)
        as_json = h.headers.get("content-type") == "application/json"
        request_cls, response_cls, field = REQUESTS[path]
        msg = request_cls()
        if as_json:
            Parse(_b64_ids(body), msg)
        else:
            msg.ParseFromString(body)
        with self.lock:
            self.bodies.append(body)
            self._keep(path, msg)
            rejected = self.partial.pop(path, 0)
            hold = None
            if path == "/v1/logs":
                self._logs_seen += 1
                if self._logs_seen == self.hold_at:
                    self.held += 1
                    hold = self.release
        if hold is not None:
            hold.wait(120)
        answer = response_cls()
        if rejected:
            setattr(answer.partial_success, field, rejected)
            answer.partial_success.error_message = "test rejection"
        out = (
            json.dumps({"partialSuccess": {field: rejected}}).encode()
            if as_json
            else answer.SerializeToString()
        )
        h.send_response(200)
        h.send_header("Content-Type", "application/json" if as_json else "application/x-protobuf")
        h.send_header("Content-Length", str(len(out)))
        h.end_headers()
        h.wfile.write(out)

    def _keep(self, path: str, msg: Any) -> None:
        if path == "/v1/logs":
            for rl in msg.resource_logs:
                res = attrs(rl.resource.attributes)
                for sl in rl.scope_logs:
                    for r in sl.log_records:
                        assert not r.HasField("body"), "a log record has a body"
                        self.logs.append({"resource": res, "attributes": attrs(r.attributes),
                                          "event_name": r.event_name, "time": r.time_unix_nano,
                                          "severity": r.severity_number})  # fmt: skip
        elif path == "/v1/traces":
            for rs in msg.resource_spans:
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        self.spans.append({"trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                                           "parent": s.parent_span_id.hex(), "name": s.name,
                                           "attributes": attrs(s.attributes)})  # fmt: skip
        else:
            for rm in msg.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        self._keep_metric(m)

    def _keep_metric(self, m: Any) -> None:
        kind = m.WhichOneof("data")
        for p in getattr(m, kind).data_points:
            a = attrs(p.attributes)
            if kind == "sum":
                assert m.sum.is_monotonic and m.sum.aggregation_temporality == 2
                value = p.as_int if p.WhichOneof("value") == "as_int" else p.as_double
            else:
                value = p.sum
            key = (m.name, json.dumps(sorted(a.items())))
            old = self.points.get(key)
            if old is not None:  # cumulative: never goes down, keeps its start
                assert value >= old["value"] - 1e-9, f"{m.name} went down: {old} -> {value}"
                assert p.start_time_unix_nano == old["start"]
            count = p.count if kind == "histogram" else None
            self.points[key] = {"attributes": a, "value": value, "count": count,
                                "start": p.start_time_unix_nano}  # fmt: skip


def _b64_ids(body: bytes) -> str:
    """OTLP/JSON ids are hex; protobuf's JSON parser wants base64."""
    import base64

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: base64.b64encode(bytes.fromhex(v)).decode()
                if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str)
                else fix(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    return json.dumps(fix(json.loads(body)))
