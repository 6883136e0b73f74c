"""Qwen Code: the generator (``QwenGen``).

Chats under ``~/.qwen/projects/<sanitized cwd>/chats/<sessionId>.jsonl``: user records,
one assistant record per response with ``usageMetadata`` (OpenAI-compatible backends: the
thoughts inside the candidates, total = prompt + candidates; the Gemini API for ``gemini-*``:
thoughts beside them, total includes them), tool calls settled by ``tool_result`` records,
``ui_telemetry`` repeats of each response (never counted) and API errors (one error call
without tokens each), subagent files, and ``/branch`` copies of a session's first records
(same uuids, ``forkedFrom``: counted once, under the origin) followed by calls of their own.
"""

from __future__ import annotations

import re
from typing import Any

from .common import GenBase, Sink, iso

AGENT_QWEN = "qwen-code"
MODELS = ["qwen3-coder-plus", "qwen3.8-sglang", "gemini-2.5-pro"]
TOOLS = [("read_file", 30), ("run_shell_command", 25), ("edit", 15), ("grep_search", 10)]


class QwenGen(GenBase):
    agent = AGENT_QWEN

    def run(self) -> None:
        n = max(3, int(60 * (self.budget / (1 << 30)) ** 0.6))
        written = i = 0
        while i < n or written < self.budget:
            written += self.session(branch=i % 3 == 1, sub=i % 4 == 2)
            i += 1

    def chats(self, cwd: str) -> Any:
        return self.home / ".qwen" / "projects" / re.sub(r"[^a-zA-Z0-9]", "-", cwd) / "chats"

    def session(self, branch: bool, sub: bool) -> int:
        sid, cwd = self.uid(), f"/home/dev/src/{self.ct.word()}"
        t = self.start_ms(margin_days=5)
        sink = Sink(self.truth, self.chats(cwd) / f"{sid}.jsonl", AGENT_QWEN)
        rows, t = self.turns(sid, cwd, t, self.rng.randint(1, 4), None)
        for row in rows:
            sink.line(row)
        sink.close()
        size = sink.size
        if sub:
            s2 = Sink(self.truth, self.chats(cwd) / sid / f"agent-{self.alnum(8)}.jsonl",
                      AGENT_QWEN)  # fmt: skip
            sub_rows, _ = self.turns(sid, cwd, t + 1000, 1, self.alnum(6))
            for row in sub_rows:
                s2.line(row)
            s2.close()
            size += s2.size
        if branch:
            bid = self.uid()
            b = Sink(self.truth, self.chats(cwd) / f"{bid}.jsonl", AGENT_QWEN)
            parent = None
            for row in rows[: self.rng.randint(2, len(rows))]:
                copy = {**row, "sessionId": bid, "parentUuid": parent,
                        "forkedFrom": {"sessionId": sid, "messageUuid": row["uuid"]}}  # fmt: skip
                b.line(copy)
                parent = row["uuid"]
            own, _ = self.turns(bid, cwd, t + 3_600_000, 1, None)
            for row in own:
                b.line(row)
            b.close()
            size += b.size
        return size

    def rec(self, sid: str, cwd: str, t: int, type_: str, **kw: Any) -> dict[str, Any]:
        base = {"uuid": self.uid(), "parentUuid": None, "sessionId": sid, "timestamp": iso(t)}
        return {**base, "type": type_, "cwd": cwd, "version": "0.22.0", "gitBranch": "main", **kw}

    def turns(
        self, sid: str, cwd: str, t: int, n: int, agent: str | None
    ) -> tuple[list[dict[str, Any]], int]:
        r, ct = self.rng, self.ct
        side: dict[str, Any] = {"isSidechain": True, "agentId": agent} if agent else {}
        rows: list[dict[str, Any]] = []
        model = r.choice(MODELS)
        for _ in range(n):
            t += r.randint(2000, 200_000)
            prompt = {"role": "user", "parts": [{"text": ct.prose(80)}]}
            rows.append(
                self.rec(sid, cwd, t, "user", provenance="real_user", **side, message=prompt)
            )
            for _ in range(r.randint(1, 4)):
                t += r.randint(1500, 30_000)
                if r.random() < 0.07:
                    rows.append(self.rec(sid, cwd, t, "system", subtype="ui_telemetry", **side,
                        systemPayload={"uiEvent": {"event.name": "qwen-code.api_error",
                        "error_type": "RateLimitError", "status_code": 429, "model": model,
                        "error": ct.prose(30)}}))  # fmt: skip
                    self.truth.add_call(AGENT_QWEN, model, t, error=True)
                    t += 1000
                row, usage = self.response(sid, cwd, t, model, side)
                rows.append(row)
                rows.append(self.rec(sid, cwd, t + 5, "system", subtype="ui_telemetry", **side,
                    systemPayload={"uiEvent": {"event.name": "qwen-code.api_response",
                    "model": model, "input_token_count": usage["promptTokenCount"]}}))  # fmt: skip
                tool = r.choices([n for n, _ in TOOLS], [w for _, w in TOOLS])[0]
                cid = f"call_{self.alnum(12)}"
                row["message"]["parts"].append(
                    {"functionCall": {"id": cid, "name": tool, "args": {"p": ct.rel_path()}}}
                )
                t += r.randint(10, 9000)
                status = r.choices(["success", "error", "cancelled"], [85, 10, 5])[0]
                rows.append(self.rec(sid, cwd, t, "tool_result", **side,
                    message={"role": "user", "parts": [{"functionResponse": {"id": cid,
                    "name": tool, "response": {"output": ct.code(ct.n(200))}}}]},
                    toolCallResult={"callId": cid, "status": status}))  # fmt: skip
                self.truth.add_tool(AGENT_QWEN, tool, status != "success")
        return rows, t

    def response(
        self, sid: str, cwd: str, t: int, model: str, side: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, int]]:
        r = self.rng
        prompt, cached = r.randint(2000, 90_000), 0
        if r.random() < 0.7:
            cached = r.randint(0, prompt)
        thoughts = r.randint(0, 600) if r.random() < 0.6 else 0
        if model.startswith("gemini"):  # Gemini API: thoughts beside the candidates
            cand = r.randint(10, 1500)
            tool = r.randint(20, 300) if r.random() < 0.2 else 0
            total = prompt + cand + thoughts + tool
            out, reasoning, inp = cand + thoughts, thoughts, prompt - cached + tool
        else:  # OpenAI-compatible: completion_tokens hold the reasoning
            cand = thoughts + r.randint(10, 1500)
            tool, total = 0, prompt + cand
            out, reasoning, inp = cand, thoughts, prompt - cached
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": cand,
                 "totalTokenCount": total}  # fmt: skip
        if cached:
            usage["cachedContentTokenCount"] = cached
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        if tool:
            usage["toolUsePromptTokenCount"] = tool
        self.truth.add_call(AGENT_QWEN, model, t, input_tokens=inp, output_tokens=out,
                            cache_read=cached, reasoning=reasoning)  # fmt: skip
        parts: list[dict[str, Any]] = [{"text": self.ct.prose(self.ct.n(200)), "thought": True}]
        row = self.rec(sid, cwd, t, "assistant", model=model, usageMetadata=usage, **side,
                       message={"role": "model", "parts": parts})  # fmt: skip
        return row, usage
