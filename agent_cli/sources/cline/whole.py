"""Re-read a file that is rewritten whole, keeping a reader state between reads.

`tail.read_whole` keeps no state: a whole-file format needs none when every record stays in
the file. A Cline task loses records (a checkpoint restore deletes messages), so its reader
remembers what it emitted; the state rides in the cursor, as a JSONL reader's does, and is
handed to the next read of the same path even though the file was rewritten.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator

from agent_cli.cursor import Cursor
from agent_cli.tail import Chunk, make_cursor, unchanged

# parse(data, previous state) -> (facts, next state)
Parse = Callable[[bytes, bytes | None], tuple[list[object], bytes | None]]


def read_whole_stateful(
    path: str, cursor: Cursor | None, skipped: Counter[str], max_bytes: int, parse: Parse
) -> Iterator[Chunk]:
    """Yield one chunk with the facts of `path` when its size or mtime changed."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError:
        skipped["unreadable_file"] += 1
        return
    with f:
        st = os.fstat(f.fileno())
        if unchanged(cursor, st):
            return
        generation = cursor.generation + 1 if cursor is not None else 0
        previous = cursor.state if cursor is not None else None
        if st.st_size > max_bytes:  # one value: the line cap holds
            skipped["oversize_file"] += 1
            yield Chunk([], make_cursor(path, f.fileno(), st, st.st_size, generation, previous), 0)
            return
        data = f.read(st.st_size)
        facts, state = parse(data, previous)
        yield Chunk(
            facts, make_cursor(path, f.fileno(), st, st.st_size, generation, state), len(data)
        )


def note_whole(
    path: str, cursor: Cursor | None, skipped: Counter[str], reason: str
) -> Iterator[Chunk]:
    """Count a file this package finds but cannot read (under `reason`), once per change,
    without reading it: the summary then names it, and nothing is guessed from it."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError:
        skipped["unreadable_file"] += 1
        return
    with f:
        st = os.fstat(f.fileno())
        if unchanged(cursor, st):
            return
        skipped[reason] += 1
        generation = cursor.generation + 1 if cursor is not None else 0
        yield Chunk([], make_cursor(path, f.fileno(), st, st.st_size, generation, None), 0)
