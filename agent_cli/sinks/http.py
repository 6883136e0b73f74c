"""The Sutrace HTTP sink: one delivery attempt of spooled events to the endpoint (protocol v1).

``HttpSink.send`` POSTs gzip JSON to ``{endpoint}/v1/events`` and sorts every event it was given
into *delivered*, *quarantined* (never send again) or *pending* (retry later). It never sleeps
and never follows redirects: the caller owns waiting (``deliver.backoff_delay``) and the spool.

=========================================  ====================================================
answer                                     what ``send`` does
=========================================  ====================================================
2xx                                        listed in ``rejected`` -> quarantined
                                           ``rejected:<reason>``; all others delivered (also
                                           when the body cannot be parsed); resets the breaker
408, 409, 425, 429, 5xx (but 501, 505),    stop: rest pending, RETRY (``retry_after`` from
transport errors (connect, read, timeout,  ``Retry-After``, seconds or HTTP date, clamped to
reset, protocol)                           [0, 3600])
413                                        split in halves, send each; a single event ->
                                           quarantined ``oversize_event``; later claims are cut
                                           to half the refused size
400, 422, other 4xx                        bisect the same way; a single event -> quarantined
                                           ``rejected_by_server``.  After 20 such singletons in
                                           a row (across calls, reset by any 2xx) the breaker
                                           opens: the next refusal stops with the rest pending
                                           and PAUSE_INCOMPATIBLE, nothing more is quarantined
401, 403                                   stop: rest pending, PAUSE_AUTH
404, 405, 501, 505, any 3xx                stop: rest pending, PAUSE_ENDPOINT (the key is
                                           never sent to the redirect target)
=========================================  ====================================================

An event whose body alone exceeds ``max_batch_bytes`` is quarantined ``oversize_event`` unsent.
The API key never appears in a detail, an exception text or a repr (``mask_key`` shows …last 4).
Not thread-safe: one shipper loop owns one sink.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import httpx

from agent_cli import __version__
from agent_cli.errors import ConfigError
from agent_cli.sinks import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    Outgoing,
    SendResult,
    Verdict,
    batches,
)
from agent_cli.sinks.answers import (
    http_error,
    parse_retry_after,
    sanitise,
    untrusted_certificate,
    url_host,
)
from agent_cli.sinks.endpoint import check_endpoint, mask_key

BREAKER_THRESHOLD = 20
MAX_ANSWER_BYTES = 1024 * 1024  # of a response body; the protocol's answer is far smaller
_TRANSIENT = frozenset({408, 409, 425, 429})
_ENDPOINT = frozenset({404, 405, 501, 505})


class _Stop(Exception):
    """Internal: this attempt ends here; ``unsent`` (in order) becomes pending."""

    def __init__(
        self,
        unsent: list[Outgoing],
        verdict: Verdict,
        detail: str,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(verdict)
        self.unsent, self.verdict, self.detail, self.retry_after = (
            list(unsent),
            verdict,
            detail,
            retry_after,
        )


class HttpSink:
    """Protocol v1 to the Sutrace ingest endpoint (see the module docstring)."""

    name = "sutrace"

    def __init__(
        self,
        endpoint: str,
        api_key: str,
        *,
        client: httpx.Client | None = None,
        host: str | None = None,
        clock: Callable[[], float] = time.time,
        max_batch_events: int = MAX_BATCH_EVENTS,
        max_batch_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        if not api_key:
            raise ConfigError("No API key; set SUTRACE_API_KEY.")
        if not (api_key.isascii() and api_key.isprintable()) or " " in api_key:
            raise ConfigError(
                "The API key contains spaces or unusual characters; copy it again from Sutrace."
            )
        if max_batch_events < 1 or max_batch_bytes < 1:
            raise ConfigError("Batch limits must be positive.")
        self.endpoint = check_endpoint(endpoint)
        self._url = self.endpoint + "/v1/events"
        self._key = api_key
        self._owns_client = client is None
        self._client = client  # made on first use: loading the CA bundle costs ~0.1 s
        self._shipper = json.dumps(
            {
                "name": "agent-cli",
                "version": __version__,
                "host": host if host is not None else socket.gethostname(),
            },
            separators=(",", ":"),
        ).encode()
        self._clock = clock
        self._max_events = max_batch_events
        self._max_bytes = max_batch_bytes
        self._learned_bytes = max_batch_bytes  # event bytes per batch; halved on a 413
        self._streak = 0  # consecutive singleton 400/422 rejections

    def _http(self) -> httpx.Client:
        import httpx  # imported on first send: a run with nothing to send starts faster

        if self._client is None:
            self._client = httpx.Client(
                timeout=httpx.Timeout(30, connect=10),
                follow_redirects=False,
                verify=True,
                trust_env=True,
            )
        return self._client

    def __repr__(self) -> str:
        return f"HttpSink(endpoint={self.endpoint!r}, api_key={mask_key(self._key)!r})"

    @property
    def max_batch_events(self) -> int:
        return self._max_events

    @property
    def max_batch_bytes(self) -> int:
        return self._learned_bytes

    @property
    def breaker_open(self) -> bool:
        return self._streak >= BREAKER_THRESHOLD

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()

    def send(self, events: Sequence[Outgoing]) -> SendResult:
        res = SendResult()
        todo: list[Outgoing] = []
        for ev in events:
            if len(ev.body) > self._max_bytes:
                res.quarantined.append((ev.key, "oversize_event"))
            else:
                todo.append(ev)
        limit = min(self._learned_bytes, self._max_bytes - len(self._envelope([])))
        queue = list(batches(todo, self._max_events, limit))
        try:
            while queue:
                self._post(queue.pop(0), res)
        except _Stop as stop:
            res.pending.extend(ev.key for ev in stop.unsent)
            res.pending.extend(ev.key for batch in queue for ev in batch)
            res.verdict, res.detail, res.retry_after = stop.verdict, stop.detail, stop.retry_after
        if res.verdict is Verdict.OK:
            res.detail = f"delivered {len(res.delivered)} events" + (
                f", quarantined {len(res.quarantined)}" if res.quarantined else ""
            )
        res.detail = res.detail.replace(self._key, mask_key(self._key))
        return res

    # -- one request, recursing on 413 / 400 ------------------------------------------------

    def _post(self, batch: list[Outgoing], res: SendResult) -> None:
        # Level 1: 7x smaller on event JSON, at half the CPU of level 6.
        body = gzip.compress(self._envelope(batch), 1, mtime=0)
        try:
            resp, answer = self._exchange(batch, body)
        except http_error() as exc:  # TransportError, or a body we could not decode
            res.status = None
            if untrusted_certificate(exc):  # a misconfiguration: retrying cannot fix it
                self._stop(
                    batch,
                    Verdict.PAUSE_ENDPOINT,
                    f"the TLS certificate of {self._host()} is not trusted; fix the endpoint "
                    "or its certificate (a private CA: SSL_CERT_FILE); sending paused",
                )
            msg = sanitise(str(exc).replace(self._key, "…"), 120)
            self._stop(
                batch,
                Verdict.RETRY,
                f"could not reach {self._host()}: "
                f"{type(exc).__name__}{': ' + msg if msg else ''}; will retry",
            )
        code = res.status = resp.status_code
        if 200 <= code < 300:
            self._streak = 0
            self._accept(batch, answer, res)
        elif code == 413:
            if len(batch) == 1:
                res.quarantined.append((batch[0].key, "oversize_event"))
                return
            sizes = sum(len(ev.body) for ev in batch) + len(batch) - 1
            self._learned_bytes = max(1, min(self._learned_bytes, sizes // 2))
            self._split(batch, res)
        else:
            self._refused(batch, resp, res)

    def _exchange(self, batch: list[Outgoing], body: bytes) -> tuple[httpx.Response, bytes]:
        """POST `body`; return the response and at most MAX_ANSWER_BYTES of its body.

        Any server may answer anything: the rest of a longer answer is never read (the
        connection is closed instead), and an answer compressed although it was asked for
        uncompressed is not read at all, so no small body can inflate into a large one.
        """
        headers = self._headers(batch)
        answer = bytearray()
        # follow_redirects=False on the request too: a client passed in may follow them, and
        # a redirect must never carry the key to another host
        with self._http().stream(
            "POST", self._url, content=body, headers=headers, follow_redirects=False
        ) as resp:
            encoding = resp.headers.get("content-encoding", "").strip().lower()
            if encoding in ("", "identity"):
                for chunk in resp.iter_bytes():
                    answer += chunk
                    if len(answer) >= MAX_ANSWER_BYTES:
                        break
        return resp, bytes(answer[:MAX_ANSWER_BYTES])

    def _refused(self, batch: list[Outgoing], resp: httpx.Response, res: SendResult) -> None:
        """Any answer but 2xx and 413: stop (retry or pause), or bisect to the bad event."""
        code = resp.status_code
        wait = parse_retry_after(resp.headers.get("retry-after"), self._clock())
        if code in _TRANSIENT or (code >= 500 and code not in _ENDPOINT):
            self._stop(batch, Verdict.RETRY, f"server answered {code}; will retry", wait)
        elif code in (401, 403):
            self._stop(
                batch,
                Verdict.PAUSE_AUTH,
                f"server answered {code}: the API key was "
                "refused; sending paused until the key is fixed",
                wait,
            )
        elif code in _ENDPOINT:
            self._stop(
                batch,
                Verdict.PAUSE_ENDPOINT,
                f"server answered {code} for {self._url}; check the endpoint; sending paused",
                wait,
            )
        elif 300 <= code < 400:
            target = url_host(resp.headers.get("location", "")) or self._host()
            self._stop(
                batch,
                Verdict.PAUSE_ENDPOINT,
                f"server redirected ({code}) to "
                f"{sanitise(target)}; not followed; check the endpoint",
                wait,
            )
        elif self.breaker_open:  # 400, 422, any other 4xx or 1xx
            self._stop(
                batch,
                Verdict.PAUSE_INCOMPATIBLE,
                f"server refused {self._streak} events"
                f" in a row ({code}); this agent-cli may not match the server: sending "
                "paused, nothing dropped",
                wait,
            )
        elif len(batch) == 1:
            self._streak += 1
            res.quarantined.append((batch[0].key, "rejected_by_server"))
        else:
            self._split(batch, res)

    def _split(self, batch: list[Outgoing], res: SendResult) -> None:
        half = len(batch) // 2
        try:
            self._post(batch[:half], res)
        except _Stop as stop:
            stop.unsent.extend(batch[half:])
            raise
        self._post(batch[half:], res)

    @staticmethod
    def _stop(
        batch: list[Outgoing], verdict: Verdict, detail: str, wait: float | None = None
    ) -> NoReturn:
        raise _Stop(batch, verdict, detail, wait)

    def _accept(self, batch: list[Outgoing], answer: bytes, res: SendResult) -> None:
        rejected: dict[str, str] = {}
        try:
            doc = json.loads(answer)
            for item in doc.get("rejected") or []:
                if isinstance(item, dict) and isinstance(item.get("event_id"), str):
                    rejected[item["event_id"]] = sanitise(str(item.get("reason", "")))
        except (ValueError, TypeError, AttributeError):
            rejected = {}  # the status is authoritative: the whole batch is delivered
        for ev in batch:
            if ev.event_id in rejected:
                res.quarantined.append((ev.key, f"rejected:{rejected[ev.event_id]}"))
            else:
                res.delivered.append(ev.key)

    # -- wire ---------------------------------------------------------------------------------

    def _envelope(self, batch: list[Outgoing]) -> bytes:
        sent_at = datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="milliseconds")
        return b"".join(
            [
                b'{"sent_at":"',
                sent_at.replace("+00:00", "Z").encode(),
                b'","shipper":',
                self._shipper,
                b',"events":[',
                b",".join(ev.body for ev in batch),
                b"]}",
            ]
        )

    def _headers(self, batch: list[Outgoing]) -> dict[str, str]:
        ids = "\n".join(sorted(f"{ev.event_id}:{ev.revision}" for ev in batch))
        return {
            "Authorization": f"Bearer {self._key}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Accept": "application/json",
            "Accept-Encoding": "identity",  # read raw and bounded: see _exchange
            "Idempotency-Key": hashlib.sha256(ids.encode()).hexdigest(),
            "User-Agent": f"agent-cli/{__version__}",
        }

    def _host(self) -> str:
        return url_host(self._url)
