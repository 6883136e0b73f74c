"""Benchmark agent-cli on a generated heavy-user history, next to ccusage, in one run.

    python benchmarks/run.py                 # ~1 GB history, 3 runs each, with ccusage
    python benchmarks/run.py --size 50MB     # a quick look
    python benchmarks/run.py --size 2MB --runs 1 --quick   # CI: proves it still runs

Measures (medians over --runs, agent-cli and ccusage runs alternating):
  1. cold dry-run backfill (`start --once --dry-run > /dev/null`): wall, CPU, peak RSS, MB/s
  2. backfill into the spool (endpoint down), then delivery to the reference receiver on
     127.0.0.1: wall, events/s delivered, peak RSS, the receiver's CPU seconds
  3. re-run with nothing new (`start --once` again): wall
  4. tail latency: a line appended while `start` runs to a transcript idle for two hours (a
     resumed session) -> stored by the receiver (p50/p95); with file events, then polling
     (AGENT_CLI_WATCH=0, --poll-appends samples, each waits for the full walk)
  5. idle CPU of `start` with nothing new, with file events and polling
  6. ccusage (`daily --json --offline`) on the same corpus, and the ratios
Nothing here asserts a time; the numbers go to stdout and benchmarks/out/results.json.
Every process it starts talks to 127.0.0.1 only and is stopped before it exits.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(ROOT))  # agent_cli and tests.synth from this checkout
sys.path.insert(0, str(HERE))

CCUSAGE_VERSION = "20.0.24"  # 20.0.26 (latest at writing) ships no Linux binary


TIME = shutil.which("time") or "/usr/bin/time"


def measure(
    cmd: list[str],
    env: dict[str, str],
    stdout: int | None = subprocess.DEVNULL,
    timeout: float = 1800,
) -> dict[str, float]:
    """Run a command; return wall s, CPU s (user+sys, children included) and peak RSS MB.

    Peak RSS comes from GNU time when it is there: wait4's ru_maxrss can report a larger
    earlier child of this process (ccusage) instead of the command's own peak.
    """
    rss_file = None
    if os.path.exists(TIME):
        rss_file = tempfile.NamedTemporaryFile(prefix="rss-", delete=False)  # noqa: SIM115
        rss_file.close()
        cmd = [TIME, "-q", "-f", "%M", "-o", rss_file.name, *cmd]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE, cwd=CODE)
    deadline = t0 + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            p.kill()
            raise TimeoutError(cmd)
        time.sleep(0.005)
    wall = time.monotonic() - t0
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    p.stderr.close() if p.stderr else None
    code = os.waitstatus_to_exitcode(status)
    rss_kb = ru.ru_maxrss
    if rss_file is not None:
        with contextlib.suppress(ValueError, OSError):
            rss_kb = int(Path(rss_file.name).read_text().split()[-1])
        os.unlink(rss_file.name)
    return {
        "wall": wall,
        "cpu": ru.ru_utime + ru.ru_stime,
        "rss_mb": rss_kb / 1024,
        "exit": code,
        "stderr": err,
    }


def med(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def corpus(size: int, seed: int) -> tuple[Path, dict]:
    """Generate (or reuse) the history of `size` bytes; return its HOME and truth."""
    from tests.synth import generate  # the generator, tests/synth/

    base = OUT / f"history-{size}-{seed}"
    home, truth_file = base / "home", base / "truth.json"
    if not truth_file.exists():
        shutil.rmtree(base, ignore_errors=True)
        home.mkdir(parents=True)
        t0 = time.monotonic()
        generate(home, size, seed=seed).write(truth_file)
        print(
            f"generated {size / 1e6:.0f} MB history in {time.monotonic() - t0:.1f} s",
            file=sys.stderr,
        )
    return home, json.loads(truth_file.read_text())


def tree_bytes(home: Path) -> tuple[int, int]:
    n = total = 0
    for dirpath, _, names in os.walk(home):
        for name in names:
            if name.endswith((".jsonl", ".json", ".zst")):
                n += 1
                total += os.path.getsize(os.path.join(dirpath, name))
    return n, total


def base_env(home: Path, state: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CLAUDE_", "CODEX_", "GEMINI_", "SUTRACE_", "AGENT_CLI_", "OTEL_"))
        # an installed copy runs from compiled bytecode; without this, every run recompiles
        and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        HOME=str(home),
        AGENT_CLI_HOME=str(state),
        TZ="UTC",
        CLAUDE_CONFIG_DIR=str(home / ".claude"),
        CODEX_HOME=str(home / ".codex"),
        GEMINI_CLI_HOME=str(home),
    )
    if CODE is not None:
        env["PYTHONPATH"] = str(CODE)
    return env


AGENT_CLI = [sys.executable, "-m", "agent_cli"]
CODE: Path | None = None  # --code: another tree of agent-cli to measure (run from there)


class Receiver:
    """The reference receiver in a subprocess on 127.0.0.1."""

    def __init__(self, workdir: Path) -> None:
        self.db = workdir / "ingest.sqlite"
        ready = workdir / "port"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "examples" / "ingest_server.py"),
                "--port",
                "0",
                "--ready-file",
                str(ready),
                "--db",
                str(self.db),
                "--quiet",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(500):
            if ready.exists() and ready.read_text().strip():
                break
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{ready.read_text().strip()}"

    def count(self) -> int:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as c:
            return int(c.execute("SELECT count(*) FROM events").fetchone()[0])

    def has(self, event_id: str) -> bool:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5) as c:
            return (
                c.execute("SELECT 1 FROM events WHERE event_id = ?", (event_id,)).fetchone()
                is not None
            )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def run_ccusage(env: dict[str, str], runs: list[dict[str, float]]) -> str | None:
    """One ccusage run appended to `runs`; returns a note when ccusage is not available."""
    binary = OUT / "ccusage" / "node_modules" / "@ccusage" / "ccusage-linux-x64" / "bin" / "ccusage"
    if not binary.exists():
        if not shutil.which("npm"):
            return "npm not found: ccusage skipped"
        (OUT / "ccusage").mkdir(parents=True, exist_ok=True)
        r = subprocess.run(
            ["npm", "install", "--silent", f"ccusage@{CCUSAGE_VERSION}"],
            cwd=OUT / "ccusage",
            capture_output=True,
            timeout=600,
        )
        if r.returncode or not binary.exists():
            return f"ccusage@{CCUSAGE_VERSION} could not be installed: skipped"
    binary.chmod(0o755)
    e = dict(env, GEMINI_DATA_DIR=env["HOME"] + "/.gemini")
    runs.append(measure([str(binary), "daily", "--json", "--offline"], e))
    return None


def check_exact(home: Path, work: Path, truth: dict) -> str:
    """Dry-run once more into a file and compare it with the generator's truth."""
    import compare

    out = work / "events.jsonl"
    with out.open("wb") as f:
        subprocess.run(
            [*AGENT_CLI, "start", "--once", "--dry-run"],
            stdout=f,
            stderr=subprocess.DEVNULL,
            env=base_env(home, work / "none"),
            check=True,
            cwd=CODE,
        )
    with out.open() as f:
        problems = compare.diff(truth, (json.loads(line) for line in f))
    out.unlink()
    return "exact" if not problems else f"{len(problems)} differences, e.g. {problems[0]}"


