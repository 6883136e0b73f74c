"""The config file: a flat TOML table in the user config dir, read with `tomllib`.

Where: `$AGENT_CLI_CONFIG` (a file path) if set, else `config.toml` in platformdirs' user
config dir (`~/.config/agent-cli/` on Linux). The file may hold the API key, so it is written
0600 in a 0700 folder, atomically (a temporary file renamed over it), and never echoed.

Writing uses the small writer below rather than a dependency: the file is one flat table of
strings, numbers and lists of strings, and `tomllib` reads back what it writes (a test
checks that on arbitrary strings).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs

from agent_cli.errors import ConfigError

CONFIG_ENV = "AGENT_CLI_CONFIG"
FILE_NAME = "config.toml"


def path(env: Mapping[str, str] | None = None) -> Path:
    """The config file's path: $AGENT_CLI_CONFIG, else the user config dir's config.toml."""
    env = os.environ if env is None else env
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    return Path(platformdirs.user_config_dir("agent-cli", appauthor=False)) / FILE_NAME


def read(file: Path) -> dict[str, Any]:
    """The file's table ({} when there is no file); a file that is not TOML is a ConfigError."""
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ConfigError(f"The config file {file} cannot be read ({e.strerror}).") from None
    import tomllib  # here: a command that reads no config file does not pay for the parser

    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        # the decoder's message quotes a line and column, never the file's text
        raise ConfigError(
            f"The config file {file} is not valid TOML ({e}); fix or delete it."
        ) from None


def write(file: Path, table: Mapping[str, Any]) -> None:
    """Replace the file with `table` (flat: str, int, float, bool, list of str), 0600."""
    text = dumps(table)
    file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, file)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def dumps(table: Mapping[str, Any]) -> str:
    """TOML text of a flat table; keys are bare (letters, digits, `_`, `-`)."""
    lines = ["# agent-cli settings: `agent-cli config set KEY VALUE` writes this file."]
    for key, value in table.items():
        if not key or not all(c.isascii() and (c.isalnum() or c in "_-") for c in key):
            raise ValueError(f"not a bare TOML key: {key!r}")
        lines.append(f"{key} = {_value(value)}")
    return "\n".join(lines) + "\n"


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("only finite numbers are written")
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_string(s) for s in v) + "]"
    raise ValueError(f"cannot write a {type(v).__name__} to the config file")


def _string(s: object) -> str:
    """A TOML basic string: quote and backslash escaped, control characters as \\uXXXX."""
    if not isinstance(s, str):
        raise ValueError("lists in the config file hold strings only")
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
