"""Probing genai-prices in a child process, so the shipper never holds its data.

genai-prices' data is 1.6 MB of Python literals: importing it builds ~26 MB of objects that
stay for the life of the process, a quarter of a backfill's peak memory and all of a
daemon's idle growth, for the handful of models a history names. A `Prober` asks a child
(`python -m agent_cli.price_probe`) instead: one JSON line per model out, one answer back;
the child exits when its input closes (`close`, or this process ending).

The answer is `pricing._load`'s, computed by the same code in the child, so prices are the
same bytes either way. Whenever the child cannot answer (it cannot start, dies, or says
something this code did not write), or the data is already loaded here (a test process, a
worker pool that preloaded it before forking), or this is a forked copy of the process that
started the child, the probe runs here instead: the child saves memory, never correctness.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path
from typing import IO

from agent_cli.pricing import CACHE_NAME, Pricer, RateCache, Rates, _load, _Window

Answer = tuple[_Window | None, list[Rates] | None]
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)  # the folder holding agent_cli


class Prober:
    """`prober(model, provider, speed)` -> `pricing._load`'s answer, asked of a child."""

    def __init__(
        self,
        *,
        loaded: Callable[[], bool] = lambda: "genai_prices" in sys.modules,
        command: list[str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        """`loaded()`: the data is in this process already (then asking here is free);
        `command`: the child to start (default: this module under this interpreter);
        `timeout`: seconds an answer may take before it is found here instead."""
        self._timeout = timeout
        self._loaded = loaded
        self._command = command or [sys.executable, "-P", "-m", "agent_cli.price_probe"]
        self._child: subprocess.Popen[bytes] | None = None
        self._owner = os.getpid()
        self._broken = False  # the child failed once: probe here for the rest of the run
        self._asked = False  # the child has been asked something

    def __call__(self, model: str, provider: str | None, speed: str | None) -> Answer:
        if self._here():
            return _load(model, provider, speed)
        try:
            return self._ask(model, provider, speed)
        except Exception:  # any failure of the child or its pipe: the answer is found here
            self._broken = True
            self.close()
            return _load(model, provider, speed)

    def start(self) -> None:
        """Start the child now (its import then overlaps the caller's work)."""
        if not self._here() and self._child is None:
            try:
                self._child = _spawn(self._command)
            except OSError:
                self._broken = True

    def close(self) -> None:
        """Let the child go (it exits on the end of its input); the next probe starts one."""
        child, self._child = self._child, None
        if child is None or os.getpid() != self._owner:
            return
        if not self._asked:
            child.terminate()  # started early and never needed: no wait for its import
        self._asked = False
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()  # our own child, by its handle
            child.wait()

    def _here(self) -> bool:
        """Probe in this process: the data is loaded already, the child failed, or this is
        a forked copy (the pipes belong to the process that started the child)."""
        return self._broken or os.getpid() != self._owner or self._loaded()

    def _ask(self, model: str, provider: str | None, speed: str | None) -> Answer:
        if self._child is None:
            self._child = _spawn(self._command)
        self._asked = True
        stdin, stdout = self._child.stdin, self._child.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps([model, provider, speed]).encode() + b"\n")
        stdin.flush()
        return _decode(_read_line(stdout.fileno(), self._timeout))


def pricer_in(folder: Path) -> Pricer:
    """A pricer with the rate cache of the state folder `folder` (read if it is there),
    probing genai-prices in a child process for what the cache lacks."""
    cache = RateCache(folder / CACHE_NAME)
    probe = Prober()
    if not len(cache):
        probe.start()  # a first run: its import overlaps discovery and the first reads
    return Pricer(cache, probe, probe.close)


def _spawn(command: list[str]) -> subprocess.Popen[bytes]:
    # -P and PYTHONPATH: the child imports this very agent_cli, not one in the cwd
    path = os.pathsep.join(p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        # it needs no secret: model names in, public prices out
        env={**{k: v for k, v in os.environ.items() if k != "SUTRACE_API_KEY"}, "PYTHONPATH": path},
    )


def _read_line(fd: int, timeout: float) -> bytes:
    """One answer line from the child; TimeoutError when it says nothing for `timeout` s
    (a stopped child must not stall a scan), b"" when it died."""
    data = b""
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise TimeoutError("the price prober did not answer")
        more = os.read(fd, 65536)
        if not more:
            return data
        data += more
    return data


def _decode(line: bytes) -> Answer:
    """The child's answer line; an error for anything else (an empty line: it died)."""
    window, table = json.loads(line)
    if window is not None:
        start, until = window
        if not isinstance(start, str) or not isinstance(until, str):
            raise ValueError(f"not a window: {window!r}")
        window = (start, until)
    if table is not None:  # Rates(...) refuses a row of another length
        table = [Rates(int(r[0]), *(float(x) for x in r[1:])) for r in table]
    return window, table


def _encode(answer: Answer) -> bytes:
    window, table = answer
    rows = None if table is None else [list(astuple(r)) for r in table]
    return json.dumps([None if window is None else list(window), rows]).encode() + b"\n"


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The child: load the data (while the parent discovers and reads), then answer each
    `[model, provider, speed]` line until the input ends."""
    with contextlib.suppress(Exception):  # not installed or broken: `_load` answers so
        from genai_prices import data_snapshot

        data_snapshot.get_snapshot()
    for line in stdin:
        model, provider, speed = json.loads(line)
        stdout.write(_encode(_load(model, provider, speed)))
        stdout.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
