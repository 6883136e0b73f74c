"""The Kimi CLI source."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Mapping

from agent_cli.sources.base import JsonlSource, SourceFile
from agent_cli.sources.kimi_cli import discover
from agent_cli.sources.kimi_cli.format import AGENT
from agent_cli.sources.kimi_cli.reader import KimiReader
from agent_cli.sources.kimi_cli.share import Share


class KimiCli(JsonlSource):
    """The Kimi CLI (MoonshotAI/kimi-cli) source."""

    agent = AGENT

    def __init__(self, platform: str = sys.platform) -> None:
        self.platform = platform
        self.shares: dict[str, Share] = {}  # per run: config and work dirs, read once

    def where(self, env: Mapping[str, str]) -> list[str]:
        return [
            str(discover.share_dir(env, self.platform) / "sessions"),
            str(discover.code_dir(env, self.platform) / "sessions"),
        ]

    def discover(self, env: Mapping[str, str]) -> Iterator[SourceFile]:
        return discover.discover(env, self.platform)

    def reader(self, path: str, state: bytes | None, skipped: Counter[str]) -> KimiReader:
        return KimiReader(path, state, skipped, self.shares)
