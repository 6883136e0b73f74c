"""Sinks: where spooled events go. Every sink implements `Sink`: send a batch, return a result.

A sink makes one delivery attempt and sorts every event it was given into *delivered*,
*quarantined* (never send again) or *pending* (retry later); it never sleeps. Waiting,
backoff and pauses belong to the delivery loop (`deliver`), and each sink's progress to the
spool, so a second sink plugs in without touching either.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, runtime_checkable

MAX_BATCH_EVENTS = 500
MAX_BATCH_BYTES = 1024 * 1024
RETRY_AFTER_MAX = 3600.0  # the longest wait a server may ask for (Retry-After is clamped)


class Outgoing(NamedTuple):
    """One spooled event handed to a sink (a tuple: one is made per event sent)."""

    key: int  # the spool's row id (opaque to the sink)
    event_id: str
    revision: int
    body: bytes  # one event, already compact JSON


class Verdict(enum.Enum):
    """How an attempt ended: OK, RETRY (transient), or a pause that needs a person."""

    OK = "ok"
    RETRY = "retry"
    PAUSE_AUTH = "paused: auth"
    PAUSE_ENDPOINT = "paused: endpoint_misconfigured"
    PAUSE_INCOMPATIBLE = "paused: client_incompatible"


@dataclass
class SendResult:
    """What one `send` did with each event (by `Outgoing.key`), and why it stopped."""

    delivered: list[int] = field(default_factory=list)
    quarantined: list[tuple[int, str]] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    verdict: Verdict = Verdict.OK
    retry_after: float | None = None
    status: int | None = None
    detail: str = ""


class Sink(Protocol):
    """A destination of spooled events (the Sutrace HTTP endpoint, stdout, OTLP ...)."""

    name: str  # its delivery state in the spool is kept under this name

    @property
    def max_batch_events(self) -> int: ...
    @property
    def max_batch_bytes(self) -> int: ...
    def send(self, events: Sequence[Outgoing]) -> SendResult: ...
    def close(self) -> None: ...


@runtime_checkable
class Accounting(Protocol):
    """A sink that keeps state of its own about what it delivered (OTLP's metric totals).

    `load` reads that state when the spool opens; `account` returns the write that records a
    settled result (run inside the settle's transaction, again later if a full disk made it
    owed); `committed` or `rolled_back` is told how that transaction ended. All run on the
    shipper's thread, never in `send`'s.
    """

    def load(self, db: sqlite3.Connection) -> None: ...
    def account(
        self, batch: Sequence[Outgoing], res: SendResult
    ) -> Callable[[sqlite3.Connection], None]: ...
    def committed(self) -> None: ...
    def rolled_back(self) -> None: ...


def batches(
    events: Iterable[Outgoing], max_events: int = MAX_BATCH_EVENTS, max_bytes: int = MAX_BATCH_BYTES
) -> Iterator[list[Outgoing]]:
    """Cut events, in order, into lists of ≤ max_events whose bodies (joined by ',') fit
    max_bytes. An event too big on its own comes out alone (the caller decides its fate)."""
    batch: list[Outgoing] = []
    size = 0
    for ev in events:
        extra = len(ev.body) + (1 if batch else 0)
        if batch and (len(batch) >= max_events or size + extra > max_bytes):
            yield batch
            batch, size, extra = [], 0, len(ev.body)
        batch.append(ev)
        size += extra
    if batch:
        yield batch
