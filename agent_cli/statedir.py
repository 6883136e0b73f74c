"""The state folder: private files (folder 0700, files 0600), the one-instance lock, the log
file, and whether its disk has room."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from logging.handlers import RotatingFileHandler
from pathlib import Path

from agent_cli.errors import AlreadyRunning

LOCK_NAME = "agent-cli.lock"


def secure_dir(path: Path) -> Path:
    """Create the state folder 0700 (and tighten an existing one)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    return path


def secure_file(path: Path) -> None:
    """Create `path` if missing and make it 0600."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class Lock:
    """An exclusive flock on a lock file beside the database (never on the database)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock; return whether the last holder ended without `release(clean=True)`
        (killed, or stopped by a damaged spool): its pid is still in the file."""
        secure_file(self.path)
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise AlreadyRunning(
                f"Another agent-cli start is already using {self.path.parent}; "
                "stop it first or use another --home."
            ) from None
        unclean = bool(os.pread(fd, 32, 0).strip())
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return unclean

    def release(self, clean: bool = True) -> None:
        """Let go of the lock; `clean` clears the pid, so the next start trusts the spool."""
        if self.fd is not None:
            if clean:
                with contextlib.suppress(OSError):
                    os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None


log = logging.getLogger("agent_cli")


@contextlib.contextmanager
def file_log(path: Path, level: str = "INFO") -> Iterator[None]:
    """Log to `path` (0600, rotated: 1 MB, two old files kept) for the session at `level`
    (DEBUG, INFO, WARNING, ERROR): deliveries, pauses, never content."""
    # a new folder is private; an existing one (AGENT_CLI_LOG_DIR may name any) is left as is
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secure_file(path)
    handler = _QuietFileHandler(path, maxBytes=1_000_000, backupCount=2)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(getattr(logging, level.upper(), logging.INFO))
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()


class _QuietFileHandler(RotatingFileHandler):
    """A log file that cannot be written (a full disk) never prints a traceback."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


RESUME_FREE_BYTES = 16 * 1024 * 1024  # room enough to go on reading after a full disk


def room_left(folder: Path) -> bool:
    """Whether the state folder's disk has room to go on reading after it was full."""
    try:
        return shutil.disk_usage(folder).free >= RESUME_FREE_BYTES
    except OSError:
        return False


def readonly_uri(path: Path) -> str:
    """The URI of a read-only open that leaves no trace.

    No -wal file: no connection has the spool open, so nothing changes under this reader, and
    `immutable` reads without creating -wal and -shm files (`status` and `doctor` leave the
    folder as it was). Beside a running start (its -wal is there): plain mode=ro."""
    live = Path(f"{path}-wal").exists()
    return f"file:{path}?mode=ro" + ("" if live else "&immutable=1")
