"""Settings: one frozen dataclass built once at the edge, and the paths agent-cli uses.

Environment variables are read when a function is called, never at import, so tests and
users can point everything at temporary folders (HOME, CLAUDE_CONFIG_DIR, CODEX_HOME,
GEMINI_CLI_HOME, AGENT_CLI_HOME).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from agent_cli import configfile
from agent_cli.errors import ConfigError
from agent_cli.sinks.endpoint import check_endpoint, mask_key

if TYPE_CHECKING:
    from agent_cli.sinks.otlp_config import OtlpConfig

DEFAULT_ENDPOINT = "https://ingest.sutrace.io"
DEFAULT_POLL_SECONDS = 1.0
DEFAULT_DRAIN_TIMEOUT = 180.0
DEFAULT_SETTLE_SECONDS = 3.0
DEFAULT_MAX_LINE_BYTES = 32 * 1024 * 1024
DEFAULT_OUTBOX_CAP = 200_000
DEFAULT_PARALLEL_MIN_BYTES = 64 * 1024 * 1024  # a smaller backfill is not worth workers
DEFAULT_REDISCOVER_SECONDS = 60.0  # new files are found sooner, by their folder's mtime
LOG_NAME = "agent-cli.log"
DEFAULT_RETENTION_DAYS = 30  # Claude Code's own default cleanupPeriodDays


PATH_MODES = ("repo", "full", "home", "basename", "hash")
IDENTITY_MODES = ("keep", "hash", "drop")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SINK_NAMES = ("sutrace", "otlp")  # the sinks a config may name; each runs when it is set up


@dataclass(frozen=True)
class Privacy:
    """How paths, the host name and the user name leave the machine.

    `paths`: "repo" (default) ships a repository root as it is and any other path (a cwd
    outside every repository, or one that no longer exists, so git cannot tell) as a hash;
    "full" every path as it is; "home" with the home folder as `~`; "basename" the last part
    only; "hash" every path as a hash. `identity` applies to `host` and `user`: "keep",
    "hash" or "drop" (null). A hash is `sha256:` and 16 hex digits of the value: stable, so
    events still group by it, but a pseudonym, not a secret (a guessed value can be checked).
    """

    paths: str = "repo"
    identity: str = "keep"

    def __post_init__(self) -> None:
        if self.paths not in PATH_MODES:
            raise ConfigError(
                f"--paths must be one of {', '.join(PATH_MODES)}, not {self.paths!r}."
            )
        if self.identity not in IDENTITY_MODES:
            raise ConfigError(
                f"--identity must be one of {', '.join(IDENTITY_MODES)}, not {self.identity!r}."
            )


@dataclass(frozen=True)
class Settings:
    """Everything a run needs; built by `agent_cli.cli`, passed down unchanged."""

    agents: tuple[str, ...] = ()  # empty: every agent found
    since: date | None = None
    dry_run: bool = False
    once: bool = False
    endpoint: str = DEFAULT_ENDPOINT
    api_key: str | None = field(default=None, repr=False)
    home: Path | None = None  # state folder; None: state_dir()
    poll_seconds: float = DEFAULT_POLL_SECONDS
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT
    settle_seconds: float = DEFAULT_SETTLE_SECONDS
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    outbox_cap: int = DEFAULT_OUTBOX_CAP
    rediscover_seconds: float = DEFAULT_REDISCOVER_SECONDS  # full walks of the daemon
    watch: bool = True  # the daemon uses file events (False, or AGENT_CLI_WATCH=0: it polls)
    parallel_min_bytes: int = DEFAULT_PARALLEL_MIN_BYTES  # backfills this big use --workers
    privacy: Privacy = field(default_factory=Privacy)
    progress: bool = False
    history_days: int | None = None  # the local history keeps this many days; None: all
    workers: int = field(default_factory=lambda: default_workers())
    sinks: tuple[str, ...] = SINK_NAMES
    retention_days: int = DEFAULT_RETENTION_DAYS  # doctor: shorter agent retention is a problem
    log_level: str = "INFO"
    otlp: OtlpConfig | None = None  # the OTLP sink (`sinks.otlp_config`); None: not used

    @property
    def state_dir(self) -> Path:
        return self.home if self.home is not None else state_dir()

    @property
    def log_file(self) -> Path:
        return log_dir(self.home) / LOG_NAME

    def since_iso(self) -> str | None:
        """The --since bound as an ISO timestamp prefix comparable with event timestamps."""
        return None if self.since is None else self.since.isoformat()


def default_workers() -> int:
    """Processes that prepare a large backfill: none extra on two cores or fewer.

    On a 2-vCPU machine two workers were not faster than one process (spawned ones were
    slower; forked ones, module `workers`, spend ~10-25 % more CPU and the parent and the
    other programs share the same two cores: docs/performance.md). With more cores there
    is room for them: one per core beyond the first, at most four.
    """
    cpus = os.cpu_count() or 1
    return 1 if cpus <= 2 else min(4, cpus - 1)


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """Return the state folder: $AGENT_CLI_HOME, else platformdirs' user state dir."""
    env = os.environ if env is None else env
    if env.get("AGENT_CLI_HOME"):
        return Path(env["AGENT_CLI_HOME"]).expanduser()
    return Path(platformdirs.user_state_dir("agent-cli", appauthor=False))


