"""OTLP/HTTP on the wire: one POST, a bounded answer, and the Sutrace sink's retry table.

`Wire.post` sends one gzip body and reads at most MAX_ANSWER_BYTES of the answer; redirects
are never followed (a header may hold a key). `refusal` sorts a non-2xx answer exactly as
the Sutrace sink does (see `sinks.http`): 408/409/425/429/5xx (but 501/505) retry with
Retry-After, 401/403 pause for auth, 404/405/501/505 and 3xx pause for the endpoint; None
leaves 400/413/422 and other 4xx to the caller, which bisects to the bad record.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

from agent_cli import __version__
from agent_cli.sinks import Verdict
from agent_cli.sinks.answers import (
    http_error,
    parse_retry_after,
    sanitise,
    untrusted_certificate,
    url_host,
)

MAX_ANSWER_BYTES = 1024 * 1024
_TRANSIENT = frozenset({408, 409, 425, 429})
_ENDPOINT = frozenset({404, 405, 501, 505})


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    retry_after: float | None
    location: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an attempt stops here: the verdict, one line for a person, a server's wait."""

    verdict: Verdict
    detail: str
    retry_after: float | None = None


class Wire:
    """POSTs to OTLP endpoints with fixed headers (never shown) through one httpx client."""

    def __init__(
        self,
        headers: tuple[tuple[str, str], ...],
        json: bool,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._extra = headers
        self.content_type = "application/json" if json else "application/x-protobuf"
        self._client = client
        self._owns = client is None
        self._clock = clock

    def __repr__(self) -> str:
        return f"Wire(content_type={self.content_type!r}, headers={len(self._extra)} hidden)"

    def _http(self) -> httpx.Client:
        import httpx

        if self._client is None:
            self._client = httpx.Client(
                timeout=httpx.Timeout(30, connect=10),
                follow_redirects=False,
                verify=True,
                trust_env=True,
            )
        return self._client

    def close(self) -> None:
        if self._owns and self._client is not None:
            self._client.close()

    def post(self, url: str, payload: bytes) -> Answer | Refusal:
        """Send `payload` gzip-compressed; a transport failure is a Refusal (retry, or an
        endpoint pause for an untrusted certificate)."""
        headers = {
            **dict(self._extra),
            "Content-Type": self.content_type,
            "Content-Encoding": "gzip",
            "Accept-Encoding": "identity",  # read raw and bounded
            "User-Agent": f"agent-cli/{__version__}",
        }
        body = gzip.compress(payload, 1, mtime=0)
        try:
            return self._exchange(url, body, headers)
        except http_error() as exc:
            host = url_host(url)
            if untrusted_certificate(exc):
                return Refusal(
                    Verdict.PAUSE_ENDPOINT,
                    f"the TLS certificate of {host} is not "
                    "trusted; fix the endpoint or its certificate (a private CA: "
                    "SSL_CERT_FILE); sending paused",
                )
            secrets = [v for _, v in self._extra if v]
            return Refusal(
                Verdict.RETRY,
                f"could not reach {host}: {type(exc).__name__}"
                f"{_said(str(exc), secrets)}; will retry",
            )

    def _exchange(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        answer = bytearray()
        with self._http().stream(
            "POST", url, content=body, headers=headers, follow_redirects=False
        ) as resp:
            encoding = resp.headers.get("content-encoding", "").strip().lower()
            if encoding in ("", "identity"):  # a compressed answer could inflate: unread
                for chunk in resp.iter_bytes():
                    answer += chunk
                    if len(answer) >= MAX_ANSWER_BYTES:
                        break
            wait = parse_retry_after(resp.headers.get("retry-after"), self._clock())
            location = resp.headers.get("location", "")
        return Answer(resp.status_code, wait, location, bytes(answer[:MAX_ANSWER_BYTES]))


def _said(text: str, secrets: list[str]) -> str:
    for s in secrets:
        text = text.replace(s, "…")
    text = sanitise(text, 120)
    return f": {text}" if text else ""


def refusal(answer: Answer, url: str) -> Refusal | None:
    """The stop a non-2xx answer means, or None for one the caller bisects (400/413/422...)."""
    code, wait = answer.status, answer.retry_after
    if code in _TRANSIENT or (code >= 500 and code not in _ENDPOINT):
        return Refusal(Verdict.RETRY, f"{url_host(url)} answered {code}; will retry", wait)
    if code in (401, 403):
        return Refusal(
            Verdict.PAUSE_AUTH,
            f"{url_host(url)} answered {code}: the credentials "
            "in OTEL_EXPORTER_OTLP_HEADERS were refused; sending paused",
            wait,
        )
    if code in _ENDPOINT:
        return Refusal(
            Verdict.PAUSE_ENDPOINT,
            f"{url_host(url)} answered {code} for {url}; check the endpoint; sending paused",
            wait,
        )
    if 300 <= code < 400:
        target = url_host(answer.location) or url_host(url)
        return Refusal(
            Verdict.PAUSE_ENDPOINT,
            f"{url_host(url)} redirected ({code}) to "
            f"{sanitise(target)}; not followed; check the endpoint",
            wait,
        )
    return None
