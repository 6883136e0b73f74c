"""Model-based test of the tailer + spool (research shipper-anchors.md §10 M1).

A Hypothesis state machine owns one Claude Code transcript (`projects/-p/s.jsonl`), a second
file that receives resume copies of its lines (`projects/-p/r.jsonl`, discovered first, so a
copy may be read before its original) and a spool folder. It appends calls, writes a line in
two parts, grows calls (streaming lines of the same message id + request id), appends stale
lines, copies lines, rewrites the transcript in place with a subset of its lines, replaces it
atomically with a longer copy, and scans into the spool; between scans the spool is closed and
reopened (restart) or abandoned with an open group of chunks (crash).

The model keeps, per call, the output_tokens of every complete line ever written (`outs`) and
`must`: the largest output_tokens among the lines that were in a file when a scan (or the
flushed part of a crashed scan) committed. The oracle, after every step and again after a
final scan in teardown, is exact: the outbox holds one row per event id (nothing is leased, so
a grown call replaced its row), every row is an llm_call, the calls in the outbox are exactly
the calls in `must`, and each one's output_tokens equals `must`. So a call re-read after a
truncation keeps its recorded maximum (a smaller re-read is a duplicate), a resume copy
counts once, and a line still being written (no newline) never yields an event: its call is
not in the model until the line is complete. The expected value is the maximum over every line
ever completed, except for a line written and removed again before any committed scan could
read it (no tailer can see it; `outs` still bounds the values).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agent_cli.config import Settings
from agent_cli.cursor import Cursor
from agent_cli.events import event_id
from agent_cli.prepare import Admitted, Builder, Report
from agent_cli.scan import discover, scan, select_sources
from agent_cli.spool import Spool
from tests.claude_lines import assistant, user

AGENT = "claude-code"
SOURCES = select_sources((AGENT,))
tokens = st.integers(0, 5000)
pads = st.sampled_from([0, 0, 40, 1100])  # 1100: the line alone is longer than the head hash


def open_spool(state: Path) -> Spool:
    """A group of chunks commits at flush(), never because 0.2 s passed: deterministic crashes."""
    return Spool(state, group_seconds=1e9)


@dataclass
class Call:
    msg: str
    req: str
    inp: int
    cr: int
    cc: int
    pad: int

    @property
    def eid(self) -> str:
        return event_id(AGENT, self.msg, self.req)


class CrashTarget:
    """A spool seen through a process that dies: only the first `durable` chunks are flushed.

    The scan's final flush() never happens, so the rest of the group stays an open SQLite
    transaction, which `crash()` abandons by closing the connection without COMMIT (SQLite
    rolls it back, exactly what a killed process leaves behind in the WAL).
    """

    def __init__(self, spool: Spool, durable: int) -> None:
        self.spool = spool
        self.ledger = spool.ledger
        self.durable = durable
        self.commits = 0
        self.durable_paths: set[str] = set()  # files whose chunk was committed before death

    def cursor(self, path: str) -> Cursor | None:
        return self.spool.cursor(path)

    def seen(self, path: str) -> tuple[int, int] | None:
        return self.spool.seen(path)

    @contextlib.contextmanager
    def chunk(self, agent: str, cursor: Cursor) -> Iterator[list[Admitted]]:
        with self.spool.chunk(agent, cursor) as events:
            yield events
        self.commits += 1
        if self.commits <= self.durable:
            self.spool.flush()
            self.durable_paths.add(cursor.path)

    def flush(self) -> None:
        pass  # the process is killed before the scan's last group commits


class TailMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="ex-", dir=os.environ["HOME"]))
        self.home = self.root / "home"
        project = self.home / ".claude" / "projects" / "-p"
        project.mkdir(parents=True)
        self.main = project / "s.jsonl"
        self.copy = project / "r.jsonl"
        self.main.write_bytes(b"")
        self.state = self.root / "state"
        self.env = {"HOME": str(self.home)}
        self.settings = Settings(home=self.state, workers=1)
        self.spool = open_spool(self.state)
        self.main_lines: list[bytes] = []  # complete lines now in s.jsonl (calls and prompts)
        self.copy_lines: list[bytes] = []
        self.partial: tuple[str, bytes, int] | None = None  # call, whole line, bytes written
        self.partial_out = 0
        self.calls: dict[str, Call] = {}
        self.outs: dict[str, list[int]] = {}  # call -> output_tokens of its complete lines
        self.line_of: dict[bytes, tuple[str, int]] = {}  # complete call line -> (call, out)
        self.must: dict[str, int] = {}
        self.mtime = 1_700_000_000 * 10**9
        self.n = 0
        self.touch(self.main)

    # -- helpers ---------------------------------------------------------------------------
    def touch(self, path: Path) -> None:
        # Every write moves mtime (a filesystem with fine timestamps): a same-size rewrite
        # within one mtime tick is a known limit of stat-based skipping, not modelled here.
        self.mtime += 1_000_000
        os.utime(path, ns=(self.mtime, self.mtime))

    def append(self, path: Path, data: bytes) -> None:
        with path.open("ab") as f:
            f.write(data)
        self.touch(path)

    def new_call(self, inp: int, cr: int, cc: int, pad: int) -> str:
        self.n += 1
        name = f"c{self.n}"
        self.calls[name] = Call(f"msg_{self.n:04d}", f"req_{self.n:04d}", inp, cr, cc, pad)
        return name

    def line(self, name: str, out: int, final: bool) -> bytes:
        c = self.calls[name]
        self.n += 1
        blocks = [{"type": "text", "text": "x" * c.pad}] if c.pad else None
        d = assistant(
            c.msg,
            c.req,
            out=out,
            inp=c.inp,
            cr=c.cr,
            cc=c.cc,
            stop="end_turn" if final else None,
            uuid=f"u{self.n:05d}",
            blocks=blocks,
        )
        return json.dumps(d).encode() + b"\n"

    def completed(self, name: str, line: bytes, out: int) -> None:
        self.outs.setdefault(name, []).append(out)
        self.line_of[line] = (name, out)

    def new_lines(self, new: list[tuple[int, bool]]) -> list[bytes]:
        """Complete lines of new calls (not yet in any file)."""
        lines = []
        for out, final in new:
            name = self.new_call(5, 100, 20, 0)
            lines.append(self.line(name, out, final))
            self.completed(name, lines[-1], out)
        return lines

    def pick(self, idx: int) -> str:
        names = sorted(self.outs)
        return names[idx % len(names)]

    def main_bytes(self) -> bytes:
        tail = self.partial[1][: self.partial[2]] if self.partial else b""
        return b"".join(self.main_lines) + tail

    def run_scan(self, target: Spool | CrashTarget) -> Report:
        """One pass as `start` does it (tests/test_spool.py run_scan), on this HOME only."""
        builder = Builder(self.spool.ledger, Report(), None)
        files = discover(SOURCES, self.settings, env=self.env)
        return scan(self.settings, target, builder, files)

    def read(self, paths: set[str]) -> None:
        """Every complete line now in these files was read in a committed transaction."""
        for path, lines in ((str(self.main), self.main_lines), (str(self.copy), self.copy_lines)):
            if path in paths:
                for ln in lines:
                    if ln in self.line_of:
                        name, out = self.line_of[ln]
                        self.must[name] = max(self.must.get(name, -1), out)

    def committed_scan(self) -> Report:
        report = self.run_scan(self.spool)
        self.read({str(self.main), str(self.copy)})
        return report

    def snapshot(self) -> tuple[list[tuple], list[tuple]]:
        db = self.spool.db
        return (
            db.execute("SELECT event_id, revision, body FROM outbox ORDER BY id").fetchall(),
            db.execute(
                'SELECT path, "offset", generation, size FROM sources ORDER BY path'
            ).fetchall(),
        )

    def outbox(self) -> dict[str, tuple[int, dict]]:
        rows: dict[str, list[tuple[int, dict]]] = {}
        for eid, rev, body in self.spool.db.execute("SELECT event_id, revision, body FROM outbox"):
            rows.setdefault(eid, []).append((rev, json.loads(body)))
        for eid, revs in rows.items():  # nothing is leased: a grown call replaced its row
            assert len(revs) == 1, f"{eid[:12]}: several unsent revisions {revs}"
        return {eid: max(revs, key=lambda r: r[0]) for eid, revs in rows.items()}

    # -- writers ---------------------------------------------------------------------------
    @precondition(lambda self: self.partial is None)
    @rule(
        inp=tokens,
        cr=tokens,
        cc=tokens,
        out=tokens,
        final=st.booleans(),
        pad=pads,
        prompt=st.booleans(),
    )
    def append_call(
        self, inp: int, cr: int, cc: int, out: int, final: bool, pad: int, prompt: bool
    ) -> None:
        name = self.new_call(inp, cr, cc, pad)
        ln = self.line(name, out, final)
        data = ln
        if prompt:  # a user line between calls: read, never an event
            self.n += 1
            p = json.dumps(user("hi", uuid=f"p{self.n:05d}")).encode() + b"\n"
            self.main_lines.append(p)
            data = p + ln
        self.main_lines.append(ln)
        self.completed(name, ln, out)
        self.append(self.main, data)

    @precondition(lambda self: self.partial is None)
    @rule(inp=tokens, cr=tokens, cc=tokens, out=tokens, pad=pads, cut=st.integers(0, 10**6))
    def append_partial(self, inp: int, cr: int, cc: int, out: int, pad: int, cut: int) -> None:
        name = self.new_call(inp, cr, cc, pad)
        ln = self.line(name, out, True)
        k = 1 + cut % (len(ln) - 1)  # 1 .. the whole JSON without its newline
        self.partial = (name, ln, k)
        self.partial_out = out
        self.append(self.main, ln[:k])

    @precondition(lambda self: self.partial is not None)
    @rule()
    def complete_partial(self) -> None:
        assert self.partial is not None
        name, ln, k = self.partial
        self.partial = None
        self.main_lines.append(ln)
        self.completed(name, ln, self.partial_out)
        self.append(self.main, ln[k:])

    @precondition(lambda self: self.partial is None and bool(self.outs))
    @rule(idx=st.integers(0, 1000), delta=st.integers(1, 3000), final=st.booleans())
    def grow_call(self, idx: int, delta: int, final: bool) -> None:
        name = self.pick(idx)
        out = max(self.outs[name]) + delta
        ln = self.line(name, out, final)
        self.main_lines.append(ln)
        self.completed(name, ln, out)
        self.append(self.main, ln)

    @precondition(lambda self: self.partial is None and bool(self.outs))
    @rule(
        idx=st.integers(0, 1000),
        below=st.integers(0, 3) | st.integers(0, 3000),
        final=st.booleans(),
    )
    def append_stale_line(self, idx: int, below: int, final: bool) -> None:
        """A line of an existing call that is not larger (ties included): never a revision
        with fewer tokens."""
        name = self.pick(idx)
        out = max(0, max(self.outs[name]) - below)
        ln = self.line(name, out, final)
        self.main_lines.append(ln)
        self.completed(name, ln, out)
        self.append(self.main, ln)

    @precondition(lambda self: bool(self.line_of))
    @rule(idx=st.integers(0, 1000))
    def duplicate_copy(self, idx: int) -> None:
        lines = sorted(self.line_of, key=lambda ln: self.line_of[ln])
        ln = lines[idx % len(lines)]
        self.copy_lines.append(ln)
        self.append(self.copy, ln)

    @precondition(lambda self: bool(self.main_lines))
    @rule(
        data=st.data(),
        how=st.sampled_from(["drop_tail", "prefix", "subset"]),
        new=st.lists(st.tuples(tokens, st.booleans()), max_size=2),
    )
    def truncate_rewrite(self, data: st.DataObject, how: str, new: list[tuple[int, bool]]) -> None:
        """Rewrite s.jsonl in place (same inode) with a prefix or a subset of its lines, then
        maybe new calls (a truncate then write); a line being written stays at the end.
        Dropping the last lines keeps the head hash intact: then only the marker before the
        offset can tell that the bytes there changed."""
        n = len(self.main_lines)
        if how == "drop_tail":
            keep = self.main_lines[: n - data.draw(st.integers(1, 2), label="drop")]
        elif how == "prefix":
            keep = self.main_lines[: data.draw(st.integers(0, n), label="keep")]
        else:
            mask = data.draw(st.lists(st.booleans(), min_size=n, max_size=n), label="mask")
            keep = [ln for ln, k in zip(self.main_lines, mask, strict=True) if k]
        self.rewrite(keep, new)

    def rewrite(self, keep: list[bytes], new: list[tuple[int, bool]]) -> None:
        self.main_lines = keep + self.new_lines(new)
        self.main.write_bytes(self.main_bytes())
        self.touch(self.main)

    @precondition(lambda self: self.partial is None)
    @rule(new=st.lists(st.tuples(tokens, st.booleans()), max_size=2))
    def atomic_replace(self, new: list[tuple[int, bool]]) -> None:
        """Write the same bytes plus new complete lines to a temp file and os.replace it."""
        added = self.new_lines(new)
        tmp = self.main.with_name("s.jsonl.tmp")  # not a .jsonl: never discovered
        tmp.write_bytes(self.main_bytes() + b"".join(added))
        self.touch(tmp)
        os.replace(tmp, self.main)
        self.main_lines += added

    # -- the shipper -----------------------------------------------------------------------
    @rule()
    def scan(self) -> None:
        self.committed_scan()

    @rule()
    def restart(self) -> None:
        self.spool.close()
        self.spool = open_spool(self.state)

    @rule(durable=st.integers(0, 2))
    def crash(self, durable: int) -> None:
        """Scan, flush only the first `durable` chunks, then die with the group open.

        `spool.db.close()` on a connection inside BEGIN IMMEDIATE does not commit: SQLite
        rolls the transaction back, as it does for the WAL frames of a killed process. (The
        spool must be closed before reopening: its open write transaction holds the lock.)
        """
        before = self.snapshot()
        target = CrashTarget(self.spool, durable)
        self.run_scan(target)
        self.spool.db.close()
        self.spool = open_spool(self.state)
        self.read(target.durable_paths)
        if durable == 0:  # nothing was flushed: the crash really threw the scan away
            assert self.snapshot() == before

    # -- oracle ----------------------------------------------------------------------------
    @invariant()
    def spool_agrees_with_model(self) -> None:
        want = {self.calls[name].eid: name for name in self.outs}
        got = self.outbox()
        for eid, (rev, body) in got.items():
            assert body["kind"] == "llm_call" and body["revision"] == rev
            assert eid in want, f"event {eid[:12]} for no complete line (partial or unknown)"
            name = want[eid]
            out = body["output_tokens"]
            assert out in self.outs[name], (name, out, self.outs[name])
            assert name in self.must, f"{name}: queued, but no committed scan read its lines"
            assert out == self.must[name], (
                f"{name}: output_tokens {out}, but the largest line read is {self.must[name]}"
            )
        missing = {n for n in self.must if self.calls[n].eid not in got}
        assert not missing, f"calls read by a committed scan but not in the outbox: {missing}"

    def teardown(self) -> None:
        try:
            self.committed_scan()
            self.spool_agrees_with_model()
            before = self.snapshot()
            again = self.committed_scan()
            assert again.files_read == 0, "a rescan of unchanged files opened one"
            assert self.snapshot()[0] == before[0]
        finally:
            with contextlib.suppress(Exception):
                self.spool.close()
            shutil.rmtree(self.root, ignore_errors=True)


TailMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
TestTail = TailMachine.TestCase


# -- directed scenarios through the same model (cases the generator reaches only rarely) -----
@pytest.fixture
def machine() -> Iterator[TailMachine]:
    m = TailMachine()
    yield m
    m.teardown()


def test_rewrite_behind_the_offset_with_an_intact_head_is_read_again(machine: TailMachine) -> None:
    """Only the marker before the offset can tell: the head (first 1024 bytes) is unchanged."""
    m = machine
    for out in (10, 11, 12):
        m.append_call(5, 100, 20, out, True, 0, False)
    m.scan()
    m.rewrite(m.main_lines[:2], [(999, True)])  # drop the last line, then write a longer one
    assert len(m.main_bytes()) > m.spool.cursor(str(m.main)).offset
    m.scan()
    m.spool_agrees_with_model()


def test_same_size_rewrite_with_a_new_mtime_is_read_again(machine: TailMachine) -> None:
    """The skip of unchanged files must look at mtime too, not only the size."""
    m = machine
    for out in (10, 11):
        m.append_call(5, 100, 20, out, True, 0, False)
    m.scan()
    size = m.main.stat().st_size
    m.rewrite(m.main_lines[:1], [(12, True)])  # same length, other bytes
    assert m.main.stat().st_size == size
    m.scan()
    m.spool_agrees_with_model()


def test_partial_line_survives_a_crash_and_a_truncation(machine: TailMachine) -> None:
    m = machine
    m.append_call(5, 100, 20, 10, True, 0, True)
    m.append_partial(5, 100, 20, 7, 0, -1)  # the whole JSON but its newline
    assert m.partial is not None and m.partial[1][: m.partial[2]] + b"\n" == m.partial[1]
    m.crash(1)
    m.spool_agrees_with_model()
    m.rewrite([], [])
    m.scan()
    m.complete_partial()
    m.crash(0)
    m.restart()
    m.scan()
    m.spool_agrees_with_model()
