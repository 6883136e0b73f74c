"""Grok Build: the generator (``GrokGen``) and its truth.

Writes ``.grok/sessions/<url-encoded cwd>/<session id>/updates.jsonl`` (+ ``summary.json``),
with message chunks, tool calls and ``turn_completed`` usage per billed model; subagents as
sibling sessions pointed at by ``subagents/<id>/meta.json``; forks that repeat their parent's
lines (same ``_meta.eventId``).

Decisions the truth encodes (docs/counting.md, "Grok Build"): one call per ``turn_completed``
and model row (``inputTokens`` includes the cache read, ``outputTokens`` the reasoning); a
repeated eventId + model counts once; a cancelled turn (``usage: null``) is no call; a turn that
ended in ``error`` is an error call; tools are ``tool_call`` answered by ``tool_call_update``
``completed`` | ``failed`` (an error), named by their ``kind``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .common import PROJECTS, GenBase, write_file

AGENT = "grok-build"
MODELS = ["grok-4.5-build", "grok-code-fast-1"]
KINDS = ["read", "edit", "execute", "search", "fetch"]


class GrokGen(GenBase):
    agent = AGENT

    def run(self) -> None:
        written = 0
        i = 0
        while i < 4 or written < self.budget:
            written += self.session(self.start_ms(), i)
            i += 1

    def _line(
        self, t: int, sid: str, update: dict[str, Any], method: str = "session/update"
    ) -> str:
        meta = {"eventId": self.uuid7(t), "agentTimestampMs": t}
        params = {"sessionId": sid, "update": update, "_meta": meta}
        return json.dumps({"timestamp": t // 1000, "method": method, "params": params})

    def session(self, t0: int, i: int) -> int:
        r = self.rng
        cwd = f"/home/dev/src/{r.choice(PROJECTS)}"
        project = self.home / ".grok" / "sessions" / quote(cwd, safe="")
        sid = self.uuid7(t0)
        lines, t = self.turns(sid, t0, r.randint(1, 6), count=True)
        n = self.write(project / sid, lines, cwd, t)
        if i % 3 == 1:  # a subagent: a sibling session the parent points at
            child = self.uuid7(t0 + 7)
            kid, t2 = self.turns(child, t0 + 1000, r.randint(1, 2), count=True)
            n += self.write(project / child, kid, cwd, t2)
            meta = json.dumps({"child_session_id": child}).encode()
            write_file(
                self.truth,
                project / sid / "subagents" / self.alnum(6) / "meta.json",
                AGENT,
                meta,
                None,
            )
        if i % 4 == 2:  # a fork: the parent's lines again, then its own
            fork = self.uuid7(t + 5)
            own, t3 = self.turns(fork, t + 5000, r.randint(1, 3), count=True)
            n += self.write(project / fork, lines + own, cwd, t3, parent=sid)
            self.truth.note("grok.fork_repeats_parent")
        return n

    def write(
        self, folder: Path, lines: list[str], cwd: str, t: int, parent: str | None = None
    ) -> int:
        data = ("\n".join(lines) + "\n").encode()
        write_file(self.truth, folder / "updates.jsonl", AGENT, data, t)
        summary: dict[str, Any] = {
            "info": {"id": folder.name, "cwd": cwd},
            "generated_title": self.ct.words(4),
            "current_model_id": MODELS[0],
            "head_branch": self.branch(),
        }
        if parent:
            summary["parent_session_id"] = parent
        write_file(self.truth, folder / "summary.json", AGENT, json.dumps(summary).encode(), None)
        return len(data)

    def turns(self, sid: str, t: int, k: int, count: bool) -> tuple[list[str], int]:
        r = self.rng
        lines: list[str] = []
        for turn in range(k):
            t += r.randint(1000, 60_000)
            text = {"type": "text", "text": self.ct.prose(self.ct.n(200, 1.0, 10, 3000))}
            lines.append(
                self._line(t, sid, {"sessionUpdate": "user_message_chunk", "content": text})
            )
            for _ in range(r.randint(0, 4)):
                tid = f"call-{self.alnum(12)}"
                kind = r.choice(KINDS)
                t += r.randint(100, 5000)
                lines.append(
                    self._line(
                        t,
                        sid,
                        {
                            "sessionUpdate": "tool_call",
                            "toolCallId": tid,
                            "kind": kind,
                            "title": self.ct.words(3),
                            "status": "pending",
                            "rawInput": {"path": self.ct.words(2)},
                        },
                    )
                )
                t += r.randint(5, 3000)
                failed = r.random() < 0.1
                lines.append(
                    self._line(
                        t,
                        sid,
                        {
                            "sessionUpdate": "tool_call_update",
                            "toolCallId": tid,
                            "status": "failed" if failed else "completed",
                            "rawOutput": self.ct.prose(80),
                        },
                    )
                )
                if count:
                    self.truth.add_tool(AGENT, kind, failed)
            t += r.randint(100, 3000)
            lines.append(
                self._line(t, sid, {"sessionUpdate": "agent_message_chunk", "content": text})
            )
            t += 10
            lines.append(self.turn_completed(t, sid, turn, count))
        return lines, t

    def turn_completed(self, t: int, sid: str, turn: int, count: bool) -> str:
        r = self.rng
        if r.random() < 0.08:
            return self._line(
                t,
                sid,
                {
                    "prompt_id": self.uid(),
                    "sessionUpdate": "turn_completed",
                    "stop_reason": "cancelled",
                },
                "_x.ai/session/update",
            )
        stop = "error" if r.random() < 0.05 else "end_turn"
        rows: dict[str, dict[str, Any]] = {}
        for model in MODELS[: r.choice([1, 1, 2])]:
            cached = r.randint(0, 300_000)
            inp = cached + r.randint(10, 40_000)
            reasoning = r.randint(0, 3000)
            out = reasoning + r.randint(1, 5000)
            calls = r.choice([1, 1, r.randint(2, 12)])
            rows[model] = {
                "inputTokens": inp,
                "outputTokens": out,
                "totalTokens": inp + out,
                "cachedReadTokens": cached,
                "cacheCreationTokens": 0,
                "reasoningTokens": reasoning,
                "modelCalls": calls,
                "apiDurationMs": r.randint(500, 90_000),
                "costUsdTicks": r.randint(1_000_000, 3_000_000_000),
            }
            if count:
                self.truth.add_call(
                    AGENT,
                    model,
                    t,
                    input_tokens=inp - cached,
                    output_tokens=out,
                    cache_read=cached,
                    reasoning=reasoning,
                    error=stop == "error",
                )
        usage = {k: sum(v[k] for v in rows.values()) for k in next(iter(rows.values()))}
        usage |= {"modelUsage": rows, "numTurns": usage["modelCalls"]}
        return self._line(
            t,
            sid,
            {
                "prompt_id": self.uid(),
                "sessionUpdate": "turn_completed",
                "stop_reason": stop,
                "agent_result": self.ct.prose(60),
                "usage": usage,
            },
            "_x.ai/session/update",
        )
