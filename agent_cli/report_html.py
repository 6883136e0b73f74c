"""`report --html FILE`: one self-contained page (inline CSS and SVG, no script, nothing
fetched), readable in light and dark (prefers-color-scheme).

Sections: totals, the daily trend (cost bars, tokens in the tooltip), model and agent shares,
top repositories and branches, top sessions, tool latency, and the report's own rows.
Every value shown is escaped: names come from transcripts (a branch name can hold `<`).
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from html import escape
from pathlib import Path
from typing import Any

from agent_cli.report import Result, metrics
from agent_cli.report_table import short

VIEWS: dict[str, tuple[str, ...]] = {
    "day": ("day",),
    "model": ("model",),
    "agent": ("agent",),
    "repo": ("repo", "branch"),
    "session": ("session",),
    "tool": ("tool",),
}
TOP = 10

_CSS = """
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1b1f24; --muted: #59636e;
  --card: #f4f6f8; --line: #d0d7de; --bar: #2f6fde; --bar2: #e3892f; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0f1216; --fg: #e6edf3; --muted: #9aa5b1; --card: #1a1f26; --line: #30363d;
    --bar: #6ea8ff; --bar2: #f0a860; }
}
body { background: var(--bg); color: var(--fg); margin: 2rem auto; max-width: 1100px;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; } h2 { font-size: 1.1rem; margin: 2rem 0 .5rem; }
.muted { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: .75rem; margin: 1rem 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: .6rem .9rem; min-width: 8rem; }
.card b { display: block; font-size: 1.25rem; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 1.5rem; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; text-align: right; }
th:first-child, td:first-child, td.k, th.k { text-align: left; }
svg { width: 100%; height: auto; display: block; }
svg text { fill: var(--muted); font-size: 11px; }
.bar { fill: var(--bar); } .bar2 { fill: var(--bar2); } .axis { stroke: var(--line); }
"""


def write_html(path: Path, result: Result, views: dict[str, Result]) -> None:
    """Write the page to `path` (0600: it names repositories, branches and sessions)."""
    page = render_html(result, views)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(page)


def render_html(result: Result, views: dict[str, Result]) -> str:
    data = result.as_json()
    t = data["totals"]
    window = f"{data['since'] or 'the start'} to {data['until'] or 'today'}"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>agent-cli report</title><style>{_CSS}</style></head><body>",
        "<h1>Coding-agent usage</h1>",
        f"<p class='muted'>{escape(window)} ({escape(data['timezone'])}); from the local "
        "history of agent-cli</p>",
        _cards(t),
    ]
    if "day" in views:
        parts += ["<h2>Daily cost</h2>", _trend(views["day"])]
    shares = [_share(views[n], n, f"{n.title()} share of cost") for n in ("model", "agent")
              if n in views]  # fmt: skip
    parts.append(f"<div class='grid'>{''.join(shares)}</div>")
    if "repo" in views:
        parts += ["<h2>Top repositories and branches</h2>", _top(views["repo"], ("repo", "branch"))]
    if "session" in views:
        parts += ["<h2>Top sessions</h2>", _top(views["session"], ("session",))]
    if "tool" in views:
        parts += ["<h2>Tool latency</h2>", _tools(views["tool"])]
    parts += ["<h2>Report rows</h2>", _top(result, result.query.by, limit=500)]
    parts += [f"<p class='muted'>{escape(n)}</p>" for n in data["notes"]]
    parts.append("</body></html>")
    return "\n".join(parts)


def _cards(t: dict[str, Any]) -> str:
    hit = t["cache_hit_ratio"]
    errors = sum(t["errors"].values())
    cards = (
        ("Cost", f"${t['cost_usd']:,.2f}"),
        ("Calls", f"{t['calls']:,}"),
        ("Tokens", short(t["total_tokens"])),
        ("Cache hit", "-" if hit is None else f"{hit:.0%}"),
        ("Errors", f"{errors:,}"),
        ("Tool calls", f"{t['tool_calls']:,}"),
    )
    inner = "".join(f"<div class='card'><span class='muted'>{k}</span><b>{v}</b></div>"
                    for k, v in cards)  # fmt: skip
    return f"<div class='cards'>{inner}</div>"


def _trend(view: Result) -> str:
    rows = _every_day(view.row_dicts())
    if not rows:
        return "<p class='muted'>no calls in this window</p>"
    w, h, pad = 1000, 220, 30
    top = max(r["cost_usd"] for r in rows) or 1.0
    step = (w - pad) / len(rows)
    bars = []
    for i, r in enumerate(rows):
        bh = (h - 2 * pad) * r["cost_usd"] / top
        x, y = pad + i * step, h - pad - bh
        tip = f"{r['day']}: ${r['cost_usd']:,.2f}, {r['calls']:,} calls"
        bars.append(
            f"<rect class='bar' x='{x:.1f}' y='{y:.1f}' width='{max(step - 2, 1):.1f}' "
            f"height='{bh:.1f}'><title>{escape(tip)}</title></rect>"
        )
    every = max(len(rows) // 8, 1)
    labels = [
        f"<text x='{pad + i * step:.1f}' y='{h - 10}'>{escape(r['day'] or '')}</text>"
        for i, r in enumerate(rows)
        if i % every == 0 and pad + i * step < w - 70  # a label must fit before the edge
    ]
    axis = f"<line class='axis' x1='{pad}' y1='{h - pad}' x2='{w}' y2='{h - pad}'/>"
    peak = f"<text x='0' y='{pad - 8}'>max ${top:,.2f}/day</text>"
    return (f"<svg viewBox='0 0 {w} {h}' role='img' aria-label='daily cost'>{axis}{peak}"
            f"{''.join(bars)}{''.join(labels)}</svg>")  # fmt: skip


def _every_day(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The days in order, with the quiet days between them as zero bars."""
    have = {r["day"]: r for r in rows if r["day"]}
    if not have:
        return []
    first, last = date.fromisoformat(min(have)), date.fromisoformat(max(have))
    quiet = {"cost_usd": 0.0, "calls": 0}
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return [have.get(d.isoformat(), {"day": d.isoformat(), **quiet}) for d in days]


