"""What a Grok session folder says beside its log: cwd, model, parent session.

`summary.json` gives `info.cwd` (else `git_root_dir`), `current_model_id` (the model of a
turn whose usage names none) and `parent_session_id` (a fork or resume). A subagent's parent
is found from the parent's `subagents/*/meta.json` (`child_session_id`), looked up in the
project folder that holds both. Read once per folder and cached by mtime.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote

from agent_cli.sources.decode import FAILED, decode_value
from agent_cli.sources.grok_build.format import dec_subagent, dec_summary

_MAX_SIDE = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session: str
    cwd: str | None
    branch: str | None
    model: str | None
    parent: str | None
    is_subagent: bool


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read(_MAX_SIDE)
    except OSError:
        return None


class Sessions:
    """Session folder -> `SessionInfo`, and project folder -> {child: parent}."""

    def __init__(self) -> None:
        self._children: dict[str, tuple[int, dict[str, str]]] = {}

    def _parents(self, project: str) -> dict[str, str]:
        try:
            mtime = os.stat(project).st_mtime_ns
        except OSError:
            return {}
        hit = self._children.get(project)
        if hit is not None and hit[0] == mtime:
            return hit[1]
        found: dict[str, str] = {}
        try:
            sessions = [e for e in os.scandir(project) if e.is_dir(follow_symlinks=False)]
        except OSError:
            sessions = []
        for s in sessions:
            sub = os.path.join(s.path, "subagents")
            try:
                kids = [e.path for e in os.scandir(sub) if e.is_dir(follow_symlinks=False)]
            except OSError:
                continue
            for kid in kids:
                data = _read(os.path.join(kid, "meta.json"))
                meta = decode_value(dec_subagent, data) if data else FAILED
                if meta is not FAILED and meta.child_session_id:
                    found[meta.child_session_id] = s.name
        self._children[project] = (mtime, found)
        return found

    def info(self, updates_path: str) -> SessionInfo:
        folder = os.path.dirname(updates_path)
        session = os.path.basename(folder)
        project = os.path.dirname(folder)
        data = _read(os.path.join(folder, "summary.json"))
        summary = decode_value(dec_summary, data) if data else FAILED
        cwd = model = parent = branch = None
        if summary is not FAILED:
            cwd = (summary.info.cwd if summary.info else None) or summary.git_root_dir
            model, parent = summary.current_model_id, summary.parent_session_id
            branch = summary.head_branch
        if not cwd and os.path.basename(os.path.dirname(project)) == "sessions":
            cwd = unquote(os.path.basename(project))  # the project folder is the encoded cwd
        spawner = self._parents(project).get(session)
        if cwd and len(cwd) > 1:
            cwd = cwd.rstrip("/")
        return SessionInfo(session, cwd or None, branch, model, spawner or parent, bool(spawner))