def log_dir(home: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The log folder: $AGENT_CLI_LOG_DIR; else a state folder that was chosen (--home,
    $AGENT_CLI_HOME), so a second shipper's log stays beside its spool; else platformdirs'
    user log dir (`~/.local/state/agent-cli/log` on Linux)."""
    env = os.environ if env is None else env
    if env.get("AGENT_CLI_LOG_DIR"):
        return Path(env["AGENT_CLI_LOG_DIR"]).expanduser()
    if home is not None:
        return home
    if env.get("AGENT_CLI_HOME"):
        return state_dir(env)
    return Path(platformdirs.user_log_dir("agent-cli", appauthor=False))


def home(env: Mapping[str, str] | None = None) -> Path:
    """Return the user's home as the environment says (HOME wins, as the agents do)."""
    env = os.environ if env is None else env
    return Path(env["HOME"]) if env.get("HOME") else Path.home()


def parse_since(value: str) -> date:
    """Parse a --since value (YYYY-MM-DD); raise ConfigError with one clear sentence."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--since must be a date like 2026-10-01, not {value!r}.") from None


# -- the layers: flags > environment > config file > defaults ---------------------------------


@dataclass(frozen=True)
class Key:
    """One setting a user may give as a flag, an environment variable or in the config file.

    `kind` is "text", "choice", "list", "int" or "float"; `choices` bound a choice (and each
    item of a list, when given); `low`/`high` bound a number. A `secret` is never echoed."""

    name: str
    env: str | None
    flag: str | None
    kind: str
    default: Any
    choices: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 0.0
    secret: bool = False


KEYS: dict[str, Key] = {
    k.name: k
    for k in (
        Key("endpoint", "SUTRACE_ENDPOINT", "--endpoint", "text", DEFAULT_ENDPOINT),
        Key("key", "SUTRACE_API_KEY", "--api-key", "text", None, secret=True),
        Key("agents", "AGENT_CLI_AGENTS", "--agent", "list", ()),
        Key("paths", "AGENT_CLI_PATHS", "--paths", "choice", "repo", PATH_MODES),
        Key("identity", "AGENT_CLI_IDENTITY", "--identity", "choice", "keep", IDENTITY_MODES),
        Key("sinks", "AGENT_CLI_SINKS", None, "list", SINK_NAMES, SINK_NAMES),
        Key("otlp_endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "--otlp-endpoint", "text", None),
        Key(
            "retention_days",
            "AGENT_CLI_RETENTION_DAYS",
            None,
            "int",
            DEFAULT_RETENTION_DAYS,
            low=1,
            high=3650,
        ),
        Key(
            "poll_interval",
            "AGENT_CLI_POLL_INTERVAL",
            "--poll-interval",
            "float",
            1.0,
            low=0.05,
            high=3600,
        ),
        Key("log_level", "AGENT_CLI_LOG_LEVEL", "--log-level", "choice", "INFO", LOG_LEVELS),
    )
}


@dataclass(frozen=True)
class Resolved:
    """Each setting's value and where it came from: "flag", "env NAME", "file" or "default"."""

    values: dict[str, Any]
    origins: dict[str, str]
    file: Path


def resolve(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    file: Path | None = None,
) -> Resolved:
    """Layer the settings: `flags` (None: not given) > environment > config file > defaults."""
    env = os.environ if env is None else env
    flags = flags or {}
    file = configfile.path(env) if file is None else file
    table = configfile.read(file)
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"The config file {file} has unknown settings ({', '.join(unknown)}); "
            f"known: {', '.join(KEYS)}."
        )
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, key in KEYS.items():
        if flags.get(name) not in (None, ()):
            values[name], origins[name] = parse(key, flags[name], key.flag or name), "flag"
        elif key.env and env.get(key.env):
            values[name], origins[name] = parse(key, env[key.env], key.env), f"env {key.env}"
        elif name in table:
            values[name], origins[name] = parse(key, table[name], f"{file}"), "file"
        else:
            values[name], origins[name] = key.default, "default"
    return Resolved(values, origins, file)


