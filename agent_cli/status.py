"""Status: what the spool says about a shipper's health, for `agent-cli status`.

Read-only: it opens the spool without the lock, so it works while `start` runs. Healthy
means not paused (auth, endpoint, incompatible client) and no event older than an hour
while the endpoint answers.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from agent_cli.config import Settings
from agent_cli.spool import Spool


def status(settings: Settings) -> dict[str, Any]:
    """Return the spool's health as a dict (rendered by the CLI, or printed as JSON)."""
    folder = settings.state_dir
    spool_path = folder / "spool.sqlite"
    info: dict[str, Any] = {"state_dir": str(folder), "spool": str(spool_path)}
    if not spool_path.exists():
        info.update(initialized=False, healthy=True, outbox={"depth": 0})
        return info
    spool = Spool(folder, readonly=True)
    try:
        return _status(spool, info)
    finally:
        spool.db.close()


def _status(spool: Spool, info: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    meta = spool.meta()
    agents: dict[str, dict[str, int]] = {}
    for agent, path, offset in spool.tracked():
        a = agents.setdefault(agent, {"files": 0, "unread_bytes": 0})
        a["files"] += 1
        with contextlib.suppress(OSError):  # a deleted transcript has nothing left to read
            a["unread_bytes"] += max(os.stat(path).st_size - offset, 0)
    counters = spool.counters()
    oldest = spool.oldest_age()
    until = float(meta.get("backoff_until", "0"))
    reason = meta.get("pause_reason") if until > now else None
    last_ok = float(meta["last_success_at"]) if "last_success_at" in meta else None
    paused = reason is not None and reason.startswith("paused")
    # Old events are a problem when the endpoint answers (the last attempt succeeded) and
    # they still wait; while it is down, the backoff says so and nothing is lost.
    answering = int(meta.get("consecutive_failures", "0")) == 0
    stale = oldest is not None and oldest > 3600 and answering
    info.update(
        initialized=True,
        endpoint=meta.get("endpoint"),
        api_key=meta.get("key_hint"),
        agents=agents,
        outbox={"depth": spool.depth(), "oldest_age_seconds": oldest},
        last_success_at=last_ok,
        pause={"reason": reason, "detail": meta.get("pause_detail"), "until": until}
        if reason
        else None,
        consecutive_failures=int(meta.get("consecutive_failures", "0")),
        last_error=meta.get("pause_detail"),
        log=str(spool.folder / "agent-cli.log"),
        quarantine={
            k.split(".", 1)[1]: v for k, v in counters.items() if k.startswith("quarantine.")
        },
        skipped={k.split(".", 1)[1]: v for k, v in counters.items() if k.startswith("skipped.")},
        not_emitted={
            k.split(".", 1)[1]: v for k, v in counters.items() if k.startswith("not_emitted.")
        },
        healthy=not paused and not stale,
    )
    return info