def _call_line(tag: str, i: int) -> tuple[str, str]:
    """One settled Claude Code call as a JSON line, and its event id."""
    from agent_cli.events import event_id

    mid, rid = f"msg_bench_{os.getpid()}_{tag}_{i}", f"req_bench_{tag}_{i}"
    line = {
        "type": "assistant",
        "uuid": f"u{tag}{i}",
        "parentUuid": None,
        "sessionId": "bench-tail",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "requestId": rid,
        "cwd": "/bench",
        "version": "2.1.200",
        "isSidechain": False,
        "message": {
            "id": mid,
            "model": "claude-sonnet-4-5-20250929",
            "stop_reason": "end_turn",
            "content": [],
            "usage": {
                "input_tokens": 3,
                "output_tokens": 7,
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 0,
            },
        },
    }
    return json.dumps(line) + "\n", event_id("claude-code", mid, rid)


def _idle_files(home: Path, tag: str, n: int) -> list[Path]:
    """`n` transcripts last written two hours ago (older than HOT_SECONDS), in an old folder."""
    proj = home / ".claude" / "projects" / f"-bench-idle-{tag}"
    proj.mkdir(parents=True, exist_ok=True)
    old = time.time() - 7200
    files = [proj / f"idle-{i}.jsonl" for i in range(n)]
    for i, f in enumerate(files):
        f.write_text(_call_line(f"{tag}old", i)[0])
        os.utime(f, (old, old))
    os.utime(proj, (old, old))
    return files


