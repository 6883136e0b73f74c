"""The persisted cursor of a transcript file: how far it was read, and how to recognise it.

Made and checked by `tail` (head and marker hashes, generation), stored by `spool` (table
`sources`), carried by `scan`; it lives here so that none of them owns the others' record.
"""

from __future__ import annotations

from dataclasses import dataclass


def covers(read_since: str | None, since: str | None) -> bool:
    """Whether a file read under `read_since` holds everything a run under `since` wants."""
    return read_since is None or (since is not None and read_since <= since)


def stricter(a: str | None, b: str | None) -> str | None:
    """The later of two --since floors (None: no floor)."""
    if a is None or b is None:
        return a or b
    return max(a, b)


@dataclass(frozen=True, slots=True)
class Cursor:
    """How far one file was read, and how to recognise it again."""

    path: str
    offset: int = 0
    generation: int = 0
    dev: int = 0
    ino: int = 0
    size: int = 0
    mtime_ns: int = 0
    head_len: int = 0
    head_sha: bytes = b""
    marker_sha: bytes = b""
    state: bytes | None = None  # the reader's state at `offset` (opaque JSON)
    # The strictest --since that applied to any part read so far (None: nothing was held
    # back). A run with an earlier or no --since reads the file again from the start.
    since: str | None = None


# SQLite integers are signed 64-bit; a stat field need not be (a far-future mtime, an inode
# of 2^63 or more on some filesystems) and must never crash the spool. Device and inode
# numbers are unsigned: stored wrapped, read back exactly. An mtime is clamped: one past
# year 2262 only makes the file look changed, and the tail's checks find nothing new.
_I64_MAX = (1 << 63) - 1


def wrap64(v: int) -> int:
    """An unsigned 64-bit stat number as SQLite can store it (read back with `unwrap64`)."""
    return v - (1 << 64) if v > _I64_MAX else v


def unwrap64(v: int) -> int:
    return v + (1 << 64) if v < 0 else v


def clamp64(v: int) -> int:
    """A signed value clamped into SQLite's integers."""
    return max(min(v, _I64_MAX), -_I64_MAX - 1)
