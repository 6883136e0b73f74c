"""The Gemini CLI source: discovery, the JSONL reader, and whole-file sessions re-read."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import BinaryIO

from agent_cli.cursor import Cursor
from agent_cli.sources.base import JsonlSource, SourceFile
from agent_cli.sources.gemini_cli import discover
from agent_cli.sources.gemini_cli.format import AGENT
from agent_cli.sources.gemini_cli.projects import Projects
from agent_cli.sources.gemini_cli.reader import GeminiJsonlReader, GeminiJsonReader
from agent_cli.tail import Chunk, read_whole


class GeminiCli(JsonlSource):
    """The Gemini CLI source."""

    agent = AGENT

    def __init__(self) -> None:
        self.projects = Projects()

    def where(self, env: Mapping[str, str]) -> list[str]:
        return [str(discover.root(env))]

    def discover(self, env: Mapping[str, str]) -> Iterator[SourceFile]:
        return discover.discover(env)

    def reader(self, path: str, state: bytes | None, skipped: Counter[str]) -> GeminiJsonlReader:
        return GeminiJsonlReader(path, state, skipped, self.projects)

    def read(
        self, path: str, cursor: Cursor | None, skipped: Counter[str], max_line: int
    ) -> Iterator[Chunk]:
        if path.endswith(".jsonl"):
            return super().read(path, cursor, skipped, max_line)
        return self._read_json(path, cursor, skipped, max_line)

    def _read_json(
        self, path: str, cursor: Cursor | None, skipped: Counter[str], max_line: int
    ) -> Iterator[Chunk]:
        """Re-read a whole-file session when its size or mtime changed."""

        def parse(f: BinaryIO, st: os.stat_result) -> tuple[list[object], int]:
            if st.st_size > max_line:  # a whole-file session is one value: the line cap holds
                skipped["oversize_file"] += 1
                return [], 0
            data = f.read(st.st_size)
            return GeminiJsonReader(path, skipped, self.projects).read_bytes(data), len(data)

        return read_whole(path, cursor, skipped, parse)
