"""Where the Cline family keeps its tasks: one root per editor, per OS, per extension id.

A VS Code extension stores its tasks in `<user data>/User/globalStorage/<extension id>/tasks/`;
every VS Code fork has its own user-data folder (`Code`, `Code - Insiders`, `Cursor`,
`Windsurf`, `VSCodium`, ...) under `$XDG_CONFIG_HOME` or `~/.config` (Linux),
`~/Library/Application Support` (macOS) or `%APPDATA%` (Windows); remote servers keep theirs
in `~/.vscode-server/data` and its forks' twins; `$VSCODE_PORTABLE/user-data` in portable mode.
Cline outside VS Code keeps classic tasks in `<cline data>/tasks` and SDK sessions in
`$CLINE_SESSION_DATA_DIR`, else `<cline data>/sessions`, where `<cline data>` is
`$CLINE_DATA_DIR`, else `$CLINE_DIR/data`, else `~/.cline/data`. Roo Code's CLI uses
`~/.vscode-mock/global-storage`. Kilo Code 7 keeps its sessions in `kilo.db`, which is found
and named (skipped as `kilo_db_not_read`), never read.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from agent_cli import config
from agent_cli.sources.base import SourceFile
from agent_cli.sources.cline.format import CLINE, EXTENSION_IDS, KILO, ROO

EDITORS = (
    "Code",
    "Code - Insiders",
    "Code - OSS",
    "Cursor",
    "Windsurf",
    "VSCodium",
    "VSCodium - Insiders",
    "Positron",
    "Trae",
)
SERVERS = (".vscode-server", ".vscode-server-insiders", ".cursor-server", ".windsurf-server")
UI_MESSAGES = "ui_messages.json"
KILO_DB = "kilo.db"
SDK_SUFFIX = ".messages.json"


def _config_base(env: Mapping[str, str], platform: str) -> Path:
    home = config.home(env)
    if platform == "darwin":
        return home / "Library" / "Application Support"
    if platform == "win32":
        return Path(env["APPDATA"]) if env.get("APPDATA") else home / "AppData" / "Roaming"
    return Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"


def global_storages(env: Mapping[str, str], platform: str) -> list[Path]:
    """Every editor's `User/globalStorage` folder, whether it exists or not."""
    base = _config_base(env, platform)
    home = config.home(env)
    found = [base / e / "User" / "globalStorage" for e in EDITORS]
    found += [home / s / "data" / "User" / "globalStorage" for s in SERVERS]
    if env.get("VSCODE_PORTABLE"):
        found.append(Path(env["VSCODE_PORTABLE"]) / "user-data" / "User" / "globalStorage")
    return found


def cline_data(env: Mapping[str, str]) -> Path:
    """Cline's own data folder (the CLI, JetBrains, the SDK)."""
    if env.get("CLINE_DATA_DIR"):
        return Path(env["CLINE_DATA_DIR"]).expanduser()
    if env.get("CLINE_DIR"):
        return Path(env["CLINE_DIR"]).expanduser() / "data"
    return config.home(env) / ".cline" / "data"


def sdk_sessions(env: Mapping[str, str]) -> Path:
    """Where Cline SDK sessions live."""
    if env.get("CLINE_SESSION_DATA_DIR"):
        return Path(env["CLINE_SESSION_DATA_DIR"]).expanduser()
    return cline_data(env) / "sessions"


def task_roots(agent: str, env: Mapping[str, str], platform: str) -> list[Path]:
    """The storage folders (each holding `tasks/`) of one agent, in reading order."""
    ext = EXTENSION_IDS[agent]
    roots = [g / ext for g in global_storages(env, platform)]
    if agent == CLINE:
        roots.append(cline_data(env))
    elif agent == ROO:
        roots.append(config.home(env) / ".vscode-mock" / "global-storage")
    return roots


def kilo_dbs(env: Mapping[str, str]) -> list[Path]:
    """Kilo Code 7's session database (an OpenCode-derived format this package does not read):
    `$KILO_DATA_DIR/kilo.db`, else `$XDG_DATA_HOME/kilo/kilo.db` or `~/.local/share/kilo/kilo.db`.
    """
    if env.get("KILO_DATA_DIR"):
        return [Path(env["KILO_DATA_DIR"]).expanduser() / KILO_DB]
    data = Path(env["XDG_DATA_HOME"]) if env.get("XDG_DATA_HOME") else None
    return [(data or config.home(env) / ".local" / "share") / "kilo" / KILO_DB]


def _stat(path: str) -> os.stat_result | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st if os.path.isfile(path) else None


def _subdirs(path: Path) -> list[str]:
    try:
        with os.scandir(path) as it:
            return sorted(e.path for e in it if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def _classic(agent: str, root: Path) -> Iterator[SourceFile]:
    for task in _subdirs(root / "tasks"):
        path = os.path.join(task, UI_MESSAGES)
        st = _stat(path)
        if st is not None:
            yield SourceFile(agent, path, st.st_size, st.st_mtime_ns)


def _sdk(agent: str, root: Path) -> Iterator[SourceFile]:
    for session in _subdirs(root):
        sid = os.path.basename(session)
        try:
            names = sorted(n for n in os.listdir(session) if n.endswith(SDK_SUFFIX))
        except OSError:
            continue
        # the session's own file first, then its subagents' and teammates'
        names.sort(key=lambda n: n != sid + SDK_SUFFIX)
        for name in names:
            path = os.path.join(session, name)
            st = _stat(path)
            if st is not None:
                yield SourceFile(agent, path, st.st_size, st.st_mtime_ns)


def discover(
    agent: str, env: Mapping[str, str], platform: str = sys.platform
) -> Iterator[SourceFile]:
    """Yield the agent's task files: classic tasks root by root, then Cline SDK sessions."""
    for root in task_roots(agent, env, platform):
        yield from _classic(agent, root)
    if agent == CLINE:
        yield from _sdk(agent, sdk_sessions(env))
    if agent == KILO:  # yielded so that the summary names it (counted, never read)
        for db in kilo_dbs(env):
            st = _stat(str(db))
            if st is not None:
                yield SourceFile(agent, str(db), st.st_size, st.st_mtime_ns)


def where(agent: str, env: Mapping[str, str], platform: str = sys.platform) -> list[str]:
    """Every folder `discover` looks in."""
    found = [str(r / "tasks") for r in task_roots(agent, env, platform)]
    if agent == CLINE:
        found.append(str(sdk_sessions(env)))
    if agent == KILO:
        found += [str(db.parent) for db in kilo_dbs(env)]
    return found
