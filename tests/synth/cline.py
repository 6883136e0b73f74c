"""Cline, Roo Code and Kilo Code: the generator (``ClineGen``) and its truth.

Writes classic tasks (``<editor>/User/globalStorage/<extension id>/tasks/<ts>/ui_messages.json``
with ``task_metadata.json``, ``state/taskHistory.json``, Roo/Kilo ``api_conversation_history.json``
and ``history_item.json``) for the three agents across several editors, and Cline SDK sessions
(``.cline/data/sessions/<id>/<id>.messages.json`` + manifest, with a subagent file).

Decisions the truth encodes (docs/counting.md, "Cline, Roo Code and Kilo Code"):

* one call per ``api_req_started`` with counts; Cline's ``tokensIn`` is the uncached part for
  ``anthropic`` and the whole prompt for ``openai``; Roo/Kilo (dates here are after 2025-11)
  always the whole prompt; a ``streaming_failed`` request is an error call;
* a placeholder ``api_req_started`` (no counts) is no call; a ``partial`` message none either;
* a restore's ``deleted_api_reqs`` (its requests are not in the file) is one call: the summed
  usage, under the task's last model; a Cline ``subagent_usage`` batch is one call;
* SDK: one call per assistant message with ``metrics`` (``inputTokens`` includes the cache);
  tools are ``tool_use`` blocks answered by a ``tool_result`` (``is_error``: an error);
* classic tool messages are not counted as tools (the reader leaves them out).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .common import PROJECTS, GenBase, write_file

EXT = {
    "cline": "saoudrizwan.claude-dev",
    "roo-code": "rooveterinaryinc.roo-cline",
    "kilo-code": "kilocode.kilo-code",
}
EDITORS = ["Code", "Cursor", "Windsurf", "Code - Insiders", "VSCodium"]
MODELS = {"anthropic": ["claude-sonnet-4-5", "claude-opus-4-1"], "openai": ["gpt-4.1", "o4-mini"]}
SDK_TOOLS = ["read_files", "editor", "run_commands", "search_codebase"]


class ClineGen(GenBase):
    agent = "cline"

    def run(self) -> None:
        written = 0
        i = 0
        agents = ["cline", "roo-code", "kilo-code"]
        while i < 6 or written < self.budget:
            agent = agents[i % 3]
            if agent == "cline" and i % 2:
                written += self.sdk_session(self.start_ms())
            else:
                written += self.task(agent, EDITORS[i % len(EDITORS)], self.start_ms())
            i += 1

    # classic tasks ---------------------------------------------------------------------------
    def _text(self, n: int = 200) -> str:
        return self.ct.prose(self.ct.n(n, 1.0, 10, 4000))

    def task(self, agent: str, editor: str, t0: int) -> int:
        r = self.rng
        storage = self.home / ".config" / editor / "User" / "globalStorage" / EXT[agent]
        task_id = str(t0)
        folder = storage / "tasks" / task_id
        provider = r.choice(["anthropic", "openai"])
        model = r.choice(MODELS[provider])
        cwd = f"/home/dev/src/{r.choice(PROJECTS)}"
        msgs: list[dict[str, Any]] = [
            {
                "ts": t0,
                "type": "say",
                "say": "task" if agent == "cline" else "text",
                "text": self._text(),
            },
        ]
        prompts: list[dict[str, Any]] = []
        t = t0
        last_model = model
        for k in range(r.randint(2, 9)):
            t += r.randint(500, 20_000)
            if k and r.random() < 0.2:
                msgs.append({"ts": t, "type": "say", "say": "user_feedback", "text": self._text()})
                t += 100
            if r.random() < 0.15:
                model = r.choice(MODELS[provider])
            last_model = model
            msgs.append(self.request(agent, t, provider, model, prompts))
            t += 50
            msgs.append({"ts": t, "type": "say", "say": "text", "text": self._text(400)})
            if r.random() < 0.4:
                t += 30
                tool = {"tool": r.choice(["readFile", "editedExistingFile"]), "path": "src/a.py"}
                msgs.append({"ts": t, "type": "say", "say": "tool", "text": json.dumps(tool)})
        if r.random() < 0.3:  # a placeholder left by a stopped stream: no call
            t += 1000
            msgs.append(self._req(t, provider, model, {"request": self._text()}))
        if agent == "cline" and r.random() < 0.3:
            t += 1000
            msgs.append(self._usage_msg(t, "subagent_usage", provider, last_model))
        if r.random() < 0.25:  # a restore: its deleted requests live only in the sum
            t += 1000
            msgs.append(
                self._usage_msg(
                    t,
                    "deleted_api_reqs" if agent == "cline" else "api_req_deleted",
                    provider if agent == "cline" else "",
                    last_model,
                    agent,
                )
            )
        msgs.append(
            {"ts": t + 10, "type": "say", "say": "text", "text": self._text(), "partial": True}
        )
        data = json.dumps(msgs).encode()
        write_file(self.truth, folder / "ui_messages.json", agent, data, t + 10)
        self._side(agent, storage, folder, task_id, cwd, provider, prompts, msgs)
        return len(data)

    def _req(self, t: int, provider: str, model: str, text: dict[str, Any]) -> dict[str, Any]:
        return {
            "ts": t,
            "type": "say",
            "say": "api_req_started",
            "text": json.dumps(text),
            "modelInfo": {"modelId": model, "providerId": provider, "mode": "act"},
        }

    def request(
        self, agent: str, t: int, provider: str, model: str, prompts: list[dict[str, Any]]
    ) -> dict[str, Any]:
        r = self.rng
        uncached = r.randint(3, 3000)
        cw = r.choice([0, 0, r.randint(100, 20_000)])
        cr = r.choice([0, r.randint(1000, 80_000)])
        out = r.randint(1, 4000)
        failed = r.random() < 0.05
        inclusive = agent != "cline" or provider == "openai"
        tokens_in = uncached + cw + cr if inclusive else uncached
        text: dict[str, Any] = {
            "request": self._text(),
            "tokensIn": tokens_in,
            "tokensOut": out,
            "cacheWrites": cw,
            "cacheReads": cr,
            "cost": round(r.random() / 10, 6),
        }
        if agent != "cline":
            text["apiProtocol"] = provider
        if failed:
            text["cancelReason"] = "streaming_failed"
            text["streamingFailedMessage"] = "503 " + self._text(40)
        self.truth.add_call(
            agent,
            model,
            t,
            input_tokens=uncached,
            output_tokens=out,
            cache_read=cr,
            cache_creation=cw,
            error=failed,
        )
        prompts.append(
            {
                "role": "user",
                "ts": t + 20,
                "content": [
                    {"type": "text", "text": self._text()},
                    {
                        "type": "text",
                        "text": f"<environment_details>\n<model>{model}</model>\n</env>",
                    },
                ],
            }
        )
        prompts.append(
            {"role": "assistant", "ts": t + 40, "content": [{"type": "text", "text": self._text()}]}
        )
        return (
            self._req(t, provider, model, text)
            if agent == "cline"
            else {"ts": t, "type": "say", "say": "api_req_started", "text": json.dumps(text)}
        )

    def _usage_msg(
        self, t: int, kind: str, provider: str, model: str, agent: str = "cline"
    ) -> dict[str, Any]:
        r = self.rng
        uncached, out, cr = r.randint(10, 9000), r.randint(1, 900), r.randint(0, 5000)
        inclusive = agent != "cline" or provider == "openai"
        text = {
            "tokensIn": uncached + cr if inclusive else uncached,
            "tokensOut": out,
            "cacheWrites": 0,
            "cacheReads": cr,
            "cost": 0.01,
        }
        if kind == "subagent_usage":
            text["source"] = "subagents"
        self.truth.add_call(
            agent, model, t, input_tokens=uncached, output_tokens=out, cache_read=cr
        )
        self.truth.note(f"cline.{'deleted_api_reqs' if 'deleted' in kind else kind}")
        return {"ts": t, "type": "say", "say": kind, "text": json.dumps(text)}

    def _side(
        self,
        agent: str,
        storage: Path,
        folder: Path,
        task_id: str,
        cwd: str,
        provider: str,
        prompts: list[dict[str, Any]],
        msgs: list[dict[str, Any]],
    ) -> None:
        if agent == "cline":
            usage = [
                {
                    "ts": m["ts"],
                    "model_id": json.loads(m["text"]) and m["modelInfo"]["modelId"],
                    "model_provider_id": provider,
                    "mode": "act",
                }
                for m in msgs
                if m.get("say") == "api_req_started"
            ]
            meta = json.dumps({"files_in_context": [], "model_usage": usage}).encode()
            write_file(self.truth, folder / "task_metadata.json", agent, meta, None)
            hist = storage / "state" / "taskHistory.json"
            items = json.loads(hist.read_text()) if hist.exists() else []
            items.append({"id": task_id, "task": self._text(), "cwdOnTaskInitialization": cwd})
            hist.parent.mkdir(parents=True, exist_ok=True)
            hist.write_text(json.dumps(items))  # rewritten: not counted in the truth's bytes
            return
        write_file(
            self.truth,
            folder / "api_conversation_history.json",
            agent,
            json.dumps(prompts).encode(),
            None,
        )
        item = {"id": task_id, "task": self._text(), "workspace": cwd}
        write_file(self.truth, folder / "history_item.json", agent, json.dumps(item).encode(), None)

    # SDK sessions ----------------------------------------------------------------------------
    def sdk_session(self, t0: int) -> int:
        r = self.rng
        sid = f"{t0}_{self.alnum(5).lower()}"
        folder = self.home / ".cline" / "data" / "sessions" / sid
        model = r.choice(["anthropic/claude-sonnet-4.5", "openai/gpt-5"])
        manifest = {
            "version": 1,
            "session_id": sid,
            "source": "vscode",
            "status": "completed",
            "provider": "cline",
            "model": model,
            "cwd": f"/home/dev/src/{r.choice(PROJECTS)}",
            "prompt": self._text(),
        }
        write_file(self.truth, folder / f"{sid}.json", "cline", json.dumps(manifest).encode(), None)
        n = self._sdk_file(folder / f"{sid}.messages.json", sid, t0, model)
        if r.random() < 0.3:
            n += self._sdk_file(
                folder / f"agent_{self.alnum(6)}.messages.json", sid, t0 + 500, model
            )
        return n

    def _sdk_file(self, path: Path, sid: str, t0: int, model: str) -> int:
        r = self.rng
        t = t0
        messages: list[dict[str, Any]] = []
        for _ in range(r.randint(2, 8)):
            t += r.randint(200, 9000)
            messages.append(
                {
                    "id": f"msg_{self.alnum(8)}",
                    "role": "user",
                    "ts": t,
                    "content": [{"type": "text", "text": self._text()}],
                }
            )
            for _ in range(r.randint(1, 4)):
                t += r.randint(300, 9000)
                uncached, cr, cw, out = (
                    r.randint(5, 4000),
                    r.randint(0, 60_000),
                    r.choice([0, r.randint(1, 900)]),
                    r.randint(1, 3000),
                )
                tool = r.choice(SDK_TOOLS) if r.random() < 0.6 else None
                content: list[dict[str, Any]] = [{"type": "text", "text": self._text()}]
                if tool:
                    tid = f"toolu_{self.alnum(20)}"
                    content.append(
                        {
                            "type": "tool_use",
                            "id": tid,
                            "name": tool,
                            "input": {"path": self._text(20)},
                        }
                    )
                messages.append(
                    {
                        "id": f"msg_{self.alnum(8)}",
                        "role": "assistant",
                        "ts": t,
                        "content": content,
                        "modelInfo": {"id": model, "provider": "cline"},
                        "metrics": {
                            "inputTokens": uncached + cr + cw,
                            "outputTokens": out,
                            "cacheReadTokens": cr,
                            "cacheWriteTokens": cw,
                            "cost": 0.02,
                        },
                    }
                )
                self.truth.add_call(
                    "cline",
                    model,
                    t,
                    input_tokens=uncached,
                    output_tokens=out,
                    cache_read=cr,
                    cache_creation=cw,
                )
                if tool:
                    err = r.random() < 0.1
                    t += r.randint(5, 900)
                    messages.append(
                        {
                            "id": f"msg_{self.alnum(8)}",
                            "role": "user",
                            "ts": t,
                            "content": [
                                {
                                    "type": "tool_result",
                                    "tool_use_id": tid,
                                    "name": tool,
                                    "content": self._text(),
                                    "is_error": err,
                                }
                            ],
                        }
                    )
                    self.truth.add_tool("cline", tool, err)
        data = json.dumps(
            {"version": 1, "agent": "lead", "sessionId": sid, "messages": messages}
        ).encode()
        write_file(self.truth, path, "cline", data, t)
        return len(data)
