"""`agent-cli report` behind its click command: flags -> query -> text (no click here).

`run` returns what goes to stdout and a line for stderr; a bad flag raises ConfigError.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from agent_cli import pipeline
from agent_cli.config import Settings
from agent_cli.errors import ConfigError
from agent_cli.report_query import make_query


def run(what: tuple[str, ...], flags: dict[str, Any], settings: Settings) -> tuple[str, str]:
    """Run a report as the command line asked; return (stdout text, stderr line)."""
    if what and (what[0] != "session" or len(what) != 2):
        raise ConfigError("report takes no argument but `session <id>`.")
    query = make_query(
        flags["by"], flags["since"], flags["until"], flags["timezone"], flags["agents"],
        flags["order"], flags["breakdown"],
    )  # fmt: skip
    settings = dataclasses.replace(settings, agents=query.agents)
    if what:
        from agent_cli.report_session import render_detail

        d = pipeline.report_session(settings, query, what[1])
        return (json.dumps(d, indent=2) if flags["as_json"] else render_detail(d)), ""
    from agent_cli.report_html import VIEWS, write_html

    html: Path | None = flags["html"]
    caught, result, views = pipeline.report(settings, query, views=VIEWS if html else None)
    note = ""
    if caught.report.llm_calls or caught.report.tool_calls:
        note = (f"read {caught.report.llm_calls:,} new calls and {caught.report.tool_calls:,} "
                "tool calls into the history (the next start ships them)")  # fmt: skip
    if html is not None:
        write_html(html, result, views)
        note = "; ".join(x for x in (note, f"wrote {html}") if x)
    if flags["as_json"]:
        return json.dumps(result.as_json(), indent=2), note
    if html is not None:
        return "", note
    from agent_cli.report_table import render_table

    return render_table(result), note
