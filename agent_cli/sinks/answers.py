"""Reading what an HTTP server answered: Retry-After, certificate failures, hosts, reasons.

Pure helpers of the HTTP sink: no state and no I/O of their own.
"""

from __future__ import annotations

import math
from datetime import UTC
from email.utils import parsedate_to_datetime

from agent_cli.sinks import RETRY_AFTER_MAX

REASON_MAX = 60


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP date), in [0, 3600]."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def sanitise(text: str, limit: int = REASON_MAX) -> str:
    return "".join(c if c.isprintable() else " " for c in text).strip()[:limit]


def untrusted_certificate(exc: BaseException) -> bool:
    """Whether the certificate check failed (the stdlib's error, somewhere in the chain)."""
    import ssl

    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, ssl.SSLCertVerificationError):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def http_error() -> type[Exception]:
    import httpx

    return httpx.HTTPError


def url_host(url: str) -> str:
    import httpx

    try:
        return httpx.URL(url).host
    except (httpx.InvalidURL, ValueError, TypeError):
        return ""
