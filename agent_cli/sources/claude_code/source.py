"""The Claude Code source: discovery plus the JSONL reader."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping

from agent_cli.sources.base import JsonlSource, SourceFile
from agent_cli.sources.claude_code import discover
from agent_cli.sources.claude_code.format import AGENT
from agent_cli.sources.claude_code.reader import ClaudeReader


class ClaudeCode(JsonlSource):
    """The Claude Code source."""

    agent = AGENT

    def where(self, env: Mapping[str, str]) -> list[str]:
        return discover.where(env)

    def discover(self, env: Mapping[str, str]) -> Iterator[SourceFile]:
        return discover.discover(env)

    def reader(self, path: str, state: bytes | None, skipped: Counter[str]) -> ClaudeReader:
        return ClaudeReader(path, state, skipped)
