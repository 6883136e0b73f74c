"""OpenCode: the generator (``OpenCodeGen``), a database plus legacy JSON, and its truth.

Writes ``~/.local/share/opencode/opencode.db`` (OpenCode's schema, WAL) and, for some
sessions, the legacy ``storage/`` tree too (the same ids: counted once), a few sessions only
in the legacy tree, subagent sessions (``parentID``), forks (copies with new ids and the
original ``time.created``: not counted), retry parts (one error call each), API errors with
no usage, an open message still being written (not counted), and a message in the older
accounting whose ``total`` leaves reasoning out (its output already holds it).

Truth, per counted call: ``input_tokens`` = ``tokens.input``; ``output_tokens`` = ``output +
reasoning`` (``output`` alone for the older accounting); ``reasoning_tokens``; cache read and
write; keyed by ``time.created``'s UTC day and ``modelID``. Tools: finished tool parts of
counted messages (``status: "error"`` is an error).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.opencode_store import SCHEMA

from .common import PROJECTS, GenBase, write_file

AGENT_OPENCODE = "opencode"
MODELS = [
    ("anthropic", "claude-sonnet-4-5"),
    ("openai", "gpt-5.1-codex"),
    ("opencode", "big-pickle"),
]
TOOLS = [("read", 30), ("bash", 25), ("edit", 15), ("grep", 10), ("glob", 8), ("write", 7),
         ("task", 3), ("webfetch", 2)]  # fmt: skip


class OpenCodeGen(GenBase):
    agent = AGENT_OPENCODE

    def run(self) -> None:
        self.data = self.home / ".local" / "share" / "opencode"
        self.data.mkdir(parents=True, exist_ok=True)
        db = self.data / "opencode.db"
        self.con = sqlite3.connect(db, isolation_level=None)
        self.con.execute("PRAGMA journal_mode = WAL")
        self.con.executescript(SCHEMA)
        self.counter = 0
        written, i = 0, 0
        n_min = 9  # every pattern at least once, however small the budget
        while i < n_min or written < self.budget:
            written += self.session(i, self.start_ms())
            i += 1
        self.con.close()
        self.truth.add_file(AGENT_OPENCODE, db.stat().st_size)

    # ids (OpenCode's Identifier: 48 bits of ms * 4096 + counter, then 14 base62) ---------
    def oid(self, prefix: str, ms: int) -> str:
        self.counter = (self.counter + 1) % 4096
        v = ((ms * 4096) + self.counter) & ((1 << 48) - 1)
        return f"{prefix}_{v:012x}{self.alnum(14)}"

    # one session ---------------------------------------------------------------------------
    def session(self, i: int, t0: int, parent: str | None = None) -> int:
        r, ct = self.rng, self.ct
        sid = "ses_" + self.hexs(12) + self.alnum(14)
        cwd = f"/home/dev/src/{r.choice(PROJECTS)}"
        info = {"id": sid, "projectID": "global", "slug": ct.word(), "directory": cwd,
                "title": ct.words(4), "version": r.choice(["1.14.41", "1.2.3", "0.15.8"]),
                "time": {"created": t0, "updated": t0}}  # fmt: skip
        if parent:
            info["parentID"] = parent
        provider, model = r.choice(MODELS)
        msgs: list[dict[str, Any]] = []
        t = t0
        for _turn in range(r.randint(1, 4) if not self.small else 2):
            user = {"id": self.oid("msg", t), "sessionID": sid, "role": "user",
                    "time": {"created": t}, "agent": "build",
                    "model": {"providerID": provider, "modelID": model},
                    "summary": {"title": ct.words(3), "diffs": []}}  # fmt: skip
            msgs.append({"info": user, "parts": [self.text(user, t, ct.prose(ct.n(300)))]})
            for step in range(r.randint(1, 5)):
                t += r.randint(500, 20_000)
                msgs.append(self.assistant(sid, user, t, provider, model, cwd, parent, i, step))
                t = msgs[-1]["info"]["time"].get("completed", t) + r.randint(100, 3000)
            t += r.randint(5_000, 600_000)
        where = "both" if i % 3 == 0 else ("legacy" if i % 7 == 3 else "db")
        if i in (1, 2):
            where = ("legacy", "both")[i - 1]
        size = self.store(info, msgs, where)
        if i % 5 == 1 and not parent:  # a subagent's own session
            size += self.session(i + 1000, t0 + 1000, parent=sid)
        if i % 4 == 2 and not parent:  # a fork: copies, never counted
            self.fork(info, msgs, t + 3_600_000)
            self.truth.note(
                "opencode.fork_copy", sum(m["info"]["role"] == "assistant" for m in msgs)
            )
        return size

    def text(self, msg: dict[str, Any], t: int, text: str) -> dict[str, Any]:
        return {"id": self.oid("prt", t), "sessionID": msg["sessionID"], "messageID": msg["id"],
                "type": "text", "text": text, "time": {"start": t, "end": t + 5}}  # fmt: skip

    def assistant(self, sid: str, user: dict[str, Any], t: int, provider: str, model: str,
                  cwd: str, parent: str | None, i: int, step: int) -> dict[str, Any]:  # fmt: skip
        r, ct = self.rng, self.ct
        inp, out, rea = (
            r.randint(20, 3000),
            r.randint(10, 2000),
            r.choice([0, 0, r.randint(5, 900)]),
        )
        cr, cw = r.choice([0, r.randint(1000, 90_000)]), r.choice([0, 0, r.randint(100, 5000)])
        kind = self.kind(i, step)
        if kind == "multi_step":
            return self.multi_step(sid, user, t, provider, model, cwd, parent)
        m: dict[str, Any] = {
            "id": self.oid("msg", t), "sessionID": sid, "role": "assistant", "parentID": user["id"],
            "modelID": model, "providerID": provider, "mode": "build",
            "agent": "explore" if parent else "build", "path": {"cwd": cwd, "root": cwd},
            "cost": round(r.random() * 0.05, 6) if provider != "opencode" else 0,
            "tokens": {"total": inp + out + rea + cr + cw, "input": inp, "output": out,
                       "reasoning": rea, "cache": {"read": cr, "write": cw}},
            "time": {"created": t, "completed": t + r.randint(800, 40_000)}, "finish": "tool-calls",
        }  # fmt: skip
        parts = [self.text(m, t + 1, ct.prose(ct.n(200)))]
        if kind == "open":  # still being written: no usage yet, not counted
            m["tokens"] = {
                "input": 0,
                "output": 0,
                "reasoning": 0,
                "cache": {"read": 0, "write": 0},
            }
            del m["time"]["completed"], m["finish"]
            self.truth.note("opencode.open_message")
            return {"info": m, "parts": parts}
        if kind == "api_error":
            m["tokens"] = {
                "input": 0,
                "output": 0,
                "reasoning": 0,
                "cache": {"read": 0, "write": 0},
            }
            m["error"] = {"name": "APIError", "data": {"message": ct.prose(40), "statusCode": 429,
                                                       "isRetryable": True}}  # fmt: skip
            del m["time"]["completed"]
            inp = out = rea = cr = cw = 0
        if kind == "old_accounting":  # total leaves reasoning out: output holds it
            rea = max(rea, 50)
            m["tokens"].update(reasoning=rea, total=inp + out + cr + cw)
        output = out if kind == "old_accounting" else out + rea
        self.truth.add_call(AGENT_OPENCODE, model, t, input_tokens=inp, output_tokens=output,
                            cache_read=cr, cache_creation=cw, reasoning=rea,
                            error=kind == "api_error")  # fmt: skip
        if kind == "retry":
            parts.append({"id": self.oid("prt", t + 2), "sessionID": sid, "messageID": m["id"],
                          "type": "retry", "attempt": 1,
                          "error": {"name": "APIError", "data": {"message": ct.prose(30),
                                    "statusCode": 529, "isRetryable": True}},
                          "time": {"created": t + 2}})  # fmt: skip
            self.truth.add_call(AGENT_OPENCODE, model, t + 2, error=True)
        if kind != "api_error":
            for k in range(r.choice([0, 1, 1, 2, 3])):
                parts.append(self.tool(m, t + 10 + k))
            if r.random() < 0.85:  # current builds write one; the oldest wrote none
                parts.append(self.finish(m, m["time"]["completed"] - 1, m["tokens"], m["cost"]))
        return {"info": m, "parts": parts}

    def finish(
        self, m: dict[str, Any], t: int, tokens: dict[str, Any], cost: float
    ) -> dict[str, Any]:
        pid = self.oid("prt", t)
        return {"id": pid, "sessionID": m["sessionID"], "messageID": m["id"], "cost": cost,
                "type": "step-finish", "reason": "tool-calls", "tokens": tokens}  # fmt: skip

    def multi_step(self, sid: str, user: dict[str, Any], t: int, provider: str, model: str,
                   cwd: str, parent: str | None) -> dict[str, Any]:  # fmt: skip
        """An older build's message of several steps: tokens = the last step's, cost = sum."""
        r = self.rng
        m: dict[str, Any] = {
            "id": self.oid("msg", t), "sessionID": sid, "role": "assistant", "parentID": user["id"],
            "modelID": model, "providerID": provider, "mode": "build",
            "agent": "explore" if parent else "build", "path": {"cwd": cwd, "root": cwd},
            "cost": 0.0, "time": {"created": t}, "finish": "stop",
        }  # fmt: skip
        parts: list[dict[str, Any]] = []
        start = t
        for _ in range(r.randint(2, 4)):
            inp, out, rea = (
                r.randint(20, 3000),
                r.randint(10, 2000),
                r.choice([0, r.randint(5, 900)]),
            )
            cr = r.choice([0, r.randint(1000, 90_000)])
            tokens = {"total": inp + out + rea + cr, "input": inp, "output": out,
                      "reasoning": rea, "cache": {"read": cr, "write": 0}}  # fmt: skip
            cost = round(r.random() * 0.02, 6) if provider != "opencode" else 0
            self.truth.add_call(AGENT_OPENCODE, model, start, input_tokens=inp,
                                output_tokens=out + rea, cache_read=cr, reasoning=rea)  # fmt: skip
            parts.append(self.tool(m, start + 5))
            end = start + r.randint(500, 20_000)
            parts.append(self.finish(m, end, tokens, cost))
            m["tokens"], m["cost"] = tokens, round(m["cost"] + cost, 6)
            start = end
        m["time"]["completed"] = start + 3
        self.truth.note("opencode.multi_step_message")
        return {"info": m, "parts": parts}

    def kind(self, i: int, step: int) -> str:
        if step == 0 and i in (3, 4, 5, 6, 7):
            return ("open", "api_error", "old_accounting", "retry", "multi_step")[i - 3]
        kinds = ["call", "retry", "api_error", "old_accounting", "multi_step"]
        return self.rng.choices(kinds, [92, 2, 2, 2, 2])[0]

    def tool(self, m: dict[str, Any], t: int) -> dict[str, Any]:
        r, ct = self.rng, self.ct
        name = r.choices([n for n, _ in TOOLS], [w for _, w in TOOLS])[0]
        failed = r.random() < 0.08
        end = t + r.randint(1, 9000)
        state: dict[str, Any] = {"status": "error" if failed else "completed",
                                 "input": {"filePath": ct.path(m["path"]["cwd"])},
                                 "time": {"start": t, "end": end}}  # fmt: skip
        if failed:
            state["error"] = ct.prose(60)
        else:
            state.update(output=ct.code(ct.n(800)), title=ct.words(3), metadata={})
        self.truth.add_tool(AGENT_OPENCODE, name, failed)
        call = "call_" + self.alnum(24)
        return {"id": self.oid("prt", t), "sessionID": m["sessionID"], "messageID": m["id"],
                "type": "tool", "callID": call, "tool": name, "state": state}  # fmt: skip

    # storage -------------------------------------------------------------------------------
    def store(self, info: dict[str, Any], msgs: list[dict[str, Any]], where: str) -> int:
        size = 0
        if where in ("db", "both"):
            size += self.put_db(info, msgs)
        if where in ("legacy", "both"):
            size += self.put_legacy(info, msgs)
        self.truth.note(f"opencode.session_{where}")
        return size

    def put_db(self, info: dict[str, Any], msgs: list[dict[str, Any]]) -> int:
        c, t = self.con, info["time"]
        size = 0
        with c:
            c.execute("INSERT OR IGNORE INTO project VALUES ('global', '/', 0, 0)")
            c.execute("INSERT INTO session (id, project_id, parent_id, slug, directory, title,"
                      " version, time_created, time_updated) VALUES (?,?,?,?,?,?,?,?,?)",
                      (info["id"], "global", info.get("parentID"), info["slug"], info["directory"],
                       info["title"], info["version"], t["created"], t["updated"]))  # fmt: skip
            for m in msgs:
                i = m["info"]
                data = json.dumps({k: v for k, v in i.items() if k not in ("id", "sessionID")})
                stamp = i["time"].get("completed", i["time"]["created"])
                c.execute("INSERT INTO message VALUES (?,?,?,?,?)",
                          (i["id"], i["sessionID"], i["time"]["created"], stamp, data))  # fmt: skip
                size += len(data)
                for p in m["parts"]:
                    pd = json.dumps({k: v for k, v in p.items()
                                     if k not in ("id", "messageID", "sessionID")})  # fmt: skip
                    c.execute("INSERT INTO part VALUES (?,?,?,?,?,?)",
                              (p["id"], i["id"], i["sessionID"], stamp, stamp, pd))  # fmt: skip
                    size += len(pd)
        return size

    def put_legacy(self, info: dict[str, Any], msgs: list[dict[str, Any]]) -> int:
        st = self.data / "storage"
        sid = info["id"]
        size = 0
        for path, obj in [(st / "session" / "global" / f"{sid}.json", info)] + [
            (st / "message" / sid / f"{m['info']['id']}.json", m["info"]) for m in msgs
        ] + [
            (st / "part" / m["info"]["id"] / f"{p['id']}.json", p) for m in msgs for p in m["parts"]
        ]:  # fmt: skip
            data = json.dumps(obj, indent=2).encode()
            write_file(self.truth, Path(path), AGENT_OPENCODE, data, None)
            size += len(data)
        return size

    def fork(self, info: dict[str, Any], msgs: list[dict[str, Any]], at: int) -> None:
        """OpenCode's Session.fork: same records, new ids made now, remapped parents."""
        new = dict(
            info, id="ses_" + self.hexs(12) + self.alnum(14), title=info["title"] + " (fork #1)"
        )
        new.pop("parentID", None)
        ids: dict[str, str] = {}
        copies = []
        for m in msgs:
            i = dict(m["info"], id=self.oid("msg", at), sessionID=new["id"])
            ids[m["info"]["id"]] = i["id"]
            if i["role"] == "assistant":
                i["parentID"] = ids.get(i["parentID"], i["parentID"])
            parts = [dict(p, id=self.oid("prt", at), messageID=i["id"], sessionID=new["id"])
                     for p in m["parts"]]  # fmt: skip
            copies.append({"info": i, "parts": parts})
        self.put_db(new, copies)
