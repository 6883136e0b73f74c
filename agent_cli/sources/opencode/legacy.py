"""Read OpenCode's legacy JSON storage: one session folder at a time, whole.

`storage/message/<session>/<message>.json` holds one message (ids from the file names, as
OpenCode's own migration takes them), `storage/part/<message>/<part>.json` its parts and
`storage/session/<project>/<session>.json` the session (parent, version, directory). OpenCode
copies these into its database and keeps the files, so the same message is in both: the
event id is the message id, and the copy read second is a duplicate, never counted twice.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from agent_cli.sources.common import to_int
from agent_cli.sources.decode import FAILED, decode_value
from agent_cli.sources.opencode.format import (
    Part,
    decode_message,
    decode_part,
    decode_part_type,
    decode_session,
)
from agent_cli.sources.opencode.record import SessionMeta, ToolRow, rejected
from agent_cli.sources.opencode.steps import PartRow, message_facts

MAX_FILE = 16 * 1024 * 1024  # one message or part; a larger file is skipped, never held


class Sessions:
    """Legacy session files by id, found once per storage folder (a per-run cache)."""

    def __init__(self) -> None:
        self.index: dict[str, dict[str, str]] = {}

    def meta(self, storage: Path, sid: str) -> SessionMeta:
        key = str(storage)
        if key not in self.index:
            found: dict[str, str] = {}
            base = storage / "session"
            try:
                projects = [e.path for e in os.scandir(base) if e.is_dir()]
            except OSError:
                projects = []
            for p in sorted(projects):
                try:
                    for e in os.scandir(p):
                        if e.name.endswith(".json"):
                            found.setdefault(e.name[:-5], e.path)
                except OSError:
                    continue
            self.index[key] = found
        path = self.index[key].get(sid)
        data = _read(path) if path else None
        s = decode_value(decode_session, data) if data is not None else FAILED
        if s is FAILED:
            return SessionMeta()
        return SessionMeta(s.parentID or None, s.version or None, s.directory or None)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE + 1)
    except OSError:
        return None
    return data if len(data) <= MAX_FILE else None


def read_session(folder: str, sessions: Sessions, skipped: Counter[str]) -> list[object]:
    """The calls and tools of one legacy session folder, in message order."""
    sid = os.path.basename(folder)
    storage = Path(folder).parent.parent
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.name.endswith(".json"))
    except OSError:
        skipped["unreadable_file"] += 1
        return []
    meta = sessions.meta(storage, sid)
    out: list[object] = []
    turns = calls = 0
    for name in names:
        data = _read(os.path.join(folder, name))
        m = decode_value(decode_message, data) if data is not None else FAILED
        if m is FAILED:
            skipped["unrecognized_message_file"] += 1
            continue
        if m.role == "user":
            turns += 1
            continue
        if m.role != "assistant":
            continue
        calls += 1
        mid = name[:-5]
        parts = _parts(storage / "part" / mid, skipped)
        out.extend(message_facts(mid, sid, m, meta, (turns, calls - 1), parts, skipped))
    return out


def _parts(folder: Path, skipped: Counter[str]) -> list[PartRow]:
    """The tool, retry and step-finish parts of one message, in id (time) order."""
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.name.endswith(".json"))
    except OSError:
        return []
    out: list[PartRow] = []
    for name in names:
        data = _read(str(folder / name))
        p = decode_value(decode_part, data) if data is not None else FAILED
        if p is FAILED:
            kind = decode_value(decode_part_type, data) if data is not None else FAILED
            if kind is FAILED or kind.type in _OURS:  # other part shapes are not ours
                skipped["unrecognized_part_file"] += 1
            continue
        row = _part(p, name[:-5])
        if row is not None:
            out.append(row)
    return out


_OURS = ("tool", "retry", "step-finish")


def _part(p: Part, pid: str) -> PartRow | None:
    if p.type == "retry" and p.error is not None:
        created = to_int(p.time.created) if p.time else 0
        return PartRow("retry", pid, error=p.error, created=created)
    if p.type == "step-finish" and p.tokens is not None:
        return PartRow("step-finish", pid, tokens=p.tokens, cost=p.cost)
    if p.type != "tool" or p.state is None:
        return None
    s = p.state
    t = s.time
    status = s.status if isinstance(s.status, str) else None
    error = s.error if isinstance(s.error, str) else None
    row = ToolRow(p.callID, p.tool, status, t.start if t else None,
                  t.end if t else None, rejected(error))  # fmt: skip
    return PartRow("tool", pid, tool=row)
