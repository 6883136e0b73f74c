"""Run the dry-run in-process on a prepared home and keep its events (shared by tests)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from agent_cli import pipeline
from agent_cli.config import Settings


@dataclass
class Run:
    """The events a dry-run printed, its report, and the raw bytes of stdout."""

    events: list[dict[str, Any]]
    report: pipeline.Report
    raw: bytes = b""

    @property
    def calls(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == "llm_call"]

    @property
    def tools(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == "tool_call"]

    def session(self, sid: str, kind: str = "llm_call") -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind and e["session_id"] == sid]


def dry_run(env: dict[str, str], settings: Settings | None = None) -> Run:
    """Dry-run with `env` as the environment; return what it printed."""
    out = io.BytesIO()
    report = pipeline.dry_run(settings or Settings(), out, env)
    raw = out.getvalue()
    return Run([json.loads(line) for line in raw.splitlines()], report, raw)
