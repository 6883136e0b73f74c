"""Opening the OTLP sink for a `start`: its state in the spool, and stale pauses forgotten.

As for the Sutrace sink: a --once is a person asking to try now, so any pause ends (and a
backoff it could not outwait); a daemon
keeps its pause unless what it was about changed (the headers for an auth pause, the URL for
an endpoint pause) or it may be an upgrade (incompatible). Headers are kept only as a
one-way fingerprint, to notice a change without storing them.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING

from agent_cli.deliver import Pause, clamp_wait
from agent_cli.sinks.otlp import OtlpSink
from agent_cli.sinks.otlp_config import OtlpConfig
from agent_cli.spool import Spool

if TYPE_CHECKING:
    import httpx


def open_otlp(
    spool: Spool,
    config: OtlpConfig,
    once: bool,
    drain_timeout: float,
    client: httpx.Client | None = None,
) -> OtlpSink:
    sink = OtlpSink(config, client=client)
    spool.attach([sink.name])  # its state must exist before a stale pause is cleared
    fingerprint = hashlib.sha256(
        b"agent-cli otlp headers " + repr(sorted(config.headers)).encode()
    ).hexdigest()[:16]
    meta = spool.meta()
    queue = spool.queue(sink.name)
    state = queue.state()
    pause = Pause.parse(state.pause_reason)
    if pause is Pause.BACKOFF and once:  # honoured, unless a --once would give up first
        now = time.time()
        if clamp_wait(state, now) - now > drain_timeout:
            queue.save_state(backoff_until=0)
    forget = (
        pause is not None
        and pause is not Pause.BACKOFF
        and (
            once
            or pause is Pause.INCOMPATIBLE
            or (pause is Pause.AUTH and meta.get("otlp_headers_fp") != fingerprint)
            or (pause is Pause.ENDPOINT and meta.get("otlp_endpoint") != config.logs_url)
        )
    )
    if forget:
        queue.save_state(backoff_until=0, failures=0, pause_reason=None, pause_detail=None)
    spool.set_meta_if_changed(otlp_endpoint=config.logs_url, otlp_headers_fp=fingerprint)
    return sink
