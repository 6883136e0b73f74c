"""Sources: one module per coding agent, all with the same small interface.

A source finds its agent's transcript files (`discover`) and reads the new part of one file
from a cursor (`read`), yielding `tail.Chunk`s of `CallFact`/`ToolFact`. Facts follow the
agent's counting rules; ids are deterministic. Adding an agent is one module plus its
registration in `SOURCES`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent_cli.tail import Chunk, Cursor


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A transcript file found by a source, in the order it should be read."""

    agent: str
    path: str
    size: int
    mtime_ns: int


class Source(Protocol):
    """The interface every agent module implements."""

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


def registry() -> dict[str, Source]:
    """Return every known source by agent name."""
    from agent_cli.sources import claude_code

    found: dict[str, Source] = {"claude-code": claude_code.ClaudeCode()}
    try:
        from agent_cli.sources import codex

        found["codex"] = codex.Codex()
    except ImportError:  # pragma: no cover - during development only
        pass
    try:
        from agent_cli.sources import gemini_cli

        found["gemini-cli"] = gemini_cli.GeminiCli()
    except ImportError:  # pragma: no cover
        pass
    return found
