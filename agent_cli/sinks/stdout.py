"""The stdout sink of dry-run: every event as one JSON line on a byte stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO

from agent_cli.sinks import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, Outgoing, SendResult


class StdoutSink:
    """Write events as JSON Lines; every event is delivered (a pipe has no refusals)."""

    name = "stdout"
    max_batch_events = MAX_BATCH_EVENTS
    max_batch_bytes = MAX_BATCH_BYTES

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out

    def send(self, events: Sequence[Outgoing]) -> SendResult:
        if events:
            self.out.write(b"\n".join(ev.body for ev in events) + b"\n")
        return SendResult(delivered=[ev.key for ev in events], detail=f"printed {len(events)}")

    def close(self) -> None:
        self.out.flush()