def _share(view: Result, dim: str, title: str) -> str:
    rows = [r for r in view.row_dicts() if r["calls"] or r["cost_usd"]][:TOP]
    total = metrics(view.totals)["cost_usd"] or 0.0
    w, line = 480, 24
    h = line * max(len(rows), 1) + 10
    out = []
    for i, r in enumerate(rows):
        share = r["cost_usd"] / total if total else 0.0
        y = 5 + i * line
        name = escape(str(r[dim] or "(none)"))
        out.append(
            f"<text x='0' y='{y + 15}'>{name}</text>"
            f"<rect class='bar' x='200' y='{y + 4}' width='{max(share * 170, 1):.1f}' "
            f"height='14'><title>{name}: {share:.1%}</title></rect>"
            f"<text x='{205 + share * 170:.1f}' y='{y + 15}'>{share:.1%} "
            f"(${r['cost_usd']:,.2f})</text>"
        )
    svg = f"<svg viewBox='0 0 {w} {h}' role='img' aria-label='{escape(title)}'>{''.join(out)}</svg>"
    return f"<section><h2>{escape(title)}</h2>{svg}</section>"


def _top(view: Result, dims: tuple[str, ...], limit: int = TOP) -> str:
    head = "".join(f"<th class='k'>{escape(d)}</th>" for d in dims)
    head += "<th>calls</th><th>tokens</th><th>cost</th><th>cache hit</th><th>errors</th>"
    body = []
    for r in view.row_dicts()[:limit]:
        hit = r["cache_hit_ratio"]
        cells = "".join(f"<td class='k'>{escape(str(r[d] or '-'))}</td>" for d in dims)
        cells += (
            f"<td>{r['calls']:,}</td><td>{r['total_tokens']:,}</td><td>${r['cost_usd']:,.2f}</td>"
            f"<td>{'-' if hit is None else f'{hit:.0%}'}</td><td>{sum(r['errors'].values()):,}</td>"
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _tools(view: Result) -> str:
    rows = view.row_dicts()[:TOP]
    if not rows:
        return "<p class='muted'>no tool calls in this window</p>"
    slowest = max((r["tool_p95_ms"] or 0) for r in rows) or 1
    w, line = 1000, 24
    out = []
    for i, r in enumerate(rows):
        y = 5 + i * line
        p50, p95 = r["tool_p50_ms"] or 0, r["tool_p95_ms"] or 0
        name = escape(str(r["tool"] or "(none)"))
        out.append(
            f"<text x='0' y='{y + 15}'>{name} ({r['tool_calls']:,}, "
            f"{r['tool_errors']:,} errors)</text>"
            f"<rect class='bar2' x='300' y='{y + 4}' width='{max(p95 / slowest * 460, 1):.1f}' "
            f"height='14'><title>p95 {p95:,} ms</title></rect>"
            f"<rect class='bar' x='300' y='{y + 4}' width='{max(p50 / slowest * 460, 1):.1f}' "
            f"height='14'><title>p50 {p50:,} ms</title></rect>"
            f"<text x='780' y='{y + 15}'>p50 {p50:,} ms, p95 {p95:,} ms</text>"
        )
    h = line * len(rows) + 10
    return f"<svg viewBox='0 0 {w} {h}' role='img' aria-label='tool latency'>{''.join(out)}</svg>"
