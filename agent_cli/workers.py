"""Worker processes: files prepared by children forked after imports, handed back in order.

A `Pool` forks its children when it is made: they inherit the imported modules, the sources,
the preparer's caches (prices, enrichment) and the list of files, so a task is only a
file's index and nothing is imported or pickled twice. The parent admits files strictly in
order with a bounded number in flight (memory stays bounded) and yields each file's items
in that order. A file not prepared by a child is yielded as None for the parent to read
itself: one a child did not hand back (it died, or raised) is also counted in `failed`; one
never handed out (every child gone, or a stop) is not.

Children only read files, prepare them and write to their pipe; they never use what the
parent holds open (the spool's SQLite connection, the lock, the sinks) and leave with
`os._exit` (no finalizer, no flush of a buffer copied from the parent). Forking is only
safe while this is the process's only thread (`cannot_fork`): another thread may hold a
lock the child would need.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import selectors
import signal
import struct
import sys
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

_TASK = struct.Struct("<i")  # a file's index; the task pipe's end says "no more"
_HEAD = struct.Struct("<iBI")  # a frame of the answer: file index, kind, payload length
_ITEM, _END, _ERROR = 0, 1, 2
_PIPE_BYTES = 1 << 20  # a larger answer pipe: fewer wake-ups of the parent (Linux)


def cannot_fork() -> str | None:
    """Why this process must not fork workers now; None when it may."""
    if not hasattr(os, "fork") or sys.platform == "darwin":
        return "this platform has no safe fork"  # macOS: system libraries break after fork
    if threading.active_count() > 1:
        return "other threads are running"  # a child could wait forever on a lock they hold
    return None


@dataclass
class _Worker:
    pid: int
    tasks: int  # the parent's end of the task pipe
    answers: int  # the parent's end of the answer pipe (non-blocking)
    queue: deque[int] = field(default_factory=deque)  # files handed out, in order
    load: int = 0  # bytes of the files handed out and not answered yet
    items: list[object] = field(default_factory=list)  # of the file at the queue's head
    buf: bytearray = field(default_factory=bytearray)
    alive: bool = True


class Pool:
    """`workers` forked children running `job(index)` for files 0..len(sizes)-1.

    `sizes` are the bytes each file has to read: at most `ahead` files per live child and,
    unless only one is, `budget` bytes are in flight. `should_stop` ends the waiting early
    (the file waited for is then yielded as None). Use as a context manager: leaving it
    stops the children and reaps them.
    """

    def __init__(
        self,
        workers: int,
        job: Callable[[int], Iterable[object]],
        sizes: Sequence[int],
        *,
        ahead: int = 6,
        budget: int = 64 * 1024 * 1024,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.failed: Counter[str] = Counter()  # files handed back as None, by why
        self._job, self._sizes, self._ahead, self._budget = job, sizes, ahead, budget
        self._should_stop = should_stop
        self._done: dict[int, list[object] | None] = {}
        self._next = 0  # the next file to hand out
        self._held = 0  # bytes of the files handed out and not yielded yet
        self._sel = selectors.DefaultSelector()
        self._workers: list[_Worker] = []
        gc.freeze()  # what exists now is never scanned by a child's collector: fewer copied pages
        try:
            for _ in range(workers):
                try:
                    self._workers.append(self._fork())
                except OSError:  # no memory or processes left: fewer children (or none) do
                    break
        finally:
            gc.unfreeze()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self._workers if w.alive]

    def _fork(self) -> _Worker:
        task_r, task_w = os.pipe()
        ans_r, ans_w = os.pipe()
        with contextlib.suppress(AttributeError, OSError):
            import fcntl

            fcntl.fcntl(ans_w, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        try:
            pid = os.fork()
        except OSError:
            for fd in (task_r, task_w, ans_r, ans_w):
                os.close(fd)
            raise
        if pid == 0:  # the child: never returns into the parent's code
            try:
                for w in self._workers:  # the pipes of the children forked before it
                    os.close(w.tasks)
                    os.close(w.answers)
                os.close(task_w)
                os.close(ans_r)
                _serve(task_r, ans_w, self._job)
            finally:
                os._exit(1)
        os.close(task_r)
        os.close(ans_w)
        os.set_blocking(ans_r, False)
        w = _Worker(pid, task_w, ans_r)
        self._sel.register(ans_r, selectors.EVENT_READ, w)
        return w

    def results(self) -> Iterator[tuple[int, list[object] | None]]:
        """Each file's items (index, items) in order; None: the caller reads it itself."""
        for i in range(len(self._sizes)):
            self._hand_out(i)
            while i not in self._done and i < self._next and not self._should_stop():
                for key, _ in self._sel.select(timeout=0.5):
                    self._read(key.data)
            self._held -= self._sizes[i] if i < self._next else 0
            yield i, self._done.pop(i, None)

    def _hand_out(self, first: int) -> None:
        """Hand out files after `first` (the next one yielded) while the bounds allow."""
        while self._next < len(self._sizes):
            alive = [w for w in self._workers if w.alive]
            flight = self._next - first
            if not alive or flight >= self._ahead * len(alive):
                return
            if flight and self._held >= self._budget:
                return
            w = min(alive, key=lambda w: w.load)
            n = self._next
            try:
                os.write(w.tasks, _TASK.pack(n))
            except OSError:  # it died: its files are read by the parent
                self._lost(w)
                continue
            self._next += 1
            w.queue.append(n)
            w.load += self._sizes[n]
            self._held += self._sizes[n]

    def _read(self, w: _Worker) -> None:
        try:
            data = os.read(w.answers, _PIPE_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lost(w)
            return
        buf = w.buf
        buf += data
        pos, size = 0, _HEAD.size
        with memoryview(buf) as view:
            while len(buf) - pos >= size:
                index, kind, length = _HEAD.unpack_from(buf, pos)
                end = pos + size + length
                if len(buf) < end:
                    break
                if kind == _ITEM:
                    w.items.append(pickle.loads(view[pos + size : end]))
                else:
                    self._answered(w, index, w.items if kind == _END else None)
                pos = end
        del buf[:pos]

    def _answered(self, w: _Worker, index: int, items: list[object] | None) -> None:
        assert w.queue and w.queue[0] == index, "a child answers its files in order"
        w.queue.popleft()
        w.load -= self._sizes[index]
        w.items = []
        self._done[index] = items
        if items is None:
            self.failed["error"] += 1

    def _lost(self, w: _Worker) -> None:
        """A child that died (or whose pipe broke): its files are handed back as None."""
        self._stop(w)
        for index in w.queue:
            self._done[index] = None
            self.failed["died"] += 1
        w.queue.clear()
        w.items = []

    def _stop(self, w: _Worker) -> None:
        if not w.alive:
            return
        w.alive = False
        self._sel.unregister(w.answers)
        os.close(w.tasks)  # an idle child reads the end of its tasks and leaves
        os.close(w.answers)  # a busy one fails to write
        with contextlib.suppress(ProcessLookupError):
            os.kill(w.pid, signal.SIGTERM)  # our own child, not reaped yet: its pid is ours
        with contextlib.suppress(ChildProcessError):
            os.waitpid(w.pid, 0)

    def close(self) -> None:
        """Stop every child and reap it; files not yielded yet are not read by anyone."""
        for w in self._workers:
            self._stop(w)
        self._sel.close()


def _serve(tasks: int, answers: int, job: Callable[[int], Iterable[object]]) -> None:
    """The child's loop: for each index read, the job's items, then the end of the file."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group: the parent decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    code = 0
    try:
        with os.fdopen(answers, "wb", buffering=1 << 16) as out:
            while (index := _next_task(tasks)) is not None:
                try:
                    for item in job(index):
                        data = pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
                        out.write(_HEAD.pack(index, _ITEM, len(data)))
                        out.write(data)
                    out.write(_HEAD.pack(index, _END, 0))
                except Exception:  # this file only: the parent reads it itself
                    out.write(_HEAD.pack(index, _ERROR, 0))
                out.flush()
    except BaseException:  # the parent went away (a broken pipe) or stops us
        code = 1
    os._exit(code)


def _next_task(fd: int) -> int | None:
    data = b""
    while len(data) < _TASK.size:
        more = os.read(fd, _TASK.size - len(data))
        if not more:
            return None
        data += more
    index: int = _TASK.unpack(data)[0]
    return index
