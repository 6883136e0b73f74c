"""The Grok Build source: discovery, the JSONL reader, and the session folders' side files."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping

from agent_cli.sources.base import JsonlSource, SourceFile
from agent_cli.sources.grok_build import discover
from agent_cli.sources.grok_build.format import AGENT
from agent_cli.sources.grok_build.reader import GrokReader
from agent_cli.sources.grok_build.sessions import Sessions


class GrokBuild(JsonlSource):
    """The Grok Build (xAI's Grok CLI) source."""

    agent = AGENT

    def __init__(self) -> None:
        self.sessions = Sessions()

    def where(self, env: Mapping[str, str]) -> list[str]:
        return [str(discover.root(env) / "sessions")]

    def discover(self, env: Mapping[str, str]) -> Iterator[SourceFile]:
        return discover.discover(env)

    def reader(self, path: str, state: bytes | None, skipped: Counter[str]) -> GrokReader:
        return GrokReader(path, state, skipped, self.sessions.info(path))
