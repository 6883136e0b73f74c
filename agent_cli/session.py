"""A `start`'s session: the lock, the log, the spool and the sinks, and the two runs.

`Session` opens them in order and closes them in reverse, whatever happens inside (httpx's
client is the model); `backfill_and_drain` is `start --once`, `backfill_and_follow` the
daemon. `pipeline` is what callers use; this module is its machinery.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from agent_cli import configfile
from agent_cli.config import Settings
from agent_cli.deliver import Shipper, drain_all
from agent_cli.enrich import Enricher
from agent_cli.errors import ConfigError, is_corrupt, is_full
from agent_cli.follow import Follower
from agent_cli.pauses import fingerprint, forget_stale_pause
from agent_cli.prepare import Builder, Report
from agent_cli.price_probe import pricer_in
from agent_cli.recovery import open_spool
from agent_cli.render import render_run
from agent_cli.rerun import Recorder, RecordingEnv, forget, settled
from agent_cli.scan import discover, scan, select_sources
from agent_cli.sinks import Accounting, Sink
from agent_cli.sinks.endpoint import check_endpoint, mask_key
from agent_cli.sources import Source, SourceFile
from agent_cli.sources.unread import unread
from agent_cli.spool import Lock, secure_dir
from agent_cli.statedir import file_log, room_left
from agent_cli.watch import start_watcher

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("agent_cli")
SUMMARY_SECONDS = 60.0  # between the daemon's one-line summaries on a terminal
LAND_SECONDS = 10.0  # a stopping daemon waits this long for the answers still on the wire


class Interrupted(Exception):
    """A second stop signal arrived while a request was in flight."""


@dataclass
class RunResult:
    """What `start` did, for the CLI to render and turn into an exit code."""

    report: Report
    delivered: int = 0
    quarantined: int = 0
    left: int = 0
    verdict: str = "ok"
    detail: str = ""
    exit_code: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def _nothing_to_ship(names: tuple[str, ...]) -> str:
    """The one sentence for a `start` with no sink set up, naming what the sinks setting asks."""
    otlp = "--otlp-endpoint (OTEL_EXPORTER_OTLP_ENDPOINT) to export to OpenTelemetry"
    if "sutrace" not in names:
        return f"The sinks setting leaves out Sutrace: set {otlp}, or use --dry-run."
    return (
        f"Set SUTRACE_API_KEY (or --api-key) to ship, or {otlp}; "
        "use --dry-run to see the events without sending."
    )


class Session:
    """One `start`: the lock, the log, the spool and the sinks, opened and closed together.

    Entering checks the key and endpoint (ConfigError), takes the lock (AlreadyRunning) and
    opens the rest; leaving closes them in reverse order, whatever happened inside. The
    sinks are the Sutrace endpoint unless `sinks` names others (each is closed on leaving);
    each sink has its own `Shipper` and its own delivery state in the spool.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        client: httpx.Client | None = None,
        stop: threading.Event | None = None,
        sinks: list[Sink] | None = None,
        say: Callable[[str], None] | None = None,
        index: Recorder | None = None,
    ) -> None:
        """`index` collects the re-run index of a `start --once` (module `rerun`)."""
        if not settings.api_key and settings.otlp is None and not sinks:
            raise ConfigError(_nothing_to_ship(settings.sinks))
        self.settings = settings
        self.endpoint = check_endpoint(settings.endpoint) if settings.api_key else ""
        self.sources = select_sources(settings.agents)
        self._client = client
        self._stop = stop
        self._given_sinks = sinks
        self.disk_full = False
        self._say = say
        self._index = index
        self._next_summary = self._next_wait_line = 0.0
        self._clean = True
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Session:
        with self._stack as stack:
            folder = _state_folder(self.settings.state_dir)
            lock = Lock(folder)
            unclean = lock.acquire()
            stack.callback(lambda: lock.release(clean=self._clean))
            forget(str(folder))  # this session may change what it describes
            if self._index is not None:  # written once the spool is closed, under the lock
                index = self._index
                stack.push(lambda typ, *_: None if typ is not None else index.write())
            stack.enter_context(file_log(self.settings.log_file, self.settings.log_level))
            self.spool = open_spool(folder, unclean)
            stack.callback(self.spool.close)
            self.sinks = self._given_sinks or self._open_sinks(stack)
            if self._given_sinks:
                for sink in self.sinks:
                    stack.callback(sink.close)
            queues = self.spool.attach([sink.name for sink in self.sinks])
            for sink in self.sinks:
                if isinstance(sink, Accounting):
                    sink.load(self.spool.db)
            stop = self._stop or threading.Event()
            self.shippers = [
                Shipper(q, sink, wait=stop.wait) for q, sink in zip(queues, self.sinks, strict=True)
            ]
            for shipper in self.shippers:
                shipper.stop = stop
            self.shipper = self.shippers[0]
            self._stack = stack.pop_all()
        log.info(self._start_line())
        return self

    def _start_line(self) -> str:
        key = mask_key(self.settings.api_key or "")
        otlp = f" otlp={self.settings.otlp.logs_url}" if self.settings.otlp else ""
        return f"start (once={self.settings.once}) endpoint={self.endpoint or '-'} key={key}{otlp}"

    def __exit__(
        self,
        typ: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # a run stopped by a damaged spool leaves the lock marked: the next start checks it
        self._clean = not (exc is not None and is_corrupt(exc))
        self._stack.close()

    def _open_sinks(self, stack: contextlib.ExitStack) -> list[Sink]:
        """The Sutrace sink when there is a key, the OTLP sink when it is configured."""
        sinks: list[Sink] = []
        if self.settings.api_key:
            sinks.append(self._open_sutrace())
            stack.callback(sinks[-1].close)
        s = self.settings
        if s.otlp is not None:
            # imported here: protobuf and the OTLP encoders cost ~60 ms a run that has no OTLP
            from agent_cli.session_otlp import open_otlp

            sinks.append(open_otlp(self.spool, s.otlp, s.once, s.drain_timeout, self._client))
            stack.callback(sinks[-1].close)
        return sinks

    def _open_sutrace(self) -> Sink:
        from agent_cli.sinks.http import HttpSink

        key = self.settings.api_key or ""
        sink = HttpSink(self.endpoint, key, client=self._client)
        self.spool.attach([sink.name])  # its state must exist before a stale pause is cleared
        s = self.settings
        forget_stale_pause(self.spool, self.endpoint, key, s.once, s.drain_timeout)
        # only a change is written: a full disk must not stop a start that could deliver
        self.spool.set_meta_if_changed(
            endpoint=self.endpoint, key_hint=mask_key(key), key_fp=fingerprint(key)
        )
        return sink

    # -- the two runs ------------------------------------------------------------------------
    def backfill_and_drain(
        self, env: dict[str, str] | None, progress: Callable[[int, int], None] | None
    ) -> RunResult:
        builder, files, full = self._backfill(env, progress)
        s = self.settings
        empty = drain_all(self.shippers, time.monotonic() + s.drain_timeout, self._tell_wait)
        stopped = self.shipper.stop.is_set()  # interrupted: files may be left unread
        unread = stopped or self.disk_full
        result = self._result(builder.report, 0 if empty and not full and not unread else 1)
        if stopped:
            result.detail = "stopped by a signal before the run finished"
        if self.disk_full:
            result.detail = (
                f"the disk holding the spool ({self.settings.state_dir}) is full, so reading "
                "paused; free some space and run again (nothing is lost)"
            )
        if full:
            result.detail = (
                f"the outbox reached its cap of {s.outbox_cap} events, so reading paused; "
                f"{result.detail}"
            ).rstrip("; ")
        if not result.exit_code:
            self._note_settled(builder.report, files)
        return result

    def _note_settled(self, report: Report, files: list[tuple[Source, SourceFile]]) -> None:
        """Tell the index what a re-run prints, if this run left it nothing to do (`rerun`)."""
        stats = [(f.path, f.size, f.mtime_ns) for _, f in files]
        if self._index is not None and settled(self.spool, stats, self.settings.since_iso()):
            again = Report(paths=set(report.paths), files_by_agent=report.files_by_agent.copy(),
                           unread=list(report.unread))  # fmt: skip
            log, conf = str(self.settings.log_file), str(configfile.path())
            self._index.settled(render_run(RunResult(again)), self._start_line(), log, [conf])

    def backfill_and_follow(
        self, env: dict[str, str] | None, progress: Callable[[int, int], None] | None
    ) -> RunResult:
        s, spool, stop = self.settings, self.spool, self.shipper.stop
        e = dict(os.environ) if env is None else env
        # watching starts before the backfill: a line written while it reads is not missed
        watcher = start_watcher([r for src in self.sources for r in src.where(e)], e, s.watch, stop)
        if watcher is not None:
            self._stack.callback(watcher.close)  # stopped and joined when the session ends
        builder, files, _ = self._backfill(env, progress)
        spool.hold_seconds = s.settle_seconds
        follower = Follower(
            lambda: discover(self.sources, s, env), files, s.rediscover_seconds, watcher
        )
        self._tell_start(len(files))
        while not stop.is_set():
            self._tell_summary()
            batch = follower.files()
            if spool.depth() < s.outbox_cap:
                self._read(builder, batch, stop.is_set)
                self._persist_counts(builder.report)
            wait = s.poll_seconds
            for shipper in self.shippers:
                shipper.ship_ready(block=False)  # a slow server never holds up reading
                if shipper.blocked_for() and shipper.queue.depth():
                    wait = min(wait, shipper.blocked_for())
            follower.wait(self.shipper.wait, stop.is_set, wait)  # a file event ends it early
        for shipper in self.shippers:
            shipper.land(LAND_SECONDS)
        return self._result(builder.report, 0)

    # -- what a person sees --------------------------------------------------------------
    def _tell(self, line: str) -> None:
        if self._say is not None:
            self._say(line)

    def _tell_wait(self, seconds: float) -> None:
        """During a drain that waits: how much is left and when the next try is (the first
        wait, then at most one line every 5 s)."""
        now = time.monotonic()
        if now < self._next_wait_line:
            return
        self._next_wait_line = now + 5.0
        self._tell(f"{self.spool.depth()} events left in the spool; next try in {seconds:.0f} s")

    def _tell_start(self, files: int) -> None:
        sinks = ", ".join(sink.name for sink in self.sinks)
        where = " and ".join(filter(None, [self.endpoint, _otlp_url(self.settings)])) or sinks
        line = f"following {files} transcript files; shipping to {where} ({sinks})"
        log.info(line)
        self._tell(f"agent-cli: {line}; Ctrl-C stops")
        self._next_summary = time.monotonic() + SUMMARY_SECONDS

    def _tell_summary(self) -> None:
        if self._say is None or time.monotonic() < self._next_summary:
            return
        self._next_summary = time.monotonic() + SUMMARY_SECONDS
        delivered = sum(sh.delivered for sh in self.shippers)
        waiting = [f"{sh.sink.name} waits {sh.blocked_for():.0f} s" for sh in self.shippers
                   if sh.blocked_for() and sh.queue.depth()]  # fmt: skip
        line = f"{time.strftime('%H:%M:%S')} delivered {delivered}; {self.spool.depth()} in spool"
        self._tell("; ".join([line, *waiting]))

    def _backfill(
        self, env: dict[str, str] | None, progress: Callable[[int, int], None] | None
    ) -> tuple[Builder, list[tuple[Source, SourceFile]], bool]:
        """Read every transcript into the spool; deliver whenever the outbox reaches its cap.

        The transcripts are the backlog: at the cap, reading pauses (nothing is dropped; the
        cursors say where to resume). Returns the builder, the files and whether it filled.
        """
        s, spool, stop = self.settings, self.spool, self.shipper.stop
        pricer = pricer_in(spool.folder)
        builder = Builder(spool.ledger, Report(), s.since_iso(), enricher_for(s), pricer)
        if self._index is None:
            files = list(discover(self.sources, s, env))
        else:
            rec = self._index
            rec.env = RecordingEnv(os.environ if env is None else env)
            rec.start([w for src in self.sources for w in src.where(rec.env)])
            files = list(discover(self.sources, s, rec.env, found=rec.found))
        done = 0
        full = False

        def after_file(_: SourceFile) -> None:
            nonlocal done, full
            done += 1
            if progress is not None:
                progress(done, len(files))
            if spool.depth() >= s.outbox_cap:
                drain_all(self.shippers, time.monotonic() + s.drain_timeout)
                full = spool.depth() >= s.outbox_cap

        self._read(builder, files, lambda: stop.is_set() or full, after_file)
        if room_left(spool.folder):  # the rates probed, for the next run (a disk that is
            builder.preparer.pricer.save()  # full keeps its last bytes for delivery)
        if full:
            log.warning("outbox at its cap (%d events): reading paused", s.outbox_cap)
        if progress is not None and files:
            progress(len(files), len(files))  # unchanged files were skipped, not counted
        self._persist_counts(builder.report)
        builder.report.unread = unread(
            self.sources, builder.report.files_by_agent, os.environ if env is None else env
        )
        return builder, files, full

    def _persist_counts(self, report: Report) -> None:
        for name in ("skipped", "not_emitted", "resets", "worker_failures"):
            counts = getattr(report, name)
            try:
                self.spool.add_counts(name, dict(counts))
            except sqlite3.OperationalError as e:
                if not is_full(e):
                    raise
                return  # kept in memory, written with the next counts once there is room
            counts.clear()

    def _read(
        self,
        builder: Builder,
        files: list[tuple[Source, SourceFile]],
        should_stop: Callable[[], bool],
        on_file: Callable[[SourceFile], None] | None = None,
    ) -> None:
        """Scan into the spool; a full disk pauses reading (the chunk rolls back: its lines are
        read again later) and delivery goes on. Reading resumes once there is room again."""
        if self.disk_full and not room_left(self.settings.state_dir):
            return
        if self.disk_full:
            log.info("there is room again where the spool is: reading resumes")
            self.disk_full = False
        try:
            scan(self.settings, self.spool, builder, files, should_stop, on_file)
        except sqlite3.OperationalError as e:
            if not is_full(e):
                raise
            self.disk_full = True
            log.error("the disk holding the spool is full: reading paused, delivery goes on")
            self._tell("the disk holding the spool is full: reading paused, delivery goes on")

    def _result(self, report: Report, code: int) -> RunResult:
        last = next((sh.last for sh in self.shippers if sh.last and sh.queue.depth()), None)
        last = last or self.shipper.last
        return RunResult(
            report=report,
            delivered=sum(sh.delivered for sh in self.shippers),
            quarantined=sum(sh.quarantined for sh in self.shippers),
            left=self.spool.depth(),
            verdict=last.verdict.value if last else "ok",
            detail=last.detail if last else "",
            exit_code=code,
            counts=self.spool.counters(),
        )


def enricher_for(settings: Settings) -> Enricher:
    """The enrichment the settings ask for (privacy included), for a builder."""
    return Enricher(privacy=settings.privacy)


def _state_folder(path: Path) -> Path:
    """Create or tighten the state folder; a folder that cannot be used is a usage error."""
    try:
        return secure_dir(path)
    except OSError as e:
        raise ConfigError(
            f"The state folder {path} cannot be used ({e.strerror or e}); "
            "pass another --home (or AGENT_CLI_HOME)."
        ) from None


def _otlp_url(settings: Settings) -> str:
    return settings.otlp.logs_url if settings.otlp else ""
