"""Where a Gemini CLI project lives: a chat file's `tmp/<project-id>` folder and its root.

The project id is a slug registered in `projects.json`, or the sha256 of the root; a
`.project_root` file in the folder wins. The root becomes the events' `cwd`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from agent_cli.sources.decode import decode_value
from agent_cli.sources.gemini_cli.format import decode_any


class Projects:
    """Resolve a `tmp/<project-id>` folder to the project's root (the cwd)."""

    def __init__(self) -> None:
        self._registry: dict[str, dict[str, str]] = {}  # gemini dir -> {path: slug}
        self._cache: dict[tuple[str, str | None], str | None] = {}

    def _load_registry(self, gemini_dir: str) -> dict[str, str]:
        reg = self._registry.get(gemini_dir)
        if reg is None:
            reg = {}
            try:
                with open(os.path.join(gemini_dir, "projects.json"), "rb") as f:
                    data = decode_value(decode_any, f.read(4 * 1024 * 1024))
            except OSError:
                data = None
            projects = data.get("projects") if isinstance(data, dict) else None
            if isinstance(projects, dict):
                reg = {
                    k: v for k, v in projects.items() if isinstance(k, str) and isinstance(v, str)
                }
            self._registry[gemini_dir] = reg
        return reg

    def cwd(
        self, project_dir: str, project_hash: str | None, directories: list[str] | None = None
    ) -> str | None:
        """Return the project root of `<gemini>/tmp/<id>`, or None when it cannot be told.

        The answer depends only on the folder and on this file's own `directories`, never on
        which files were read before: what the folder tells (`.project_root`, the registry) is
        cached per folder; a file's `directories` are tried, uncached, when it tells nothing
        (files read in another order, or in worker processes, get the same roots)."""
        key = (project_dir, project_hash)
        if key in self._cache:
            found = self._cache[key]
        else:
            found = self._cache[key] = self._resolve(project_dir, project_hash)
        if found is None and directories:
            wanted = _wanted(project_dir, project_hash)
            found = next((d for d in directories if _sha(d) in wanted), None)
        return found

    def _resolve(self, project_dir: str, project_hash: str | None) -> str | None:
        """The root the folder itself tells: `.project_root`, else the registry."""
        try:
            with open(os.path.join(project_dir, ".project_root"), "rb") as f:
                text = f.read(8192).decode("utf-8").strip()
            if text:
                return text
        except (OSError, UnicodeDecodeError):
            pass
        slug = os.path.basename(project_dir)
        gemini_dir = os.path.dirname(os.path.dirname(project_dir))
        reg = self._load_registry(gemini_dir)
        for path, s in reg.items():
            if s == slug:
                return path
        wanted = _wanted(project_dir, project_hash)
        return next((path for path in reg if _sha(path) in wanted), None)


def _wanted(project_dir: str, project_hash: str | None) -> set[str]:
    """The hashes a root of this project folder may have: its slug, the file's projectHash."""
    return {h for h in (os.path.basename(project_dir), project_hash) if h}


def _sha(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()


def split(path: str) -> tuple[str, str | None]:
    """Return the project folder `<gemini>/tmp/<id>` of a chat file and a subagent's parent."""
    p = Path(path)
    parts = p.parts
    try:
        i = len(parts) - 1 - parts[::-1].index("chats")
    except ValueError:
        return str(p.parent), None
    project_dir = str(Path(*parts[:i]))
    rel = parts[i + 1 :]
    parent = rel[-2] if len(rel) >= 2 else None
    return project_dir, parent
