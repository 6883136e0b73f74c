"""`report session <id>`: one session's calls, cost, subagent tree, tools and errors.

A session is named by its id or a unique prefix of it. Its tree: the main agent, then each
subagent (Claude's agent ids in the same session) and each child session (a Codex subagent
or fork: `parent_session_id` is this session), each with its own sums.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

from agent_cli.errors import ConfigError
from agent_cli.history import LLM
from agent_cli.report import Acc, build, metrics
from agent_cli.report_query import Event, Query, load


def resolve(db: sqlite3.Connection, wanted: str) -> str:
    """The session id `wanted` names (itself, or the one session it is a prefix of)."""
    rows = db.execute(
        "SELECT DISTINCT n.s FROM hnames n JOIN history h ON h.session = n.id "
        "WHERE substr(n.s, 1, ?) = ? LIMIT 3",
        (len(wanted), wanted),
    ).fetchall()
    found: list[str] = sorted(str(r[0]) for r in rows)
    if wanted in found:
        return wanted
    if not found:
        raise ConfigError(f"No session {wanted!r} in the history (see `report --by session`).")
    if len(found) > 1:
        raise ConfigError(f"{wanted!r} names more than one session: give more of its id.")
    return found[0]


def detail(db: sqlite3.Connection, q: Query, wanted: str) -> dict[str, Any]:
    """The session's facts as a JSON-ready dict (docs/report.md)."""
    sid = resolve(db, wanted)
    everything = dataclasses.replace(q, since=None, until=None, agents=())
    events = load(db, everything, session=sid)
    own = [e for e in events if e.session == sid]
    first = own[0] if own else events[0]
    by_model = build(events, dataclasses.replace(everything, by=("model",), order="cost"))
    tools = build(events, dataclasses.replace(everything, by=("tool",), order="tools"))
    return {
        "session": sid,
        "agent": first.agent,
        "repo": first.repo,
        "branch": first.branch,
        "host": first.host,
        "user": first.user,
        "totals": metrics(by_model.totals),
        "models": by_model.row_dicts(),
        "tree": _tree(sid, events),
        "tools": tools.row_dicts(),
        "errors": metrics(by_model.totals)["errors"],
    }


def _tree(sid: str, events: list[Event]) -> dict[str, Any]:
    calls = {e.ekey: e for e in events if e.kind == LLM}
    nodes: dict[tuple[str | None, str | None], Acc] = {}
    for e in events:
        src = e if e.kind == LLM else calls.get(e.call_key or -1, e)
        sub = src.agent_id if src.is_subagent and src.agent_id else None
        node = (e.session, sub)
        acc = nodes.get(node)
        if acc is None:
            acc = nodes[node] = Acc()
        acc.add(e)

    def make(session: str | None, sub: str | None) -> dict[str, Any]:
        acc = nodes.get((session, sub), Acc())
        children = []
        if sub is None:
            subs = sorted(s for (ss, s) in nodes if ss == session and s is not None)
            children += [make(session, s) for s in subs]
            kids = sorted({ss for (ss, _) in nodes if ss not in (session, sid) and ss})
            children += [make(k, None) for k in kids] if session == sid else []
        return {"session": session, "subagent": sub, **metrics(acc), "children": children}

    return make(sid, None)


def render_detail(d: dict[str, Any]) -> str:
    """The detail as text for a terminal."""
    t = d["totals"]
    out = [
        f"session {d['session']} ({d['agent']})",
        f"repository: {d['repo'] or '-'}; branch: {d['branch'] or '-'}",
        f"from {t['first_at']} to {t['last_at']}",
        f"calls: {t['calls']:,}; tokens: {t['total_tokens']:,} (input {t['input_tokens']:,}, "
        f"output {t['output_tokens']:,}, cache read {t['cache_read_tokens']:,}, cache write "
        f"{t['cache_creation_tokens']:,}); cost: ${t['cost_usd']:,.4f}",
        "models:",
    ]
    out += [f"  {m['model'] or '(no model)'}: {m['calls']:,} calls, ${m['cost_usd']:,.4f}"
            for m in d["models"]]  # fmt: skip
    out.append("agents:")
    out += _tree_lines(d["tree"], 1)
    out.append("tools:" if d["tools"] else "tools: none")
    for r in d["tools"]:
        out.append(
            f"  {r['tool']}: {r['tool_calls']:,} calls, {r['tool_errors']:,} errors, "
            f"p50 {r['tool_p50_ms']} ms, p95 {r['tool_p95_ms']} ms"
        )
    errors = ", ".join(f"{k} {v}" for k, v in d["errors"].items()) or "none"
    out.append(f"errors: {errors}")
    return "\n".join(out)


def _tree_lines(node: dict[str, Any], depth: int) -> list[str]:
    name = f"subagent {node['subagent']}" if node["subagent"] else f"session {node['session']}"
    line = (f"{'  ' * depth}{name}: {node['calls']:,} calls, ${node['cost_usd']:,.4f}, "
            f"{node['tool_calls']:,} tool calls")  # fmt: skip
    return [line] + [x for c in node["children"] for x in _tree_lines(c, depth + 1)]
