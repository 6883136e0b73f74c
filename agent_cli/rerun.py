"""The re-run fast path: a `start --once` with nothing new, answered from a persisted index.

A `start --once` that ended settled (exit 0, the outbox empty, no sink paused or failing,
every transcript file read to the size and mtime its cursor holds) leaves an index in the
state folder: what decided the run (its arguments, the agent-cli and SUTRACE environment,
the environment variables discovery read, the code), the stat of every folder under the
folders the sources look in (`Source.where`), the size and mtime of every transcript file,
the spool file's stat, and the summary a run that finds nothing new prints. The next
identical invocation checks all of it with the standard library only, before click, msgspec,
SQLite or any source is imported; it prints that summary and exits 0 when nothing differs,
and falls through to the full run at the first difference (a new, grown or touched file, a
new folder, another --since, a spool written since, the lock held or left unclean...).

A folder's mtime changes when an entry is added, removed or renamed in it, so equal folder
stats mean discovery would find the same files; equal file stats mean the full run would
skip every one (it compares the same size and mtime with the cursors). A folder modified
within RACY_NS of the snapshot could change again within one timestamp tick unseen: such an
index is not written (git's "racily clean" rule). Any session of `start` deletes the index
when it takes the lock, and only a settled `start --once` writes it again.

This module imports only the standard library: `quick_rerun` runs before everything else.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import marshal
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping

INDEX_NAME = "rerun.index"
LOCK_NAME = "agent-cli.lock"  # statedir.LOCK_NAME (not imported: statedir loads logging)
LOG_MAX_BYTES = 1_000_000  # statedir.file_log rotates here: a run near it takes the full path
DB_FILES = ("spool.sqlite", "spool.sqlite-wal")
FORMAT = 2  # 2: the log's path is recorded, and the config file is watched
RACY_NS = 2_000_000_000  # a folder changed this recently may change again unseen
ENV_PREFIXES = ("SUTRACE_", "AGENT_CLI_", "OTEL_")  # the environment of options, settings

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (2 ms of the fast path)
if TYPE_CHECKING:
    from agent_cli.spool import Spool


def _digest(value: object) -> bytes:
    return hashlib.sha256(repr(value).encode("utf-8", "surrogatepass")).digest()


def _code_stamp() -> list[tuple[str, int, int]]:
    """Size and mtime of every module of this package: another version reads differently."""
    root = os.path.dirname(os.path.abspath(__file__))
    out = []
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                st = os.stat(os.path.join(dirpath, name))
                out.append((os.path.join(dirpath, name), st.st_size, st.st_mtime_ns))
    return out


def invocation_key(argv: Iterable[str], env: Mapping[str, str], state_dir: str) -> bytes:
    """What decides a run besides the files: arguments, environment, state folder, code.

    Hashed: an API key given as an argument or in SUTRACE_API_KEY is never stored.
    """
    own_env = sorted((k, v) for k, v in env.items() if k.startswith(ENV_PREFIXES))
    where = os.path.abspath(state_dir)
    code = _code_stamp()
    return _digest((FORMAT, sys.version, sys.executable, code, tuple(argv), own_env, where,
                    sys.stderr.isatty()))  # fmt: skip


class RecordingEnv(Mapping[str, str]):
    """The environment as discovery sees it, remembering every variable it looked up."""

    def __init__(self, base: Mapping[str, str]) -> None:
        self._base = base
        self.looked_up: dict[str, str | None] = {}
        self.listed = False  # discovery iterated over all of it

    def __getitem__(self, key: str) -> str:
        value = self._base.get(key)
        self.looked_up[key] = value
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        self.listed = True
        return iter(self._base)

    def __len__(self) -> int:
        self.listed = True
        return len(self._base)


def _dir_stamp(path: str) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_mtime_ns


def snapshot_dirs(roots: Iterable[str]) -> tuple[list[str], list[tuple[str, int, int, int]]]:
    """Every folder under `roots` (symlinks followed, each folder once) with its stat, and
    the roots that do not exist. Taken before discovery, so a file added after it shows."""
    missing: list[str] = []
    dirs: list[tuple[str, int, int, int]] = []
    seen: set[tuple[int, int]] = set()
    stack = []
    for root in roots:
        if not os.path.exists(root):
            missing.append(root)
        else:
            stack.append(root)
    while stack:
        d = stack.pop()
        try:
            dev, ino, mtime = _dir_stamp(d)
            if (dev, ino) in seen:
                continue
            seen.add((dev, ino))
            dirs.append((d, dev, ino, mtime))
            if not os.path.isdir(d):
                continue
            with os.scandir(d) as it:
                stack.extend(e.path for e in it if e.is_dir())
        except OSError:
            dirs.append((d, -1, -1, -1))  # unreadable: never equal, the fast path stays off
    return missing, dirs


def _db_stamp(state_dir: str) -> list[tuple[int, int, int, int] | None]:
    out: list[tuple[int, int, int, int] | None] = []
    for name in DB_FILES:
        try:
            st = os.stat(os.path.join(state_dir, name))
        except FileNotFoundError:
            out.append(None)
            continue
        out.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return out


class Recorder:
    """What one `start --once` collects for the index; `write` stores it if it ended settled.

    The session calls `start` before discovery, `found` for every transcript file, then
    `settled` with what a run with nothing new prints, and `write` once the spool is closed.
    """

    def __init__(self, argv: Iterable[str], state_dir: str) -> None:
        self.argv = tuple(argv)
        self.state_dir = state_dir
        self.env = RecordingEnv(os.environ)
        self.missing: list[str] = []
        self.dirs: list[tuple[str, int, int, int]] = []
        self.files: list[tuple[str, int, int]] = []
        self.started_ns = 0
        self.summary: str | None = None  # None: the run did not end settled
        self.log_line = ""
        self.log_path = ""

    def start(self, roots: Iterable[str]) -> None:
        self.started_ns = time.time_ns()
        self.missing, self.dirs = snapshot_dirs(roots)

    def found(self, path: str, size: int, mtime_ns: int) -> None:
        self.files.append((path, size, mtime_ns))

    def settled(self, summary: str, log_line: str, log_path: str, also: Iterable[str]) -> None:
        """The run left nothing to do: what a re-run prints and logs (to `log_path`); `also`
        names files besides the transcripts that decide a run (the config file)."""
        self.summary, self.log_line, self.log_path = summary, log_line, log_path
        for p in also:
            try:
                st = os.stat(p)
            except OSError:
                self.missing.append(p)  # one that appears decides the next run
                continue
            self.files.append((p, st.st_size, st.st_mtime_ns))

    def write(self) -> None:
        """Store the index (0600, replaced atomically) if the run ended settled."""
        if self.summary is None or self.env.listed:
            return
        if any(m < 0 or m >= self.started_ns - RACY_NS for *_, m in self.dirs):
            return
        base = os.environ
        key = invocation_key(self.argv, base, self.state_dir)
        looked_up = sorted((k, _digest(v)) for k, v in self.env.looked_up.items())
        relative = any(not os.path.isabs(p) for p in [*self.missing, *(d[0] for d in self.dirs)])
        log = (self.log_path, self.log_line)
        data = (FORMAT, key, looked_up, os.getcwd() if relative else None,
                _db_stamp(self.state_dir), self.summary, log, self.missing,
                self.dirs, [f[0] for f in self.files], [f[1] for f in self.files],
                [f[2] for f in self.files])  # fmt: skip
        path = os.path.join(self.state_dir, INDEX_NAME)
        tmp = path + ".tmp"
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(marshal.dumps(data))
            os.replace(tmp, path)
        except OSError:  # a full disk: the next run is a full one, nothing else changes
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def settled(spool: Spool, files: list[tuple[str, int, int]], since: str | None) -> bool:
    """Whether a run now would find nothing to read, send or change: the outbox empty, no
    sink paused or failing, every file (path, size, mtime_ns) read to what its cursor holds
    under a --since that covers this one's (so `scan` would skip it unopened)."""
    from agent_cli.cursor import covers  # the writer's side only: the check stays stdlib

    if spool.rows() or any(
        st.pause_reason or st.failures or st.backoff_until for *_, st in spool.sink_states()
    ):
        return False
    for path, size, mtime_ns in files:
        seen = spool.seen(path)
        if seen is None or seen[:2] != (size, mtime_ns) or not covers(seen[2], since):
            return False
    return True


