"""Compare events (dry-run output or a receiver's store) with a generated history's truth.

    python benchmarks/compare.py TRUTH.json EVENTS.jsonl    # exit 1 and a diff when they differ

Events are reduced as the server does: one per event_id, the highest revision wins. Totals are
keyed "agent|model|YYYY-MM-DD" (UTC day of the event timestamp; a call without a model counts
under "<synthetic>", as the truth files API failures).
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "cache_creation_1h_tokens",
    "reasoning_tokens",
)


def latest(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Keep the highest revision of every event id."""
    best: dict[str, dict[str, Any]] = {}
    for e in events:
        old = best.get(e["event_id"])
        if old is None or e.get("revision", 0) > old.get("revision", 0):
            best[e["event_id"]] = e
    return best


Totals = dict[str, Counter[str]]


def totals(events: Iterable[dict[str, Any]]) -> tuple[Totals, Totals]:
    """Return (llm totals by agent|model|day, tool totals by agent|tool)."""
    llm: dict[str, Counter[str]] = defaultdict(Counter)
    tools: dict[str, Counter[str]] = defaultdict(Counter)
    for e in latest(events).values():
        if e["kind"] == "llm_call":
            c = llm[f"{e['agent']}|{e['model'] or '<synthetic>'}|{e['timestamp'][:10]}"]
            c["calls"] += 1
            c["error_calls"] += e["status"] == "error"
            for f in FIELDS:
                c[f] += e[f]
        elif e["kind"] == "tool_call":
            t = tools[f"{e['agent']}|{e['tool_name']}"]
            t["calls"] += 1
            t["errors"] += e["status"] == "error"
    return llm, tools


def diff(truth: dict[str, Any], events: Iterable[dict[str, Any]]) -> list[str]:
    """Every key and field where the events differ from the truth (empty when exact)."""
    llm, tools = totals(events)
    out = []
    for name, want_all, got_all in (("llm", truth["llm"], llm), ("tools", truth["tools"], tools)):
        for key in sorted(set(want_all) | set(got_all)):
            want, got = want_all.get(key, {}), got_all.get(key, Counter())
            for f in sorted(set(want) | set(got)):
                if want.get(f, 0) != got.get(f, 0):
                    out.append(f"{name} {key} {f}: truth {want.get(f, 0)}, got {got.get(f, 0)}")
    return out


def main() -> int:
    with open(sys.argv[1]) as f:
        truth = json.load(f)
    with open(sys.argv[2]) as f:
        problems = diff(truth, (json.loads(line) for line in f if line.strip()))
    for p in problems[:50]:
        print(p)
    print("exact" if not problems else f"{len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
