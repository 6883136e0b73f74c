"""The persisted cursor of a transcript file: how far it was read, and how to recognise it.

Made and checked by `tail` (head and marker hashes, generation), stored by `spool` (table
`sources`), carried by `scan`; it lives here so that none of them owns the others' record.
"""

from __future__ import annotations

from dataclasses import dataclass


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
