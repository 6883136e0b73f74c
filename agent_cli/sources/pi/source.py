"""The pi source."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Mapping

from agent_cli.sources.base import JsonlSource, SourceFile
from agent_cli.sources.pi import discover
from agent_cli.sources.pi.format import AGENT
from agent_cli.sources.pi.reader import PiReader


class Pi(JsonlSource):
    """The pi coding agent (badlogic/pi-mono, now earendil-works/pi) source."""

    agent = AGENT

    def __init__(self, platform: str = sys.platform) -> None:
        self.platform = platform

    def where(self, env: Mapping[str, str]) -> list[str]:
        return [str(p) for p in discover.roots(env, self.platform)]

    def discover(self, env: Mapping[str, str]) -> Iterator[SourceFile]:
        return discover.discover(env, self.platform)

    def reader(self, path: str, state: bytes | None, skipped: Counter[str]) -> PiReader:
        return PiReader(path, state, skipped)
