"""What the commands print: summaries and status as plain text (no click here)."""

from __future__ import annotations

import time
from typing import Any

from agent_cli.prepare import Report


def render_run(r: Any) -> str:
    """The stderr summary of `start`."""
    lines = [
        render_summary(r.report),
        f"delivered: {r.delivered}; quarantined: {r.quarantined}; left in spool: {r.left}",
    ]
    if r.left:
        why = f"{r.verdict}: {r.detail}" if r.detail else "waiting out an earlier pause"
        lines.append(
            f"not delivered yet ({why}); they stay in the spool and are sent by the next start."
        )
    elif r.exit_code and r.detail:
        lines.append(r.detail)
    return "\n".join(lines)


def render_status(s: dict[str, Any]) -> str:
    """Human-readable status, one fact per line."""
    if not s.get("initialized"):
        return f"state: {s['state_dir']}\nnothing spooled yet (run `agent-cli start`)"
    out = [f"state: {s['state_dir']}", f"endpoint: {s['endpoint']}", f"api key: {s['api_key']}"]
    if s.get("otlp_endpoint"):
        out.append(f"otlp endpoint: {s['otlp_endpoint']}")
    for agent, a in sorted(s["agents"].items()):
        out.append(f"{agent}: {a['files']} files tracked, {a['unread_bytes']:,} bytes not read")
    ob = s["outbox"]
    age = ob["oldest_age_seconds"]
    out.append(f"outbox: {ob['depth']} events" + (f", oldest {age:.0f} s" if age else ""))
    last = s["last_success_at"]
    out.append(
        "last delivery: "
        + (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last)) if last else "never")
    )
    p = s["pause"]
    if p:
        left = max(p["until"] - time.time(), 0)
        out.append(f"{p['reason']} ({p['detail']}); next try in {left:.0f} s")
    elif s["consecutive_failures"]:
        out.append(
            f"last attempts failed ({s['consecutive_failures']} in a row): "
            f"{s.get('last_error') or 'see the log'}"
        )
    if s.get("disk_full"):
        out.append(
            f"disk full: {s['disk_free_bytes'] / 1e6:.1f} MB free where the spool is; reading "
            "pauses until there is room (delivery goes on)"
        )
    rec = s.get("recovered")
    if rec:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(rec["at"]))
        out.append(
            f"recovered: the spool was damaged on {when} and kept as {rec['kept_as']}; "
            "the transcripts were read again"
        )
    sinks = s.get("sinks") or {}
    if len(sinks) > 1:  # one line per sink: one that is down does not hold back the others
        for name, k in sorted(sinks.items()):
            why = f", {k['pause']['reason']}" if k["pause"] else ""
            out.append(f"sink {name}: {k['depth']} events to send{why}")
    for key, title in (
        ("quarantine", "quarantined"),
        ("skipped", "lines skipped"),
        ("not_emitted", "not emitted"),
        ("worker_failures", "files a worker process lost (read by the main one)"),
    ):
        if s.get(key):
            out.append(f"{title}: " + _counts(s[key]))
    out.append("healthy: " + ("yes" if s["healthy"] else "no"))
    return "\n".join(out)


def render_summary(r: Report) -> str:
    """The short stderr summary of a scan."""
    t = r.tokens
    lines = [
        f"files: {r.files} found, {r.files_read} read, {r.bytes_read / 1e6:.1f} MB",
        f"llm calls: {r.llm_calls} ({r.error_calls} failed); tool calls: {r.tool_calls}",
        "tokens: "
        + ", ".join(
            f"{k.removesuffix('_tokens')} {t[k]:,}"
            for k in (
                "input_tokens",
                "output_tokens",
                "cache_read_tokens",
                "cache_creation_tokens",
                "cache_creation_1h_tokens",
                "reasoning_tokens",
            )
        ),
        f"estimated cost: ${r.cost_usd:,.2f}"
        + (f" ({r.unpriced_calls} calls of models without a price)" if r.unpriced_calls else ""),
    ]
    if r.files_by_agent:
        lines.append(
            "by agent: "
            + ", ".join(
                f"{a} {r.by_agent[a]} calls in {n} files"
                for a, n in sorted(r.files_by_agent.items())
            )
        )
    if r.unread:
        lines.append("found, not read: " + "; ".join(r.unread))
    if r.revisions:
        lines.append(f"revisions: {r.revisions} calls re-emitted with more usage")
    if r.not_emitted:
        lines.append("not emitted: " + _counts(r.not_emitted))
    if r.skipped:
        lines.append("lines skipped: " + _counts(r.skipped))
    if r.rereads:
        lines.append("read again from the start: " + _counts(r.rereads) + " (held back before)")
    if r.partial_lines:
        lines.append(f"partial last lines left until complete: {r.partial_lines}")
    if r.worker_failures:
        lines.append(
            "files a worker process lost, read by the main one: " + _counts(r.worker_failures)
        )
    return "\n".join(lines)


def _counts(c: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
