"""Each sink's view of the outbox: what it has still to send, and its delivery state.

An outbox row carries a bit mask of the sinks that still have to deliver it (`sinks`); every
sink has a bit and a row of state in table `sinks` (failures, backoff, pause, last success).
A sink that is down keeps its bit on its rows and its own backoff, and never holds back
another: a row leaves the outbox when the last bit is cleared. Rows pending for a sink that
is not configured now stay, and are sent when it is configured again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from typing import Any, NamedTuple, Protocol

from agent_cli.errors import is_full

_IN_CHUNK = 500  # ids per "IN (...)" list, well under SQLite's variable limit
Also = Callable[[sqlite3.Connection], None]  # a sink's own write, in a settle's transaction


class Row(NamedTuple):
    """One outbox row claimed for delivery (a tuple: made per event, at a third of the cost
    of a frozen dataclass)."""

    id: int
    event_id: str
    revision: int
    body: bytes


@dataclass(frozen=True, slots=True)
class SinkState:
    """A sink's persisted delivery state (what survives a restart)."""

    failures: int = 0  # consecutive failed attempts
    backoff_until: float = 0.0  # epoch seconds; 0: may send now
    pause_reason: str | None = None  # a `deliver.Pause` value
    pause_detail: str | None = None
    last_attempt_at: float | None = None
    last_status: int | None = None
    last_success_at: float | None = None


STATE_FIELDS = tuple(f.name for f in fields(SinkState))


class Store(Protocol):
    """What a queue needs of the spool (which implements it): its connection and writes."""

    db: sqlite3.Connection
    clock: Callable[[], float]

    def flush(self) -> None: ...
    def pending_for(self, bit: int) -> int: ...
    def atomic(self, durable: bool = True) -> AbstractContextManager[sqlite3.Connection]: ...
    def bump(self, name: str, n: int) -> None: ...


