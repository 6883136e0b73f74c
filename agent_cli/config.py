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

import platformdirs

from agent_cli.errors import ConfigError

DEFAULT_ENDPOINT = "https://ingest.sutrace.io"
DEFAULT_POLL_SECONDS = 1.0
DEFAULT_DRAIN_TIMEOUT = 180.0
DEFAULT_SETTLE_SECONDS = 3.0
DEFAULT_MAX_LINE_BYTES = 32 * 1024 * 1024
DEFAULT_OUTBOX_CAP = 200_000
DEFAULT_PARALLEL_MIN_BYTES = 64 * 1024 * 1024  # a smaller backfill is not worth workers
DEFAULT_REDISCOVER_SECONDS = 60.0  # new files are found sooner, by their folder's mtime


PATH_MODES = ("repo", "full", "home", "basename", "hash")
IDENTITY_MODES = ("keep", "hash", "drop")


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
    """Everything a run needs; built by `cli.py`, passed down unchanged."""

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

    @property
    def state_dir(self) -> Path:
        return self.home if self.home is not None else state_dir()

    def since_iso(self) -> str | None:
        """The --since bound as an ISO timestamp prefix comparable with event timestamps."""
        return None if self.since is None else self.since.isoformat()


def default_workers() -> int:
    """Processes that prepare a large backfill: none extra on two cores or fewer.

    Measured on a 2-vCPU machine, two workers were slower than one process: decoding is
    memory-bound and the cores slowed each other by ~55%, more than the work saved. With
    more cores there is room for them: one per core beyond the first, at most four.
    """
    cpus = os.cpu_count() or 1
    return 1 if cpus <= 2 else min(4, cpus - 1)


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """Return the state folder: $AGENT_CLI_HOME, else platformdirs' user state dir."""
    env = os.environ if env is None else env
    if env.get("AGENT_CLI_HOME"):
        return Path(env["AGENT_CLI_HOME"]).expanduser()
    return Path(platformdirs.user_state_dir("agent-cli", appauthor=False))


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
