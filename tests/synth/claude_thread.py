"""Claude Code: model names and versions, API error texts, and ``Thread`` (one conversation
chain, the main session or a subagent/sidechain, line by line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from .common import (
    AGENT_CLAUDE,
    DAY_MS,
    Sink,
    iso,
    utc_day,
)

if TYPE_CHECKING:
    from .claude_session import ClaudeSession


# --------------------------------------------------------------------------------------------
# Claude Code

CLAUDE_ERAS = {
    "1.0": ["1.0.24", "1.0.35", "1.0.51", "1.0.58", "1.0.128"],
    "2.0": ["2.0.28", "2.0.37", "2.0.42", "2.0.55"],
    "2.1": ["2.1.17", "2.1.39", "2.1.42", "2.1.78", "2.1.114", "2.1.140"],
}
M_SONNET4 = "claude-sonnet-4-20250514"
M_SONNET45 = "claude-sonnet-4-5-20250929"
M_OPUS47 = "claude-opus-4-7"
M_HAIKU45 = "claude-haiku-4-5-20251001"
SYNTHETIC = "<synthetic>"

API_ERRORS = [
    # error, status, text (1.0 text, 2.x text)
    (
        "rate_limit",
        429,
        "Claude AI usage limit reached|{epoch}",
        "You've hit your limit · resets 6pm (UTC)",
    ),
    (
        "server_error",
        529,
        'API Error: 529 {{"type":"error","error":{{"type":"overloaded_error","message":"Overloaded"}}}}',
        "API Error: 529 Overloaded. This is a server-side issue, usually temporary — try again in a moment.",
    ),
    (
        "invalid_request",
        400,
        "API Error: 400 prompt is too long: 212345 tokens > 200000 maximum",
        "Prompt is too long",
    ),
    (
        "authentication_failed",
        401,
        'API Error: 401 {{"type":"error","error":{{"type":"authentication_error","message":"OAuth token has expired."}}}} · Please run /login',
        'Please run /login · API Error: 401 {"type":"error","error":{"type":"authentication_error","message":"OAuth token has expired."}}',
    ),
]


class Thread:
    """One conversation chain: the main session, or a subagent/sidechain."""

    def __init__(
        self,
        s: ClaudeSession,
        sink: Sink,
        *,
        side: bool = False,
        agent_id: str | None = None,
        model: str | None = None,
        final_all: bool = False,
    ) -> None:
        self.s = s
        self.sink = sink
        self.side = side
        self.agent_id = agent_id
        self.model = model or s.spec.model
        self.final_all = final_all
        self.last: str | None = None
        self.sys_tokens = s.g.rng.randint(9000, 24000)
        self.ctx = self.sys_tokens
        self.pending = 0
        self.last_call_ms = 0
        self.calls: list[tuple[str, str, dict[str, Any], str | None]] = []  # for /btw replays
        self.progress: tuple[Thread, str, str, str] | None = None  # (main, task id, aid, prompt)
        self.tool_uses = 0
        self.tokens_total = 0
        self.last_usage: dict[str, Any] | None = None

    # envelope ------------------------------------------------------------------------------
    def env(
        self,
        typ: str,
        body: dict[str, Any],
        tail: dict[str, Any] | None = None,
        head: dict[str, Any] | None = None,
        clean: bool = True,
        write: bool = True,
        parent: Any = "__chain__",
    ) -> dict[str, Any]:
        s = self.s
        u = s.g.uid()
        par = self.last if parent == "__chain__" else parent
        if s.new_order:
            d: dict[str, Any] = {"parentUuid": par, "isSidechain": self.side}
            if self.agent_id:
                d["agentId"] = self.agent_id
            if head:
                d.update(head)
            d.update(body)
            d["type"] = typ
            d["uuid"] = u
            d["timestamp"] = iso(s.t)
            if tail:
                d.update(tail)
            d["userType"] = "external"
            d["entrypoint"] = "cli"
            d["cwd"] = s.cwd
            d["sessionId"] = s.sid
            d["version"] = s.spec.version
            d["gitBranch"] = s.branch
            if s.slug:
                d["slug"] = s.slug
        else:
            d = {
                "parentUuid": par,
                "isSidechain": self.side,
                "userType": "external",
                "cwd": s.cwd,
                "sessionId": s.sid,
                "version": s.spec.version,
            }
            if s.branch is not None:
                d["gitBranch"] = s.branch
            if self.agent_id:
                d["agentId"] = self.agent_id
            if s.slug:
                d["slug"] = s.slug
            if head:
                d.update(head)
            if typ == "assistant":
                d.update(body)
                d["type"] = typ
            else:
                d["type"] = typ
                d.update(body)
            d["uuid"] = u
            d["timestamp"] = iso(s.t)
            if tail:
                d.update(tail)
        self.last = u
        if write:
            self.sink.line(d, clean=clean)
        return d

    # usage ---------------------------------------------------------------------------------
    def usage(self, inp: int, cc: int, cr: int, out: int, c1h: int, final: bool) -> dict[str, Any]:
        v = self.s.v
        if v < (1, 0, 100):
            return {
                "input_tokens": inp,
                "cache_creation_input_tokens": cc,
                "cache_read_input_tokens": cr,
                "output_tokens": out,
                "service_tier": "standard",
            }
        if final and v >= (2, 1, 38):
            br = {"ephemeral_1h_input_tokens": c1h, "ephemeral_5m_input_tokens": cc - c1h}
            d = {
                "input_tokens": inp,
                "cache_creation_input_tokens": cc,
                "cache_read_input_tokens": cr,
                "output_tokens": out,
                "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
                "service_tier": "standard",
                "cache_creation": br,
                "inference_geo": "",
                "iterations": [
                    {
                        "input_tokens": inp,
                        "output_tokens": out,
                        "cache_read_input_tokens": cr,
                        "cache_creation_input_tokens": cc,
                        "cache_creation": {
                            "ephemeral_5m_input_tokens": cc - c1h,
                            "ephemeral_1h_input_tokens": c1h,
                        },
                        "type": "message",
                    }
                ],
            }
            if v >= (2, 1, 41):
                d["speed"] = "standard"
            return d
        d = {
            "input_tokens": inp,
            "cache_creation_input_tokens": cc,
            "cache_read_input_tokens": cr,
            "cache_creation": {
                "ephemeral_5m_input_tokens": cc - c1h,
                "ephemeral_1h_input_tokens": c1h,
            },
            "output_tokens": out,
            "service_tier": "standard",
        }
        if v >= (2, 1, 31):
            d["inference_geo"] = "not_available"
        return d

    def message(
        self, model: str, mid: str, block: dict[str, Any], stop: str | None, usage: dict[str, Any]
    ) -> dict[str, Any]:
        v = self.s.v
        if v < (2, 0, 0):
            return {
                "id": mid,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [block],
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": usage,
            }
        m = {
            "model": model,
            "id": mid,
            "type": "message",
            "role": "assistant",
            "content": [block],
            "stop_reason": stop,
            "stop_sequence": None,
        }
        if v >= (2, 1, 100):
            m["stop_details"] = None
        m["usage"] = usage
        if (2, 0, 51) <= v < (2, 1, 100):
            m["context_management"] = None
        return m

    # lines ---------------------------------------------------------------------------------
    def user_text(self, text: str, meta: bool = False, first: bool = False) -> dict[str, Any]:
        s = self.s
        head = {"promptId": s.prompt_id} if (s.new_order and not self.side) else None
        if self.side and s.new_order:
            head = {"promptId": s.prompt_id}
        body: dict[str, Any] = {"message": {"role": "user", "content": text}}
        if meta:
            body["isMeta"] = True
        d = self.env("user", body, head=head, parent=None if first else "__chain__")
        self.mirror(d)
        return d

    def mirror(self, d: dict[str, Any]) -> None:
        """2.1.9-2.1.78: copy a subagent line into the parent file as an agent_progress line."""
        if self.progress is None:
            return
        main, task_id, aid, prompt = self.progress
        inner: dict[str, Any] = {"type": d["type"]}
        if d["type"] == "assistant":
            inner["timestamp"] = d["timestamp"]
            inner["message"] = d["message"]
            if "requestId" in d:
                inner["requestId"] = d["requestId"]
            inner["uuid"] = d["uuid"]
            tuid = "agent_msg_" + d["message"]["id"]
        else:
            inner["message"] = d["message"]
            inner["uuid"] = d["uuid"]
            inner["timestamp"] = d["timestamp"]
            if "toolUseResult" in d:
                inner["toolUseResult"] = d["toolUseResult"]
            tuid = "agent_msg_" + main.s.g.alnum(24)
        body = {
            "data": {
                "message": inner,
                "normalizedMessages": [],
                "type": "agent_progress",
                "prompt": prompt,
                "agentId": aid,
            },
            "toolUseID": tuid,
            "parentToolUseID": task_id,
        }
        main.env("progress", body)

    def system(self, subtype: str | None, fields: dict[str, Any], clean: bool = True) -> None:
        body: dict[str, Any] = {}
        if subtype is not None:
            body["subtype"] = subtype
        body.update(fields)
        self.env("system", body, clean=clean)

    # tools ---------------------------------------------------------------------------------
    def plan_tool(self, allow_task: bool, force_task: bool = False) -> dict[str, Any]:
        s = self.s
        g = s.g
        ct = g.ct
        r = g.rng
        cwd = s.cwd
        names = [
            "Bash",
            "Read",
            "Edit",
            "Grep",
            "Glob",
            "Write",
            "TodoWrite",
            "WebFetch",
            "mcp__github__get_issue",
        ]
        weights = [30, 26, 15, 8, 5, 5, 5, 2, 2]
        if s.v < (2, 0, 0):
            names.append("MultiEdit")
            weights.append(3)
        if allow_task:
            names.append(s.task_name)
            weights.append(7)
        name = s.task_name if force_task else r.choices(names, weights)[0]
        tid = "toolu_01" + g.alnum(22)
        if name == "Bash":
            inp: dict[str, Any] = {
                "command": ct.c(
                    f"{r.choice(['pytest -q', 'git status', 'npm test', 'make build', 'rg -n', 'ls -la', 'cargo check'])} {ct.rel_path()}"
                ),
                "description": ct.words(r.randint(3, 7)),
            }
        elif name in ("Read",):
            inp = {"file_path": ct.path(cwd)}
        elif name in ("Edit", "MultiEdit"):
            inp = {
                "file_path": ct.path(cwd),
                "old_string": ct.code(ct.n(300, 1.0, 10, 4000)),
                "new_string": ct.code(ct.n(350, 1.0, 10, 4000)),
            }
        elif name == "Write":
            inp = {"file_path": ct.path(cwd), "content": ct.code(ct.n(4000, 1.0, 40, 40000))}
        elif name == "Grep":
            inp = {
                "pattern": ct.c(ct.word()),
                "path": ct.path(cwd),
                "output_mode": "files_with_matches",
            }
        elif name == "Glob":
            inp = {"pattern": ct.c(f"**/*{ct.word()}*.py")}
        elif name == "TodoWrite":
            inp = {
                "todos": [
                    {
                        "content": ct.words(r.randint(3, 9)),
                        "status": r.choice(["pending", "in_progress", "completed"]),
                        "activeForm": ct.words(r.randint(2, 5)),
                    }
                    for _ in range(r.randint(1, 5))
                ]
            }
        elif name == "WebFetch":
            inp = {
                "url": ct.c(f"https://docs.example.com/{ct.word()}/{ct.word()}").replace(" ", "/"),
                "prompt": ct.words(r.randint(5, 15)),
            }
        elif name == "mcp__github__get_issue":
            inp = {
                "owner": ct.c("acme"),
                "repo": ct.c(s.project_name),
                "issue_number": r.randint(1, 4000),
            }
        else:  # Task / Agent
            inp = {
                "description": ct.words(r.randint(2, 5)),
                "prompt": ct.prose(ct.n(800, 0.8, 40, 8000)),
                "subagent_type": r.choice(["general-purpose", "general-purpose", "Explore"]),
            }
        blk: dict[str, Any] = {"type": "tool_use", "id": tid, "name": name, "input": inp}
        if s.v >= (2, 1, 17):
            blk["caller"] = {"type": "direct"}
        outcome = "ok"
        x = r.random() / (3 if g.small else 1)
        if (
            (name == "Bash" and x < 0.08)
            or (name in ("Edit", "MultiEdit") and x < 0.06)
            or (name == "Read" and x < 0.03)
        ):
            outcome = "error"
        return {"block": blk, "id": tid, "name": name, "input": inp, "outcome": outcome}

    def tool_result(self, tu: dict[str, Any], auuid: str) -> None:
        """Write the user tool_result line answering tu (and run a subagent for Task)."""
        s = self.s
        g = s.g
        ct = g.ct
        r = g.rng
        name = tu["name"]
        inp = tu["input"]
        outcome = tu["outcome"]
        is_error = outcome in ("error", "reject")
        if name == s.task_name and outcome == "ok":
            content, tur = s.run_subagent(self, tu)
        elif outcome == "reject":
            content = (
                "The user doesn't want to proceed with this tool use. The tool use was rejected "
                "(eg. if it was a file edit, the new_string was NOT written to the file). STOP what "
                "you are doing and wait for the user to tell you how to proceed."
            )
            content = ct.c(content)
            tur = ct.c("User rejected tool use")
        elif name == "Bash":
            if outcome == "error":
                out = ct.code(ct.n(600, 1.0, 20, 20000))
                content = "Exit code 1\n" + out
                tur = "Error: Exit code 1\n" + out
            else:
                out = ct.code(ct.tool_output_len())
                content = out
                tur = {"stdout": out, "stderr": "", "interrupted": False, "isImage": False}
                if s.v >= (2, 1, 0):
                    tur["noOutputExpected"] = False
        elif name == "Read":
            if outcome == "error":
                content = ct.c("<tool_use_error>File does not exist.</tool_use_error>")
                tur = ct.c("Error: File does not exist.")
            else:
                n = ct.tool_output_len() if r.random() < 0.3 else ct.n(8000, 0.9, 40, 80000)
                content = ct.numbered(n)
                body = ct.code(n)
                nl = body.count("\n") + 1
                tur = {
                    "type": "text",
                    "file": {
                        "filePath": inp["file_path"],
                        "content": body,
                        "numLines": nl,
                        "startLine": 1,
                        "totalLines": nl,
                    },
                }
        elif name in ("Edit", "MultiEdit"):
            if outcome == "error":
                content = (
                    ct.c("<tool_use_error>String to replace not found in file.\nString: ")
                    + inp["old_string"]
                    + "</tool_use_error>"
                )
                tur = "Error: String to replace not found in file.\nString: " + inp["old_string"]
            else:
                snippet = ct.numbered(ct.n(1200, 0.8, 40, 12000))
                content = (
                    ct.c(
                        f"The file {inp['file_path']} has been updated. Here's the result of running `cat -n` on a snippet of the edited file:\n"
                    )
                    + snippet
                )
                tur = {
                    "filePath": inp["file_path"],
                    "oldString": inp["old_string"],
                    "newString": inp["new_string"],
                    "originalFile": ct.code(ct.n(9000, 1.0, 40, 120000)),
                    "structuredPatch": [
                        {
                            "oldStart": r.randint(1, 400),
                            "oldLines": 3,
                            "newStart": r.randint(1, 400),
                            "newLines": 4,
                            "lines": [
                                ct.c("-" + inp["old_string"][:80]),
                                ct.c("+" + inp["new_string"][:80]),
                            ],
                        }
                    ],
                    "userModified": False,
                    "replaceAll": False,
                }
        elif name == "Write":
            content = ct.c(f"File created successfully at: {inp['file_path']}")
            tur = {
                "type": "create",
                "filePath": inp["file_path"],
                "content": inp["content"],
                "structuredPatch": [],
            }
        elif name == "Grep":
            files = [ct.path(s.cwd) for _ in range(r.randint(1, 30))]
            content = ct.c(f"Found {len(files)} files\n") + "\n".join(files)
            tur = {"mode": "files_with_matches", "filenames": files, "numFiles": len(files)}
        elif name == "Glob":
            files = [ct.path(s.cwd) for _ in range(r.randint(1, 40))]
            content = "\n".join(files)
            tur = {
                "filenames": files,
                "durationMs": r.randint(3, 400),
                "numFiles": len(files),
                "truncated": False,
            }
        elif name == "TodoWrite":
            content = ct.c(
                "Todos have been modified successfully. Ensure that you continue to use the todo list to track your progress. Please proceed with the current tasks if applicable"
            )
            tur = {"oldTodos": [], "newTodos": inp["todos"]}
        elif name == "WebFetch":
            res = ct.prose(ct.n(2500, 1.0, 40, 30000))
            content = res
            tur = {
                "bytes": len(res) * 3,
                "code": 200,
                "codeText": "OK",
                "result": res,
                "durationMs": r.randint(300, 9000),
                "url": inp["url"],
            }
        else:  # mcp
            res = ct.prose(ct.n(2000, 1.0, 40, 20000))
            content = [{"type": "text", "text": res}]
            tur = [{"type": "text", "text": res}]
        s.tick(50, 30000 if name == "Bash" else 3000)
        blk: dict[str, Any] = {"tool_use_id": tu["id"], "type": "tool_result", "content": content}
        if is_error:
            blk["is_error"] = True
        elif r.random() < 0.5:
            blk["is_error"] = False
        tail: dict[str, Any] = {"toolUseResult": tur}
        if s.v >= (2, 1, 1):
            tail["sourceToolAssistantUUID"] = auuid
        head = {"promptId": s.prompt_id} if s.new_order else None
        d = self.env("user", {"message": {"role": "user", "content": [blk]}}, tail=tail, head=head)
        self.mirror(d)
        g.truth.add_tool(AGENT_CLAUDE, name, is_error)
        clen = (
            len(content)
            if isinstance(content, str)
            else sum(len(x.get("text", "")) for x in content)
        )
        self.pending += min(25000, clen // 4 + 10)
        if s.v < (2, 1, 0) and s.v >= (1, 0, 40) and s.v < (1, 0, 60) and r.random() < 0.3:
            # 1.0.4x-1.0.5x untyped hook progress system line
            self.env(
                "system",
                {
                    "content": ct.c(f"Running \x1b[1mPostToolUse:{name}\x1b[22m..."),
                    "isMeta": False,
                    "toolUseID": tu["id"],
                    "level": "info",
                },
            )
        if s.v >= (2, 1, 80) and not self.side and r.random() < 0.4:
            self.env(
                "attachment",
                {
                    "attachment": {
                        "type": "hook_success",
                        "hookName": f"PostToolUse:{name}",
                        "toolUseID": tu["id"],
                        "hookEvent": "PostToolUse",
                        "content": ct.c("Status set to busy"),
                        "stdout": ct.c("Status set to busy\n"),
                        "stderr": "",
                        "exitCode": 0,
                        "command": ct.c("${CLAUDE_PLUGIN_ROOT}/scripts/status.sh busy"),
                        "durationMs": r.randint(40, 400),
                    }
                },
            )
        elif (2, 1, 9) <= s.v <= (2, 1, 78) and r.random() < 0.3:
            self.env(
                "progress",
                {
                    "data": {
                        "type": "hook_progress",
                        "hookEvent": "PostToolUse",
                        "hookName": f"PostToolUse:{name}",
                        "command": ct.c("${CLAUDE_PLUGIN_ROOT}/scripts/capture.sh"),
                    },
                    "parentToolUseID": tu["id"],
                    "toolUseID": tu["id"],
                },
            )

    # api errors ----------------------------------------------------------------------------
    def api_failure(self, final: bool = False) -> bool:
        """Maybe write retry lines; return True when the call finally failed (synthetic line)."""
        s = self.s
        g = s.g
        r = g.rng
        ct = g.ct
        kind = r.choices(API_ERRORS, [25, 50, 12, 13])[0]
        err, status, text10, text2 = kind
        if err == "server_error" and s.v >= (2, 0, 0):
            for att in range(1, r.randint(2, 5)):
                s.tick(500, 12000)
                if r.random() < 0.5:
                    e: dict[str, Any] = {
                        "status": 529,
                        "headers": {},
                        "requestID": "req_011C" + g.alnum(20),
                        "error": {
                            "type": "error",
                            "error": {"type": "overloaded_error", "message": "Overloaded"},
                            "request_id": "req_011C" + g.alnum(20),
                        },
                    }
                else:
                    e = {
                        "cause": {
                            "code": "ECONNRESET",
                            "path": "https://api.anthropic.com/v1/messages?beta=true",
                            "errno": -104,
                        }
                    }
                self.system(
                    "api_error",
                    {
                        "level": "error",
                        "error": e,
                        "retryInMs": 1000 * 2 ** (att - 1),
                        "retryAttempt": att,
                        "maxRetries": 10,
                    },
                )
                g.truth.note("claude.api_error_retry_line")
            if not final and r.random() < 0.6:
                return False  # retries recovered; the call goes on normally
        s.tick(800, 20000)
        text = text10.format(epoch=(s.t // 1000) + 3 * 3600) if s.v < (2, 0, 0) else text2
        usage: dict[str, Any] = {
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
            "service_tier": None,
        }
        if s.v >= (1, 0, 100):
            usage["cache_creation"] = {
                "ephemeral_1h_input_tokens": 0,
                "ephemeral_5m_input_tokens": 0,
            }
        if s.v >= (2, 1, 31):
            usage.update({"inference_geo": None, "iterations": None, "speed": None})
        msg = {
            "id": g.uid(),
            "container": None,
            "model": SYNTHETIC,
            "role": "assistant",
            "stop_reason": "stop_sequence",
            "stop_sequence": "",
            "type": "message",
            "usage": usage,
            "content": [{"type": "text", "text": ct.c(text)}],
        }
        self.env(
            "assistant",
            {"message": msg},
            tail={"error": err, "isApiErrorMessage": True, "apiErrorStatus": status},
        )
        g.truth.add_call(AGENT_CLAUDE, SYNTHETIC, s.t, error=True)
        g.truth.note("claude.synthetic_api_error")
        return True

    def notice(self) -> None:
        """A non-error <synthetic> line ('No response requested.'): not a call."""
        s = self.s
        s.tick(50, 500)
        usage = {
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
            "service_tier": None,
        }
        msg = {
            "id": s.g.uid(),
            "container": None,
            "model": SYNTHETIC,
            "role": "assistant",
            "stop_reason": "stop_sequence",
            "stop_sequence": "",
            "type": "message",
            "usage": usage,
            "content": [{"type": "text", "text": s.g.ct.c("No response requested.")}],
        }
        self.env("assistant", {"message": msg})
        s.g.truth.note("claude.synthetic_notice")

    # one API call -------------------------------------------------------------------------
    def round(
        self,
        *,
        last: bool,
        allow_task: bool,
        tools: bool = True,
        text: str | None = None,
        force_task: bool = False,
    ) -> str:
        """One API response (several lines) and its tool results. Returns ok|failed|interrupted."""
        s = self.s
        g = s.g
        r = g.rng
        ct = g.ct
        spec = s.spec
        if spec.force_fail and not self.side and not force_task and not s.failed_once:
            s.failed_once = True
            if self.api_failure(final=True):
                return "failed"
        if (
            spec.api_errors
            and not self.side
            and not force_task
            and r.random() < (0.3 if g.small else 0.04)
            and self.api_failure()
        ):
            return "failed"
        blocks: list[dict[str, Any]] = []
        plans: list[dict[str, Any] | None] = []
        if self.model != M_HAIKU45 and r.random() < (0.2 if g.small else 0.45):
            blocks.append(
                {
                    "type": "thinking",
                    "thinking": ct.prose(ct.n(1500, 1.0, 20, 30000)),
                    "signature": ct.b64(r.randint(60, 200) if g.small else r.randint(200, 1600)),
                }
            )
            plans.append(None)
        if last or r.random() < (0.3 if g.small else 0.6) or text is not None:
            blocks.append(
                {
                    "type": "text",
                    "text": text if text is not None else ct.prose(ct.n(700, 0.9, 10, 15000)),
                }
            )
            plans.append(None)
        if not last and tools:
            k = (
                r.choices([1, 2], [85, 15])[0]
                if g.small
                else r.choices([1, 2, 3, 4], [60, 25, 10, 5])[0]
            )
            for j in range(k):
                p = self.plan_tool(allow_task, force_task and j == 0)
                blocks.append(p["block"])
                plans.append(p)
        if not blocks:
            blocks.append({"type": "text", "text": ct.prose(ct.n(400, 0.9, 10, 8000))})
            plans.append(None)
        if s.straddle and len(blocks) == 1:
            blocks.insert(0, {"type": "text", "text": ct.prose(ct.n(400, 0.9, 10, 8000))})
            plans.insert(0, None)
        # interruption of the last tool use: rejected by the user or left unanswered
        interrupted = False
        tool_idx = [i for i, p in enumerate(plans) if p is not None]
        if tool_idx and not self.side:
            lastp = plans[tool_idx[-1]]
            assert lastp is not None
            x = r.random()
            k = 4 if g.small else 1
            if lastp["name"] in ("Bash", "Edit", "Write") and x < 0.03 * k:
                lastp["outcome"] = "reject"
                interrupted = True
            elif lastp["name"] != s.task_name and x < 0.045 * k:
                lastp["outcome"] = "unanswered"
                interrupted = True
        # usage for this call
        new = self.pending + r.randint(20, 300)
        self.pending = 0
        stop = "end_turn" if last else ("tool_use" if tool_idx else "end_turn")
        inp = r.choice([1, 2, 3, 3, 4, 4, 6, 8, 10])
        ttl = 3_600_000 if spec.cache1h else 300_000
        if spec.nocache:
            inp = self.ctx + new
            cr = cc = 0
        elif self.last_call_ms and s.t - self.last_call_ms > ttl:
            cr = min(self.sys_tokens, self.ctx)
            cc = max(0, self.ctx - cr + new - inp)
        elif not self.last_call_ms:
            cr = 0 if r.random() < 0.4 else min(self.sys_tokens, self.ctx)
            cc = max(0, self.ctx - cr + new - inp)
        else:
            cr = self.ctx
            cc = max(0, new - inp)
        if spec.nocache:
            self.ctx = inp
        else:
            self.ctx = cr + cc + inp
        c1h = 0
        if spec.cache1h and s.v >= (1, 0, 100) and not self.side:
            c1h = cc if r.random() < 0.8 else cc * r.randint(3, 8) // 10
        chars = sum(len(b.get("text") or b.get("thinking") or "") for b in blocks)
        chars += sum(
            len(msgspec.json.encode(b["input"])) for b in blocks if b["type"] == "tool_use"
        )
        out_final = max(1, min(32000, int(chars / 3.6) + r.randint(5, 250)))
        n = len(blocks)
        final_all = self.final_all
        if final_all:
            outs = [out_final] * n
            stops: list[str | None] = [stop] * n
        elif r.random() < spec.placeholder_only:
            ph = r.randint(1, 12)
            outs = [ph] * n
            if n > 1 and r.random() < 0.4:
                outs[r.randrange(n)] = r.randint(ph, 14)
            stops = [None] * n
            g.truth.note("claude.placeholder_only_group")
        else:
            ph = r.randint(1, 12)
            outs = [ph] * (n - 1) + [out_final]
            stops = [None] * (n - 1) + [stop]
            if n > 1:
                g.truth.note("claude.placeholder_then_final_group")
        best = max(outs)
        kept = max(i for i in range(n) if outs[i] == best)
        mid = s.msg_prefix + g.alnum(22)
        req = None if spec.no_reqid else "req_011C" + g.alnum(20)
        s.tick(1500, 25000)
        if s.straddle and n > 1:
            # a session started just before midnight: let this group cross it (UTC day of the
            # kept line differs from the day of the group's first line)
            s.straddle = False
            edge = (s.t // DAY_MS + 1) * DAY_MS
            if edge - s.t < 600_000:
                s.t = max(s.t, edge - r.randint(150, 1500))
        kept_ts = first_ts = 0
        pending_results: list[tuple[dict[str, Any], str]] = []
        final_usage: dict[str, Any] = {}
        for i, blk in enumerate(blocks):
            if i:
                s.tick(200, 9000 if blk["type"] != "tool_use" else 3000)
            usage = self.usage(inp, cc, cr, outs[i], c1h, stops[i] is not None or final_all)
            body: dict[str, Any] = {"message": self.message(self.model, mid, blk, stops[i], usage)}
            if req is not None:
                body["requestId"] = req
            d = self.env("assistant", body)
            self.mirror(d)
            if i == 0:
                first_ts = s.t
            if i == kept:
                kept_ts = s.t
                final_usage = usage
            p = plans[i]
            if p is not None:
                self.tool_uses += 1
                if s.interleave and not self.side:
                    if p["outcome"] != "unanswered":
                        self.tool_result(p, d["uuid"])
                else:
                    pending_results.append((p, d["uuid"]))
        g.truth.add_call(
            AGENT_CLAUDE,
            self.model,
            kept_ts,
            input_tokens=inp,
            output_tokens=best,
            cache_read=cr,
            cache_creation=cc,
            cache_1h=c1h if s.v >= (1, 0, 100) else 0,
        )
        if req is None:
            g.truth.note("claude.call_without_request_id")
        if self.side:
            g.truth.note(
                "claude.subagent_call" if self.agent_id else "claude.inline_sidechain_call"
            )
        if c1h:
            g.truth.note("claude.call_with_1h_cache_write")
        if n > 1 and blocks[kept] is not blocks[-1]:
            g.truth.note("claude.kept_line_not_last")
        if utc_day(kept_ts) != utc_day(first_ts):
            g.truth.note("claude.group_across_midnight")
        self.tokens_total = inp + cc + cr + best
        self.last_usage = final_usage
        self.last_call_ms = s.t
        self.pending += best
        if not self.side and req is not None:
            txt = next((b["text"] for b in blocks if b["type"] == "text"), None)
            self.calls.append((mid, self.model, final_usage, txt))
        for p, auuid in pending_results:
            if p["outcome"] != "unanswered":
                self.tool_result(p, auuid)
        if interrupted:
            s.tick(500, 20000)
            self.user_text(ct.c("[Request interrupted by user for tool use]"))
            if spec.notice and r.random() < 0.5 and s.v >= (2, 0, 0):
                self.notice()
            return "interrupted"
        return "ok"
