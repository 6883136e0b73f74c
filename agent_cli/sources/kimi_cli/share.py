"""What a Kimi CLI share folder says beside the wire files: the model and the work dirs.

The wire file names no model. Kimi CLI picks it at start-up: `--model <alias>`, else
`default_model` of `config.toml` (`config.json` before the TOML move); the alias is a key
of `[models.<alias>]`, whose `model` is the API model name and `provider` a key of
`[providers.<name>]` (its `type`: kimi, openai_*, anthropic, gemini, vertexai). A subagent
names its own alias in `subagents/<id>/meta.json` (`launch_spec.effective_model`).
So the model given to a call is the one configured when the file is READ: right while a
session is tailed live, wrong for a session run with `--model`, another `--config-file`, or
before a `/model` switch (which rewrites `default_model`). docs/counting.md says more.

Only those keys are kept: the config also holds API keys, which are read past, never kept.
`kimi.json` maps each work directory to its sessions folder (the md5 of its path).
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass
from typing import Any

_MAX_FILE = 4 * 1024 * 1024
# the provider `type` to genai-prices' provider id (and the events' `provider`)
_PROVIDERS = {
    "kimi": "moonshotai",
    "openai_legacy": "openai",
    "openai_responses": "openai",
    "anthropic": "anthropic",
    "google_genai": "google",
    "gemini": "google",
    "vertexai": "google",
}
GOOGLE = frozenset({"google_genai", "gemini", "vertexai"})


@dataclass(frozen=True, slots=True)
class Model:
    """A resolved model: its API name, the provider id, the provider type."""

    name: str | None
    provider: str | None
    kind: str | None  # the config's provider type


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_FILE + 1)
    except OSError:
        return None
    return None if len(raw) > _MAX_FILE else raw


def _load_config(share: str) -> dict[str, Any]:
    raw = _read(os.path.join(share, "config.toml"))
    data: Any = None
    try:
        if raw is not None:
            data = tomllib.loads(raw.decode("utf-8"))
        else:
            legacy = _read(os.path.join(share, "config.json"))
            data = json.loads(legacy) if legacy is not None else None
    except (ValueError, UnicodeDecodeError):
        data = None
    return data if isinstance(data, dict) else {}


def _table(d: Any, key: str) -> dict[str, Any]:
    v = d.get(key) if isinstance(d, dict) else None
    return v if isinstance(v, dict) else {}


class Share:
    """One share folder's config and work dirs, loaded once per run (lazily)."""

    def __init__(self, share: str) -> None:
        self.share = share
        self._models: dict[str, tuple[str | None, str | None]] | None = None
        self._default: str | None = None
        self._types: dict[str, str] = {}
        self._dirs: dict[str, str] | None = None

    def _config(self) -> dict[str, tuple[str | None, str | None]]:
        if self._models is None:
            cfg = _load_config(self.share)
            self._models = {}
            for alias, m in _table(cfg, "models").items():
                if isinstance(m, dict):
                    name, prov = m.get("model"), m.get("provider")
                    self._models[alias] = (
                        name if isinstance(name, str) and name else None,
                        prov if isinstance(prov, str) else None,
                    )
            for name, p in _table(cfg, "providers").items():
                kind = p.get("type") if isinstance(p, dict) else None
                if isinstance(kind, str):
                    self._types[name] = kind  # only the type: never the key or the URL
            default = cfg.get("default_model")
            self._default = default if isinstance(default, str) and default else None
        return self._models

    def model(self, alias: str | None = None) -> Model:
        """Resolve a model alias (None: the configured default) to the model it names."""
        models = self._config()
        key = alias or self._default
        if key is None:
            return Model(None, None, None)
        name, prov = models.get(key, (None, None))
        kind = self._types.get(prov or "")
        return Model(name or key, _PROVIDERS.get(kind or ""), kind)

    def work_dir(self, folder: str) -> str | None:
        """The work directory whose sessions folder is `folder` (md5 of its path)."""
        if self._dirs is None:
            self._dirs = {}
            raw = _read(os.path.join(self.share, "kimi.json"))
            try:
                data = json.loads(raw) if raw is not None else None
            except ValueError:
                data = None
            dirs = data.get("work_dirs") if isinstance(data, dict) else None
            for wd in dirs if isinstance(dirs, list) else []:
                path = wd.get("path") if isinstance(wd, dict) else None
                if not isinstance(path, str):
                    continue
                digest = hashlib.md5(path.encode("utf-8"), usedforsecurity=False).hexdigest()
                kaos = wd.get("kaos")
                local = kaos in (None, "local")
                self._dirs[digest if local else f"{kaos}_{digest}"] = path
            self._code_workspaces()
        return self._dirs.get(folder)

    def _code_workspaces(self) -> None:
        """Kimi Code's `workspaces.json`: `{"workspaces": {<id>: {"root": <path>}}}`."""
        assert self._dirs is not None
        raw = _read(os.path.join(self.share, "workspaces.json"))
        try:
            data = json.loads(raw) if raw is not None else None
        except ValueError:
            return
        for wid, ws in _table(data, "workspaces").items():
            root = ws.get("root") if isinstance(ws, dict) else None
            if isinstance(root, str):
                self._dirs.setdefault(wid, root)


def subagent_alias(agent_dir: str) -> str | None:
    """A subagent's model alias from its `meta.json` (`launch_spec.effective_model`)."""
    raw = _read(os.path.join(agent_dir, "meta.json"))
    try:
        data = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    spec = data.get("launch_spec") if isinstance(data, dict) else None
    alias = None
    if isinstance(spec, dict):
        alias = spec.get("model_override") or spec.get("effective_model")
    return alias if isinstance(alias, str) and alias else None
