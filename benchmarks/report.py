"""Benchmark `agent-cli report` on a generated heavy-user history (default ~1 GB).

    python benchmarks/report.py                  # ~1 GB history (shared with run.py), 3 runs
    python benchmarks/report.py --size 2MB --runs 1   # proves the script still works

Measures (medians over --runs):
  1. the first report (once): reads the whole history into the spool and its history table (no key,
     no delivery), then reports; checked against the generator's truth (`exact`)
  2. each kind of report once the history is read (a fresh process: Python start, the scan
     that finds nothing new, the query, the output), for several --by combinations, --html
  3. the query alone, in this process (`report_sql.Grouper`): what a report costs over the
     history's events, whatever the transcripts
Nothing here asserts a time; the numbers go to stdout and benchmarks/out/report.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from run import AGENT_CLI, OUT, base_env, corpus, measure, tree_bytes  # noqa: E402

REPORTS = {
    "day x model x agent --json": ["--by", "day", "--by", "model", "--by", "agent", "--json"],
    "session --since all": ["--by", "session", "--since", "all"],
    "block --breakdown": ["--by", "block", "--breakdown"],
    "repo x branch": ["--by", "repo", "--by", "branch"],
    "tool": ["--by", "tool"],
    "default (7 days by day)": [],
}


def exact(stdout: bytes, truth: dict) -> str:
    fields = ("calls", "error_calls", "input_tokens", "output_tokens", "cache_read_tokens",
              "cache_creation_tokens", "cache_creation_1h_tokens", "reasoning_tokens")  # fmt: skip
    got = {
        f"{r['agent']}|{r['model'] or '<synthetic>'}|{r['day']}": {f: r[f] for f in fields}
        for r in json.loads(stdout)["rows"]
        if any(r[f] for f in fields)  # not a row of tool calls only
    }
    want = {k: {f: v[f] for f in fields} for k, v in truth["llm"].items()}
    return "exact" if got == want else f"DIFFERS ({len(got)} rows, truth {len(want)})"


def query_alone(state: Path, runs: int) -> dict[str, float]:
    from agent_cli.report_query import make_query
    from agent_cli.report_sql import Grouper

    db = sqlite3.connect(f"file:{state / 'spool.sqlite'}?mode=ro", uri=True)
    out: dict[str, float] = {}
    try:
        for name, by in {"day x model x agent": ("day", "model", "agent"),
                         "session": ("session",), "block": ("block",)}.items():  # fmt: skip
            q = make_query(by, "all", None, "UTC", (), None, name == "block")
            times, n = [], 0
            for _ in range(runs):
                t0 = time.perf_counter()
                result = Grouper(db, q).result(q)
                rows = result.row_dicts()
                times.append(time.perf_counter() - t0)
                n = result.totals.calls + result.totals.tool_calls
            out[name] = statistics.median(times)
            print(f"  query alone, {name}: {out[name]:.3f} s over {n:,} events ({len(rows)} rows)")
    finally:
        db.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="1GB", help="history size (e.g. 2MB, 200MB, 1GB)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    from tests.synth import parse_size

    home, truth = corpus(parse_size(args.size), args.seed)
    nfiles, nbytes = tree_bytes(home)
    print(f"history: {nbytes / 1e6:,.0f} MB in {nfiles:,} files")
    results: dict[str, object] = {"history_bytes": nbytes, "files": nfiles}
    work = Path(tempfile.mkdtemp(prefix="report-bench-"))
    try:
        state = work / "state-0"
        env = base_env(home, state)
        cmd = [*AGENT_CLI, "report", *REPORTS["day x model x agent --json"], "--since", "all"]
        first = [measure(cmd, env)]  # once: it reads the whole history
        check = subprocess.run([*AGENT_CLI, "report", *REPORTS["day x model x agent --json"],
                                "--since", "all", "--timezone", "UTC"], env=env,
                               capture_output=True, timeout=600)  # fmt: skip
        verdict = exact(check.stdout, truth)
        wall = statistics.median(r["wall"] for r in first)
        rss = statistics.median(r["rss_mb"] for r in first)
        print(f"1. first report (reads the history): {wall:.1f} s, {rss:.0f} MB peak; {verdict}")
        results["first_report"] = {"wall": wall, "rss_mb": rss, "truth": verdict}
        spool = state / "spool.sqlite"
        events = sqlite3.connect(spool).execute("SELECT count(*) FROM history").fetchone()[0]
        print(f"   history: {events:,} events; spool {spool.stat().st_size / 1e6:.0f} MB")
        results["history_events"] = events
        after: dict[str, dict[str, float]] = {}
        for name, extra in {**REPORTS, "--html": ["--html", str(work / "r.html")]}.items():
            rows = [measure([*AGENT_CLI, "report", *extra], env) for _ in range(args.runs)]
            after[name] = {k: statistics.median(r[k] for r in rows) for k in ("wall", "cpu")}
            a = after[name]
            print(f"2. report {name}: {a['wall']:.2f} s wall, {a['cpu']:.2f} s CPU")
        results["reports"] = after
        results["query_alone"] = query_alone(state, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "report.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
