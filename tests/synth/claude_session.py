"""Claude Code: one session (``ClaudeSession``: its files, subagents, forks, side chains) and
its spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from .claude_thread import (
    M_HAIKU45,
    M_SONNET45,
    Thread,
)
from .common import (
    _ENC,
    AGENT_CLAUDE,
    DAY_MS,
    PROJECTS,
    Sink,
    encode_cwd,
    iso,
    vt,
    write_file,
)

if TYPE_CHECKING:
    from .claude import ClaudeGen


@dataclass
class CSpec:
    project: int
    version: str
    t0: int
    target: int
    no_reqid: bool = False
    nocache: bool = False
    api_errors: bool = False
    subagents: bool = False
    warmup: bool = False
    btw: bool = False
    fork: bool = False
    cache1h: bool = False
    torn: bool = False
    bad_utf8: bool = False
    partial_tail: bool = False
    compaction: bool = False
    model_switch: bool = False
    notice: bool = False
    big: bool = False
    placeholder_only: float = 0.2
    model: str = M_SONNET45
    min_turns: int = 1
    force_task: bool = False
    force_fail: bool = False

    @property
    def era(self) -> str:
        return self.version[:3]


@dataclass
class CopySrc:
    sid: str
    spec: CSpec
    lines: list[bytes]
    # (lines so far, ctx tokens, last uuid, time ms, model)
    bounds: list[tuple[int, int, str, int, str]] = field(default_factory=list)


class ClaudeSession:
    def __init__(self, g: ClaudeGen, spec: CSpec) -> None:
        self.g = g
        self.spec = spec
        r = g.rng
        self.v = vt(spec.version)
        self.cwd = g.cwds[spec.project]
        self.project_name = PROJECTS[spec.project]
        self.pdir = g.root / encode_cwd(self.cwd)
        self.sid = g.uid()
        self.t = spec.t0
        self.branch: str | None = g.branch() if self.v >= (1, 0, 55) else None
        self.slug = None
        if self.v >= (2, 0, 51):
            self.slug = f"{g.ct.word()}-{r.choice(['floating', 'dancing', 'humming', 'wandering', 'sleeping'])}-{r.choice(['otter', 'music', 'falcon', 'panda', 'lynx'])}"
        self.new_order = self.v >= (2, 1, 80)
        self.interleave = self.v >= (2, 1, 100)
        self.task_name = "Agent" if self.v >= (2, 1, 100) else "Task"
        self.msg_prefix = "msg_01"
        if spec.no_reqid:
            self.msg_prefix = r.choice(["msg_bdrk_01", "msg_vrtx_01", "msg_01"])
        self.prompt_id = g.uid()
        self.sinks: list[Sink] = []
        self.main_sink = self.new_sink(self.pdir / f"{self.sid}.jsonl", keep=True)
        final_main = (2, 0, 37) <= self.v <= (2, 0, 44) or self.v >= (2, 1, 97)
        self.main = Thread(self, self.main_sink, final_all=final_main)
        self.turns = 0
        self.straddle = DAY_MS - spec.t0 % DAY_MS < 300_000
        self.failed_once = False
        self.bounds: list[tuple[int, int, str, int, str]] = []
        self.journal: Sink | None = None

    # plumbing ------------------------------------------------------------------------------
    def tick(self, lo: int, hi: int) -> None:
        self.t += self.g.rng.randint(lo, hi)

    def new_sink(self, path: Path, keep: bool = False) -> Sink:
        sk = Sink(self.g.truth, path, AGENT_CLAUDE, keep=keep)
        self.sinks.append(sk)
        return sk

    def bytes(self) -> int:
        return sum(sk.size for sk in self.sinks)

    @property
    def sess_dir(self) -> Path:
        return self.pdir / self.sid

    def new_agent_id(self) -> str:
        g = self.g
        if self.v < (2, 1, 0):
            return g.hexs(8)
        if self.v < (2, 1, 100):
            return "a" + g.hexs(6)
        return "a" + g.hexs(16)

    # session -------------------------------------------------------------------------------
    def generate(self) -> None:
        spec = self.spec
        g = self.g
        r = g.rng
        ct = g.ct
        m = self.main
        if (self.spec.era != "2.1" and r.random() < 0.5) or (self.spec.era == "1.0" and spec.fork):
            for _ in range(r.randint(1, 3)):
                self.main_sink.line(
                    {"type": "summary", "summary": ct.words(r.randint(3, 8)), "leafUuid": g.uid()}
                )
                g.truth.note("claude.summary_line")
        if spec.fork:
            self.copy_from_source()
        if self.v >= (2, 1, 80):
            self.main_sink.line(
                {
                    "type": "permission-mode",
                    "permissionMode": r.choice(["default", "acceptEdits", "plan"]),
                    "sessionId": self.sid,
                }
            )
            m.env(
                "attachment",
                {
                    "attachment": {
                        "type": "hook_success",
                        "hookName": "SessionStart:startup",
                        "toolUseID": g.uid(),
                        "hookEvent": "SessionStart",
                        "content": ct.c(""),
                        "stdout": ct.c("session registered\n"),
                        "stderr": "",
                        "exitCode": 0,
                        "command": ct.c("${CLAUDE_PLUGIN_ROOT}/scripts/start.sh"),
                        "durationMs": r.randint(100, 2000),
                    }
                },
                parent=None if m.last is None else "__chain__",
            )
        if spec.warmup and self.spec.era == "2.0":
            for _ in range(r.randint(1, 2)):
                self.warmup()
        target = spec.target
        while True:
            self.turn()
            done = self.main_sink.size if spec.big else self.bytes()
            if done >= target and self.turns >= spec.min_turns:
                break
        self.finish()

    def warmup(self) -> None:
        g = self.g
        aid = self.new_agent_id()
        sink = self.new_sink(self.pdir / f"agent-{aid}.jsonl")
        th = Thread(
            self,
            sink,
            side=True,
            agent_id=aid,
            model=g.rng.choice([M_HAIKU45, self.spec.model]),
            final_all=True,
        )
        th.user_text(g.ct.c("Warmup"), first=True)
        self.tick(500, 3000)
        th.round(last=True, allow_task=False, tools=False)
        sink.close(self.t)
        g.truth.note("claude.warmup_agent_file")

    def copy_from_source(self) -> None:
        g = self.g
        r = g.rng
        src = g.copy_src[self.spec.project][-1]
        b = r.choice(src.bounds[len(src.bounds) // 2 :])
        n_lines, ctx, last_uuid, t_end, model = b
        rewrite = r.random() < 0.6
        old = src.sid.encode()
        new = self.sid.encode()
        for line in src.lines[:n_lines]:
            self.main_sink.raw(line.replace(old, new) if rewrite else line)
            if self.main_sink.kept is not None:
                self.main_sink.kept.append(line.replace(old, new) if rewrite else line)
        self.main.last = last_uuid
        self.main.ctx = ctx
        self.main.model = model
        self.main.last_call_ms = t_end
        self.t = max(self.t, t_end + r.randint(300_000, 2 * DAY_MS))
        g.truth.note("claude.resume_fork_copy")
        g.truth.note("claude.copied_lines", n_lines)

    def turn(self) -> None:
        spec = self.spec
        g = self.g
        r = g.rng
        ct = g.ct
        m = self.main
        first = self.turns == 0 and m.last is None
        self.turns += 1
        if self.turns > 1:
            self.tick(20_000, 1_800_000)
        elif m.last is not None:
            self.tick(500, 15_000)
        self.prompt_id = g.uid()
        if spec.model_switch and self.turns == 2:
            m.system(
                "local_command",
                {
                    "content": ct.c(
                        "<command-name>/model</command-name>\n<command-stdout>Set model to haiku</command-stdout>"
                    ),
                    "level": "info",
                    "isMeta": False,
                },
            )
            m.model = M_HAIKU45 if m.model != M_HAIKU45 else M_SONNET45
            g.truth.note("claude.model_switch")
        if self.v >= (2, 0, 0):
            if r.random() < (0.2 if g.small else 0.5):
                q = ct.prose(ct.n(200, 1.0, 5, 4000))
                for op in ("enqueue", "dequeue"):
                    d = {
                        "type": "queue-operation",
                        "operation": op,
                        "timestamp": iso(self.t),
                        "sessionId": self.sid,
                    }
                    if op == "enqueue":
                        d["content"] = q
                    self.main_sink.line(d)
            self.main_sink.line(
                {
                    "type": "file-history-snapshot",
                    "messageId": g.uid(),
                    "snapshot": {
                        "messageId": g.uid(),
                        "trackedFileBackups": {}
                        if r.random() < 0.7
                        else {
                            ct.path(self.cwd): {
                                "backupFileName": f"{g.hexs(16)}@v1",
                                "version": 1,
                                "backupTime": iso(self.t),
                            }
                        },
                        "timestamp": iso(self.t),
                    },
                    "isSnapshotUpdate": False,
                }
            )
        m.user_text(ct.prose(ct.n(300, 1.0, 5, 20000)), first=first)
        m.pending += r.randint(50, 2000)
        if self.v >= (2, 1, 80) and r.random() < 0.5:
            m.env(
                "attachment",
                {
                    "attachment": {
                        "type": "hook_success",
                        "hookName": "UserPromptSubmit",
                        "toolUseID": g.uid(),
                        "hookEvent": "UserPromptSubmit",
                        "content": ct.c("ok"),
                        "stdout": ct.c("ok\n"),
                        "stderr": "",
                        "exitCode": 0,
                        "command": ct.c("hooks/prompt.sh"),
                        "durationMs": r.randint(20, 300),
                    }
                },
            )
        if spec.bad_utf8 and self.turns == 1:
            self.bad_utf8_line()
        if spec.torn and self.turns in (1, 2):
            self.torn_line()
        start = self.t
        if g.small:
            rounds = r.choices([1, 2, 3], [30, 50, 20])[0]
        else:
            rounds = r.choices([1, 2, 3, 4, 5, 6, 8], [10, 20, 22, 18, 12, 10, 8])[0]
        allow_task = spec.subagents
        if spec.force_task and self.turns == 1 and rounds == 1:
            rounds = 2
        for i in range(rounds):
            force = spec.force_task and self.turns == 1 and i == 0
            st = m.round(last=i == rounds - 1, allow_task=allow_task, force_task=force)
            if st != "ok":
                break
            if m.ctx > 150_000 and (spec.compaction or spec.big or r.random() < 0.5):
                self.compact()
        if spec.compaction and self.turns == 1 and not spec.big:
            self.compact()
        if self.v >= (2, 1, 1):
            self.tick(10, 500)
            f = {"durationMs": self.t - start, "isMeta": False}
            if self.v >= (2, 1, 100):
                f["messageCount"] = r.randint(3, 150)
            m.system("turn_duration", f)
        if self.v >= (2, 1, 14) and r.random() < 0.15:
            m.system(
                "stop_hook_summary",
                {
                    "hookCount": 1,
                    "hookInfos": [
                        {"command": ct.c("hooks/stop.sh"), "durationMs": r.randint(20, 400)}
                    ],
                    "hookErrors": [],
                    "preventedContinuation": False,
                    "stopReason": "",
                    "hasOutput": True,
                    "level": "suggestion",
                    "toolUseID": g.uid(),
                },
            )
        if spec.btw and self.v >= (2, 1, 0) and (self.turns == 1 or r.random() < 0.02) and m.calls:
            self.btw()
        self.bounds.append((len(self.main_sink.kept or []), m.ctx, m.last or "", self.t, m.model))

    def compact(self) -> None:
        g = self.g
        r = g.rng
        ct = g.ct
        m = self.main
        pre = m.ctx
        if self.v >= (2, 1, 39):
            # the summarisation call is recorded in its own sidechain file (counted)
            aid = "acompact-" + g.hexs(6)
            sink = self.new_sink(self.sess_dir / "subagents" / f"agent-{aid}.jsonl")
            th = Thread(self, sink, side=True, agent_id=aid, model=m.model)
            th.ctx = pre
            th.last_call_ms = m.last_call_ms
            th.user_text(
                ct.c("Your task is to create a detailed summary of the conversation so far."),
                first=True,
            )
            th.round(
                last=True, allow_task=False, tools=False, text=ct.prose(ct.n(3000, 0.8, 40, 20000))
            )
            sink.close(self.t)
            g.truth.note("claude.acompact_file")
        self.tick(1000, 60000)
        if self.v >= (2, 0, 0):
            logical = m.last
            m.env(
                "system",
                {
                    "subtype": "compact_boundary",
                    "content": ct.c("Conversation compacted"),
                    "isMeta": False,
                    "level": "info",
                    "compactMetadata": {"trigger": r.choice(["auto", "manual"]), "preTokens": pre},
                },
                head={"logicalParentUuid": logical},
                parent=None,
            )
            m.env(
                "user",
                {
                    "message": {
                        "role": "user",
                        "content": ct.c(
                            "This session is being continued from a previous conversation that ran out of context. "
                        )
                        + ct.prose(ct.n(3000, 0.8, 40, 20000)),
                    },
                    "isVisibleInTranscriptOnly": True,
                    "isCompactSummary": True,
                },
            )
            g.truth.note("claude.compact_boundary")
        m.ctx = m.sys_tokens + r.randint(2000, 9000)
        m.last_call_ms = 0

    def btw(self) -> None:
        """A /btw side question: sidechain file replaying parent messages with new requestIds."""
        g = self.g
        r = g.rng
        ct = g.ct
        m = self.main
        q = ct.prose(ct.n(150, 0.8, 5, 2000))
        m.system(
            "local_command",
            {
                "content": ct.c("<command-name>/btw</command-name>\n<command-args>")
                + q
                + "</command-args>",
                "level": "info",
                "isMeta": False,
            },
        )
        aid = self.new_agent_id()
        sink = self.new_sink(self.sess_dir / "subagents" / f"agent-{aid}.jsonl")
        th = Thread(self, sink, side=True, agent_id=aid, model=m.model)
        th.user_text(q, first=True)
        picks = m.calls[-r.randint(1, 4) :]
        for mid, model, usage, txt in picks:
            self.tick(1, 50)
            blk = {
                "type": "text",
                "text": txt if txt is not None else ct.prose(ct.n(300, 0.8, 5, 3000)),
            }
            msg = th.message(model, mid, blk, "end_turn", usage)
            th.env("assistant", {"message": msg, "requestId": "req_011C" + g.alnum(20)})
            g.truth.note("claude.btw_replayed_line")
        th.ctx = m.ctx
        th.last_call_ms = m.last_call_ms
        self.tick(1000, 8000)
        th.round(last=True, allow_task=False, tools=False)
        sink.close(self.t)
        g.truth.note("claude.btw_file")

    def run_subagent(self, parent: Thread, tu: dict[str, Any]) -> tuple[Any, Any]:
        g = self.g
        r = g.rng
        ct = g.ct
        era = self.spec.era
        prompt = tu["input"]["prompt"]
        model = r.choice([M_HAIKU45, M_HAIKU45, parent.model])
        start = self.t
        aid: str | None = None
        if era == "1.0":
            th = Thread(self, parent.sink, side=True, model=model)
            g.truth.note("claude.inline_sidechain_run")
        else:
            aid = self.new_agent_id()
            if era == "2.0":
                sink = self.new_sink(self.pdir / f"agent-{aid}.jsonl")
                g.truth.note("claude.legacy_agent_file")
            else:
                sink = self.new_sink(self.sess_dir / "subagents" / f"agent-{aid}.jsonl")
                meta = {
                    "agentType": tu["input"].get("subagent_type", "general-purpose"),
                    "description": tu["input"]["description"],
                }
                if self.v >= (2, 1, 100):
                    meta["toolUseId"] = tu["id"]
                write_file(
                    g.truth,
                    self.sess_dir / "subagents" / f"agent-{aid}.meta.json",
                    AGENT_CLAUDE,
                    msgspec.json.encode(meta),
                    self.t,
                )
                g.truth.note("claude.subagents_dir_file")
                if r.random() < 0.5:
                    if self.journal is None:
                        self.journal = self.new_sink(self.sess_dir / "subagents" / "journal.jsonl")
                        g.truth.note("claude.journal_file")
                    self.journal.line(
                        {
                            "type": "started",
                            "agentId": aid,
                            "agentType": meta["agentType"],
                            "description": meta["description"],
                            "timestamp": iso(self.t),
                        }
                    )
            th = Thread(self, sink, side=True, agent_id=aid, model=model)
            if era == "2.1" and (2, 1, 9) <= self.v <= (2, 1, 78):
                th.progress = (parent, tu["id"], aid, prompt)
                g.truth.note("claude.agent_progress_run")
        th.user_text(prompt, first=True)
        if g.small:
            rounds = r.choices([1, 2], [50, 50])[0]
        else:
            rounds = r.choices([1, 2, 3, 4, 6], [15, 25, 25, 20, 15])[0]
        for i in range(rounds):
            th.round(last=i == rounds - 1, allow_task=False)
        res = ct.prose(ct.n(1500, 1.0, 20, 20000))
        if era != "1.0" and th.sink is not parent.sink:
            th.sink.close(self.t)
        usage = th.last_usage or {}
        dur = self.t - start
        content = [{"type": "text", "text": res}]
        if era == "1.0":
            tur: dict[str, Any] = {
                "content": content,
                "totalDurationMs": dur,
                "totalTokens": th.tokens_total,
                "totalToolUseCount": th.tool_uses,
                "usage": usage,
            }
        else:
            tur = {
                "status": "completed",
                "prompt": prompt,
                "agentId": aid,
                "content": content,
                "totalDurationMs": dur,
                "totalTokens": th.tokens_total,
                "totalToolUseCount": th.tool_uses,
                "usage": usage,
            }
            if self.journal is not None and aid is not None and r.random() < 0.8:
                self.journal.line(
                    {
                        "type": "result",
                        "agentId": aid,
                        "status": "completed",
                        "totalTokens": th.tokens_total,
                        "timestamp": iso(self.t),
                    }
                )
        g.truth.note("claude.task_result_with_usage")
        return content, tur

    # malformed lines -----------------------------------------------------------------------
    def torn_line(self) -> None:
        g = self.g
        d = {
            "parentUuid": self.main.last,
            "isSidechain": False,
            "type": "user",
            "message": {"role": "user", "content": g.ct.prose(g.ct.n(400, 0.5, 40, 3000))},
            "uuid": g.uid(),
            "timestamp": iso(self.t),
            "sessionId": self.sid,
        }
        b = _ENC.encode(d)
        cut = g.rng.randint(20, len(b) - 5)
        self.main_sink.raw(b[:cut] + b"\n")
        g.truth.note("claude.torn_line")

    def bad_utf8_line(self) -> None:
        g = self.g
        d = {
            "type": "queue-operation",
            "operation": "enqueue",
            "timestamp": iso(self.t),
            "sessionId": self.sid,
            "content": g.ct.c("pasted text XBADUTF8X from a binary"),
        }
        b = _ENC.encode(d).replace(b"XBADUTF8X", b"\xc3\x28\xff\xfe\xa0") + b"\n"
        self.main_sink.raw(b)
        g.truth.note("claude.invalid_utf8_line")

    def finish(self) -> None:
        g = self.g
        r = g.rng
        ct = g.ct
        spec = self.spec
        if self.v >= (2, 1, 69):
            self.main_sink.line(
                {
                    "type": "last-prompt",
                    "lastPrompt": ct.words(r.randint(3, 12)),
                    "sessionId": self.sid,
                }
            )
        if spec.partial_tail:
            # the next call's first line, cut (or complete but without its newline): not counted
            blk = {"type": "text", "text": ct.prose(ct.n(400, 0.8, 20, 4000))}
            u = self.main.usage(3, 100, self.main.ctx, 5, 0, False)
            body = {
                "message": self.main.message(
                    self.main.model, self.msg_prefix + g.alnum(22), blk, None, u
                )
            }
            if not spec.no_reqid:
                body["requestId"] = "req_011C" + g.alnum(20)
            self.tick(1000, 5000)
            d = self.main.env("assistant", body, write=False)
            b = _ENC.encode(d)
            if r.random() < 0.7:
                b = b[: r.randint(30, len(b) - 3)]
            self.main_sink.raw(b)
            g.truth.note("claude.partial_last_line")
        if self.journal is not None:
            self.journal.close(self.t)
        kept = self.main_sink.kept
        self.main_sink.close(self.t)
        if kept is not None and self.bounds and not spec.big:
            lst = g.copy_src.setdefault(spec.project, [])
            lst.append(CopySrc(self.sid, spec, kept, self.bounds))
            if len(lst) > 3:
                lst.pop(0)
