"""A report as a plain-text table for a terminal (no click here).

Token counts are shortened (12.3k, 4.5M); `--json` has them exact.
"""

from __future__ import annotations

from typing import Any

from agent_cli.report import Result

_LABELS = {
    "day": "Day", "week": "Week", "month": "Month", "block": "Block (5 h)", "session": "Session",
    "agent": "Agent", "model": "Model", "repo": "Repository", "branch": "Branch",
    "host": "Host", "user": "User", "subagent": "Subagent", "tool": "Tool", "error": "Error",
}  # fmt: skip
_NONE = {"subagent": "(main)", "error": "(ok)"}
_TOKENS = (
    ("In", "input_tokens"), ("Out", "output_tokens"), ("Reason", "reasoning_tokens"),
    ("CacheR", "cache_read_tokens"), ("CacheW", "cache_creation_tokens"),
    ("CacheW1h", "cache_creation_1h_tokens"), ("Total", "total_tokens"),
)  # fmt: skip


def short(n: int) -> str:
    """12345 -> 12.3k; 4500000 -> 4.5M."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def _errors(m: dict[str, Any]) -> str:
    errs: dict[str, int] = m["errors"]
    n = sum(errs.values())
    if not n:
        return "0"
    top = max(errs.items(), key=lambda kv: (kv[1], kv[0]))[0]
    return f"{n} {top}" if len(errs) == 1 else f"{n} {top}+"


def _ms(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def _cells(m: dict[str, Any], tools: bool, llm: bool) -> list[str]:
    out = []
    if llm:
        out.append(f"{m['calls']:,}")
        out += [short(m[f]) for _, f in _TOKENS]
        hit = m["cache_hit_ratio"]
        out += [f"${m['cost_usd']:,.2f}", "-" if hit is None else f"{hit:.0%}"]
    out.append(_errors(m))
    if tools:
        p50, p95 = _ms(m["tool_p50_ms"]), _ms(m["tool_p95_ms"])
        out += [f"{m['tool_calls']:,}", f"{m['tool_errors']:,}", p50, p95]
    return out


def render_table(result: Result) -> str:
    """The rows, a totals line and the notes, aligned."""
    q = result.query
    data = result.as_json()
    totals = data["totals"]
    tools = totals["tool_calls"] > 0 or "tool" in q.by
    llm = "tool" not in q.by
    head = [_LABELS[d] for d in q.by]
    if llm:
        head += ["Calls", *(h for h, _ in _TOKENS), "Cost", "Hit"]
    head.append("Errors")
    if tools:
        head += ["Tools", "ToolErr", "p50 ms", "p95 ms"]
    lines: list[list[str]] = [head]
    for row in data["rows"]:
        dims = [_dim(d, row[d]) for d in q.by]
        lines.append(dims + _cells(row, tools, llm))
        for sub in row.get("breakdown", []):
            label = ["  - " + (sub["model"] or "(no model)")] + [""] * (len(q.by) - 1)
            lines.append(label + _cells(sub, tools, llm))
    lines.append(["Total"] + [""] * (len(q.by) - 1) + _cells(totals, tools, llm))
    text = _align(lines, len(q.by))
    if not data["rows"]:
        text = "no events in this window" + _window(data) + "\n" + text
    notes = [f"note: {n}" for n in data["notes"]]
    return "\n".join([text, *notes])


def _dim(name: str, value: str | None) -> str:
    if value is None:
        return _NONE.get(name, "-")
    if name == "session" and len(value) > 18:
        return value[:8] + "…" + value[-8:]
    return value


def _window(data: dict[str, Any]) -> str:
    since, until = data["since"], data["until"]
    if since or until:
        return f" ({since or 'the start'} to {until or 'today'}, {data['timezone']})"
    return ""


def _align(lines: list[list[str]], left: int) -> str:
    widths = [max(len(r[i]) for r in lines) for i in range(len(lines[0]))]
    out = []
    for r in lines:
        pairs = enumerate(zip(r, widths, strict=True))
        cells = [c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in pairs]
        out.append("  ".join(cells).rstrip())
    rule = "-" * len(out[0])
    return "\n".join([out[0], rule, *out[1:-1], rule, out[-1]])