def forget(state_dir: str) -> None:
    """Delete the index (a session holding the lock may change what it describes)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(state_dir, INDEX_NAME))


# -- the check, before anything else is imported ------------------------------------------------
def _state_dir(argv: list[str], env: Mapping[str, str]) -> str | None:
    """The state folder `start` would use (the index says whether this guess was right)."""
    home = None
    for i, tok in enumerate(argv):
        if tok == "--home" and i + 1 < len(argv):
            home = argv[i + 1]
        elif tok.startswith("--home="):
            home = tok[len("--home=") :]
    home = home or env.get("AGENT_CLI_HOME") or None
    if home is not None:
        return home
    if sys.platform.startswith(("win", "darwin")):
        return None  # platformdirs' answer there is not worth guessing
    xdg = env.get("XDG_STATE_HOME", "")  # platformdirs' Unix user_state_dir
    base = xdg if xdg.strip() else os.path.expanduser("~/.local/state")
    return os.path.join(base, "agent-cli")


def _private(path: str, mode: int) -> bool:
    try:
        return os.stat(path).st_mode & 0o777 == mode
    except OSError:
        return False


def _unchanged(index: tuple[object, ...], state_dir: str, key: bytes) -> bool:
    """Whether everything the index recorded is as it was (stops at the first difference)."""
    fmt, k, looked_up, cwd, db, _, _, missing, dirs, paths, sizes, mtimes = index
    if fmt != FORMAT or k != key or (cwd is not None and cwd != os.getcwd()):
        return False
    env = os.environ
    if any(_digest(env.get(name)) != v for name, v in looked_up):  # type: ignore[attr-defined]
        return False
    if _db_stamp(state_dir) != db or any(os.path.exists(p) for p in missing):  # type: ignore[attr-defined]
        return False
    try:
        for d, dev, ino, mtime in dirs:  # type: ignore[attr-defined]
            if _dir_stamp(d) != (dev, ino, mtime):
                return False
        stat = os.stat
        for p, size, mtime in zip(paths, sizes, mtimes, strict=True):  # type: ignore[call-overload]
            st = stat(p)
            if st.st_size != size or st.st_mtime_ns != mtime:
                return False
    except (OSError, ValueError):
        return False
    return True


def _log(path: str, line: str) -> bool:
    """Append the run's log line as `statedir.file_log` formats it; False near a rotation."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    text = f"{stamp},{int(now % 1 * 1000):03d} INFO {line}\n"
    try:
        # as RotatingFileHandler.shouldRollover counts (characters): a rotation is its job
        if os.stat(path).st_size + len(text) >= LOG_MAX_BYTES:
            return False
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError:
        return False
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    return True


