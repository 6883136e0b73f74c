"""Doctor's agent checks: each agent of the registry (installed? transcripts? how old?) and
Claude Code's retention (`cleanupPeriodDays`: it deletes older transcripts at startup).

Read-only like the rest of doctor: the transcripts are listed (never read) and the spool,
when there is one, says which of them are shipped.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_cli import config
from agent_cli.finding import Finding
from agent_cli.sources import SourceFile, registry

if TYPE_CHECKING:
    from agent_cli.spool import Spool

CLAUDE = "claude-code"
CLAUDE_DEFAULT_DAYS = 30  # Claude Code's default cleanupPeriodDays
EXECUTABLES = {"claude-code": "claude", "codex": "codex", "gemini-cli": "gemini"}
_NO_FILES = (
    "use the agent once, or point agent-cli at its folder "
    "(CLAUDE_CONFIG_DIR, CODEX_HOME, GEMINI_CLI_HOME)"
)


def agent_findings(
    settings: config.Settings, env: Mapping[str, str], now: float, spool: Spool | None
) -> list[Finding]:
    """One finding per agent, a problem for a chosen agent without transcripts (or for no
    transcripts at all), and Claude Code's retention."""
    from agent_cli.scan import ALIASES

    chosen = {ALIASES.get(a, a) for a in settings.agents}
    out: list[Finding] = []
    files: dict[str, list[SourceFile]] = {}
    for name, src in registry().items():
        found = files[name] = list(src.discover(env))
        wanted = not chosen or name in chosen
        installed = shutil.which(EXECUTABLES.get(name, name), path=env.get("PATH")) is not None
        installed = installed or any(Path(w).expanduser().exists() for w in src.where(env))
        if found:
            age = (now - max(f.mtime_ns for f in found) / 1e9) / 86400
            detail = f"{len(found)} transcripts, newest {_days(age)} old"
        else:
            detail = "no transcripts in " + ", ".join(src.where(env))
        state = "installed" if installed else "not installed"
        ok = bool(found) or not chosen or not wanted
        out.append(Finding(f"agent {name}", ok, f"{state}; {detail}", "" if ok else _NO_FILES))
    if not any(files.values()):
        out.append(Finding("transcripts", False, "no transcripts found for any agent", _NO_FILES))
    out.append(claude_retention(settings, env, files.get(CLAUDE, []), spool))
    return out


def _days(d: float) -> str:
    if d < 1 / 24:
        return f"{max(d * 1440, 0):.0f} min"
    return f"{d * 24:.0f} h" if d < 2 else f"{d:.0f} days"


def claude_settings(env: Mapping[str, str]) -> Path:
    """Claude Code's user settings file: in $CLAUDE_CONFIG_DIR (its first folder) or ~/.claude."""
    parts = [p.strip() for p in env.get("CLAUDE_CONFIG_DIR", "").split(",") if p.strip()]
    base = Path(parts[0]).expanduser() if parts else config.home(env) / ".claude"
    return base / "settings.json"


def cleanup_days(path: Path) -> int | None:
    """`cleanupPeriodDays` from a settings file (None: unset, or the file unreadable)."""
    try:
        data: Any = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    days = data.get("cleanupPeriodDays") if isinstance(data, dict) else None
    return days if isinstance(days, int) and not isinstance(days, bool) else None


def claude_retention(
    settings: config.Settings,
    env: Mapping[str, str],
    files: list[SourceFile],
    spool: Spool | None,
) -> Finding:
    """A problem when Claude Code may delete transcripts not yet shipped: the setting is
    unset (30 days) or shorter than `retention_days`, and some history waits."""
    path = claude_settings(env)
    days = cleanup_days(path)
    unshipped = _unshipped(files, spool)
    said = f"cleanupPeriodDays {days}" if days is not None else "cleanupPeriodDays unset (30)"
    fix = (
        f'set "cleanupPeriodDays": 365 (or more; 0 stops transcripts being written) in {path}, '
        "and keep agent-cli running so history is shipped before it is deleted"
    )
    if days is not None and days <= 0:
        return Finding("claude retention", False, f"{said}: transcripts are not kept", fix)
    if not files:
        return Finding("claude retention", True, f"{said}; no transcripts to lose")
    short = days is None or days < settings.retention_days
    if short and unshipped:
        why = f"{said} and {unshipped} transcripts not fully shipped"
        return Finding("claude retention", False, why, fix)
    if short:
        return Finding("claude retention", True, f"{said}; every transcript is shipped")
    return Finding("claude retention", True, f"{said} ({path})")


def _unshipped(files: list[SourceFile], spool: Spool | None) -> int:
    """Transcripts the spool has not read to their end, or all when events still wait."""
    if spool is None:
        return len(files)
    if spool.rows():
        return len(files)
    read = {path: offset for _, path, offset in spool.tracked()}
    return sum(1 for f in files if read.get(f.path, -1) < f.size)
