"""Where a wire file sits: its share folder, work-dir folder, session and subagent.

`<share>/sessions/<workdir md5>/<session id>/wire.jsonl` is a session's main file;
`<share>/sessions/<workdir md5>/<session id>/subagents/<agent id>/wire.jsonl` a subagent's.
Kimi Code: `<home>/sessions/<workspace id>/<session id>/agents/<main | agent id>/wire.jsonl`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Place:
    share: str | None
    work_folder: str | None
    session_id: str | None
    agent_id: str | None  # set for a subagent's file
    session_dir: str | None
    code: bool = False  # Kimi Code's layout: `<session>/agents/<agent id>/wire.jsonl`


def place_of(path: str) -> Place:
    """Split a wire file's path into the parts the reader needs (None where it does not fit)."""
    parts = os.path.normpath(path).split(os.sep)
    if len(parts) >= 7 and parts[-3] == "agents" and parts[-6] == "sessions":
        agent = None if parts[-2] == "main" else parts[-2]
        session_dir = os.sep.join(parts[:-3])
        return Place(os.sep.join(parts[:-6]), parts[-5], parts[-4], agent, session_dir, True)
    if len(parts) >= 7 and parts[-3] == "subagents" and parts[-6] == "sessions":
        return Place(
            os.sep.join(parts[:-6]), parts[-5], parts[-4], parts[-2], os.sep.join(parts[:-3])
        )
    if len(parts) >= 5 and parts[-4] == "sessions":
        return Place(os.sep.join(parts[:-4]), parts[-3], parts[-2], None, os.sep.join(parts[:-1]))
    return Place(None, None, None, None, None)
