"""Status: what the spool says about a shipper's health, for `agent-cli status`.

Read-only: it opens the spool without the lock, so it works while `start` runs. Healthy
means not paused for a person (auth, endpoint, incompatible client) and no event older than
an hour while the endpoint answers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_cli.deliver import Pause, clamp_wait
from agent_cli.errors import SpoolCorrupt, SpoolError
from agent_cli.migrations import FIRST_SINK
from agent_cli.outbox import SinkState
from agent_cli.spool import DB_NAME, Spool
from agent_cli.statedir import RESUME_FREE_BYTES

STALE_SECONDS = 3600.0


@dataclass(frozen=True)
class PauseInfo:
    """A pause in force: why, what the server said, until when (epoch seconds)."""

    reason: str
    detail: str | None
    until: float


@dataclass(frozen=True)
class SinkStatus:
    """One sink's part: what it has left to send, and why it waits, if it does."""

    depth: int
    oldest_age_seconds: float | None
    last_success_at: float | None
    pause: PauseInfo | None
    consecutive_failures: int
    last_error: str | None
    healthy: bool


@dataclass(frozen=True)
class Status:
    """The spool's health; `as_dict()` is what `status --json` prints."""

    state_dir: str
    spool: str
    initialized: bool = False
    healthy: bool = True
    outbox: dict[str, Any] = field(default_factory=lambda: {"depth": 0})
    endpoint: str | None = None
    api_key: str | None = None  # the masked hint, never the key
    agents: dict[str, dict[str, int]] = field(default_factory=dict)
    last_success_at: float | None = None
    pause: PauseInfo | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    log: str | None = None
    quarantine: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    not_emitted: dict[str, int] = field(default_factory=dict)
    worker_failures: dict[str, int] = field(default_factory=dict)  # files read again here
    # per sink, the same facts: the top-level ones are the Sutrace sink's (the first one)
    sinks: dict[str, SinkStatus] = field(default_factory=dict)
    # a damaged spool that a start moved aside: when, the file kept, and what was wrong
    recovered: dict[str, Any] | None = None
    disk_free_bytes: int | None = None  # where the spool is; too little is unhealthy
    disk_full: bool = False
    otlp_endpoint: str | None = None  # the OTLP sink's logs URL, when one was configured

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def read_status(folder: Path) -> Status:
    """Return the health of the spool in `folder` (not initialized when there is none)."""
    path = folder / DB_NAME
    try:
        path.stat()
    except FileNotFoundError:
        return Status(state_dir=str(folder), spool=str(path))  # nothing spooled yet
    except OSError as e:  # a folder that cannot be read is not "nothing spooled"
        raise SpoolError(f"The state folder {folder} cannot be read ({e.strerror}).") from None
    try:
        spool = Spool(folder, readonly=True)
    except SpoolCorrupt as e:
        raise SpoolCorrupt(
            f"{e} The next `agent-cli start` keeps it aside and starts a new one."
        ) from None
    try:
        return _read(spool, folder)
    finally:
        spool.db.close()


def _read(spool: Spool, folder: Path) -> Status:
    meta = spool.meta()
    counters = spool.counters()
    sinks = {name: _sink(spool, bit, state) for name, bit, state in spool.sink_states()}
    main = sinks.get(FIRST_SINK) or next(iter(sinks.values()))
    free = _free(folder)
    full = free is not None and free < RESUME_FREE_BYTES
    return Status(
        state_dir=str(folder),
        spool=str(spool.path),
        initialized=True,
        healthy=all(s.healthy for s in sinks.values()) and not full,
        disk_free_bytes=free,
        disk_full=full,
        outbox={"depth": spool.rows(), "oldest_age_seconds": main.oldest_age_seconds},
        endpoint=meta.get("endpoint"),
        api_key=meta.get("key_hint"),
        agents=_agents(spool),
        last_success_at=main.last_success_at,
        pause=main.pause,
        consecutive_failures=main.consecutive_failures,
        last_error=main.last_error,
        log=str(folder / "agent-cli.log"),
        quarantine=_prefixed(counters, "quarantine."),
        skipped=_prefixed(counters, "skipped."),
        not_emitted=_prefixed(counters, "not_emitted."),
        worker_failures=_prefixed(counters, "worker_failures."),
        sinks=sinks,
        otlp_endpoint=meta.get("otlp_endpoint"),
        recovered={
            "at": float(meta["recovered_at"]),
            "kept_as": meta.get("recovered_from"),
            "why": meta.get("recovered_why"),
        }
        if "recovered_at" in meta
        else None,
    )


def _sink(spool: Spool, bit: int, state: SinkState) -> SinkStatus:
    now = time.time()
    oldest = spool.oldest_age(bit)
    until = clamp_wait(state, now)
    reason = state.pause_reason if until > now else None
    pause = Pause.parse(reason)
    # Old events are a problem when the endpoint answers (the last attempt succeeded) and
    # they still wait; while it is down, the backoff says so and nothing is lost.
    stale = oldest is not None and oldest > STALE_SECONDS and state.failures == 0
    return SinkStatus(
        depth=spool.pending_for(bit),
        oldest_age_seconds=oldest,
        last_success_at=state.last_success_at,
        pause=PauseInfo(reason, state.pause_detail, until) if reason else None,
        consecutive_failures=state.failures,
        last_error=state.pause_detail,
        healthy=not (pause is not None and pause.needs_person) and not stale,
    )


def _free(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _agents(spool: Spool) -> dict[str, dict[str, int]]:
    """Files tracked per agent and the bytes not read yet (from the files' sizes now)."""
    agents: dict[str, dict[str, int]] = {}
    for agent, path, offset in spool.tracked():
        a = agents.setdefault(agent, {"files": 0, "unread_bytes": 0})
        a["files"] += 1
        with contextlib.suppress(OSError):  # a deleted transcript has nothing left to read
            a["unread_bytes"] += max(os.stat(path).st_size - offset, 0)
    return agents


def _prefixed(counters: dict[str, int], prefix: str) -> dict[str, int]:
    return {k.removeprefix(prefix): v for k, v in counters.items() if k.startswith(prefix)}
