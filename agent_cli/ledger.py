"""The ledger: which calls were already emitted, and with how much usage.

It makes reading idempotent across files and re-reads: a call seen again with the same or
less usage is a duplicate; with more usage it is emitted again with the next revision. Keys
are 60-bit integers taken from the event id, so the state costs a few dozen bytes per call;
the spool keeps the same state in SQLite (`SqliteStore`).

Copies: some calls are written again, under another id, into a file that may be read before
the original's or alone (a Claude `/btw` replay, a Codex fork's replay of its parent). Such a
call is offered as a *copy* with an *alias* (a key the copy and the original share). A copy
whose original is known is dropped; a copy seen first is emitted (it may be all there is of
that call) and remembered by its full event id; when the original arrives later, it is
emitted and the copy is *superseded*: the ledger tells the caller to send the copy's event
again at its next revision with zero usage and status `superseded`, so a receiver that keeps
the highest revision counts the call once, whatever the order the files were read in.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from hashlib import sha256 as _sha256
from typing import Protocol

_IN_CHUNK = 500  # keys per "IN (...)" list, well under SQLite's variable limit
FILTER_BITS = 24  # a first backfill's filter of written keys: 2 MB, 1 false positive in
# 50,000 lookups after 150k keys (a 1 GB history), 1 in 40 after 2 million


def key_of(event_id: str) -> int:
    """Return the ledger key of a hex event id."""
    return int(event_id[:15], 16)


def alias_key(agent: str, alias: str) -> int:
    """Return the ledger key that records which call owns a message id: the key of
    `events.event_id(agent, "alias", alias)`, from the digest's first 60 bits (no hex)."""
    text = "v1\x1f" + agent + "\x1falias\x1f" + alias
    digest = _sha256(text.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") >> 4


class Store(Protocol):
    """Storage of ledger rows: key -> (rank, revision), and the full ids of copies."""

    def get(self, key: int) -> tuple[int, int] | None: ...
    def put(self, key: int, rank: int, revision: int) -> None: ...
    def prefetch(self, keys: list[int]) -> None: ...
    def name(self, key: int, event_id: str) -> None: ...
    def name_of(self, key: int) -> str | None: ...


class MemoryStore:
    """A dict store, for dry-run (nothing is written anywhere).

    A row is packed into one int (rank << 20 | revision): a history's ledger then costs
    about 100 bytes a call, not 200.
    """

    def __init__(self) -> None:
        self.rows: dict[int, int] = {}
        self.names: dict[int, str] = {}

    def get(self, key: int) -> tuple[int, int] | None:
        v = self.rows.get(key)
        return None if v is None else (v >> 20, v & 0xFFFFF)

    def put(self, key: int, rank: int, revision: int) -> None:
        self.rows[key] = rank << 20 | min(revision, 0xFFFFF)

    def prefetch(self, keys: list[int]) -> None:
        pass

    def name(self, key: int, event_id: str) -> None:
        self.names[key] = event_id

    def name_of(self, key: int) -> str | None:
        return self.names.get(key)


@dataclass(frozen=True, slots=True)
class Supersede:
    """A copy counted before its original: send it again, emptied, at `revision`."""

    key: int
    event_id: str
    revision: int


@dataclass(frozen=True, slots=True)
class Emit:
    """The ledger's decision to emit an event at `revision` (0 the first time), and the
    copy it supersedes, if any; `revision` -1: only the copy's retirement is sent (the call
    itself was emitted before, by a release that did not record copies)."""

    revision: int
    supersedes: Supersede | None = None


@dataclass(frozen=True, slots=True)
class Drop:
    """The ledger's decision not to emit an event, and the counter it is reported under."""

    reason: str


Decision = Emit | Drop
FIRST = Emit(0)
DUPLICATE = Drop("duplicate")
DUPLICATE_TOOL = Drop("duplicate_tool")
BTW_REPLAY = Drop("btw_replay")
RETIRED = (1 << 43) - 1  # the rank of a superseded copy: no usage outgrows it


class SqliteStore:
    """The spool's ledger rows (table `calls`), read and written in the caller's transaction.

    A chunk's keys are fetched in one query (`prefetch`); its decisions wait in memory until
    the group commit writes them (`write`, sorted by key, in the same transaction), so reads
    look there first. A ledger empty when the run began (a first backfill) also keeps a Bloom
    filter of the keys written since (`_known`, 2 MB whatever the history): a key it does not
    hold cannot be in the table, and is not looked up; one it holds is (a false positive
    costs a lookup, never a decision). Memory is bounded by a group and the filter.
    """

    def __init__(self, db: sqlite3.Connection, filter_bits: int = FILTER_BITS) -> None:
        self.db = db
        self._mask = (1 << filter_bits) - 1
        self._cache: dict[int, tuple[int, int] | None] = {}  # this chunk's reads
        self._puts: dict[int, tuple[int, int]] = {}  # this group's decisions, not yet written
        self._known: bytearray | None = None  # keys in the table (None: the table decides)
        self._unsure: set[int] = set()  # written in the open group: known once committed
        self._started = False
        self._names: dict[int, str] = {}  # full ids of copies counted first (table copies)

    def _start(self) -> None:
        self._started = True
        empty = self.db.execute("SELECT 1 FROM calls LIMIT 1").fetchone() is None
        self._known = bytearray((self._mask >> 3) + 1) if empty else None

    def _bits(self, key: int) -> tuple[int, int, int]:
        # keys are 60 bits of a sha256: three slices of them are three independent hashes
        m = self._mask
        return key & m, (key >> 24) & m, (key >> 36 ^ key >> 12) & m

    def _may_exist(self, key: int) -> bool:
        known = self._known
        if known is None or key in self._unsure:
            return True
        return all(known[b >> 3] >> (b & 7) & 1 for b in self._bits(key))

    def prefetch(self, keys: list[int]) -> None:
        if not self._started:
            self._start()
        cache, puts = self._cache, self._puts
        todo = [k for k in keys if k not in cache and k not in puts]
        for k in todo:
            cache[k] = None
        todo = [k for k in todo if self._may_exist(k)]
        for i in range(0, len(todo), _IN_CHUNK):
            part = todo[i : i + _IN_CHUNK]
            marks = ",".join("?" * len(part))
            for k, rank, rev in self.db.execute(
                f"SELECT key, rank, revision FROM calls WHERE key IN ({marks})", part
            ):
                cache[k] = (rank, rev)

    def get(self, key: int) -> tuple[int, int] | None:
        put = self._puts.get(key)
        if put is not None:
            return put
        if key in self._cache:
            return self._cache[key]
        if not self._started:
            self._start()
        if not self._may_exist(key):
            return None
        row = self.db.execute("SELECT rank, revision FROM calls WHERE key = ?", (key,)).fetchone()
        return None if row is None else (row[0], row[1])

    def put(self, key: int, rank: int, revision: int) -> None:
        self._puts[key] = (rank, revision)

    def end_chunk(self) -> None:
        """A chunk is queued: forget its reads (its decisions wait for `write`)."""
        self._cache.clear()

    def name(self, key: int, event_id: str) -> None:
        self._names[key] = event_id

    def name_of(self, key: int) -> str | None:
        if key in self._names:
            return self._names[key]
        row = self.db.execute("SELECT event_id FROM copies WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0]).hex()

    def write(self) -> None:
        """Write the group's decisions (inside its transaction, before the commit)."""
        if not self._puts:
            return
        rows = sorted((k, r, v) for k, (r, v) in self._puts.items())  # neighbours in the b-tree
        self.db.executemany(
            "INSERT OR REPLACE INTO calls(key, rank, revision) VALUES (?, ?, ?)", rows
        )
        if self._names:
            self.db.executemany(
                "INSERT OR REPLACE INTO copies(key, event_id) VALUES (?, ?)",
                [(k, bytes.fromhex(e)) for k, e in self._names.items()],
            )
            self._names.clear()
        if self._known is not None:
            self._unsure.update(self._puts)
        self._puts.clear()

    def committed(self) -> None:
        """The group's transaction committed: what it wrote is in the table for good."""
        known = self._known
        if known is not None:
            for key in self._unsure:
                for b in self._bits(key):
                    known[b >> 3] |= 1 << (b & 7)
        self._unsure.clear()

    def clear(self) -> None:
        """Forget the group's reads and writes (it was rolled back)."""
        self._puts.clear()
        self._cache.clear()
        self._unsure.clear()
        self._names.clear()


class Ledger:
    """Decide whether a fact is new, grown (next revision) or a duplicate."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def prefetch(self, keys: list[int]) -> None:
        """Tell the store every key a chunk will ask for (one query, not one each)."""
        if keys:
            self.store.prefetch(keys)

    def offer_call(
        self, key: int, rank: int, alias: int | None, copy: str | None, event_id: str = ""
    ) -> Decision:
        """Decide a call: emit it (at which revision, superseding which copy) or drop it.

        `alias` is the ledger key an original and its copies share (None: the call has no
        copies); `copy` is None for an original, else the reason a copy is dropped under
        when its original is known (`btw_replay`, `fork_replay`). `event_id` is the call's
        full id, kept for a copy counted first so that it can be superseded.
        """
        supersedes = None
        if alias is not None:
            owner = self.store.get(alias)  # (the key of the call that owns it, 1: original)
            if copy is not None:
                if owner is not None and owner[0] != key and owner[1] == 1:
                    return Drop(copy)
                if owner is None:
                    self.store.put(alias, key, 0)
                    self.store.name(key, event_id)
            elif owner is None:
                self.store.put(alias, key, 1)
            elif owner[1] == 0 and owner[0] != key:
                self.store.put(alias, key, 1)
                supersedes = self._supersede(owner[0])
        prev = self.store.get(key)
        if prev is None:
            self.store.put(key, rank, 0)
            return FIRST if supersedes is None else Emit(0, supersedes)  # the usual answer
        if rank > prev[0]:
            self.store.put(key, rank, prev[1] + 1)
            return Emit(prev[1] + 1, supersedes)
        return DUPLICATE if supersedes is None else Emit(-1, supersedes)

    def _supersede(self, copy_key: int) -> Supersede | None:
        """Retire the copy `copy_key`: its next revision, beyond any usage it can grow to."""
        prev = self.store.get(copy_key)
        event_id = self.store.name_of(copy_key)
        if prev is None or event_id is None or prev[0] == RETIRED:
            return None
        self.store.put(copy_key, RETIRED, prev[1] + 1)
        return Supersede(copy_key, event_id, prev[1] + 1)

    def offer_tool(self, key: int) -> Decision:
        """Emit a tool call not seen before (tool calls are never revised), else drop it."""
        if self.store.get(key) is not None:
            return DUPLICATE_TOOL
        self.store.put(key, 0, 0)
        return FIRST
