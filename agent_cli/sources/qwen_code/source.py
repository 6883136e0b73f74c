"""The Qwen Code source: append-only chat JSONL files."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Mapping

from agent_cli.sources.base import JsonlSource, SourceFile
from agent_cli.sources.qwen_code import discover
from agent_cli.sources.qwen_code.format import AGENT
from agent_cli.sources.qwen_code.reader import QwenReader


class QwenCode(JsonlSource):
    """The Qwen Code source (`platform` is the discovery seam for tests)."""

    agent = AGENT

    def __init__(self, platform: str = sys.platform) -> None:
        self.platform = platform

    def where(self, env: Mapping[str, str]) -> list[str]:
        return [str(r / "projects") for r in discover.roots(env, self.platform)]

    def discover(self, env: Mapping[str, str]) -> Iterator[SourceFile]:
        return discover.discover(env, self.platform)

    def reader(self, path: str, state: bytes | None, skipped: Counter[str]) -> QwenReader:
        return QwenReader(path, state, skipped)
