"""Side information of a classic task: its model timeline, cwd and parent task.

`ui_messages.json` names no model for Roo and Kilo, and not always for Cline, and never the cwd.
They come from files beside it, read only for these fields and cached by size and mtime:

- Cline: `task_metadata.json` `model_usage[]` ({ts, model_id, model_provider_id}, appended when
  the model changes); `<storage>/state/taskHistory.json` (`cwdOnTaskInitialization`).
- Roo / Kilo: each prompt's environment details say `<model>{id}</model>`, in a user message
  of `api_conversation_history.json` stamped with `ts`; `history_item.json` gives `workspace`
  and `parentTaskId`.

The model of a request is the last one stamped before the next request (the prompt of a
request is written just after its `api_req_started`).
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from agent_cli.sources.cline.format import (
    CLINE,
    dec_api_history,
    dec_history,
    dec_history_item,
    dec_meta,
)
from agent_cli.sources.common import to_int
from agent_cli.sources.decode import FAILED, decode_value

T = TypeVar("T")
_MODEL = re.compile(rb"<model>([^<\\\"]{1,200})</model>")


@dataclass(slots=True)
class Timeline:
    """Models by the time they were stamped (ms), sorted."""

    ts: list[int] = field(default_factory=list)
    models: list[tuple[str, str | None]] = field(default_factory=list)

    def add(self, ts: int, model: str, provider: str | None) -> None:
        i = bisect.bisect_right(self.ts, ts)
        self.ts.insert(i, ts)
        self.models.insert(i, (model, provider))

    def before(self, until_ms: int | None) -> tuple[str, str | None] | None:
        """The last model stamped before `until_ms` (None: the last of all)."""
        i = len(self.ts) if until_ms is None else bisect.bisect_left(self.ts, until_ms)
        return self.models[i - 1] if i else None


@dataclass(frozen=True, slots=True)
class TaskInfo:
    cwd: str | None
    parent: str | None
    timeline: Timeline


class Side:
    """Reads and caches the side files of classic tasks (one instance per source)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[int, int], object]] = {}

    def _load(self, path: str, max_bytes: int, parse: Callable[[bytes], T]) -> T | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (st.st_size, st.st_mtime_ns)
        hit = self._cache.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]  # type: ignore[return-value]
        value: T | None = None
        if st.st_size <= max_bytes:
            try:
                with open(path, "rb") as f:
                    value = parse(f.read(max_bytes + 1))
            except OSError:
                value = None
        self._cache[path] = (key, value)
        return value

    def task(self, agent: str, ui_path: str, max_bytes: int) -> TaskInfo:
        """The cwd, parent task and model timeline of the task holding `ui_path`."""
        task_dir = os.path.dirname(ui_path)
        task_id = os.path.basename(task_dir)
        if agent == CLINE:
            storage = os.path.dirname(os.path.dirname(task_dir))
            cwds = self._load(os.path.join(storage, "state", "taskHistory.json"), max_bytes, _cwds)
            timeline = self._load(os.path.join(task_dir, "task_metadata.json"), max_bytes, _meta)
            cwd = cwds.get(task_id) if cwds else None
            return TaskInfo(cwd, None, timeline or Timeline())
        item = self._load(os.path.join(task_dir, "history_item.json"), max_bytes, _item)
        timeline = self._load(
            os.path.join(task_dir, "api_conversation_history.json"), max_bytes, _prompts
        )
        cwd, parent = item if item else (None, None)
        return TaskInfo(cwd, parent, timeline or Timeline())


def _str(v: object) -> str | None:
    return v if isinstance(v, str) and v else None


def _cwds(data: bytes) -> dict[str, str]:
    items = decode_value(dec_history, data)
    if items is FAILED:
        return {}
    return {i.id: i.cwdOnTaskInitialization for i in items if i.id and i.cwdOnTaskInitialization}


def _meta(data: bytes) -> Timeline:
    meta = decode_value(dec_meta, data)
    t = Timeline()
    if meta is not FAILED:
        for u in meta.model_usage or []:
            if _str(u.model_id):
                t.add(to_int(u.ts), u.model_id or "", _str(u.model_provider_id))
    return t


def _item(data: bytes) -> tuple[str | None, str | None]:
    item = decode_value(dec_history_item, data)
    if item is FAILED:
        return (None, None)
    return (_str(item.workspace), _str(item.parentTaskId))


def _prompts(data: bytes) -> Timeline:
    messages = decode_value(dec_api_history, data)
    t = Timeline()
    if messages is FAILED:
        return t
    for m in messages:
        if m.role != "user" or not m.content:
            continue
        found = _MODEL.findall(bytes(m.content))
        if found:
            t.add(to_int(m.ts), found[-1].decode("utf-8", "replace").strip(), None)
    return t
