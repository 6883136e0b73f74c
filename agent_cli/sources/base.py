"""What every source shares: the `Source` protocol, `SourceFile`, file walking, JSONL reading.

A source finds its agent's transcript files (`discover`) and reads the new part of one file
from a cursor (`read`), yielding `tail.Chunk`s of `CallFact`/`ToolFact`. Facts follow the
agent's counting rules; ids are deterministic, so re-reading a file never counts twice.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent_cli.cursor import Cursor
from agent_cli.tail import Chunk, LineReader, read_chunks


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A transcript file found by a source, in the order it should be read."""

    agent: str
    path: str
    size: int
    mtime_ns: int


class Source(Protocol):
    """The interface every agent package implements."""

    agent: str

    def discover(self, env: Mapping[str, str]) -> Iterator[SourceFile]:
        """Yield the agent's transcript files, in reading order."""
        ...

    def where(self, env: Mapping[str, str]) -> list[str]:
        """Name the folders `discover` looks in (for a user who finds nothing)."""
        ...

    def read(
        self, path: str, cursor: Cursor | None, skipped: Counter[str], max_line: int
    ) -> Iterator[Chunk]:
        """Yield chunks of facts from the part of `path` not yet read."""
        ...


class JsonlSource:
    """The reading half of a source whose files are append-only JSON Lines.

    A subclass names its per-file reader in `reader`; `read` resumes it from the cursor's
    state and feeds it the new complete lines (`tail.read_chunks`). A source with other
    files too (compressed, whole-file JSON) overrides `read` and calls this one for JSONL.
    """

    agent: str

    def reader(self, path: str, state: bytes | None, skipped: Counter[str]) -> LineReader:
        """Return the reader of one file, resumed from `state` (None: from the start)."""
        raise NotImplementedError

    def read(
        self, path: str, cursor: Cursor | None, skipped: Counter[str], max_line: int
    ) -> Iterator[Chunk]:
        """Yield chunks of facts from the new complete lines of `path` since `cursor`."""
        return read_chunks(
            path, cursor, lambda s: self.reader(path, s, skipped), skipped, max_line=max_line
        )


def walk_files(root: Path, suffixes: tuple[str, ...]) -> Iterator[os.DirEntry[str]]:
    """Yield regular files under `root` (recursively, no symlinked dirs) with a suffix."""
    stack = [str(root)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.name.endswith(suffixes) and e.is_file():
                    yield e
            except OSError:
                continue
