"""Where OpenCode keeps its data, and the order to read it in.

OpenCode's data folder is xdg-basedir's `xdgData` + `opencode` on every OS:
`$XDG_DATA_HOME/opencode`, else `~/.local/share/opencode` (also on macOS and Windows, where
the home is `%USERPROFILE%`). In it: `opencode.db` (channels latest/beta/prod, or
`OPENCODE_DISABLE_CHANNEL_DB`), `opencode-<channel>.db` for other channels, `$OPENCODE_DB`
when set (absolute, or relative to the data folder), and the legacy JSON storage
`storage/message/<session>/<message>.json`. The platform folders (`~/Library/Application
Support/opencode`, `%LOCALAPPDATA%`/`%APPDATA%\\opencode`) are looked in too, for builds
that moved there; ids are the same, so a copy counts once. Databases come first, then the
legacy sessions (one directory per session).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from agent_cli.sources.base import SourceFile
from agent_cli.sources.common import user_home
from agent_cli.sources.opencode.format import AGENT


def data_dir(env: Mapping[str, str], platform: str | None = None) -> Path:
    """OpenCode's own data folder ($XDG_DATA_HOME/opencode, else ~/.local/share/opencode;
    the home is %USERPROFILE% on Windows, as Node's `os.homedir()` has it)."""
    if env.get("XDG_DATA_HOME"):
        return Path(env["XDG_DATA_HOME"]).expanduser() / "opencode"
    home = user_home(env, sys.platform if platform is None else platform)
    return home / ".local" / "share" / "opencode"


def roots(env: Mapping[str, str], platform: str | None = None) -> list[Path]:
    """Every folder looked in: the data folder first, then the platform's own folders."""
    platform = sys.platform if platform is None else platform
    found = [data_dir(env, platform)]
    home = user_home(env, platform)
    if platform == "darwin":
        found.append(home / "Library" / "Application Support" / "opencode")
    elif platform == "win32":
        for var in ("LOCALAPPDATA", "APPDATA"):
            if env.get(var):
                found.append(Path(env[var]) / "opencode")
    return list(dict.fromkeys(found))


def db_override(env: Mapping[str, str], platform: str | None = None) -> Path | None:
    """$OPENCODE_DB as OpenCode resolves it (relative to the data folder), None if unset."""
    value = env.get("OPENCODE_DB", "")
    if not value or value == ":memory:":
        return None
    p = Path(value).expanduser()
    return p if p.is_absolute() else data_dir(env, platform) / p


def db_stat(path: str) -> tuple[int, int] | None:
    """(size, mtime_ns) of a database with its WAL: a write may touch only `-wal`."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    size, mtime = st.st_size, st.st_mtime_ns
    try:
        wal = os.stat(path + "-wal")
    except OSError:
        return size, mtime
    if wal.st_size:  # an empty WAL (as a reader leaves it) holds nothing new
        size, mtime = size + wal.st_size, max(mtime, wal.st_mtime_ns)
    return size, mtime


def _is_db(name: str) -> bool:
    return name.endswith(".db") and (name == "opencode.db" or name.startswith("opencode-"))


def databases(env: Mapping[str, str], platform: str | None = None) -> list[str]:
    """The database files, the override first, then each root's in name order."""
    paths: list[str] = []
    over = db_override(env, platform)
    if over is not None and over.is_file():
        paths.append(str(over))
    for root in roots(env, platform):
        try:
            names = sorted(e.name for e in os.scandir(root) if e.is_file() and _is_db(e.name))
        except OSError:
            continue
        paths.extend(str(root / n) for n in names)
    return list(dict.fromkeys(paths))


def dir_stat(path: str) -> tuple[int, int] | None:
    """(total size, latest mtime_ns) of a legacy session folder and its message files."""
    try:
        st = os.stat(path)
        size, mtime = 0, st.st_mtime_ns
        with os.scandir(path) as it:
            for e in it:
                if e.name.endswith(".json") and e.is_file():
                    s = e.stat()
                    size, mtime = size + s.st_size, max(mtime, s.st_mtime_ns)
    except OSError:
        return None
    return size, mtime


def legacy_sessions(env: Mapping[str, str], platform: str | None = None) -> list[str]:
    """The legacy `storage/message/<session>` folders, in name order."""
    out: list[str] = []
    for root in roots(env, platform):
        base = root / "storage" / "message"
        try:
            out.extend(sorted(e.path for e in os.scandir(base) if e.is_dir()))
        except OSError:
            continue
    return out


def discover(env: Mapping[str, str], platform: str | None = None) -> Iterator[SourceFile]:
    """Yield the databases, then the legacy session folders."""
    for path in databases(env, platform):
        st = db_stat(path)
        if st is not None:
            yield SourceFile(AGENT, path, *st)
    for path in legacy_sessions(env, platform):
        st = dir_stat(path)
        if st is not None:
            yield SourceFile(AGENT, path, *st)
