"""The one error tree of agent-cli; `agent_cli.cli` turns these into one-line messages.

AgentCliError
├── ConfigError        a user mistake: bad flag, missing key, bad endpoint (exit 2)
├── SpoolError         the local state cannot be used (locked, corrupt, unwritable)
│   ├── SpoolCorrupt   the spool file is damaged (`start` moves it aside: see `recovery`)
│   └── AlreadyRunning another `start` holds the spool's lock
└── ServiceError       the service manager refused a step of `service install`
"""

from __future__ import annotations


class AgentCliError(Exception):
    """Base of every error agent-cli raises on purpose."""

    exit_code = 1


class ConfigError(AgentCliError):
    """A setting or flag is wrong; the message says which and how to fix it."""

    exit_code = 2


class SpoolError(AgentCliError):
    """The local spool cannot be opened or written."""


class SpoolCorrupt(SpoolError):
    """The spool file is damaged (not a database, or a page that does not read back)."""


class AlreadyRunning(SpoolError):
    """Another agent-cli process holds the spool lock."""


def is_full(e: BaseException) -> bool:
    """Whether SQLite said the disk is full (its result code, not the message)."""
    return str(getattr(e, "sqlite_errorname", "")).startswith("SQLITE_FULL")


def is_corrupt(e: BaseException) -> bool:
    """Whether SQLite said the file is damaged (its result code, not the message)."""
    if isinstance(e, SpoolCorrupt):
        return True
    return str(getattr(e, "sqlite_errorname", "")).startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


class ServiceError(AgentCliError):
    """The service manager (systemctl, launchctl, schtasks) refused a step of install."""
