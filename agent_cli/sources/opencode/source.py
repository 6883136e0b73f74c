"""The OpenCode source: its databases (read-only, by high-water mark) and legacy folders."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Mapping

from agent_cli.cursor import Cursor
from agent_cli.sources.base import SourceFile
from agent_cli.sources.opencode import discover
from agent_cli.sources.opencode.db import BUSY_MS, CHUNK_ROWS, read_db
from agent_cli.sources.opencode.format import AGENT
from agent_cli.sources.opencode.legacy import Sessions, read_session
from agent_cli.tail import Chunk


class OpenCode:
    """The OpenCode source (not JSONL: `read` is its own).

    `busy_ms` is how long a read waits for a lock before leaving the database for the next
    scan; `chunk_rows` how many messages a chunk holds (both seams for tests).
    """

    agent = AGENT

    def __init__(self, busy_ms: int = BUSY_MS, chunk_rows: int = CHUNK_ROWS) -> None:
        self.sessions = Sessions()
        self.busy_ms = busy_ms
        self.chunk_rows = chunk_rows

    def where(self, env: Mapping[str, str]) -> list[str]:
        found = [str(r) for r in discover.roots(env)]
        over = discover.db_override(env)
        return ([str(over)] if over is not None else []) + found

    def discover(self, env: Mapping[str, str]) -> Iterator[SourceFile]:
        return discover.discover(env)

    def read(
        self, path: str, cursor: Cursor | None, skipped: Counter[str], max_line: int
    ) -> Iterator[Chunk]:
        """Yield the new facts of a database or a legacy session folder since `cursor`."""
        if os.path.isdir(path):
            return self._read_folder(path, cursor, skipped)
        return self._read_db(path, cursor, skipped)

    def _read_folder(
        self, path: str, cursor: Cursor | None, skipped: Counter[str]
    ) -> Iterator[Chunk]:
        st = discover.dir_stat(path)
        if st is None:
            skipped["unreadable_file"] += 1
            return
        if cursor is not None and (cursor.size, cursor.mtime_ns) == st:
            return
        facts = read_session(path, self.sessions, skipped)
        gen = cursor.generation + 1 if cursor is not None else 0
        yield Chunk(facts, Cursor(path, st[0], gen, size=st[0], mtime_ns=st[1]), st[0])

    def _read_db(self, path: str, cursor: Cursor | None, skipped: Counter[str]) -> Iterator[Chunk]:
        """Chunks of the database; the last one's cursor records its size and mtime (with
        the WAL's), so an unchanged database is not opened again."""
        st = discover.db_stat(path)
        if st is None:
            skipped["unreadable_file"] += 1
            return
        if cursor is not None and (cursor.size, cursor.mtime_ns) == st:
            return
        size, mtime = st
        gen = cursor.generation if cursor is not None else 0
        new = max(size - (cursor.offset if cursor is not None else 0), 0)
        held: tuple[list[object], bytes] | None = None
        for part in read_db(path, cursor, skipped, self.busy_ms, self.chunk_rows):
            if held is not None:  # a chunk in the middle: no size, so a crash reads on
                yield Chunk(held[0], Cursor(path, 0, gen, state=held[1]), 0)
            held = part
        if held is not None:
            done = Cursor(path, size, gen, size=size, mtime_ns=mtime, state=held[1])
            yield Chunk(held[0], done, new)
