"""The Codex source: discovery, the JSONL reader, and compressed rollouts read whole."""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import BinaryIO

from agent_cli.cursor import Cursor
from agent_cli.sources.base import JsonlSource, SourceFile
from agent_cli.sources.codex import discover
from agent_cli.sources.codex.format import AGENT
from agent_cli.sources.codex.reader import CodexReader
from agent_cli.tail import Chunk, read_whole


class Codex(JsonlSource):
    """The Codex CLI source."""

    agent = AGENT

    def where(self, env: Mapping[str, str]) -> list[str]:
        return [str(discover.root(env))]

    def discover(self, env: Mapping[str, str]) -> Iterator[SourceFile]:
        return discover.discover(env)

    def reader(self, path: str, state: bytes | None, skipped: Counter[str]) -> CodexReader:
        return CodexReader(path, state, skipped)

    def read(
        self, path: str, cursor: Cursor | None, skipped: Counter[str], max_line: int
    ) -> Iterator[Chunk]:
        if path.endswith(".zst"):
            return _read_zst(path, cursor, skipped, max_line)
        return super().read(path, cursor, skipped, max_line)


def _read_zst(
    path: str, cursor: Cursor | None, skipped: Counter[str], max_line: int
) -> Iterator[Chunk]:
    """Read a compressed rollout whole (it is not appended to), streaming line by line."""

    def parse(f: BinaryIO, st: os.stat_result) -> tuple[list[object], int]:
        import zstandard

        reader = CodexReader(path, None, skipped)
        total = 0
        try:
            stream = io.BufferedReader(
                zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True),
                buffer_size=1024 * 1024,
            )
            while True:
                line = stream.readline(max_line + 1)
                if not line:
                    break
                total += len(line)
                if len(line) > max_line and line[-1:] != b"\n":
                    skipped["oversize_line"] += 1
                    while line and line[-1:] != b"\n":
                        line = stream.readline(1024 * 1024)
                        total += len(line)
                    continue
                reader.feed(line)
        except (zstandard.ZstdError, OSError, EOFError, ValueError):
            skipped["corrupt_zst"] += 1
        return reader.flush(True), total

    return read_whole(path, cursor, skipped, parse)
