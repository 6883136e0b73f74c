"""`--workers 1` against `--workers N`, interleaved A B B A, CPU seconds first (issue 15, step 4).

    python benchmarks/workers.py --size 200MB --rounds 4
    python benchmarks/workers.py --size 200MB --old /path/to/old/tree   # its --workers 2 too

For each round: the dry-run backfill (`start --once --dry-run > /dev/null`) and the backfill
into the spool with the endpoint down (`SUTRACE_ENDPOINT=http://127.0.0.1:9`, `--drain-timeout
0`), each in a fresh state folder, as 1 N N 1 (with --old: 1 N old old N 1). Wall and CPU
(user+sys, children included) come from wait4, peak RSS (the largest process) from GNU time;
each run notes the load average it started at, since the machine may be shared. The dry-run
output of every variant must be identical (its sha256 is compared). Medians at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (benchmarks/run.py)

from tests.synth import parse_size  # noqa: E402


def once(code: Path, workers: int, mode: str, home: Path, work: Path) -> dict[str, float | str]:
    state = Path(tempfile.mkdtemp(prefix="state-", dir=work))
    env = run.base_env(home, state)
    env.update(SUTRACE_ENDPOINT="http://127.0.0.1:9", SUTRACE_API_KEY="dev", PYTHONPATH=str(code))
    args = ["--dry-run"] if mode == "dry-run" else ["--drain-timeout", "0"]
    out = work / "out.jsonl"
    load = os.getloadavg()[0]
    run.CODE = code  # the command runs from that tree (`python -m` puts it first)
    with out.open("wb") as f:
        cmd = [*run.AGENT_CLI, "start", "--once", "--workers", str(workers), *args]
        m = run.measure(cmd, env, stdout=f.fileno())
    digest = hashlib.sha256(out.read_bytes()).hexdigest()[:12]
    subprocess.run(["rm", "-rf", str(state)], check=True)
    return {**m, "load": load, "out": digest}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="200MB")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--old", type=Path, help="another tree: its --workers N runs too")
    a = ap.parse_args()
    home, _ = run.corpus(parse_size(a.size), a.seed)
    n, total = run.tree_bytes(home)
    print(f"{total / 1e6:.0f} MB in {n} files; {os.cpu_count()} CPUs", flush=True)
    new = HERE.parent
    variants = [("new", new, 1), ("new", new, a.workers)]
    if a.old is not None:
        variants.append(("old", a.old.resolve(), a.workers))
    rows: dict[tuple[str, str, int], list[dict[str, float | str]]] = {}
    with tempfile.TemporaryDirectory(prefix="workers-") as tmp:
        for mode in ("dry-run", "spool"):
            for _ in range(a.rounds):
                for label, code, w in [*variants, *reversed(variants)]:
                    r = once(code, w, mode, home, Path(tmp))
                    rows.setdefault((mode, label, w), []).append(r)
                    print(f"{mode:8} {label} --workers {w}: wall {r['wall']:5.2f} s, CPU "
                          f"{r['cpu']:5.2f} s, {r['rss_mb']:3.0f} MB, load {r['load']:.2f}, "
                          f"out {r['out']}", flush=True)  # fmt: skip
    print("\nmedians:")
    for (mode, label, w), rs in rows.items():
        wall = statistics.median(float(r["wall"]) for r in rs)
        cpu = statistics.median(float(r["cpu"]) for r in rs)
        rss = max(float(r["rss_mb"]) for r in rs)
        print(f"{mode:8} {label} --workers {w}: wall {wall:5.2f} s, CPU {cpu:5.2f} s, "
              f"peak {rss:3.0f} MB ({len(rs)} runs)")  # fmt: skip
    outs = {r["out"] for (mode, *_), rs in rows.items() if mode == "dry-run" for r in rs}
    print("dry-run outputs identical" if len(outs) == 1 else f"dry-run outputs DIFFER: {outs}")
    return 0 if len(outs) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