def build(resolved: Resolved, **fixed: Any) -> Settings:
    """Settings from resolved layers, plus what only a flag sets (`once`, `since`, `home` ...).

    A sink left out of `sinks` is not used even when it is set up (a key, an OTLP endpoint)."""
    v = resolved.values
    sinks = tuple(v["sinks"])
    if "otlp" not in sinks:
        fixed["otlp"] = None
    return Settings(
        endpoint=v["endpoint"],
        api_key=v["key"] if "sutrace" in sinks else None,
        agents=tuple(v["agents"]),
        privacy=Privacy(paths=v["paths"], identity=v["identity"]),
        sinks=sinks,
        retention_days=v["retention_days"],
        poll_seconds=v["poll_interval"],
        log_level=v["log_level"],
        **fixed,
    )


def parse(key: Key, value: Any, where: str) -> Any:
    """Check one value (a string from the environment or `config set`, or typed from the file
    or a flag) and return it typed; raise ConfigError naming `where` and the setting."""
    what = f"{where}: {key.name}"
    if key.kind in ("int", "float"):
        return _number(key, value, what)
    if key.kind == "list":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"{what} must be a list of names.")
        out = tuple(i.strip() for i in items if i.strip())
        bad = [i for i in out if key.choices and i not in key.choices]
        if bad:
            raise ConfigError(f"{what} may name only {', '.join(key.choices)}, not {bad[0]!r}.")
        return out
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} must be a non-empty string.")
    value = value.strip()
    if key.kind == "choice":
        found = [c for c in key.choices if c.lower() == value.lower()]
        if not found:
            raise ConfigError(f"{what} must be one of {', '.join(key.choices)}, not {value!r}.")
        return found[0]
    if key.name == "endpoint":
        try:
            check_endpoint(value)
        except ConfigError as e:
            raise ConfigError(f"{what}: {e}") from None
    if key.secret and not (value.isascii() and value.isprintable() and " " not in value):
        raise ConfigError(f"{what} has spaces or unusual characters; copy it again from Sutrace.")
    return value


def _number(key: Key, value: Any, what: str) -> float | int:
    kind = int if key.kind == "int" else float
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError
        n = kind(value)
    except ValueError:
        raise ConfigError(f"{what} must be a number, not {value!r}.") from None
    if not key.low <= n <= key.high:
        raise ConfigError(f"{what} must be between {key.low:g} and {key.high:g}, not {n}.")
    return n


def set_value(name: str, raw: str | None, env: Mapping[str, str] | None = None) -> Path:
    """Write one setting to the config file (`raw` None: remove it); return the file."""
    key = KEYS.get(name)
    if key is None:
        raise ConfigError(f"Unknown setting {name!r}; known: {', '.join(KEYS)}.")
    file = configfile.path(env)
    table = configfile.read(file)
    if raw is None:
        table.pop(name, None)
    else:
        value = parse(key, raw, "config set")
        table[name] = list(value) if isinstance(value, tuple) else value
    configfile.write(file, table)
    return file


def shown(name: str, value: Any) -> str:
    """A value as `config show` prints it: a secret masked, a list comma-separated."""
    if value is None:
        return "(not set)"
    if KEYS[name].secret:
        return mask_key(str(value))
    if isinstance(value, tuple | list):
        return ", ".join(value) if value else "(all found)"
    return str(value)
