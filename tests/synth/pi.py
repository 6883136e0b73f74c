"""pi: the generator (``PiGen``), not wired into ``generate`` (see ``generate_pi``).

Sessions under ``.pi/agent/sessions/--<cwd>--/<ts>_<uuid>.jsonl``: a header, model changes,
user turns, assistant calls with pi's usage and cost, tool calls answered by ``toolResult``
messages, API errors (``stopReason: "error"``, no tokens), aborted calls, ``/tree`` branches
inside a file, and ``createBranchedSession`` copies (the path copied verbatim into a new file,
then new calls). Truth: one call per assistant entry, copies not again; the Google adapters'
old records (cache inside ``input``) are true at ``input - cacheRead``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import PROJECTS, GenBase, Pools, Sink, Truth, iso

AGENT_PI = "pi"
PI_MODELS = [
    ("anthropic", "anthropic-messages", "claude-sonnet-4-5", (3.0, 15.0, 0.3, 3.75)),
    ("openai", "openai-responses", "gpt-5", (1.25, 10.0, 0.125, 0.0)),
    ("google", "google-generative-ai", "gemini-2.5-pro", (1.25, 10.0, 0.31, 0.0)),
]
PI_TOOLS = [("read", 40), ("bash", 30), ("edit", 15), ("write", 10), ("grep", 5)]


class PiGen(GenBase):
    agent = AGENT_PI

    def run(self) -> None:
        r = self.rng
        root = self.home / ".pi" / "agent" / "sessions"
        n_sessions = max(4, int(300 * (self.budget / (1 << 30)) ** 0.65))
        mean = max(3000, self.budget / n_sessions)
        written, i = 0, 0
        while i < 4 or written < self.budget:
            cwd = f"/home/dev/src/{r.choice(PROJECTS)}"
            folder = root / ("--" + cwd.lstrip("/").replace("/", "-") + "--")
            written += self.session(
                folder, cwd, self.start_ms(), int(mean * r.uniform(0.4, 1.6)), i
            )
            i += 1

    def entry(self, kind: str, parent: str | None, t: int, **kw: Any) -> dict[str, Any]:
        return {"type": kind, "id": self.hexs(8), "parentId": parent, "timestamp": iso(t), **kw}

    def call(self, parent: str, t: int, st: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """An assistant entry (with its truth); returns it and its write time."""
        r, ct = self.rng, self.ct
        provider, api, model, price = st["model"]
        start = t + r.randint(5, 50)
        end = start + r.randint(800, 20000)
        stop = r.choices(["stop", "toolUse", "error", "aborted"], [40, 50, 4, 2])[0]
        content: list[dict[str, Any]] = [{"type": "thinking", "thinking": ct.prose(ct.n(200))}]
        content.append({"type": "text", "text": ct.prose(ct.n(300))})
        calls = []
        if stop == "toolUse":
            for _ in range(r.choice([1, 1, 2])):
                name = r.choices([n for n, _ in PI_TOOLS], [w for _, w in PI_TOOLS])[0]
                cid = "toolu_" + self.alnum(16)
                calls.append((cid, name))
                content.append(
                    {
                        "type": "toolCall",
                        "id": cid,
                        "name": name,
                        "arguments": {"path": ct.rel_path()},
                    }
                )
        if stop == "error":
            usage = dict.fromkeys(("input", "output", "cacheRead", "cacheWrite", "totalTokens"), 0)
            usage["cost"] = dict.fromkeys(
                ("input", "output", "cacheRead", "cacheWrite", "total"), 0
            )
            content = []
            self.truth.add_call(AGENT_PI, model, end, error=True)
        else:
            inp = r.randint(20, 3000)
            read = 0 if st["first"] else r.randint(1000, 60000)
            write = r.randint(0, 4000) if provider == "anthropic" else 0
            out = r.randint(10, 2000)
            reasoning = r.randint(0, out) if provider != "google" else 0
            st["first"] = False
            cost = (inp * price[0] + out * price[1] + read * price[2] + write * price[3]) / 1e6
            usage = {"input": inp, "output": out, "cacheRead": read, "cacheWrite": write,
                     "reasoning": reasoning, "totalTokens": inp + out + read + write,
                     "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0,
                              "total": round(cost, 8)}}  # fmt: skip
            if provider == "google" and read and r.random() < 0.5:
                usage["input"] = inp + read  # before PR #2588: the prompt count, cache inside
                usage["totalTokens"] = inp + read + out
                self.truth.note("pi.google_cache_inside_input")
            self.truth.add_call(
                AGENT_PI, model, end, input_tokens=inp, output_tokens=out, cache_read=read,
                cache_creation=write, reasoning=reasoning,
            )  # fmt: skip
        msg: dict[str, Any] = {
            "role": "assistant", "content": content, "api": api, "provider": provider,
            "model": model, "usage": usage, "stopReason": stop, "timestamp": start,
            "responseId": "resp_" + self.alnum(20),
        }  # fmt: skip
        if stop == "error":
            msg["errorMessage"] = ct.c("429 rate limit exceeded, retry later")
        e = self.entry("message", parent, end, message=msg)
        st["pending"] = calls
        return e, end

    def session(self, folder: Path, cwd: str, t: int, target: int, i: int) -> int:
        r, ct = self.rng, self.ct
        sid = self.uuid7(t)
        name = iso(t).replace(":", "-").replace(".", "-") + "_" + sid + ".jsonl"
        sink = Sink(self.truth, folder / name, AGENT_PI, keep=True)
        sink.line({"type": "session", "version": 3, "id": sid, "timestamp": iso(t), "cwd": cwd})
        st: dict[str, Any] = {"model": r.choice(PI_MODELS), "first": True, "pending": []}
        provider, _, model, _ = st["model"]
        e = self.entry("model_change", None, t, provider=provider, modelId=model)
        sink.line(e)
        parent, path = e["id"], [e]
        branch_at: dict[str, Any] | None = None
        while sink.size < target or parent == e["id"]:
            t += r.randint(2000, 120000)
            u = self.entry("message", parent, t, message={
                "role": "user", "content": [{"type": "text", "text": ct.prose(ct.n(200))}],
                "timestamp": t})  # fmt: skip
            sink.line(u)
            parent = u["id"]
            path.append(u)
            for _ in range(r.randint(1, 4)):
                a, t = self.call(parent, t, st)
                sink.line(a)
                parent = a["id"]
                path.append(a)
                if branch_at is None and r.random() < 0.1:
                    branch_at = a
                for cid, tool in st["pending"]:
                    t += r.randint(5, 3000)
                    err = r.random() < 0.1
                    res = self.entry("message", parent, t, message={
                        "role": "toolResult", "toolCallId": cid, "toolName": tool,
                        "content": [{"type": "text", "text": ct.code(ct.n(400))}],
                        "isError": err, "timestamp": t})  # fmt: skip
                    sink.line(res)
                    parent = res["id"]
                    path.append(res)
                    self.truth.add_tool(AGENT_PI, tool, err)
                if a["message"]["stopReason"] != "toolUse":
                    break
        if branch_at is not None:  # /tree: a second child of an earlier call
            t += 60000
            s = self.entry(
                "branch_summary", branch_at["id"], t, fromId=parent, summary=ct.prose(80)
            )
            u = self.entry("message", s["id"], t + 1000, message={
                "role": "user", "content": ct.prose(50), "timestamp": t + 1000})  # fmt: skip
            st["pending"] = []
            a, t = self.call(u["id"], t + 1000, st)
            for x in (s, u, a):
                sink.line(x)
            self.truth.note("pi.tree_branch")
            idx = path.index(branch_at)
            path = [*path[: idx + 1], s, u, a]
            parent = a["id"]
        sink.close(t)
        size = sink.size
        if i % 3 == 1:  # createBranchedSession: the path, verbatim, in a new file
            size += self.copy(folder, cwd, sid, name, path, parent, t, st)
        return size

    def copy(self, folder: Path, cwd: str, parent_sid: str, parent_name: str,
             path: list[dict[str, Any]], leaf: str, t: int, st: dict[str, Any]) -> int:  # fmt: skip
        t += self.rng.randint(60000, 600000)
        sid = self.uuid7(t)
        name = iso(t).replace(":", "-").replace(".", "-") + "_" + sid + ".jsonl"
        sink = Sink(self.truth, folder / name, AGENT_PI)
        sink.line(
            {
                "type": "session",
                "version": 3,
                "id": sid,
                "timestamp": iso(t),
                "cwd": cwd,
                "parentSession": f"/home/dev/.pi/agent/sessions/{folder.name}/{parent_name}",
            }
        )
        for e in path:
            sink.line(e)
        u = self.entry("message", leaf, t + 500, message={
            "role": "user", "content": self.ct.prose(40), "timestamp": t + 500})  # fmt: skip
        sink.line(u)
        st["pending"] = []
        a, t = self.call(u["id"], t + 500, st)
        sink.line(a)
        self.truth.note("pi.branched_session_copy")
        sink.close(t)
        return sink.size


def generate_pi(home: Path, budget: int, seed: int = 1, canary: str | None = None) -> Truth:
    """Write a pi history of about ``budget`` bytes under ``home``; return its truth."""
    truth = Truth()
    PiGen(home, budget, seed, canary, truth, Pools(seed), 0.05, False).run()
    return truth
