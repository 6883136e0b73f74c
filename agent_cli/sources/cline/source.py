"""The Cline-family sources: one per agent (extension id), sharing discovery and readers."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping

from agent_cli.cursor import Cursor
from agent_cli.sources.base import SourceFile
from agent_cli.sources.cline import discover
from agent_cli.sources.cline.classic import ClassicReader
from agent_cli.sources.cline.discover import KILO_DB, SDK_SUFFIX, UI_MESSAGES
from agent_cli.sources.cline.format import CLINE, KILO, ROO
from agent_cli.sources.cline.sdk import read_sdk
from agent_cli.sources.cline.side import Side
from agent_cli.sources.cline.whole import note_whole, read_whole_stateful
from agent_cli.tail import Chunk


class ClineFamily:
    """One agent of the Cline family: `cline`, `roo-code` or `kilo-code`.

    `platform` (default `sys.platform`) decides where editors keep their user data, so tests
    can look for every OS's folders on one machine.
    """

    def __init__(self, agent: str, platform: str = sys.platform) -> None:
        self.agent = agent
        self.platform = platform
        self.side = Side()

    def where(self, env: Mapping[str, str]) -> list[str]:
        return discover.where(self.agent, env, self.platform)

    def discover(self, env: Mapping[str, str]) -> Iterator[SourceFile]:
        return discover.discover(self.agent, env, self.platform)

    def read(
        self, path: str, cursor: Cursor | None, skipped: Counter[str], max_line: int
    ) -> Iterator[Chunk]:
        if os.path.basename(path) == UI_MESSAGES:

            def classic(data: bytes, state: bytes | None) -> tuple[list[object], bytes | None]:
                task_id = os.path.basename(os.path.dirname(path))
                info = self.side.task(self.agent, path, max_line)
                reader = ClassicReader(self.agent, path, task_id, info, state, skipped)
                return reader.read(data), reader.state()

            return read_whole_stateful(path, cursor, skipped, max_line, classic)

        def sdk(data: bytes, state: bytes | None) -> tuple[list[object], bytes | None]:
            return read_sdk(self.agent, path, data, skipped, max_line), None

        if path.endswith(SDK_SUFFIX):
            return read_whole_stateful(path, cursor, skipped, max_line, sdk)
        if os.path.basename(path) == KILO_DB:
            return note_whole(path, cursor, skipped, "kilo_db_not_read")
        return read_whole_stateful(path, cursor, skipped, max_line, _unknown(skipped))


def _unknown(skipped: Counter[str]) -> Callable[[bytes, bytes | None], tuple[list[object], None]]:
    def parse(data: bytes, state: bytes | None) -> tuple[list[object], None]:
        skipped["not_a_session"] += 1
        return [], None

    return parse


class Cline(ClineFamily):
    """Cline: extension `saoudrizwan.claude-dev`, its own data folder, SDK sessions."""

    def __init__(self, platform: str = sys.platform) -> None:
        super().__init__(CLINE, platform)


class RooCode(ClineFamily):
    """Roo Code: extension `rooveterinaryinc.roo-cline`, and its CLI's storage."""

    def __init__(self, platform: str = sys.platform) -> None:
        super().__init__(ROO, platform)


class KiloCode(ClineFamily):
    """Kilo Code: extension `kilocode.kilo-code` (the classic tasks of Kilo Code <= 5)."""

    def __init__(self, platform: str = sys.platform) -> None:
        super().__init__(KILO, platform)
