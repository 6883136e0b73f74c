"""GitHub Copilot CLI: the generator (``CopilotGen``).

Sessions under ``~/.copilot/session-state/<id>/events.jsonl``, one or more processes each
(``session.start`` then ``session.resume``), each ending in a ``session.shutdown`` whose
``modelMetrics`` are either the process's own totals (older releases) or the session's
running totals (1.0.7x), chosen per session. Truth: one ``session_delta`` event per
(process, model) that used the model, dated at the shutdown; a last process killed before
its shutdown adds nothing (its input usage is recorded nowhere); ``session.error`` is one
error call without tokens under the current model; tools are start/complete pairs,
``success: false`` an error. ``assistant.message.outputTokens`` sum to each process's output.
"""

from __future__ import annotations

from typing import Any

from .common import GenBase, Sink, iso

AGENT_COPILOT = "copilot-cli"
MODELS = ["claude-sonnet-4.5", "gpt-5-mini", "claude-haiku-4.5", "gemini-3-pro"]
TOOLS = [("view", 30), ("bash", 25), ("edit", 15), ("create", 8), ("grep", 12), ("glob", 10)]
_COST = {"claude-sonnet-4.5": 1.0, "gpt-5-mini": 0.0, "claude-haiku-4.5": 0.33, "gemini-3-pro": 1.0}
_KEYS = ("inp", "out", "cr", "cw", "rs", "req")


class CopilotGen(GenBase):
    agent = AGENT_COPILOT

    def run(self) -> None:
        n = max(3, int(60 * (self.budget / (1 << 30)) ** 0.6))
        written = i = 0
        while i < n or written < self.budget:
            written += self.session(cumulative=i % 2 == 0, killed_last=i % 5 == 3)
            i += 1

    def ev(self, sink: Sink, t: int, type_: str, data: dict[str, Any]) -> None:
        sink.line({"type": type_, "data": data, "id": self.uid(), "parentId": None,
                   "timestamp": iso(t)})  # fmt: skip

    def session(self, cumulative: bool, killed_last: bool) -> int:
        r, sid = self.rng, self.uid()
        sink = Sink(self.truth, self.home / ".copilot" / "session-state" / sid / "events.jsonl",
                    AGENT_COPILOT)  # fmt: skip
        t = self.start_ms(margin_days=5)
        cwd = f"/home/dev/src/{self.ct.word()}"
        running: dict[str, dict[str, int]] = {}
        processes = r.randint(1, 3)
        for p in range(processes):
            context = {"cwd": cwd, "branch": self.branch() or "main"}
            if p == 0:
                self.ev(sink, t, "session.start", {
                    "sessionId": sid, "version": 1, "producer": "copilot-agent",
                    "copilotVersion": "1.0.78" if cumulative else "0.0.350",
                    "startTime": iso(t), "context": context})  # fmt: skip
            else:
                t += r.randint(600_000, 40 * 3_600_000)
                self.ev(sink, t, "session.resume", {"resumeTime": iso(t), "eventCount": 10,
                                                    "context": context})  # fmt: skip
            own, t = self.process(sink, t)
            if killed_last and p == processes - 1 and p > 0:
                break  # killed: no shutdown, the process's usage is recorded nowhere
            t += r.randint(1000, 60_000)
            for m, u in own.items():
                acc = running.setdefault(m, dict.fromkeys(_KEYS, 0))
                for k in _KEYS:
                    acc[k] += u[k]
                self.truth.add_call(
                    AGENT_COPILOT, m, t, input_tokens=u["inp"], output_tokens=u["out"]
                    + (u["rs"] if m.startswith("gemini") else 0), cache_read=u["cr"],
                    cache_creation=u["cw"], reasoning=u["rs"])  # fmt: skip
            shown = running if cumulative else own
            self.ev(sink, t, "session.shutdown", {
                "shutdownType": "routine", "totalPremiumRequests": 0,
                "codeChanges": {"linesAdded": 1, "linesRemoved": 0,
                                "filesModified": [self.ct.path(cwd)]},
                "modelMetrics": {m: self.metric(m, u) for m, u in shown.items()}})  # fmt: skip
        sink.close()
        return sink.size

    def metric(self, m: str, u: dict[str, int]) -> dict[str, Any]:
        return {
            "requests": {"count": u["req"], "cost": round(_COST[m] * u["req"], 2)},
            "usage": {"inputTokens": u["inp"] + u["cr"] + u["cw"], "outputTokens": u["out"],
                      "cacheReadTokens": u["cr"], "cacheWriteTokens": u["cw"],
                      "reasoningTokens": u["rs"]},
        }  # fmt: skip

    def process(self, sink: Sink, t: int) -> tuple[dict[str, dict[str, int]], int]:
        """One process's turns; returns its own per-model usage (uncached input)."""
        r, ct = self.rng, self.ct
        own: dict[str, dict[str, int]] = {}
        model = r.choice(MODELS)
        self.ev(sink, t, "session.model_change", {"newModel": model})
        for _ in range(r.randint(1, 4)):
            t += r.randint(2000, 120_000)
            self.ev(sink, t, "user.message", {"content": ct.prose(ct.n(200, 1.0, 10, 3000))})
            if r.random() < 0.08:
                t += 500
                self.ev(sink, t, "session.error", {"errorType": "rate_limit", "statusCode": 429,
                                                   "message": ct.prose(40)})  # fmt: skip
                self.truth.add_call(AGENT_COPILOT, model, t, error=True)
            for _ in range(r.randint(1, 4)):
                t += r.randint(1500, 20_000)
                u = own.setdefault(model, dict.fromkeys(_KEYS, 0))
                out = r.randint(20, 900)
                u["out"] += out
                u["rs"] += r.randint(0, out // 2)
                u["inp"] += r.randint(5, 400)
                u["cr"] += r.randint(0, 40_000)
                u["cw"] += r.randint(0, 4000)
                u["req"] += 1
                tool = r.choices([n for n, _ in TOOLS], [w for _, w in TOOLS])[0]
                self.ev(sink, t, "assistant.message", {
                    "messageId": self.uid(), "model": model, "content": ct.prose(ct.n(300)),
                    "outputTokens": out, "toolRequests": [{"toolCallId": f"toolu_{self.alnum(20)}",
                    "name": tool, "arguments": {"path": ct.rel_path()}}]})  # fmt: skip
                tid = f"toolu_{self.alnum(24)}"
                self.ev(
                    sink,
                    t + 1,
                    "tool.execution_start",
                    {"toolCallId": tid, "toolName": tool, "arguments": {"path": ct.rel_path()}},
                )
                t += r.randint(5, 8000)
                ok = r.random() > 0.1
                done: dict[str, Any] = {"toolCallId": tid, "model": model, "success": ok}
                if ok:
                    done["result"] = {"content": ct.code(ct.n(400))}
                else:
                    done["error"] = {"message": ct.prose(30), "code": "failure"}
                self.ev(sink, t, "tool.execution_complete", done)
                self.truth.add_tool(AGENT_COPILOT, tool, not ok)
            if r.random() < 0.3:
                model = r.choice(MODELS)
                self.ev(sink, t + 1, "session.model_change", {"newModel": model})
        return own, t
