"""Read a growing JSONL file from a cursor, in chunks of complete lines.

The cursor says how far a file was read and how to recognise it again: the offset just past
the last complete line, a hash of the file's head and a hash of the bytes just before the
offset (the marker, as Fluent Bit does). If the file shrank, or the head or the marker no
longer match (truncation, rewrite, inode reuse, a replace with other content), reading starts
again from 0 in a new generation; event ids are deterministic, so re-reading never counts
twice. An atomic replace that keeps the prefix continues where it stopped.

A last line without its newline is never consumed: the offset stays before it until the
line is complete. A line longer than the cap is skipped (streamed past, never held).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO, Protocol

from agent_cli.cursor import Cursor

HEAD_BYTES = 1024
MARKER_BYTES = 64
CHUNK_BYTES = 8 * 1024 * 1024
_SKIP_READ = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Plan:
    """Where to start reading a file and why."""

    start: int
    generation: int
    state: bytes | None
    reset_reason: str | None  # "truncated" | "rewritten" when a new generation starts


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:16]


def _read_at(fd: int, offset: int, length: int) -> bytes:
    return os.pread(fd, length, offset) if length > 0 else b""


def unchanged(cursor: Cursor | None, st: os.stat_result) -> bool:
    """True when the file is exactly as it was when the cursor was stored (no read needed)."""
    return (
        cursor is not None
        and cursor.ino == st.st_ino
        and cursor.dev == st.st_dev
        and cursor.size == st.st_size
        and cursor.mtime_ns == st.st_mtime_ns
    )


def plan(fd: int, cursor: Cursor | None, size: int) -> Plan:
    """Decide where to resume reading the open file `fd` of `size` bytes."""
    if cursor is None:
        return Plan(0, 0, None, None)
    fresh = Plan(0, cursor.generation + 1, None, None)
    if size < cursor.offset:
        return replace(fresh, reset_reason="truncated")
    if cursor.head_len and _sha(_read_at(fd, 0, cursor.head_len)) != cursor.head_sha:
        return replace(fresh, reset_reason="rewritten")
    m_start = max(0, cursor.offset - MARKER_BYTES)
    marker = _read_at(fd, m_start, cursor.offset - m_start)
    if cursor.offset and _sha(marker) != cursor.marker_sha:
        return replace(fresh, reset_reason="rewritten")
    return Plan(cursor.offset, cursor.generation, cursor.state, None)


def make_cursor(
    path: str,
    fd: int,
    st: os.stat_result,
    offset: int,
    generation: int,
    state: bytes | None,
    *,
    seen_all: bool = True,
) -> Cursor:
    """Build the cursor that points just past `offset` in the open file `fd`.

    `seen_all` says the whole file was looked at (what follows `offset` is a partial line);
    only then may the file's size and mtime mark it unchanged. A chunk in the middle records
    size = offset, so a crash before the next chunk is committed re-reads from there.
    """
    head_len = min(HEAD_BYTES, offset) if offset else 0
    m_start = max(0, offset - MARKER_BYTES)
    return Cursor(
        path=path,
        offset=offset,
        generation=generation,
        dev=st.st_dev,
        ino=st.st_ino,
        size=st.st_size if seen_all else offset,
        mtime_ns=st.st_mtime_ns if seen_all else 0,
        head_len=head_len,
        head_sha=_sha(_read_at(fd, 0, head_len)) if head_len else b"",
        marker_sha=_sha(_read_at(fd, m_start, offset - m_start)) if offset else b"",
        state=state,
    )


class LineReader(Protocol):
    """What a source gives `read_chunks`: it turns lines into facts and keeps its state."""

    def feed(self, line: bytes) -> None: ...
    def flush(self, eof: bool) -> list[object]: ...
    def state(self) -> bytes | None: ...


@dataclass(slots=True)
class Chunk:
    """Facts read from a span of complete lines, and the cursor that passes them."""

    facts: list[object]
    cursor: Cursor
    bytes_read: int
    reset_reason: str | None = None
    partial: bool = False  # the file ends with a line still being written


def read_chunks(
    path: str,
    cursor: Cursor | None,
    make_reader: Callable[[bytes | None], LineReader],
    skipped: Counter[str],
    *,
    max_line: int,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[Chunk]:
    """Yield chunks of facts from the new complete lines of `path` since `cursor`.

    Each chunk's cursor may be committed together with its facts; nothing is yielded when
    the file did not change. Lines over `max_line` bytes are counted in `skipped`.
    """
    opened = _open_changed(path, cursor, skipped)
    if opened is None:
        return
    f, st = opened
    with f:
        fd = f.fileno()
        p = plan(fd, cursor, st.st_size)
        if p.reset_reason and cursor is not None and cursor.size > cursor.offset:
            # bytes that were on disk past the cursor (a line still being written) and are
            # gone with the old content: never read, so counted
            skipped[f"lost_unread_bytes_{p.reset_reason}"] += cursor.size - cursor.offset
        reader = make_reader(p.state)
        offset = p.start
        f.seek(offset)
        reset = p.reset_reason
        pending = 0
        readline = f.readline
        partial = False
        while True:
            line = readline(max_line + 1)
            if not line or line[-1:] != b"\n":
                if len(line) <= max_line:
                    partial = bool(line)
                    break  # EOF, or a partial last line: leave it for later
                skipped["oversize_line"] += 1
                n = _skip_rest(f)
                if n < 0:
                    break  # the oversize line has no newline yet; stop before it
                offset += len(line) + n
                pending += len(line) + n
                continue
            offset += len(line)
            pending += len(line)
            reader.feed(line)
            if pending >= chunk_bytes:
                yield _chunk(reader, path, fd, st, offset, p.generation, pending, reset)
                reset, pending = None, 0
        # Always end with a chunk: it records the file's new size and mtime, so an
        # unchanged file is skipped next time without being opened.
        yield _chunk(reader, path, fd, st, offset, p.generation, pending, reset, partial, eof=True)


def _chunk(
    reader: LineReader,
    path: str,
    fd: int,
    st: os.stat_result,
    offset: int,
    generation: int,
    nbytes: int,
    reset: str | None,
    partial: bool = False,
    eof: bool = False,
) -> Chunk:
    """The facts read so far and the cursor just past them (`eof`: the whole file seen)."""
    facts = reader.flush(eof)
    cursor = make_cursor(path, fd, st, offset, generation, reader.state(), seen_all=eof)
    return Chunk(facts, cursor, nbytes, reset, partial)


def read_whole(
    path: str,
    cursor: Cursor | None,
    skipped: Counter[str],
    parse: Callable[[BinaryIO, os.stat_result], tuple[list[object], int]],
) -> Iterator[Chunk]:
    """Re-read a file that is rewritten, not appended to, when its size or mtime changed.

    `parse(file, stat)` returns the facts and the bytes it read; one chunk is yielded with a
    cursor at the end of the file. Deterministic ids make the re-read idempotent.
    """
    opened = _open_changed(path, cursor, skipped)
    if opened is None:
        return
    f, st = opened
    with f:
        generation = cursor.generation + 1 if cursor is not None else 0
        # The cursor first: a parser may close the file (a decompressor does).
        done = make_cursor(path, f.fileno(), st, st.st_size, generation, None)
        facts, n = parse(f, st)
        yield Chunk(facts, done, n)


def _open_changed(
    path: str, cursor: Cursor | None, skipped: Counter[str]
) -> tuple[BinaryIO, os.stat_result] | None:
    """Open `path` unless it is unreadable (counted) or unchanged since `cursor`."""
    try:
        f = open(path, "rb", buffering=1024 * 1024)  # noqa: SIM115 - the caller closes it
    except OSError:
        skipped["unreadable_file"] += 1
        return None
    st = os.fstat(f.fileno())
    if unchanged(cursor, st):
        f.close()
        return None
    return f, st


def _skip_rest(f: object) -> int:
    """Consume the rest of an oversize line; return its length, or -1 if it never ends."""
    n = 0
    while True:
        part = f.readline(_SKIP_READ)  # type: ignore[attr-defined]
        if not part:
            return -1
        n += len(part)
        if part[-1:] == b"\n":
            return n