def _with_lock(state_dir: str, key: bytes) -> str | None:
    """Under the lock (as `statedir.Lock` takes it): the summary to print, or None."""
    lock = os.path.join(state_dir, LOCK_NAME)
    if not (_private(state_dir, 0o700) and _private(lock, 0o600)):
        return None
    fd = os.open(lock, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return None  # another start runs: the full path says so
        if os.pread(fd, 32, 0).strip():
            return None  # the last run ended unclean: the full path checks the spool
        os.write(fd, str(os.getpid()).encode())
        try:
            with open(os.path.join(state_dir, INDEX_NAME), "rb") as f:
                index = marshal.loads(f.read())
            if not _unchanged(index, state_dir, key) or not _log(*index[6]):
                return None
            return str(index[5])
        except (OSError, ValueError, EOFError, TypeError):
            return None
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def quick_rerun(argv: list[str]) -> int | None:
    """Answer a `start --once` with nothing new from the index: print its summary, return 0.

    None: the full run must decide (no index, or anything it recorded differs).
    """
    if (
        not argv
        or argv[0] != "start"
        or "--once" not in argv
        or os.environ.get("AGENT_CLI_NO_INDEX")
    ):
        return None
    try:
        state_dir = _state_dir(argv, os.environ)
        if state_dir is None or not os.path.exists(os.path.join(state_dir, INDEX_NAME)):
            return None
        summary = _with_lock(state_dir, invocation_key(argv, os.environ, state_dir))
    except Exception:  # whatever went wrong here, the full run knows what to say
        return None
    if summary is None:
        return None
    sys.stderr.write(summary + "\n")
    sys.stderr.flush()
    return 0
