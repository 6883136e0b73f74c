"""Codex CLI: the generator (``CodexGen``) and its sessions (rollouts, subagents, forks)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from .common import (
    AGENT_CODEX,
    CODEX_LOCAL_OFFSET_MS,
    PROJECTS,
    GenBase,
    Sink,
    _compact,
    iso,
    utc_day,
)

# --------------------------------------------------------------------------------------------
# Codex CLI

CODEX_VERSIONS = [
    # cli_version, originator, source, exec_end
    ("0.47.0", "codex_cli_rs", "cli", False),
    ("0.104.0-alpha.1", "Codex Desktop", "vscode", True),
    ("0.118.0", "codex-tui", "cli", True),
    ("0.128.0", "codex_exec", "exec", True),
    ("0.128.0", "codex-tui", "cli", True),
]
CODEX_MODELS = ["gpt-5-codex", "gpt-5.3-codex"]


@dataclass
class XSpec:
    project: int
    vidx: int
    t0: int
    target: int
    child: str | None = None  # "subagent" | "fork"
    min_turns: int = 1
    model_switch: bool = False
    archived: bool = False
    compaction: bool = False


class CodexGen(GenBase):
    agent = AGENT_CODEX

    def run(self) -> None:
        r = self.rng
        forced = [
            XSpec(0, 4, self.start_ms(), 0, child="subagent", model_switch=True, min_turns=2),
            XSpec(1, 1, self.midnight_ms(), 0, archived=True, compaction=True),
            XSpec(2, 0, self.start_ms(), 0, child="fork"),
        ]
        self.ct.huge_p = 0.0
        n_sessions = max(5, int(1200 * (self.budget / (1 << 30)) ** 0.65))
        mean = max(3000, self.budget / n_sessions)
        written = 0
        while forced or written < self.budget:
            if forced:
                spec = forced.pop(0)
                spec.target = 0 if self.small else int(mean * r.lognormvariate(0, 0.5) / 1.13)
            else:
                spec = XSpec(
                    r.randrange(len(PROJECTS)),
                    r.randrange(len(CODEX_VERSIONS)),
                    self.midnight_ms() if r.random() < 0.04 else self.start_ms(),
                    int(mean * r.lognormvariate(0, 1.0) / 1.65),
                    child=r.choices([None, "subagent", "fork"], [84, 11, 5])[0],
                    model_switch=r.random() < 0.15,
                    archived=r.random() < 0.05,
                    compaction=r.random() < 0.1,
                )
            s = CodexSession(self, spec)
            written += s.generate()


class CodexSession:
    def __init__(
        self, g: CodexGen, spec: XSpec, parent: CodexSession | None = None, kind: str | None = None
    ) -> None:
        self.g = g
        self.spec = spec
        r = g.rng
        self.ver, self.originator, self.source, self.exec_end = CODEX_VERSIONS[spec.vidx]
        self.old = self.ver.startswith("0.47")
        self.cwd = f"/home/dev/src/{PROJECTS[spec.project]}"
        self.t = spec.t0
        self.id = g.uuid7(self.t)
        self.model = r.choice(CODEX_MODELS)
        self.total = [0, 0, 0, 0, 0]  # input, cached, output, reasoning, total
        self.ctx = r.randint(8000, 17000)
        self.hist: list[dict[str, Any]] = []  # lines that a child would replay
        self.meta_line: dict[str, Any] | None = None
        self.parent = parent
        self.kind = kind
        self.replayed = False
        self.turn_id = ""
        self.used = r.uniform(0, 40)
        local = self.t + CODEX_LOCAL_OFFSET_MS
        name = (
            "rollout-"
            + time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime(local // 1000))
            + f"-{self.id}.jsonl"
        )
        home = g.home / ".codex"
        if spec.archived:
            path = home / "archived_sessions" / name
            g.truth.note("codex.archived_file")
        else:
            path = home / "sessions" / time.strftime("%Y/%m/%d", time.gmtime(local // 1000)) / name
        self.sink = Sink(g.truth, path, AGENT_CODEX)

    def tick(self, lo: int, hi: int) -> None:
        self.t += self.g.rng.randint(lo, hi)

    def line(
        self, typ: str, payload: dict[str, Any], replayable: bool = True, ts: int | None = None
    ) -> dict[str, Any]:
        d = {"timestamp": iso(self.t if ts is None else ts), "type": typ, "payload": payload}
        self.sink.line(d)
        if replayable:
            self.hist.append(d)
        return d

    def rate_limits(self) -> dict[str, Any]:
        r = self.g.rng
        self.used = min(100.0, self.used + r.random() * 0.5)
        if self.old:
            return {
                "primary": {
                    "used_percent": round(self.used, 1),
                    "window_minutes": 299,
                    "resets_in_seconds": r.randint(100, 18000),
                },
                "secondary": {
                    "used_percent": round(self.used / 4, 1),
                    "window_minutes": 10079,
                    "resets_in_seconds": r.randint(1000, 600000),
                },
            }
        reset = self.t // 1000
        return {
            "limit_id": "codex",
            "limit_name": None,
            "primary": {
                "used_percent": round(self.used, 1),
                "window_minutes": 300,
                "resets_at": reset + r.randint(100, 18000),
            },
            "secondary": {
                "used_percent": round(self.used / 4, 1),
                "window_minutes": 10080,
                "resets_at": reset + r.randint(1000, 600000),
            },
            "credits": None,
            "plan_type": r.choice(["plus", "pro", "team"]),
            "rate_limit_reached_type": None,
        }

    @staticmethod
    def usage_obj(u: list[int]) -> dict[str, int]:
        return {
            "input_tokens": u[0],
            "cached_input_tokens": u[1],
            "output_tokens": u[2],
            "reasoning_output_tokens": u[3],
            "total_tokens": u[4],
        }

    def token_count(self, last: list[int] | None, repeat_ok: bool = True) -> None:
        g = self.g
        r = g.rng
        if last is None:
            self.line(
                "event_msg",
                {"type": "token_count", "info": None, "rate_limits": self.rate_limits()},
            )
            g.truth.note("codex.info_null")
            return
        for i in range(5):
            self.total[i] += last[i]
        info = {
            "total_token_usage": self.usage_obj(self.total),
            "last_token_usage": self.usage_obj(last),
            "model_context_window": 258400,
        }
        self.line(
            "event_msg", {"type": "token_count", "info": info, "rate_limits": self.rate_limits()}
        )
        g.truth.add_call(
            AGENT_CODEX,
            self.model,
            self.t,
            input_tokens=last[0] - last[1],
            output_tokens=last[2],
            cache_read=last[1],
            reasoning=last[3],
        )
        if self.kind is not None:
            g.truth.note(f"codex.{self.kind}_child_call")
        if repeat_ok and r.random() < 0.5:
            self.tick(200, 3000)
            if not self.old and r.random() < 0.5:
                self.line("turn_context", self.turn_context(), replayable=False)
            self.line(
                "event_msg",
                {"type": "token_count", "info": info, "rate_limits": self.rate_limits()},
            )
            g.truth.note("codex.repeated_total")

    def turn_context(self) -> dict[str, Any]:
        if self.old:
            return {
                "cwd": self.cwd,
                "approval_policy": "never",
                "sandbox_policy": {"mode": "danger-full-access"},
                "model": self.model,
                "summary": "auto",
            }
        return {
            "turn_id": self.turn_id,
            "cwd": self.cwd,
            "current_date": utc_day(self.t),
            "timezone": "Europe/Berlin",
            "approval_policy": "on-request",
            "sandbox_policy": {
                "type": "workspace-write",
                "writable_roots": ["/home/dev/.codex/memories"],
                "network_access": False,
                "exclude_tmpdir_env_var": False,
                "exclude_slash_tmp": False,
            },
            "model": self.model,
            "effort": "medium",
            "summary": "auto",
        }

    def session_meta(self) -> dict[str, Any]:
        g = self.g
        r = g.rng
        ct = g.ct
        p: dict[str, Any] = {"id": self.id}
        if self.kind == "fork" or self.kind == "subagent":
            assert self.parent is not None
            p["forked_from_id"] = self.parent.id
        p.update(
            {
                "timestamp": iso(self.t),
                "cwd": self.cwd,
                "originator": self.originator,
                "cli_version": self.ver,
            }
        )
        if self.kind == "subagent":
            assert self.parent is not None
            nick = r.choice(["Confucius", "Hypatia", "Turing", "Noether", "Euler"])
            p["source"] = {
                "subagent": {
                    "thread_spawn": {
                        "parent_thread_id": self.parent.id,
                        "depth": 1,
                        "agent_path": None,
                        "agent_nickname": nick,
                        "agent_role": None,
                    }
                }
            }
            p["agent_nickname"] = nick
        else:
            p["source"] = self.source
        if self.old:
            p["instructions"] = None
        else:
            p["model_provider"] = "openai"
            p["base_instructions"] = {"text": ct.prose(ct.n(6000, 0.3, 200, 20000))}
            name = PROJECTS[self.spec.project]
            p["git"] = {
                "commit_hash": g.hexs(40),
                "branch": g.branch() or "main",
                "repository_url": r.choice(
                    [f"git@github.com:acme/{name}.git", f"https://github.com/acme/{name}.git"]
                ),
            }
        return p

    def generate(self) -> int:
        g = self.g
        r = g.rng
        ct = g.ct
        self.meta_line = self.line("session_meta", self.session_meta(), replayable=False)
        if self.parent is not None:
            self.replay_parent()
        else:
            if not self.old:
                self.line(
                    "response_item",
                    {
                        "type": "message",
                        "role": "developer",
                        "content": [
                            {"type": "input_text", "text": ct.prose(ct.n(3000, 0.5, 100, 12000))}
                        ],
                    },
                )
            self.line(
                "response_item",
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {
                            "type": "input_text",
                            "text": ct.c(
                                f"<environment_context>\n  <cwd>{self.cwd}</cwd>\n  <approval_policy>on-request</approval_policy>\n  <sandbox_mode>workspace-write</sandbox_mode>\n  <shell>bash</shell>\n</environment_context>"
                            ),
                        }
                    ],
                },
            )
        turns = 0
        while True:
            turns += 1
            if self.spec.model_switch and turns == 2 and self.parent is None:
                self.model = CODEX_MODELS[1] if self.model == CODEX_MODELS[0] else CODEX_MODELS[0]
                g.truth.note("codex.model_switch")
            self.turn()
            if self.parent is None and self.spec.child and turns == 1:
                self.spawn_child(self.spec.child)
            if self.parent is not None and (self.g.small or turns >= r.randint(1, 3)):
                break
            if (
                self.parent is None
                and self.sink.size >= self.spec.target
                and turns >= self.spec.min_turns
            ):
                break
            self.tick(30_000, 3_600_000)
        size = self.sink.size
        self.sink.close(self.t)
        return size

    def replay_parent(self) -> None:
        """Child file: the parent's session_meta and history (no turn_context lines)."""
        g = self.g
        p = self.parent
        assert p is not None and p.meta_line is not None
        base = self.t
        keep_ts = self.kind == "fork"
        self.line("session_meta", p.meta_line["payload"], replayable=False, ts=base + 1)
        for d in p.hist:
            if keep_ts:
                self.sink.line(d)
            else:
                self.sink.line(
                    {"timestamp": iso(base + 1), "type": d["type"], "payload": d["payload"]}
                )
        self.total = list(p.total)
        self.ctx = p.ctx
        g.truth.note(f"codex.{self.kind}_replay_lines", len(p.hist))
        self.t = base + g.rng.randint(300, 3000)

    def spawn_child(self, kind: str) -> None:
        g = self.g
        spec = replace(
            self.spec,
            t0=self.t + g.rng.randint(50, 2000),
            target=0,
            child=None,
            model_switch=False,
            archived=False,
            compaction=False,
        )
        child = CodexSession(g, spec, parent=self, kind=kind)
        child.model = g.rng.choice(CODEX_MODELS)
        child.generate()
        g.truth.note(f"codex.{kind}_file")

    def call_usage(self, out_chars: int) -> list[int]:
        r = self.g.rng
        new = r.randint(200, 3000)
        inp = self.ctx + new
        if self.ctx < 12000 and r.random() < 0.5:
            cached = 0
        elif r.random() < 0.08:  # partial cache hit
            cached = (self.ctx // 256) * 128
        else:
            cached = (self.ctx // 128) * 128
        cached = min(cached, inp)
        out = max(8, out_chars // 4 + r.randint(5, 600))
        reasoning = int(out * r.uniform(0, 0.8)) if r.random() < 0.8 else 0
        self.ctx = inp + out
        return [inp, cached, out, reasoning, inp + out]

    def turn(self) -> None:
        g = self.g
        r = g.rng
        ct = g.ct
        self.turn_id = g.uuid7(self.t)
        if not self.old:
            self.line(
                "event_msg",
                {
                    "type": "task_started",
                    "turn_id": self.turn_id,
                    "model_context_window": 258400,
                    "collaboration_mode_kind": "default",
                },
            )
        self.line("turn_context", self.turn_context(), replayable=False)
        prompt = ct.prose(ct.n(300, 1.0, 10, 8000))
        self.line(
            "response_item",
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": prompt}],
            },
        )
        if self.old:
            self.line("event_msg", {"type": "user_message", "message": prompt, "kind": "plain"})
        else:
            self.line(
                "event_msg",
                {
                    "type": "user_message",
                    "message": prompt,
                    "images": [],
                    "local_images": [],
                    "text_elements": [],
                },
            )
        self.ctx += len(prompt) // 4
        self.tick(100, 2000)
        self.token_count(None)
        if g.small:
            rounds = r.choices([1, 2, 3], [20, 50, 30])[0]
        else:
            rounds = r.choices([1, 2, 3, 4, 6, 8], [10, 20, 25, 20, 15, 10])[0]
        for i in range(rounds):
            last = i == rounds - 1
            self.tick(1000, 15000)
            summ = ct.prose(ct.n(200, 0.8, 10, 2000))
            if self.old:
                self.line("event_msg", {"type": "agent_reasoning", "text": summ})
            self.line(
                "response_item",
                {
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": summ}],
                    "content": None,
                    "encrypted_content": "gAAAAAB"
                    + ct.b64(r.randint(60, 300) if g.small else r.randint(300, 3000)),
                },
            )
            out_chars = len(summ)
            if last:
                msg = ct.prose(ct.n(1200, 0.9, 10, 15000))
                out_chars += len(msg)
                self.tick(500, 8000)
                ev: dict[str, Any] = {"type": "agent_message", "message": msg}
                if not self.old:
                    ev["phase"] = "final_answer"
                self.line("event_msg", ev)
                item: dict[str, Any] = {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": msg}],
                }
                if not self.old:
                    item["phase"] = "final_answer"
                self.line("response_item", item)
                self.token_count(self.call_usage(out_chars))
                if not self.old:
                    self.tick(10, 300)
                    self.line(
                        "event_msg",
                        {
                            "type": "task_complete",
                            "turn_id": self.turn_id,
                            "last_agent_message": msg,
                        },
                    )
                break
            if not self.old and r.random() < 0.6:
                msg = ct.prose(ct.n(300, 0.8, 10, 3000))
                out_chars += len(msg)
                self.line(
                    "event_msg", {"type": "agent_message", "message": msg, "phase": "commentary"}
                )
                self.line(
                    "response_item",
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": msg}],
                        "phase": "commentary",
                    },
                )
            ncalls = 1 if g.small else r.choices([1, 2, 3], [60, 30, 10])[0]
            calls = [self.plan_call() for _ in range(ncalls)]
            for c in calls:
                out_chars += len(c["arguments"])
                self.tick(5, 300)
                self.line("response_item", c["item"])
            self.tick(5, 100)
            self.token_count(self.call_usage(out_chars))
            for c in calls:
                self.tick(20, 20000 if c["name"] in ("exec_command", "shell") else 300)
                self.finish_call(c)
            if self.spec.compaction and self.ctx > 120_000 and self.parent is None:
                self.compact()
        if self.spec.compaction and self.parent is None and r.random() < 0.3:
            self.compact()

    def compact(self) -> None:
        g = self.g
        ct = g.ct
        self.tick(1000, 20000)
        self.line(
            "compacted",
            {
                "message": ct.prose(ct.n(500, 0.5, 10, 4000)),
                "replacement_history": [
                    {
                        "type": "message",
                        "role": "user",
                        "content": [
                            {"type": "input_text", "text": ct.prose(ct.n(300, 0.5, 10, 3000))}
                        ],
                    }
                ],
            },
        )
        self.line("event_msg", {"type": "context_compacted"})
        self.ctx = g.rng.randint(9000, 20000)
        info = {
            "total_token_usage": self.usage_obj(self.total),
            "last_token_usage": {
                "input_tokens": 0,
                "cached_input_tokens": 0,
                "output_tokens": 0,
                "reasoning_output_tokens": 0,
                "total_tokens": self.ctx,
            },
            "model_context_window": 258400,
        }
        self.line(
            "event_msg", {"type": "token_count", "info": info, "rate_limits": self.rate_limits()}
        )
        g.truth.note("codex.compaction_marker")

    def plan_call(self) -> dict[str, Any]:
        g = self.g
        r = g.rng
        ct = g.ct
        cid = "call_" + g.alnum(24)
        if self.old:
            name = r.choices(["shell", "apply_patch", "update_plan"], [75, 15, 10])[0]
        else:
            name = r.choices(["exec_command", "apply_patch", "update_plan"], [75, 15, 10])[0]
        error = False
        if name in ("shell", "exec_command"):
            cmd = ct.c(
                f"{r.choice(['rg -n', 'sed -n 1,200p', 'pytest -q', 'cargo test', 'git diff', 'ls'])} {ct.rel_path()}"
            )
            error = r.random() < 0.1
            if name == "shell":
                args = _compact(
                    {"command": ["bash", "-lc", cmd], "workdir": self.cwd}, ensure_ascii=False
                )
            else:
                args = _compact(
                    {
                        "cmd": cmd,
                        "workdir": self.cwd,
                        "yield_time_ms": 1000,
                        "max_output_tokens": 4000,
                    },
                    ensure_ascii=False,
                )
            item = {"type": "function_call", "name": name, "arguments": args, "call_id": cid}
            extra: dict[str, Any] = {"cmd": cmd}
        elif name == "apply_patch":
            path = ct.rel_path()
            patch = (
                f"*** Begin Patch\n*** Update File: {path}\n@@\n-"
                + ct.code(ct.n(300, 1.0, 10, 4000))
                + "\n+"
                + ct.code(ct.n(400, 1.0, 10, 6000))
                + "\n*** End Patch"
            )
            error = r.random() < 0.08
            args = patch
            item = {
                "type": "custom_tool_call",
                "status": "completed",
                "call_id": cid,
                "name": "apply_patch",
                "input": patch,
            }
            extra = {"path": path}
        else:
            args = _compact(
                {
                    "explanation": ct.words(6),
                    "plan": [
                        {
                            "step": ct.words(r.randint(3, 8)),
                            "status": r.choice(["pending", "in_progress", "completed"]),
                        }
                        for _ in range(r.randint(2, 5))
                    ],
                },
                ensure_ascii=False,
            )
            item = {"type": "function_call", "name": name, "arguments": args, "call_id": cid}
            extra = {}
        return {"id": cid, "name": name, "arguments": args, "item": item, "error": error, **extra}

    def finish_call(self, c: dict[str, Any]) -> None:
        g = self.g
        r = g.rng
        ct = g.ct
        name = c["name"]
        err = c["error"]
        if name == "exec_command":
            code = r.choice([1, 2, 127]) if err else 0
            outp = ct.code(ct.tool_output_len() if r.random() < 0.5 else ct.n(1500, 1.0, 10, 20000))
            if self.exec_end:
                self.line(
                    "event_msg",
                    {
                        "type": "exec_command_end",
                        "call_id": c["id"],
                        "process_id": str(r.randint(1000, 99999)),
                        "turn_id": self.turn_id,
                        "command": ["/bin/bash", "-lc", c["cmd"]],
                        "cwd": self.cwd,
                        "parsed_cmd": [{"type": "unknown", "cmd": c["cmd"]}],
                        "source": "unified_exec_startup",
                        "stdout": "",
                        "stderr": "",
                        "aggregated_output": outp[:10000],
                        "exit_code": code,
                        "duration": {"secs": r.randint(0, 30), "nanos": r.randint(0, 999_999_999)},
                        "formatted_output": "",
                        "status": "failed" if code else "completed",
                    },
                )
                g.truth.note("codex.exec_command_end")
            out = (
                f"Command: /bin/bash -lc {c['cmd']}\nChunk ID: {g.hexs(6)}\nWall time: {r.uniform(0, 9):.4f} seconds\n"
                f"Process exited with code {code}\nOriginal token count: {len(outp) // 4}\nOutput:\n{outp}"
            )
            self.line(
                "response_item", {"type": "function_call_output", "call_id": c["id"], "output": out}
            )
            self.ctx += min(20000, len(out) // 4)
        elif name == "shell":
            code = 1 if err else 0
            outp = ct.code(ct.n(1500, 1.0, 10, 20000))
            out = _compact(
                {
                    "output": outp,
                    "metadata": {"exit_code": code, "duration_seconds": round(r.uniform(0, 5), 1)},
                },
                ensure_ascii=False,
            )
            self.line(
                "response_item", {"type": "function_call_output", "call_id": c["id"], "output": out}
            )
            self.ctx += min(20000, len(out) // 4)
        elif name == "apply_patch":
            if err:
                txt = ct.c(
                    f"apply_patch verification failed: Failed to find expected lines in {c['path']}"
                )
            else:
                txt = ct.c(f"Success. Updated the following files:\nM {c['path']}\n")
            if not self.old:
                self.line(
                    "event_msg",
                    {
                        "type": "patch_apply_end",
                        "call_id": c["id"],
                        "turn_id": self.turn_id,
                        "stdout": "" if err else txt,
                        "stderr": txt if err else "",
                        "success": not err,
                        "changes": {
                            c["path"]: {
                                "type": "update",
                                "unified_diff": ct.code(ct.n(300, 0.8, 10, 3000)),
                            }
                        },
                        "status": "failed" if err else "completed",
                    },
                )
            out = (
                txt
                if r.random() < 0.5 or err
                else _compact(
                    {"output": txt, "metadata": {"exit_code": 0, "duration_seconds": 0.0}},
                    ensure_ascii=False,
                )
            )
            self.line(
                "response_item",
                {"type": "custom_tool_call_output", "call_id": c["id"], "output": out},
            )
        else:
            self.line(
                "response_item",
                {"type": "function_call_output", "call_id": c["id"], "output": "Plan updated"},
            )
        g.truth.add_tool(AGENT_CODEX, name, err)
