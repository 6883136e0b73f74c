"""Exporting the metric totals: one thread that sends the newest snapshot, in order.

Totals are cumulative, so any export carries everything: a lost one is repaired by the next,
and a re-send after a restart repeats the same numbers. One thread sends them all, so an
older snapshot never lands after a newer one (a decrease would read as a counter reset).
It wakes when totals change, every `interval` seconds otherwise (a collector forgets a series
it has not heard of for a while), and waits `backoff` after a failure. Idle, it sleeps.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)

from agent_cli.sinks.otlp_codec import encode, rejected
from agent_cli.sinks.otlp_map import SCOPE, attributes, resource_of
from agent_cli.sinks.otlp_metrics import BOUNDS, HISTOGRAMS, SUMS, Key, Series, Totals
from agent_cli.sinks.otlp_wire import Answer, Wire

log = logging.getLogger("agent_cli")
INTERVAL = 60.0
BACKOFF_CAP = 300.0


def metrics_request(
    series: dict[Key, Series], extra: Sequence[tuple[str, str]], now_ns: int
) -> ExportMetricsServiceRequest:
    """Every series as a cumulative data point at `now_ns`, one Metric per name."""
    by_name: dict[str, list[tuple[str, Series]]] = {}
    for (name, attrs), s in sorted(series.items()):
        by_name.setdefault(name, []).append((attrs, s))
    metrics = []
    for name, points in by_name.items():
        if name in SUMS:
            unit, is_int, text = SUMS[name]
            numbers = [
                NumberDataPoint(
                    attributes=attributes(json.loads(a)),
                    start_time_unix_nano=int(s.start * 1e9),
                    time_unix_nano=now_ns,
                    **({"as_int": int(s.value)} if is_int else {"as_double": float(s.value)}),
                )
                for a, s in points
            ]
            total = Sum(
                data_points=numbers,
                is_monotonic=True,
                aggregation_temporality=AGGREGATION_TEMPORALITY_CUMULATIVE,
            )
            metrics.append(Metric(name=name, unit=unit, description=text, sum=total))
        elif name in HISTOGRAMS:
            unit, text = HISTOGRAMS[name]
            hist = Histogram(
                data_points=[_histogram_point(a, s, now_ns) for a, s in points],
                aggregation_temporality=AGGREGATION_TEMPORALITY_CUMULATIVE,
            )
            metrics.append(Metric(name=name, unit=unit, description=text, histogram=hist))
    return ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=resource_of((None, None), extra),
                scope_metrics=[ScopeMetrics(scope=SCOPE, metrics=metrics)],
            )
        ]
    )


def _histogram_point(attrs: str, s: Series, now_ns: int) -> HistogramDataPoint:
    return HistogramDataPoint(
        attributes=attributes(json.loads(attrs)),
        start_time_unix_nano=int(s.start * 1e9),
        time_unix_nano=now_ns,
        count=s.count,
        sum=s.value,
        bucket_counts=s.buckets or [0] * (len(BOUNDS) + 1),
        explicit_bounds=BOUNDS,
        min=s.min if s.min is not None else 0.0,
        max=s.max if s.max is not None else 0.0,
    )


class Pusher:
    """The exporter thread of one OTLP sink (see the module docstring)."""

    def __init__(
        self,
        totals: Totals,
        wire: Wire,
        url: str,
        resource: Sequence[tuple[str, str]],
        *,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.totals, self.wire, self.url, self.resource = totals, wire, url, resource
        self.interval, self.clock = interval, clock
        self.sent_version = 0  # of the last snapshot the collector took
        self.rejected = 0  # data points a collector refused (partial_success)
        self.exports = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and self.url:
            self._thread = threading.Thread(target=self._run, name="otlp-metrics", daemon=True)
            self._thread.start()

    def changed(self) -> None:
        self._wake.set()

    def close(self, seconds: float) -> None:
        """Send the newest totals (waiting at most `seconds`), then stop the thread."""
        if self._thread is None:
            return
        self._wake.set()
        deadline = time.monotonic() + seconds
        with self._idle:
            while self.sent_version < self.totals.version and time.monotonic() < deadline:
                self._idle.wait(min(0.1, max(deadline - time.monotonic(), 0.0)))
        self._stop.set()
        self._wake.set()
        self._thread.join(max(deadline - time.monotonic(), 0.0) + 0.1)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            version, series = self.totals.snapshot()
            ok = self.push(version, series) if series else self._nothing(version)
            failures = 0 if ok else failures + 1
            wait = self.interval if ok else min(2.0**failures, BACKOFF_CAP)
            self._wake.wait(wait)
            self._wake.clear()

    def _nothing(self, version: int) -> bool:
        with self._idle:
            self.sent_version = max(self.sent_version, version)
            self._idle.notify_all()
        return True

    def push(self, version: int, series: dict[Key, Series]) -> bool:
        """One export of `series`; True when the collector took it (the outcome is logged
        once per change, never with a header)."""
        request = metrics_request(series, self.resource, int(self.clock() * 1e9))
        got = self.wire.post(self.url, encode(request, self.wire.content_type.endswith("json")))
        ok = isinstance(got, Answer) and 200 <= got.status < 300
        if isinstance(got, Answer) and ok:
            n, why = rejected(
                ExportMetricsServiceResponse(),
                got.body,
                self.wire.content_type.endswith("json"),
                "rejected_data_points",
            )
            if n:
                self.rejected += n
                log.warning("otlp: the collector rejected %d metric data points (%s)", n, why)
        elif self.exports == 0 or self.sent_version < version:
            status = got.status if isinstance(got, Answer) else got.detail
            log.warning("otlp: metrics export failed (%s); will retry", status)
        with self._idle:
            if ok:
                self.exports += 1
                self.sent_version = max(self.sent_version, version)
            self._idle.notify_all()
        return ok
