"""The OTLP sink: spooled events to an OpenTelemetry Collector over OTLP/HTTP.

Each event becomes one log record (`otlp_map`); with `traces`, also a span (`otlp_spans`).
Delivered events add to cumulative metrics kept in the spool (`otlp_metrics`), which one
thread exports (`otlp_pusher`). The answers are sorted by the Sutrace sink's table (see
`sinks.http` and `otlp_wire`): retry on 408/409/425/429/5xx and transport errors with
Retry-After, pause on 401/403 (auth) and 404/405/501/505/3xx (endpoint), halve on 413,
bisect a 400/422 to the one record refused and quarantine it (``rejected_by_server``; after
BREAKER_THRESHOLD in a row, pause as incompatible).

A 2xx with `partial_success`: OTLP gives only a count, not which records, so a batch refused
whole is quarantined ``rejected:<message>``; a part is counted (``quarantine.otlp_partial``)
and the batch delivered. The header values never appear in a repr, a detail or the log.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from agent_cli.sinks import MAX_BATCH_BYTES, Outgoing, SendResult, Verdict, batches
from agent_cli.sinks.answers import url_host
from agent_cli.sinks.otlp_codec import encode, rejected
from agent_cli.sinks.otlp_config import OtlpConfig
from agent_cli.sinks.otlp_map import resource_logs
from agent_cli.sinks.otlp_metrics import Totals
from agent_cli.sinks.otlp_pusher import Pusher
from agent_cli.sinks.otlp_spans import spans_request
from agent_cli.sinks.otlp_wire import Answer, Refusal, Wire, refusal

if TYPE_CHECKING:
    import sqlite3

    import httpx

MAX_BATCH_EVENTS = 200
BREAKER_THRESHOLD = 20
FLUSH_SECONDS = 5.0  # a closing sink waits this long for the last metrics export
PARTIAL_COUNTER = "quarantine.otlp_partial"


@dataclass
class OtlpResult(SendResult):
    partial: int = 0  # records of delivered batches a collector said it refused


class _Stop(Exception):
    def __init__(self, unsent: list[Outgoing], why: Refusal) -> None:
        super().__init__(why.verdict)
        self.unsent, self.why = list(unsent), why


class OtlpSink:
    """OTLP/HTTP (protobuf, or JSON) to the URLs of an `OtlpConfig`."""

    name = "otlp"

    def __init__(
        self,
        config: OtlpConfig,
        *,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        max_batch_events: int = MAX_BATCH_EVENTS,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        metrics_interval: float = 60.0,
    ) -> None:
        self.config = config
        self.wire = Wire(config.headers, config.json, client, clock)
        self._clock = clock
        self._max_events, self._max_bytes = max_batch_events, max_batch_bytes
        self._learned = max_batch_bytes
        self._streak = 0
        self.totals = Totals()
        self.pusher = Pusher(
            self.totals,
            self.wire,
            config.metrics_url,
            config.resource,
            interval=metrics_interval,
            clock=clock,
        )
        self._logged: set[int] = set()  # keys whose logs landed but whose spans did not
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OtlpSink(logs_url={self.config.logs_url!r}, {self.wire!r})"

    @property
    def max_batch_events(self) -> int:
        return self._max_events

    @property
    def max_batch_bytes(self) -> int:
        return self._learned

    @property
    def endpoint(self) -> str:
        return self.config.logs_url

    # -- Accounting: metric totals, on the shipper's thread ----------------------------------
    def load(self, db: sqlite3.Connection) -> None:
        self.totals.load(db)
        self.pusher.start()

    def account(
        self, batch: Sequence[Outgoing], res: SendResult
    ) -> Callable[[sqlite3.Connection], None]:
        done = set(res.delivered)
        events = [_decode(ev.body) for ev in batch if ev.key in done]
        partial = res.partial if isinstance(res, OtlpResult) else 0
        now = self._clock()

        def write(db: sqlite3.Connection) -> None:
            self.totals.write(db, events, now)
            if partial:
                db.execute(
                    "INSERT INTO counters(name, count) VALUES (?, ?) ON CONFLICT(name) "
                    "DO UPDATE SET count = count + excluded.count",
                    (PARTIAL_COUNTER, partial),
                )

        return write

    def committed(self) -> None:
        self.totals.commit()
        self.pusher.changed()

    def rolled_back(self) -> None:
        self.totals.rollback()

    def close(self) -> None:
        self.pusher.close(FLUSH_SECONDS)
        self.wire.close()

    # -- one delivery attempt ------------------------------------------------------------
    def send(self, events: Sequence[Outgoing]) -> SendResult:
        res = OtlpResult()
        todo: list[Outgoing] = []
        for ev in events:
            if len(ev.body) > self._max_bytes:
                res.quarantined.append((ev.key, "oversize_event"))
            else:
                todo.append(ev)
        queue = list(batches(todo, self._max_events, self._learned))
        try:
            while queue:
                self._post(queue.pop(0), res)
        except _Stop as stop:
            res.pending.extend(ev.key for ev in stop.unsent)
            res.pending.extend(ev.key for b in queue for ev in b)
            res.verdict, res.detail = stop.why.verdict, stop.why.detail
            res.retry_after = stop.why.retry_after
        if res.verdict is Verdict.OK:
            res.detail = f"delivered {len(res.delivered)} events" + (
                f", quarantined {len(res.quarantined)}" if res.quarantined else ""
            )
        return res

    def _post(self, batch: list[Outgoing], res: OtlpResult) -> None:
        batch_all = batch
        docs = [_decode(ev.body) for ev in batch]
        with self._lock:
            fresh = [
                (ev, d) for ev, d in zip(batch, docs, strict=True) if ev.key not in self._logged
            ]
        if fresh:
            request = ExportLogsServiceRequest(
                resource_logs=resource_logs(
                    [d for _, d in fresh], self.config.resource, int(self._clock() * 1e9)
                )
            )
            url = self.config.logs_url
            got = self.wire.post(url, encode(request, self.config.json))
            if not self._accepted(batch, got, url, res):
                return
            n, why = rejected(
                ExportLogsServiceResponse(), _body(got), self.config.json, "rejected_log_records"
            )
            if n >= len(fresh):  # refused whole: those records are quarantined
                res.quarantined.extend((ev.key, f"rejected:{why or 'otlp'}") for ev, _ in fresh)
                refused = {ev.key for ev, _ in fresh}
                batch = [ev for ev in batch if ev.key not in refused]
                docs = [d for d, ev in zip(docs, batch_all, strict=True) if ev.key not in refused]
            else:
                res.partial += n
        if batch and self.config.traces and self.config.traces_url:
            self._post_spans(batch, docs, res)
        with self._lock:
            self._logged.difference_update(ev.key for ev in batch)
        res.delivered.extend(ev.key for ev in batch)

    def _post_spans(
        self, batch: list[Outgoing], docs: list[dict[str, Any]], res: OtlpResult
    ) -> None:
        with self._lock:  # a retry of this batch sends only the spans
            self._logged.update(ev.key for ev in batch)
        url = self.config.traces_url
        got = self.wire.post(
            url, encode(spans_request(docs, self.config.resource), self.config.json)
        )
        if isinstance(got, Answer) and 200 <= got.status < 300:
            n, _ = rejected(
                ExportTraceServiceResponse(), got.body, self.config.json, "rejected_spans"
            )
            res.partial += n
            return
        why = got if isinstance(got, Refusal) else refusal(got, url)
        if why is None:  # spans refused as bad data (400, 413 ...): the logs went; count it
            res.partial += len(batch)
            return
        raise _Stop(batch, why)

    def _accepted(
        self, batch: list[Outgoing], got: Answer | Refusal, url: str, res: OtlpResult
    ) -> bool:
        """Whether the logs were taken (2xx); otherwise stop, split or quarantine."""
        if isinstance(got, Refusal):
            raise _Stop(batch, got)
        if 200 <= got.status < 300:
            self._streak = 0
            return True
        stop = refusal(got, url)
        if stop is not None:
            raise _Stop(batch, stop)
        if got.status == 413:
            if len(batch) == 1:
                res.quarantined.append((batch[0].key, "oversize_event"))
                return False
            size = sum(len(ev.body) for ev in batch)
            self._learned = max(1, min(self._learned, size // 2))
        elif self._streak >= BREAKER_THRESHOLD:
            raise _Stop(
                batch,
                Refusal(
                    Verdict.PAUSE_INCOMPATIBLE,
                    f"{url_host(url)} refused "
                    f"{self._streak} records in a row ({got.status}); this agent-cli may "
                    "not match the collector: sending paused, nothing dropped",
                ),
            )
        elif len(batch) == 1:
            self._streak += 1
            res.quarantined.append((batch[0].key, "rejected_by_server"))
            return False
        self._split(batch, res)
        return False

    def _split(self, batch: list[Outgoing], res: OtlpResult) -> None:
        half = len(batch) // 2
        try:
            self._post(batch[:half], res)
        except _Stop as stop:
            stop.unsent.extend(batch[half:])
            raise
        self._post(batch[half:], res)


def _decode(body: bytes) -> dict[str, Any]:
    doc = json.loads(body)
    return doc if isinstance(doc, dict) else {}


def _body(got: Answer | Refusal) -> bytes:
    return got.body if isinstance(got, Answer) else b""
