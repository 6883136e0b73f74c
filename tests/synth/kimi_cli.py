"""Kimi CLI: the generator (``KimiGen``), not wired into ``generate`` (see ``generate_kimi``).

A share folder ``.kimi`` with ``config.toml`` (the model), ``kimi.json`` (the work dirs) and
``sessions/<md5>/<uuid>/wire.jsonl``: turns of steps, each ending in a ``StatusUpdate`` with
``token_usage``; ``StepRetry`` attempts (error calls, no tokens); tools answered by
``ToolResult``; subagents with their own file and their steps copied into the parent as
``SubagentEvent``; ``/fork`` copies of a session's first turns. Truth: one call per step
(copies not again), a retry is an error call, the model is the config's (the subagent's
alias for its steps).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .common import PROJECTS, GenBase, Pools, Sink, Truth, write_file

AGENT_KIMI = "kimi-cli"
MAIN_MODEL = "kimi-for-coding"
SUB_MODEL = "kimi-k2-turbo-preview"
KIMI_TOOLS = [("ReadFile", 40), ("Shell", 30), ("StrReplaceFile", 15), ("Grep", 10), ("Glob", 5)]
CONFIG = """default_model = "kimi-code/kimi-for-coding"

[models."kimi-code/kimi-for-coding"]
provider = "managed:kimi-code"
model = "kimi-for-coding"
max_context_size = 262144

[models.turbo]
provider = "moonshot"
model = "kimi-k2-turbo-preview"
max_context_size = 262144

[providers."managed:kimi-code"]
type = "kimi"
base_url = "https://api.kimi.com/coding/v1"
api_key = "sk-synthetic"

