"""Pauses a new start may end: a key or endpoint that changed, a --once asking to try now."""

from __future__ import annotations

import hashlib
import time

from agent_cli.deliver import Pause, clamp_wait
from agent_cli.migrations import FIRST_SINK
from agent_cli.spool import Spool


def fingerprint(key: str) -> str:
    """A one-way fingerprint of the key, to notice a new key without storing it."""
    return hashlib.sha256(b"agent-cli key " + key.encode()).hexdigest()[:16]


def forget_stale_pause(
    spool: Spool, endpoint: str, key: str, once: bool, drain_timeout: float
) -> None:
    """End a persisted pause (auth, endpoint) when the key or endpoint changed, or for --once.

    A daemon restarted in a loop must keep its backoff (no storm); a one-shot run is a
    person asking to try now. A backoff (a server's Retry-After too) is honoured when the
    run can wait for it; a --once whose drain would end first tries at once instead.
    """
    m = spool.meta()
    queue = spool.queue(FIRST_SINK)
    state = queue.state()
    pause = Pause.parse(state.pause_reason)
    if pause is None:
        return
    if pause is Pause.BACKOFF:
        # honoured, unless a --once would give up before its first try
        now = time.time()
        if once and clamp_wait(state, now) - now > drain_timeout:
            queue.save_state(backoff_until=0)
        return
    forget = (
        once
        or (pause is Pause.AUTH and m.get("key_fp") != fingerprint(key))
        or (pause is Pause.ENDPOINT and m.get("endpoint") != endpoint)
        or pause is Pause.INCOMPATIBLE  # a restart may be an upgrade: try again
    )
    if forget:
        queue.save_state(backoff_until=0, failures=0, pause_reason=None, pause_detail=None)
