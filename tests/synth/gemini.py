"""Gemini CLI: the generator (``GeminiGen``)."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import msgspec

from .common import (
    _ENC,
    AGENT_GEMINI,
    DAY_MS,
    PROJECTS,
    WINDOW_START_MS,
    GenBase,
    Sink,
    iso,
    write_file,
)

# --------------------------------------------------------------------------------------------
# Gemini CLI

GEMINI_MODELS = ["gemini-2.5-pro", "gemini-3-flash-preview"]
GEMINI_TOOLS = [
    ("read_file", "ReadFile", 30),
    ("run_shell_command", "Shell", 25),
    ("replace", "Edit", 12),
    ("write_file", "WriteFile", 8),
    ("list_directory", "ReadFolder", 8),
    ("glob", "FindFiles", 6),
    ("grep_search", "SearchText", 8),
    ("web_fetch", "WebFetch", 3),
]


class GeminiGen(GenBase):
    agent = AGENT_GEMINI

    def run(self) -> None:
        r = self.rng
        g_root = self.home / ".gemini"
        projects = list(range(len(PROJECTS)))
        r.shuffle(projects)
        projects = projects[:12]
        self.dirs: dict[int, str] = {}
        registry: dict[str, str] = {}
        for k, p in enumerate(projects):
            cwd = f"/home/dev/src/{PROJECTS[p]}"
            if k % 3 == 2:
                self.dirs[p] = hashlib.sha256(cwd.encode()).hexdigest()
            else:
                slug = PROJECTS[p].lower().replace(".", "-").replace("_", "-")
                self.dirs[p] = slug
                registry[cwd] = slug
                write_file(
                    self.truth,
                    g_root / "tmp" / slug / ".project_root",
                    AGENT_GEMINI,
                    cwd.encode(),
                    WINDOW_START_MS,
                )
                self.truth.note("gemini.project_root_marker")
        write_file(
            self.truth,
            g_root / "projects.json",
            AGENT_GEMINI,
            json.dumps({"projects": registry}, indent=2).encode(),
            WINDOW_START_MS,
        )
        self.projects = projects
        kinds = ["twin", "jsonl", "json"]
        self.ct.huge_p = 0.0004
        n_sessions = max(5, int(800 * (self.budget / (1 << 30)) ** 0.65))
        mean = max(3000, self.budget / n_sessions)
        written = 0
        i = 0
        while i < len(kinds) or written < self.budget:
            kind = (
                kinds[i]
                if i < len(kinds)
                else r.choices(["json", "jsonl", "twin"], [35, 55, 10])[0]
            )
            target = int(mean * r.lognormvariate(0, 0.9) / 1.5)
            t0 = self.midnight_ms() if (i == 1 or r.random() < 0.04) else self.start_ms()
            written += self.session(kind, r.choice(projects), t0, max(2000, target))
            i += 1

    # messages ------------------------------------------------------------------------------
    def user_msg(self, t: int, old: bool) -> dict[str, Any]:
        ct = self.ct
        text = ct.prose(ct.n(300, 1.0, 10, 8000))
        return {
            "id": self.uid(),
            "timestamp": iso(t),
            "type": "user",
            "content": text if old else [{"text": text}],
        }

    def gemini_msg(
        self, t: int, st: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """(record with tokens, record with tool calls or None). Records the call in the truth."""
        r = self.rng
        ct = self.ct
        model = st["model"]
        if r.random() < 0.1:
            model = st["model"] = r.choice(GEMINI_MODELS)
        thoughts = [
            {
                "subject": ct.words(r.randint(2, 5)),
                "description": ct.prose(ct.n(400, 0.8, 20, 3000)),
                "timestamp": iso(t - r.randint(100, 3000)),
            }
            for _ in range(r.choices([0, 1, 2, 3], [25, 40, 25, 10])[0])
        ]
        content = ct.prose(ct.n(500, 1.0, 10, 10000))
        inp = st["ctx"] + r.randint(100, 2000)
        cached = 0 if st["first"] else int(st["ctx"] * r.uniform(0.6, 0.98))
        st["first"] = False
        out = max(5, len(content) // 4 + r.randint(0, 100))
        th = sum(len(x["description"]) for x in thoughts) // 4 + (
            r.randint(0, 400) if thoughts else 0
        )
        tool = r.randint(40, 900) if r.random() < 0.12 else 0
        tokens = {
            "input": inp,
            "output": out,
            "cached": cached,
            "thoughts": th,
            "tool": tool,
            "total": inp + out + th + tool,
        }
        st["ctx"] = inp + out
        base = {
            "id": self.uid(),
            "timestamp": iso(t),
            "type": "gemini",
            "content": content,
            "thoughts": thoughts,
            "tokens": tokens,
            "model": model,
        }
        self.truth.add_call(
            AGENT_GEMINI,
            model,
            t,
            input_tokens=inp - cached + tool,
            output_tokens=out + th,
            cache_read=cached,
            reasoning=th,
        )
        if tool:
            self.truth.note("gemini.tool_prompt_tokens")
        ncalls = (
            r.choices([0, 1], [45, 55])[0]
            if self.small
            else r.choices([0, 1, 2, 3], [35, 45, 15, 5])[0]
        )
        if not ncalls:
            return base, None
        calls = []
        for k in range(ncalls):
            name, disp, _w = r.choices(GEMINI_TOOLS, [w for _, _, w in GEMINI_TOOLS])[0]
            cid = f"{name}_{t}_{k}"
            if name == "run_shell_command":
                args: dict[str, Any] = {
                    "command": ct.c(f"npm test -- {ct.rel_path()}"),
                    "description": ct.words(5),
                }
            elif name in ("read_file", "write_file", "replace"):
                args = {"file_path": ct.rel_path()}
                if name == "write_file":
                    args["content"] = ct.code(ct.n(2000, 1.0, 20, 20000))
                if name == "replace":
                    args.update(
                        old_string=ct.code(ct.n(200, 0.8, 5, 2000)),
                        new_string=ct.code(ct.n(200, 0.8, 5, 2000)),
                    )
            else:
                args = {"pattern": ct.c(ct.word()), "dir_path": ct.c(".")}
            err = r.random() < 0.08
            if err:
                resp: dict[str, Any] = {"error": ct.c(f"File not found: {ct.rel_path()}")}
                disp_txt: Any = ct.c("File not found.")
            else:
                resp = {
                    "output": ct.code(
                        ct.tool_output_len() if r.random() < 0.3 else ct.n(1500, 1.0, 10, 20000)
                    )
                }
                disp_txt = (
                    ct.c(f"Read {r.randint(1, 900)} lines")
                    if r.random() < 0.7
                    else {"summary": ct.c("Found 1 item(s).")}
                )
            calls.append(
                {
                    "id": cid,
                    "name": name,
                    "args": args,
                    "result": [{"functionResponse": {"id": cid, "name": name, "response": resp}}],
                    "status": "error" if err else "success",
                    "timestamp": iso(t + r.randint(5, 2000)),
                    "resultDisplay": disp_txt,
                    "description": ct.words(3),
                    "displayName": disp,
                    "renderOutputAsMarkdown": True,
                }
            )
            self.truth.add_tool(AGENT_GEMINI, name, err)
            st["ctx"] += min(20000, len(msgspec.json.encode(resp)) // 4)
        full = dict(base)
        full["toolCalls"] = calls
        return base, full

    def conversation(
        self, t: int, st: dict[str, Any], target: int, old: bool, min_msgs: int = 2
    ) -> tuple[list[tuple[dict[str, Any], dict[str, Any] | None]], int]:
        """A list of (first record, final record or None) pairs."""
        r = self.rng
        msgs: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        size = 0
        while size < target or len(msgs) < min_msgs:
            t += r.randint(20_000, 900_000)
            u = self.user_msg(t, old)
            msgs.append((u, None))
            size += len(msgspec.json.encode(u))
            for _ in range(
                r.choices([1, 2], [60, 40])[0]
                if self.small
                else r.choices([1, 2, 3, 5], [25, 35, 25, 15])[0]
            ):
                t += r.randint(2000, 40_000)
                first, full = self.gemini_msg(t, st)
                msgs.append((first, full))
                size += len(msgspec.json.encode(full or first)) + (
                    len(msgspec.json.encode(first)) if full else 0
                )
            if r.random() < 0.05:
                t += 1000
                info = {
                    "id": self.uid(),
                    "timestamp": iso(t),
                    "type": "info",
                    "content": self.ct.c("Request cancelled."),
                }
                msgs.append((info, None))
                self.truth.note("gemini.info_message")
        return msgs, t

    def session(self, kind: str, p: int, t0: int, target: int) -> int:
        r = self.rng
        sid = self.uid()
        cwd = f"/home/dev/src/{PROJECTS[p]}"
        phash = hashlib.sha256(cwd.encode()).hexdigest()
        chats = self.home / ".gemini" / "tmp" / self.dirs[p] / "chats"
        stem = "session-" + time.strftime("%Y-%m-%dT%H-%M", time.gmtime(t0 // 1000)) + "-" + sid[:8]
        st = {"ctx": r.randint(7000, 12000), "first": True, "model": r.choice(GEMINI_MODELS)}
        written = 0
        if kind in ("json", "twin"):
            tgt = target if kind == "json" else target // 2
            msgs, t = self.conversation(t0, st, tgt, old=r.random() < 0.5)
            final = [full or first for first, full in msgs]
            conv: dict[str, Any] = {
                "sessionId": sid,
                "projectHash": phash,
                "startTime": iso(t0),
                "lastUpdated": iso(t),
                "messages": final,
            }
            if r.random() < 0.5:
                conv["kind"] = "main"
            if r.random() < 0.3:
                conv["summary"] = self.ct.words(r.randint(4, 10))
            data = msgspec.json.format(_ENC.encode(conv), indent=2)
            write_file(self.truth, chats / f"{stem}.json", AGENT_GEMINI, data, t)
            written += len(data)
            self.truth.note("gemini.json_session")
            if kind == "json":
                return written
            # resumed: the .jsonl twin copies all the .json messages, then continues
            sink = Sink(self.truth, chats / f"{stem}.jsonl", AGENT_GEMINI)
            sink.line(
                {
                    "sessionId": sid,
                    "projectHash": phash,
                    "startTime": iso(t0),
                    "lastUpdated": iso(t),
                    "kind": "main",
                }
            )
            for m in final:
                sink.line(m)
            sink.line({"$set": {"lastUpdated": iso(t)}})
            self.truth.note("gemini.twin_jsonl")
            self.truth.note("gemini.twin_copied_messages", len(final))
            t += r.randint(3_600_000, 3 * DAY_MS)
            more, t = self.conversation(t, st, target - tgt, old=False, min_msgs=2)
            self.jsonl_records(sink, more)
            sink.close(t)
            return written + sink.size
        sink = Sink(self.truth, chats / f"{stem}.jsonl", AGENT_GEMINI)
        sink.line(
            {
                "sessionId": sid,
                "projectHash": phash,
                "startTime": iso(t0),
                "lastUpdated": iso(t0),
                "kind": "main",
            }
        )
        msgs, t = self.conversation(t0, st, target, old=False)
        self.jsonl_records(sink, msgs)
        sink.close(t)
        self.truth.note("gemini.jsonl_session")
        return sink.size

    def jsonl_records(
        self, sink: Sink, msgs: list[tuple[dict[str, Any], dict[str, Any] | None]]
    ) -> None:
        for first, full in msgs:
            sink.line(first)
            sink.line({"$set": {"lastUpdated": first["timestamp"]}})
            if full is not None:
                sink.line(full)
                sink.line({"$set": {"lastUpdated": first["timestamp"]}})
                self.truth.note("gemini.reappended_message")