def _time_append(f: Path, line: str, eid: str, receiver: Receiver, ceiling: float) -> float:
    t0 = time.monotonic()
    with f.open("a") as fh:
        fh.write(line)
    while not receiver.has(eid) and time.monotonic() - t0 < ceiling:
        time.sleep(0.01)
    return time.monotonic() - t0


def tail_latency(
    env: dict[str, str],
    home: Path,
    appends: int,
    receiver: Receiver,
    idle_seconds: float,
    tag: str = "w",
) -> tuple[list[float], float]:
    """Append a call to each of `appends` idle transcripts while `start` runs; time until the
    receiver stores each (the case a resumed session is in); then `start`'s idle CPU."""
    hot_dir = home / ".claude" / "projects" / "-bench-tail"
    hot_dir.mkdir(parents=True, exist_ok=True)
    hot = hot_dir / "tail-session.jsonl"
    hot.touch()
    idle = _idle_files(home, tag, appends)
    proc = subprocess.Popen(
        [*AGENT_CLI, "start"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=CODE,
    )
    lat = []
    try:
        time.sleep(1.0)
        # the daemon is tailing once a call appended to a hot file arrives
        _time_append(hot, *_call_line(f"{tag}up", 0), receiver, 90)
        for i, f in enumerate(idle):
            lat.append(_time_append(f, *_call_line(tag, i), receiver, 90))
            time.sleep(0.1)
        cpu0 = proc_cpu(proc.pid)
        time.sleep(idle_seconds)
        cpu = (proc_cpu(proc.pid) - cpu0) / idle_seconds * 100
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(hot_dir, ignore_errors=True)  # leave the generated history as it was
        shutil.rmtree(idle[0].parent if idle else hot_dir, ignore_errors=True)
    return lat, cpu


def tails(res: dict, up: dict[str, str], home: Path, rx: Receiver, args: object) -> None:
    """Tail latency (idle files) and idle CPU, with file events, then polling (watching off)."""
    a = vars(args)
    runs = [("", up, a["appends"])]
    if a["poll_appends"]:
        runs.append(("_polling", dict(up, AGENT_CLI_WATCH="0"), a["poll_appends"]))
    for suffix, env, n in runs:
        lat, idle = tail_latency(env, home, n, rx, a["idle"], tag="p" if suffix else "w")
        res["tail_latency" + suffix] = {
            "p50": pct(lat, 0.5),
            "p95": pct(lat, 0.95),
            "samples": len(lat),
        }
        res["idle_cpu_pct" + suffix] = idle


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="1GB", help="history size (e.g. 2MB, 200MB, 1GB)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--appends", type=int, default=30, help="tail-latency samples")
    ap.add_argument("--idle", type=float, default=30.0, help="idle CPU window, seconds")
    ap.add_argument(
        "--poll-appends",
        type=int,
        default=3,
        help="tail-latency samples with file events off (each waits for a full walk, ~60 s)",
    )
    ap.add_argument("--quick", action="store_true", help="no ccusage, short tail/idle phases")
    ap.add_argument("--code", type=Path, help="measure the agent-cli in this tree instead")
    args = ap.parse_args()
    global CODE
    CODE = args.code.resolve() if args.code else None
    if args.quick:
        args.appends, args.idle, args.poll_appends = 3, 2.0, 0
    from tests.synth import parse_size

    home, truth = corpus(parse_size(args.size), args.seed)
    for old in (home / ".claude" / "projects").glob("-bench-*"):
        shutil.rmtree(old, ignore_errors=True)
    nfiles, nbytes = tree_bytes(home)
    res: dict = {
        "size_bytes": nbytes,
        "files": nfiles,
        "runs": args.runs,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "code": str(CODE or ROOT),
    }
    work = Path(tempfile.mkdtemp(prefix="agent-cli-bench-"))
    try:
        dry, ccu, note = [], [], None
        for _ in range(args.runs):
            dry.append(
                measure([*AGENT_CLI, "start", "--once", "--dry-run"], base_env(home, work / "none"))
            )
            if not args.quick and note is None:
                note = run_ccusage(base_env(home, work / "none"), ccu)
        res["dry_run"] = {k: med(dry, k) for k in ("wall", "cpu", "rss_mb")}
        res["exact"] = check_exact(home, work, truth)
        res["dry_run"]["mb_s"] = nbytes / 1e6 / res["dry_run"]["wall"]
        events = 0
        spool_runs, ship_runs, rerun, rerun_full, dry_warm = [], [], [], [], []
        for i in range(args.runs):
            state = work / f"state{i}"
            # "dev" is the reference receiver's default key; port 9 has no listener.
            down = dict(
                base_env(home, state), SUTRACE_API_KEY="dev", SUTRACE_ENDPOINT="http://127.0.0.1:9"
            )
            spool_runs.append(
                measure([*AGENT_CLI, "start", "--once", "--drain-timeout", "0"], down)
            )
            (work / f"rx{i}").mkdir()
            rx = Receiver(work / f"rx{i}")
            try:
                up = dict(down, SUTRACE_ENDPOINT=rx.url)
                ship_runs.append(measure([*AGENT_CLI, "start", "--once"], up))
                ship_runs[-1]["rx_cpu"] = proc_cpu(rx.proc.pid)  # the receiver's, so far
                events = rx.count()
                ship_runs[-1]["events"] = events
                rerun.append(measure([*AGENT_CLI, "start", "--once"], up))
                full = dict(up, AGENT_CLI_NO_INDEX="1")  # the full path, index or not
                rerun_full.append(measure([*AGENT_CLI, "start", "--once"], full))
                # a dry-run beside a state folder: its price cache (if the code has one)
                dry_warm.append(measure([*AGENT_CLI, "start", "--once", "--dry-run"], down))
                if i == args.runs - 1:
                    tails(res, up, home, rx, args)
            finally:
                rx.stop()
        res["into_spool"] = {k: med(spool_runs, k) for k in ("wall", "cpu", "rss_mb")}
        res["delivery"] = {k: med(ship_runs, k) for k in ("wall", "cpu", "rss_mb")}
        res["delivery"]["events"] = events
        res["delivery"]["rx_cpu"] = med(ship_runs, "rx_cpu")
        res["delivery"]["events_s"] = events / res["delivery"]["wall"]
        res["rerun"] = {"wall": med(rerun, "wall"), "cpu": med(rerun, "cpu")}
        res["rerun_full"] = {"wall": med(rerun_full, "wall"), "cpu": med(rerun_full, "cpu")}
        res["dry_run_warm"] = {k: med(dry_warm, k) for k in ("wall", "cpu", "rss_mb")}
        if ccu:
            res["ccusage"] = {k: med(ccu, k) for k in ("wall", "cpu", "rss_mb")}
            c = res["ccusage"]["wall"]
            res["ratios"] = {
                "dry_run": res["dry_run"]["wall"] / c,
                "dry_run_warm": res["dry_run_warm"]["wall"] / c,
                "into_spool": res["into_spool"]["wall"] / c,
                "rerun": res["rerun"]["wall"] / c,
            }
        res["ccusage_note"] = note if not args.quick else "skipped (--quick)"
        bad = [r["stderr"][-300:] for r in dry + spool_runs if r["exit"] not in (0, 1)]
        if bad:
            res["errors"] = bad
    finally:
        shutil.rmtree(work, ignore_errors=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(res, indent=2))
    print(render(res))
    return 0


