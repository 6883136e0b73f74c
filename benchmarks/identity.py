"""Prove a change to the hot path left every output byte-identical: old code against new.

    python benchmarks/identity.py                  # old = the merge base with main
    python benchmarks/identity.py --old a13a02a --size 200MB

The old code is `git archive`d into a temporary folder; both versions run as real processes
(`python -m agent_cli`, each from its own tree) on the same homes: the fixture transcripts
(tests/fixtures: Claude Code, Codex and Gemini CLI, the real and the rule files) and a
generated history (tests/synth). Compared byte for byte, per home:

  dry-run             stdout (every event) and stderr (the summary), with and without --since
  into the spool      the outbox rows, the ledger, the cursors and the counters after
                      `start --once` with the endpoint down; and what it printed; then a
                      dry-run with that state folder (its price cache, in the new code)
  delivery, re-runs   `start --once` to the reference receiver, then twice again with nothing
                      new (the second is answered by the re-run index in the new code)

Exit 1 and the first difference when anything differs. Nothing reads this machine's real
agent folders: HOME and every agent variable point at the homes above.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FIX = ROOT / "tests" / "fixtures"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from run import Receiver, corpus  # noqa: E402  (benchmarks/run.py)

SINCE = "2026-03-31"  # the middle of the generated history; the fixtures span it too
KEY = "dev"  # the reference receiver's default key
OLD_DAY = time.time() - 86400  # fixture folders copied here are dated a day back


def old_tree(ref: str, into: Path) -> Path:
    """The code at `ref` as a plain folder."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def age(tree: Path) -> None:
    """Date every folder and file a day back (a copy is fresh; the index skips fresh folders)."""
    for dirpath, _, names in os.walk(tree, topdown=False):
        for n in names:
            os.utime(os.path.join(dirpath, n), (OLD_DAY, OLD_DAY))
        os.utime(dirpath, (OLD_DAY, OLD_DAY))


def fixture_homes(work: Path) -> dict[str, Path]:
    """Two homes made of the test fixtures: the real transcripts, and the rule files."""
    homes = {}
    for name, claude, codex, gemini in (
        ("fixtures-real", FIX / "claude" / "projects", FIX / "codex" / "real",
         FIX / "gemini" / "real" / ".gemini"),
        ("fixtures-rules", None, FIX / "codex" / "rules", FIX / "gemini" / "rules" / ".gemini"),
    ):  # fmt: skip
        home = work / name
        if claude is not None:
            shutil.copytree(claude, home / ".claude" / "projects")
        shutil.copytree(codex, home / ".codex")
        shutil.copytree(gemini, home / ".gemini")
        age(home)
        homes[name] = home
    return homes


def env_for(home: Path, state: Path, **extra: str) -> dict[str, str]:
    drop = ("CLAUDE_", "CODEX_", "GEMINI_", "SUTRACE_", "AGENT_CLI_", "XDG_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(HOME=str(home), AGENT_CLI_HOME=str(state), TZ="UTC",
               CLAUDE_CONFIG_DIR=str(home / ".claude"), CODEX_HOME=str(home / ".codex"),
               GEMINI_CLI_HOME=str(home), PYTHONDONTWRITEBYTECODE="1", **extra)  # fmt: skip
    return env


def agent(code: Path, env: dict[str, str], *args: str) -> tuple[bytes, bytes, int]:
    """`python -m agent_cli ARGS` with `code` first on the path; (stdout, stderr, exit)."""
    env = dict(env, PYTHONPATH=str(code))
    p = subprocess.run(
        [sys.executable, "-m", "agent_cli", *args], cwd=code, env=env, capture_output=True
    )
    return p.stdout, p.stderr, p.returncode


def spool_dump(state: Path) -> bytes:
    """The spool's rows that a run decides (not when it ran), as bytes."""
    db = sqlite3.connect(f"file:{state / 'spool.sqlite'}?mode=ro", uri=True)
    try:
        parts = [
            db.execute(q).fetchall()
            for q in (
                "SELECT ekey, event_id, revision, agent, body, not_before > 0, sinks "
                "FROM outbox ORDER BY id",
                "SELECT key, rank, revision FROM calls ORDER BY key",
                'SELECT path, agent, "offset", generation, size, mtime_ns, head_len, head_sha, '
                "marker_sha, state, since FROM sources ORDER BY path",
                "SELECT name, count FROM counters ORDER BY name",
            )
        ]
    finally:
        db.close()
    return repr(parts).encode()