class SinkQueue:
    """One sink's part of the spool: claim, settle, depth, state. One thread uses it."""

    def __init__(self, spool: Store, name: str, bit: int) -> None:
        self.spool = spool
        self.name = name
        self.bit = bit
        self.leased: set[int] = set()  # rows in flight (claimed, not yet settled)
        self._floor = 0  # claim scans ids above this (see `claim`)
        self._held: dict[int, float] = {}  # id -> not_before of rows passed as not ready
        self._depth: int | None = None  # rows this sink still has to send
        # results not yet written because the disk was full: (delivered, quarantined, success)
        self.owed: list[tuple[list[int], list[tuple[int, str]], bool]] = []
        self._owed_also: list[Also] = []  # the sink's own writes of those results

    # -- depth ---------------------------------------------------------------------------
    def depth(self) -> int:
        """Rows this sink has still to deliver (counted once, then kept current)."""
        if self._depth is None:
            self.spool.flush()
            # rows owed (delivered, not yet recorded) are still in the table
            owed = sum(len(d) + len(q) for d, q, _ in self.owed)
            self._depth = self.spool.pending_for(self.bit) - owed
        return self._depth

    def added(self, n: int) -> None:
        """`n` rows for this sink were queued (or, negative, removed) by the spool."""
        if self._depth is not None:
            self._depth += n

    def forget_depth(self) -> None:
        self._depth = None

    # -- delivery ------------------------------------------------------------------------
    def claim(self, limit: int = 500, max_bytes: int = 1024 * 1024) -> list[Row]:
        """Lease up to `limit` ready rows (oldest first) for one delivery attempt.

        The scan starts after `_floor`: below it, every row this sink has to send is leased
        or in `_held` (not ready when the scan passed it). New rows take higher ids
        (AUTOINCREMENT), so only a release (which lowers the floor) or a held row becoming
        ready (likewise) brings one back below it: rows in flight are not read again.
        """
        spool = self.spool
        spool.flush()  # only durable events are sent
        now = spool.clock()
        self._wake_held(now)
        rows: list[Row] = []
        size, passed, leased, held = 0, self._floor, self.leased, self._held
        cur = spool.db.execute(
            "SELECT id, event_id, revision, body, not_before FROM outbox "
            "WHERE sinks & ? AND id > ? ORDER BY id",
            (self.bit, passed),
        )
        try:
            for rid, eid, rev, body, not_before in cur:
                if rid in leased:
                    pass
                elif not_before > now:
                    held[rid] = not_before
                elif len(rows) >= limit or (rows and size + len(body) > max_bytes):
                    break
                else:
                    rows.append(Row(rid, eid, rev, body))
                    size += len(body) + 1
                passed = rid  # leased, held or claimed now: the floor may rise past it
        finally:
            cur.close()  # a cursor left open would keep a read of the spool going
        self._floor = passed
        leased.update(r.id for r in rows)
        return rows

    def _wake_held(self, now: float) -> None:
        """Held rows that are ready by `now` are scanned again (oldest first)."""
        ready = [rid for rid, not_before in self._held.items() if not_before <= now]
        if ready:
            for rid in ready:
                del self._held[rid]
            self._lower_floor(ready)

    def _lower_floor(self, ids: Iterable[int]) -> None:
        self._floor = min(self._floor, min(ids, default=self._floor + 1) - 1)

    def settle(
        self,
        delivered: list[int],
        quarantined: list[tuple[int, str]],
        pending: list[int],
        success: bool,
        also: Also | None = None,
    ) -> bool:
        """Apply a delivery result in one transaction: this sink is done with `delivered`
        and `quarantined` (recorded, counted); `pending` is released for a later attempt.
        `also` writes what the sink keeps of the result (OTLP's metric totals) in the same
        transaction, so a kill records both or neither; owed, it is owed with the result.

        On a full disk the result is owed instead (False): its rows stay leased, so this
        process sends them no more, and the write is tried again with the next settle (or
        `pay_owed`); a restart before that sends them again, which the server dedups.
        """
        owed_d = [rid for d, _, _ in self.owed for rid in d]
        owed_q = [rq for _, q, _ in self.owed for rq in q]
        alsos = [*self._owed_also, *([also] if also is not None else [])]
        try:
            self._write(owed_d + delivered, owed_q + quarantined,
                        success or self._owed_success(), alsos)  # fmt: skip
        except sqlite3.OperationalError as e:
            if not is_full(e):
                raise
            if delivered or quarantined:
                self.owed.append((delivered, quarantined, success))
                self._owed_also.extend([also] if also is not None else [])
                self.added(-len(delivered) - len(quarantined))
            self.release(pending)
            return False
        self.added(-len(delivered) - len(quarantined))
        self.owed.clear()
        self._owed_also.clear()
        self.leased.difference_update(owed_d + delivered)
        self.leased.difference_update(r for r, _ in owed_q + quarantined)
        self.release(pending)
        return True

    def pay_owed(self) -> bool:
        """Try again to record results owed since the disk was full; True when none is left."""
        return not self.owed or self.settle([], [], [], False)

    def _owed_success(self) -> bool:
        return any(ok for _, _, ok in self.owed)

    def _write(
        self,
        delivered: list[int],
        quarantined: list[tuple[int, str]],
        success: bool,
        alsos: list[Also],
    ) -> None:
        spool = self.spool
        now = spool.clock()
        # A lost receipt only re-sends events the server dedups; a quarantine is kept durable.
        with spool.atomic(durable=bool(quarantined)) as db:
            for rid, reason in quarantined:
                db.execute(
                    "INSERT INTO quarantine(event_id, revision, reason, at, body, sink) "
                    "SELECT event_id, revision, ?, ?, body, ? FROM outbox WHERE id = ?",
                    (reason, now, self.name, rid),
                )
                spool.bump(f"quarantine.{reason.split(':')[0]}", 1)
            done = delivered + [rid for rid, _ in quarantined]
            for k in range(0, len(done), _IN_CHUNK):
                self._done(db, done[k : k + _IN_CHUNK])
            for write in alsos:
                write(db)
            if success:
                db.execute("UPDATE sinks SET last_success_at = ? WHERE name = ?", (now, self.name))

    def release(self, keys: list[int]) -> None:
        """Forget the leases of `keys` without a write (they are claimed again later)."""
        self.leased.difference_update(keys)
        self._lower_floor(keys)

    def _done(self, db: sqlite3.Connection, ids: list[int]) -> None:
        """Clear this sink's bit on `ids`; a row no sink needs any more is deleted."""
        marks = ",".join("?" * len(ids))
        # Deleting first keeps the common case (one sink) to one statement that finds rows;
        # when it found them all, there is nothing left to update.
        gone = db.execute(
            f"DELETE FROM outbox WHERE id IN ({marks}) AND sinks = ?", (*ids, self.bit)
        )
        if gone.rowcount == len(ids):
            return
        db.execute(
            f"UPDATE outbox SET sinks = sinks & ~? WHERE id IN ({marks}) AND sinks & ?",
            (self.bit, *ids, self.bit),
        )

    # -- state ---------------------------------------------------------------------------
    def state(self) -> SinkState:
        row = self.spool.db.execute(
            f"SELECT {', '.join(STATE_FIELDS)} FROM sinks WHERE name = ?", (self.name,)
        ).fetchone()
        return SinkState() if row is None else SinkState(*row)

    def save_state(self, **values: Any) -> None:
        """Change some fields of the persisted state (names of SinkState)."""
        unknown = set(values) - set(STATE_FIELDS)
        if unknown:
            raise ValueError(f"not sink state fields: {sorted(unknown)}")
        sets = ", ".join(f"{k} = ?" for k in values)
        try:
            with self.spool.atomic():
                self.spool.db.execute(
                    f"UPDATE sinks SET {sets} WHERE name = ?", (*values.values(), self.name)
                )
        except sqlite3.OperationalError as e:
            # a full disk: the shipper keeps its state in memory; it is written when there
            # is room (a restart meanwhile forgets a backoff, never an event)
            if not is_full(e):
                raise
