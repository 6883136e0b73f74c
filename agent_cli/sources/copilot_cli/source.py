"""The Copilot CLI source: append-only `events.jsonl` per session."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Mapping

from agent_cli.sources.base import JsonlSource, SourceFile
from agent_cli.sources.copilot_cli import discover
from agent_cli.sources.copilot_cli.format import AGENT
from agent_cli.sources.copilot_cli.reader import CopilotReader


class CopilotCli(JsonlSource):
    """The GitHub Copilot CLI source (`platform` is the discovery seam for tests)."""

    agent = AGENT

    def __init__(self, platform: str = sys.platform) -> None:
        self.platform = platform

    def where(self, env: Mapping[str, str]) -> list[str]:
        """The session folders, then the pre-1.0 `history-session-state/` ones, which hold no
        token counts: a home with only those is named as found but not read."""
        roots = discover.roots(env, self.platform)
        return [str(r / d) for d in ("session-state", "history-session-state") for r in roots]

    def discover(self, env: Mapping[str, str]) -> Iterator[SourceFile]:
        return discover.discover(env, self.platform)

    def reader(self, path: str, state: bytes | None, skipped: Counter[str]) -> CopilotReader:
        return CopilotReader(path, state, skipped)
