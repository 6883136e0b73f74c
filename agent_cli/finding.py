"""A `Finding`: one fact `doctor` checked, and what to do when it is a problem."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One fact doctor checked: `ok`, what it found, and what to do when it is not ok."""

    check: str
    ok: bool
    detail: str
    fix: str = ""