def render(r: dict) -> str:
    d, s, dl = r["dry_run"], r["into_spool"], r["delivery"]
    rows = [
        f"history: {r['size_bytes'] / 1e6:.0f} MB in {r['files']} files; medians of {r['runs']}; "
        f"dry-run vs truth: {r['exact']}",
        f"{'measure':<34}{'wall s':>9}{'CPU s':>9}{'RSS MB':>9}  other",
        f"{'1. dry-run backfill':<34}{d['wall']:>9.2f}{d['cpu']:>9.2f}{d['rss_mb']:>9.0f}"
        f"  {d['mb_s']:.0f} MB/s",
        f"{'2a. backfill into the spool':<34}{s['wall']:>9.2f}{s['cpu']:>9.2f}{s['rss_mb']:>9.0f}",
        f"{'2b. delivery to the receiver':<34}{dl['wall']:>9.2f}{dl['cpu']:>9.2f}"
        f"{dl['rss_mb']:>9.0f}  {dl['events']} events, {dl['events_s']:.0f} events/s, "
        f"receiver CPU {dl.get('rx_cpu', float('nan')):.2f} s",
        f"{'3. re-run, nothing new':<34}{r['rerun']['wall']:>9.2f}{r['rerun']['cpu']:>9.2f}",
    ]
    if "rerun_full" in r:
        f, w = r["rerun_full"], r["dry_run_warm"]
        rows.insert(3, f"{'1b. dry-run beside a state folder':<34}{w['wall']:>9.2f}"
                       f"{w['cpu']:>9.2f}{w['rss_mb']:>9.0f}  (its price cache)")  # fmt: skip
        rows.append(f"{'3b. re-run, full path':<34}{f['wall']:>9.2f}{f['cpu']:>9.2f}"
                    "  (AGENT_CLI_NO_INDEX=1)")  # fmt: skip
    if "tail_latency" in r:
        t = r["tail_latency"]
        rows.append(
            f"{'4. tail latency p50 / p95 s':<34}{t['p50']:>9.2f}{t['p95']:>9.2f}"
            f"  ({t['samples']} appends to idle files, file events)"
        )
        rows.append(f"{'5. idle CPU of start':<34}{r['idle_cpu_pct']:>8.2f}%  (file events)")
    if "tail_latency_polling" in r:
        t = r["tail_latency_polling"]
        rows.append(
            f"{'4p. the same, polling':<34}{t['p50']:>9.2f}{t['p95']:>9.2f}"
            f"  ({t['samples']} appends, AGENT_CLI_WATCH=0)"
        )
        rows.append(f"{'5p. idle CPU, polling':<34}{r['idle_cpu_pct_polling']:>8.2f}%")
    if "ccusage" in r:
        c = r["ccusage"]
        rows.append(
            f"{'6. ccusage daily --json --offline':<34}{c['wall']:>9.2f}{c['cpu']:>9.2f}"
            f"{c['rss_mb']:>9.0f}"
        )
        q = r["ratios"]
        rows.append(
            f"ratios to ccusage: dry-run {q['dry_run']:.2f}x ({q['dry_run_warm']:.2f}x beside a "
            f"state folder), into spool {q['into_spool']:.2f}x, re-run {q['rerun']:.3f}x"
        )
    else:
        rows.append(f"6. ccusage: {r['ccusage_note']}")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