[providers.moonshot]
type = "kimi"
base_url = "https://api.moonshot.ai/v1"
api_key = "sk-synthetic"
"""


def rec(t: int, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"timestamp": t / 1000, "message": {"type": kind, "payload": payload}}


class KimiGen(GenBase):
    agent = AGENT_KIMI

    def run(self) -> None:
        r = self.rng
        share = self.home / ".kimi"
        write_file(self.truth, share / "config.toml", AGENT_KIMI, CONFIG.encode(), None)
        dirs = [f"/home/dev/src/{p}" for p in r.sample(PROJECTS, 6)]
        meta = {"work_dirs": [{"path": d, "kaos": "local", "last_session_id": None} for d in dirs]}
        write_file(self.truth, share / "kimi.json", AGENT_KIMI, json.dumps(meta).encode(), None)
        n_sessions = max(4, int(300 * (self.budget / (1 << 30)) ** 0.65))
        mean = max(3000, self.budget / n_sessions)
        written, i = 0, 0
        while i < 4 or written < self.budget:
            wd = hashlib.md5(r.choice(dirs).encode(), usedforsecurity=False).hexdigest()
            folder = share / "sessions" / wd
            written += self.session(folder, self.start_ms(), int(mean * r.uniform(0.4, 1.6)), i)
            i += 1

    def status(self, t: int, model: str, st: dict[str, Any], truth: bool = True) -> dict[str, Any]:
        r = self.rng
        other, out = r.randint(20, 3000), r.randint(10, 1500)
        read = 0 if st["first"] else r.randint(1000, 50000)
        st["first"] = False
        if truth:
            self.truth.add_call(
                AGENT_KIMI, model, t, input_tokens=other, output_tokens=out, cache_read=read
            )
        return rec(t, "StatusUpdate", {
            "context_usage": 0.05, "context_tokens": other + read, "max_context_tokens": 262144,
            "token_usage": {"input_other": other, "output": out, "input_cache_read": read,
                            "input_cache_creation": 0},
            "message_id": "chatcmpl-" + self.alnum(24), "plan_mode": False})  # fmt: skip

    def step(self, sink: Sink, t: int, n: int, st: dict[str, Any]) -> tuple[int, bool]:
        """One step of the main agent; returns the time after it and whether it used tools."""
        r, ct = self.rng, self.ct
        sink.line(rec(t, "StepBegin", {"n": n}))
        if r.random() < 0.05:
            t += r.randint(500, 5000)
            code = r.choice([429, 500, 529])
            sink.line(rec(t, "StepRetry", {
                "n": n, "next_attempt": 2, "max_attempts": 3, "wait_s": 0.5,
                "error_type": "APIStatusError", "status_code": code}))  # fmt: skip
            self.truth.add_call(AGENT_KIMI, MAIN_MODEL, t, error=True)
        t += r.randint(300, 3000)
        sink.line(
            rec(
                t, "ContentPart", {"type": "think", "think": ct.prose(ct.n(200)), "encrypted": None}
            )
        )
        sink.line(rec(t + 10, "ContentPart", {"type": "text", "text": ct.prose(ct.n(300))}))
        tools = []
        if r.random() < 0.6:
            for _ in range(r.choice([1, 1, 2])):
                name = r.choices([n for n, _ in KIMI_TOOLS], [w for _, w in KIMI_TOOLS])[0]
                cid = "tool_" + self.alnum(20)
                tools.append((cid, name))
                args = json.dumps({"path": ct.rel_path()})
                fn = {"name": name, "arguments": args}
                call = {"type": "function", "id": cid, "function": fn, "extras": None}
                sink.line(rec(t + 20, "ToolCall", call))
        t += r.randint(500, 20000)
        sink.line(self.status(t, MAIN_MODEL, st))
        for cid, name in tools:
            t += r.randint(5, 3000)
            err = r.random() < 0.1
            sink.line(rec(t, "ToolResult", {"tool_call_id": cid, "return_value": {
                "is_error": err, "output": ct.code(ct.n(400)), "message": ct.c("done"),
                "display": [], "extras": None}}))  # fmt: skip
            self.truth.add_tool(AGENT_KIMI, name, err)
        return t, bool(tools)

    def session(self, folder: Path, t: int, target: int, i: int) -> int:
        r, ct = self.rng, self.ct
        sid = self.uid()
        sdir = folder / sid
        sink = Sink(self.truth, sdir / "wire.jsonl", AGENT_KIMI, keep=True)
        sink.line({"type": "metadata", "protocol_version": "1.10"})
        st: dict[str, Any] = {"first": True}
        turns: list[int] = []  # line counts at each turn's end (fork points)
        sub_done = False
        while sink.size < target or not turns:
            t += r.randint(5000, 300000)
            sink.line(rec(t, "TurnBegin", {"user_input": ct.prose(ct.n(200))}))
            n = 1
            while True:
                t, more = self.step(sink, t + 10, n, st)
                n += 1
                if not more or n > 5:
                    break
            if not sub_done and r.random() < 0.3:
                t = self.subagent(sink, sdir, t)
                sub_done = True
            sink.line(rec(t + 5, "TurnEnd", {}))
            t += 5
            assert sink.kept is not None
            turns.append(len(sink.kept))
        kept = list(sink.kept or [])
        sink.close(t)
        size = sink.size
        if i % 3 == 1 and kept:
            size += self.fork(folder, kept[: turns[0]], t)
        return size

    def subagent(self, sink: Sink, sdir: Path, t: int) -> int:
        """A subagent: its own file, and its steps copied into the parent's file."""
        r = self.rng
        aid = "a" + self.hexs(7)
        adir = sdir / "subagents" / aid
        spec = {"agent_id": aid, "subagent_type": "coder", "model_override": None,
                "effective_model": "turbo", "created_at": t / 1000}  # fmt: skip
        meta = {"agent_id": aid, "subagent_type": "coder", "status": "idle",
                "description": self.ct.prose(40), "created_at": t / 1000,
                "updated_at": t / 1000, "last_task_id": None, "launch_spec": spec}  # fmt: skip
        write_file(self.truth, adir / "meta.json", AGENT_KIMI, json.dumps(meta).encode(), None)
        own = Sink(self.truth, adir / "wire.jsonl", AGENT_KIMI)
        own.line({"type": "metadata", "protocol_version": "1.10"})
        own.line(rec(t, "TurnBegin", {"user_input": self.ct.prose(60)}))
        st: dict[str, Any] = {"first": True}
        for n in range(1, r.randint(2, 4)):
            own.line(rec(t + 1, "StepBegin", {"n": n}))
            t += r.randint(500, 8000)
            s = self.status(t, SUB_MODEL, st)
            own.line(s)
            sink.line(rec(t + 3, "SubagentEvent", {
                "parent_tool_call_id": "tool_agent", "agent_id": aid, "subagent_type": "coder",
                "event": s["message"]}))  # fmt: skip
        own.line(rec(t + 5, "TurnEnd", {}))
        own.close(t + 5)
        self.truth.note("kimi.subagent")
        return t + 10

    def fork(self, folder: Path, lines: list[bytes], t: int) -> int:
        """/fork of the first turn: its lines verbatim in a new session, then a new turn."""
        t += self.rng.randint(60000, 600000)
        sink = Sink(self.truth, folder / self.uid() / "wire.jsonl", AGENT_KIMI)
        for b in lines:
            sink.raw(b)
        sink.line(rec(t, "TurnBegin", {"user_input": self.ct.prose(50)}))
        t, _ = self.step(sink, t + 10, 1, {"first": False})
        sink.line(rec(t + 5, "TurnEnd", {}))
        self.truth.note("kimi.fork")
        sink.close(t + 3_600_000)  # read after its source (sessions sort by mtime)
        return sink.size


def generate_kimi(home: Path, budget: int, seed: int = 1, canary: str | None = None) -> Truth:
    """Write a Kimi CLI history of about ``budget`` bytes under ``home``; return its truth."""
    truth = Truth()
    KimiGen(home, budget, seed, canary, truth, Pools(seed), 0.05, False).run()
    return truth