def first_difference(a: bytes, b: bytes) -> str:
    if a == b:
        return ""
    i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return f"differ at byte {i} of {len(a)}/{len(b)}: {a[i : i + 60]!r} vs {b[i : i + 60]!r}"


def compare_home(name: str, home: Path, codes: dict[str, Path], work: Path) -> list[str]:
    """Every comparison on one home; returns the rows of the report."""
    rows = []

    def check(what: str, outs: dict[str, bytes]) -> None:
        diff = first_difference(outs["old"], outs["new"])
        size = len(outs["new"])
        rows.append(f"{name:<22} {what:<40} " + (diff or f"identical ({size:,} bytes)"))

    for label, extra in (("dry-run", ()), (f"dry-run --since {SINCE}", ("--since", SINCE))):
        outs = {v: agent(c, env_for(home, work / f"none-{v}"), "start", "--once", "--dry-run",
                         *extra) for v, c in codes.items()}  # fmt: skip
        check(label + " stdout", {v: o[0] for v, o in outs.items()})
        check(label + " stderr+exit", {v: o[1] + bytes([o[2]]) for v, o in outs.items()})
    down: dict[str, bytes] = {}
    dumps: dict[str, bytes] = {}
    for v, c in codes.items():
        state = work / f"state-{name}-{v}"
        env = env_for(home, state, SUTRACE_API_KEY=KEY, SUTRACE_ENDPOINT="http://127.0.0.1:9")
        _, err, code = agent(c, env, "start", "--once", "--drain-timeout", "0")
        down[v], dumps[v] = err + bytes([code]), spool_dump(state)
    check("into the spool: spool rows", dumps)
    check("into the spool: stderr+exit", down)
    warm = {v: agent(c, env_for(home, work / f"state-{name}-{v}"), "start", "--once",
                     "--dry-run")[0] for v, c in codes.items()}  # fmt: skip
    check("dry-run, state with a price cache", warm)
    runs: dict[str, list[bytes]] = {}
    stamps = []
    for v, c in codes.items():
        (work / f"rx-{name}-{v}").mkdir()
        rx = Receiver(work / f"rx-{name}-{v}")
        state = work / f"state-{name}-{v}"
        try:
            env = env_for(home, state, SUTRACE_API_KEY=KEY, SUTRACE_ENDPOINT=rx.url)
            runs[v] = []
            for _ in range(3):
                _, err, code = agent(c, env, "start", "--once")
                runs[v].append(err + bytes([code]))
                if v == "new":
                    stamps.append(_stamp(state / "rerun.index"))
        finally:
            rx.stop()
    for i, what in enumerate(("delivery", "re-run 1 (writes the index)", "re-run 2 (index)")):
        check(what + ": stderr+exit", {v: r[i] for v, r in runs.items()})
    answered = stamps[1] is not None and stamps[2] == stamps[1]
    verdict = "yes" if answered else "NO: the full run ran"
    rows.append(f"{name:<22} {'re-run 2 answered by the index':<40} {verdict}")
    return rows


def _stamp(path: Path) -> tuple[int, int] | None:
    """The index file's inode and mtime: the fast path leaves it, a full run replaces it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", help="git ref of the old code (default: merge base with main)")
    ap.add_argument("--size", default="50MB", help="generated history size (0: none)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    ref = args.old or subprocess.run(
        ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="agent-cli-identity-"))
    try:
        codes = {"old": old_tree(ref, work / "old"), "new": ROOT}
        homes = fixture_homes(work)
        from tests.synth import parse_size

        if parse_size(args.size):
            homes[f"history-{args.size}"] = corpus(parse_size(args.size), args.seed)[0]
        rows = [f"old = {ref[:12]}, new = the working tree of {ROOT}"]
        for name, home in homes.items():
            rows += compare_home(name, home, codes, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(rows))
    bad = [r for r in rows[1:] if "identical" not in r and not r.endswith("yes")]
    print("all identical" if not bad else f"{len(bad)} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
