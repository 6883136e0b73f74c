"""Lay out OpenCode sessions as OpenCode stores them: its SQLite database, or legacy JSON.

The tables follow OpenCode's drizzle schema (`packages/opencode/src/session/session.sql.ts`:
`message(id, session_id, time_created, time_updated, data)` with `data` the message without
`id`/`sessionID`; `part` likewise without `id`/`messageID`/`sessionID`). The legacy files
follow `storage/json-migration.ts`: `storage/session/<project>/<ses>.json`,
`storage/message/<ses>/<msg>.json`, `storage/part/<msg>/<prt>.json`. Input is the shape of
`opencode export` (`{info, messages: [{info, parts}]}`), whose records are the stored ones.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "opencode"

SCHEMA = """
CREATE TABLE IF NOT EXISTS project (id text PRIMARY KEY, worktree text NOT NULL,
  time_created integer NOT NULL, time_updated integer NOT NULL);
CREATE TABLE IF NOT EXISTS session (id text PRIMARY KEY, project_id text NOT NULL,
  workspace_id text, parent_id text, slug text NOT NULL, directory text NOT NULL, path text,
  title text NOT NULL, version text NOT NULL, share_url text, summary_additions integer,
  summary_deletions integer, summary_files integer, summary_diffs text, revert text,
  permission text, time_created integer NOT NULL, time_updated integer NOT NULL,
  time_compacting integer, time_archived integer);
CREATE INDEX IF NOT EXISTS session_parent_idx ON session (parent_id);
CREATE TABLE IF NOT EXISTS message (id text PRIMARY KEY, session_id text NOT NULL
  REFERENCES session(id) ON DELETE CASCADE, time_created integer NOT NULL,
  time_updated integer NOT NULL, data text NOT NULL);
CREATE INDEX IF NOT EXISTS message_session_time_created_id_idx
  ON message (session_id, time_created, id);
CREATE TABLE IF NOT EXISTS part (id text PRIMARY KEY, message_id text NOT NULL
  REFERENCES message(id) ON DELETE CASCADE, session_id text NOT NULL,
  time_created integer NOT NULL, time_updated integer NOT NULL, data text NOT NULL);
CREATE INDEX IF NOT EXISTS part_message_id_id_idx ON part (message_id, id);
"""


def load_export(name: str = "convo.json") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def open_db(path: Path) -> sqlite3.Connection:
    """Open (create) a database as OpenCode does: WAL, foreign keys on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA foreign_keys = ON")
    con.executescript(SCHEMA)
    return con


def _strip(d: dict[str, Any], *keys: str) -> str:
    return json.dumps({k: v for k, v in d.items() if k not in keys})


def put_session(con: sqlite3.Connection, info: dict[str, Any]) -> None:
    t = info.get("time", {})
    con.execute(
        "INSERT OR IGNORE INTO project VALUES (?, '/', ?, ?)",
        (info.get("projectID", "global"), t.get("created", 0), t.get("updated", 0)),
    )
    con.execute(
        "INSERT OR REPLACE INTO session (id, project_id, parent_id, slug, directory, title,"
        " version, time_created, time_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            info["id"], info.get("projectID", "global"), info.get("parentID"),
            info.get("slug", ""), info.get("directory", ""), info.get("title", ""),
            info.get("version", ""), t.get("created", 0), t.get("updated", 0),
        ),
    )  # fmt: skip


def put_message(con: sqlite3.Connection, info: dict[str, Any], updated: int | None = None) -> None:
    created = info["time"]["created"]
    stamp = updated if updated is not None else info["time"].get("completed", created)
    con.execute(
        "INSERT INTO message VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
        " data = excluded.data, time_updated = excluded.time_updated",
        (info["id"], info["sessionID"], created, stamp, _strip(info, "id", "sessionID")),
    )


def put_part(con: sqlite3.Connection, part: dict[str, Any], stamp: int) -> None:
    con.execute(
        "INSERT OR REPLACE INTO part VALUES (?, ?, ?, ?, ?, ?)",
        (
            part["id"], part["messageID"], part["sessionID"], stamp, stamp,
            _strip(part, "id", "messageID", "sessionID"),
        ),
    )  # fmt: skip


def write_db(path: Path, export: dict[str, Any]) -> None:
    """Write one exported session into the database at `path`."""
    con = open_db(path)
    with con:
        put_session(con, export["info"])
        for m in export["messages"]:
            put_message(con, m["info"])
            for p in m["parts"]:
                put_part(con, p, m["info"]["time"]["created"])
    con.close()


def write_legacy(data_dir: Path, export: dict[str, Any]) -> None:
    """Write one exported session as OpenCode's legacy JSON storage under `data_dir`."""
    st = data_dir / "storage"
    info = export["info"]
    sid = info["id"]
    (st / "session" / info.get("projectID", "global")).mkdir(parents=True, exist_ok=True)
    (st / "session" / info.get("projectID", "global") / f"{sid}.json").write_text(json.dumps(info))
    for m in export["messages"]:
        mi = m["info"]
        (st / "message" / sid).mkdir(parents=True, exist_ok=True)
        (st / "message" / sid / f"{mi['id']}.json").write_text(json.dumps(mi))
        for p in m["parts"]:
            (st / "part" / mi["id"]).mkdir(parents=True, exist_ok=True)
            (st / "part" / mi["id"] / f"{p['id']}.json").write_text(json.dumps(p))
