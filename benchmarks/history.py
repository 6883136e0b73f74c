#!/usr/bin/env python3
"""Synthetic heavy-user HOME with coding-agent transcripts, and its ground truth.

    python benchmarks/history.py OUT_DIR --size 1GB --seed 1 [--canary STR]

writes ``OUT_DIR/home/`` (``.claude``, ``.codex``, ``.gemini``) and ``OUT_DIR/truth.json``
(a sibling of the home, never inside it). Importable: ``generate(home, target_bytes, seed,
canary) -> Truth``.

The truth is computed from the generator's own model of the API calls and tool calls it decided
to make, never by reading the files back. Counting rules are the ones of ``DESIGN.md``:

* ``llm`` keyed ``"agent|model|YYYY-MM-DD"`` (UTC day of the event timestamp) with ``calls``,
  ``error_calls`` and the normalised token fields (``input_tokens`` = uncached input,
  ``cache_read_tokens``, ``cache_creation_tokens`` = all cache writes with the 1 h part also in
  ``cache_creation_1h_tokens``, ``output_tokens`` incl. reasoning, ``reasoning_tokens``).
* ``tools`` keyed ``"agent|tool_name"`` with ``calls`` and ``errors`` (answered tool calls only;
  a call copied into another file, a replayed parent history or a progress payload is counted
  once or not at all).
* Event timestamps: Claude = the kept line of a (message.id, requestId) group (largest usage,
  on ties the last such line of the group); Codex = the ``token_count`` line whose running total
  grew; Gemini = the message ``timestamp``.

Decisions the truth encodes (where DESIGN.md leaves room):

* Claude: a ``<synthetic>`` line with ``isApiErrorMessage`` is one error call under the model
  ``<synthetic>`` (zero tokens), keyed by its message.id (a fork copy counts once); a
  ``<synthetic>`` notice without it ("No response requested.") is no call. A ``/btw`` file holds
  replays of parent messages (same message.id, new requestId, sidechain: not counted) and then
  one real answer call (new ids: counted). ``agent-acompact-*`` files hold a real, counted
  compaction call. 1.0.x usage has no ``cache_creation`` breakdown: its 1 h part is 0.
* Claude tools: a ``tool_use`` counts once it has a ``tool_result`` (any file, deduplicated by
  tool_use id, so fork copies count once); ``is_error: true`` (incl. user rejections) is an
  error; unanswered tool uses (interrupts) are not counted; copies inside ``progress`` payloads
  and ``toolUseResult`` are never counted.
* Codex: a child file (subagent or fork) replays its parent before its own first
  ``turn_context``; nothing in the replay counts (neither token growth nor tool calls). Tools are
  ``function_call``/``custom_tool_call`` items answered by an output; errors are exit code != 0
  (``exec_command_end.exit_code``, "Process exited with code N", ``shell`` metadata.exit_code)
  and ``apply_patch verification failed``. A post-compaction ``token_count`` (total unchanged,
  ``last`` all zero but ``total_tokens``) is no call.
* Gemini: calls are ``type: "gemini"`` messages with ``tokens``, last record per message id,
  deduplicated across a ``.json`` and its ``.jsonl`` twin; ``info`` messages are no calls; tools
  are the ``toolCalls`` of that last record, ``status: "error"`` is an error.

Everything is deterministic for a seed (same bytes, same truth). Content is sliced from pre-built
random text pools, and lines are encoded with msgspec, so 1 GB takes well under two minutes.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import random
import re
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgspec

__all__ = ["Truth", "generate", "parse_size"]

AGENT_CLAUDE = "claude-code"
AGENT_CODEX = "codex"
AGENT_GEMINI = "gemini-cli"

TOKEN_FIELDS = (
    "calls",
    "error_calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "cache_creation_1h_tokens",
    "reasoning_tokens",
)

WINDOW_START_MS = 1772409600000  # 2026-03-02T00:00:00Z
WINDOW_DAYS = 60
DAY_MS = 86_400_000
CODEX_LOCAL_OFFSET_MS = 3_600_000  # the user's local time is UTC+1 (rollout names and dirs)

SHARES = {AGENT_CLAUDE: 0.85, AGENT_CODEX: 0.10, AGENT_GEMINI: 0.05}

_ENC = msgspec.json.Encoder()
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_HEX = "0123456789abcdef"


# --------------------------------------------------------------------------------------------
# small helpers


def iso(ms: int) -> str:
    """UTC ISO-8601 with milliseconds, the shape every agent writes."""
    s, r = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{r:03d}Z"


def utc_day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


def parse_size(text: str | int) -> int:
    """'300KB', '1GB', '1.5 GiB', '123' -> bytes (binary multiples)."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?b)?\s*", text.lower())
    if not m:
        raise ValueError(f"not a size: {text!r} (try 300KB, 500MB, 1GB)")
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2)]
    return int(float(m.group(1)) * mult)


def vt(version: str) -> tuple[int, int, int]:
    a, b, c = (int(x) for x in re.findall(r"\d+", version)[:3])
    return (a, b, c)


def _compact(obj: Any, ensure_ascii: bool = False) -> str:
    """JSON text the way Codex stores arguments/outputs (no spaces)."""
    return json.dumps(obj, ensure_ascii=ensure_ascii, separators=(",", ":"))


def encode_cwd(cwd: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]", "-", cwd)


# --------------------------------------------------------------------------------------------
# ground truth


class Truth:
    """Expected totals, filled by the generators while they decide what to write."""

    def __init__(self) -> None:
        self.llm: dict[str, dict[str, int]] = {}
        self.tools: dict[str, dict[str, int]] = {}
        self.patterns: dict[str, int] = {}
        self.files = 0
        self.bytes = 0
        self.bytes_by_agent: dict[str, int] = {}
        self.files_by_agent: dict[str, int] = {}
        self.seed = 0
        self.target_bytes = 0

    def add_call(
        self,
        agent: str,
        model: str,
        ts_ms: int,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read: int = 0,
        cache_creation: int = 0,
        cache_1h: int = 0,
        reasoning: int = 0,
        error: bool = False,
    ) -> None:
        key = f"{agent}|{model}|{utc_day(ts_ms)}"
        row = self.llm.get(key)
        if row is None:
            row = self.llm[key] = dict.fromkeys(TOKEN_FIELDS, 0)
        row["calls"] += 1
        row["error_calls"] += int(error)
        row["input_tokens"] += input_tokens
        row["output_tokens"] += output_tokens
        row["cache_read_tokens"] += cache_read
        row["cache_creation_tokens"] += cache_creation
        row["cache_creation_1h_tokens"] += cache_1h
        row["reasoning_tokens"] += reasoning

    def add_tool(self, agent: str, name: str, error: bool) -> None:
        key = f"{agent}|{name}"
        row = self.tools.get(key)
        if row is None:
            row = self.tools[key] = {"calls": 0, "errors": 0}
        row["calls"] += 1
        row["errors"] += int(error)

    def note(self, pattern: str, n: int = 1) -> None:
        self.patterns[pattern] = self.patterns.get(pattern, 0) + n

    def add_file(self, agent: str, size: int) -> None:
        self.files += 1
        self.bytes += size
        self.files_by_agent[agent] = self.files_by_agent.get(agent, 0) + 1
        self.bytes_by_agent[agent] = self.bytes_by_agent.get(agent, 0) + size

    def totals(self, agent: str | None = None) -> dict[str, int]:
        out = dict.fromkeys(TOKEN_FIELDS, 0)
        for key, row in self.llm.items():
            if agent is None or key.split("|", 1)[0] == agent:
                for f in TOKEN_FIELDS:
                    out[f] += row[f]
        return out

    def to_dict(self) -> dict[str, Any]:
        agents = sorted({k.split("|", 1)[0] for k in self.llm})
        return {
            "schema": 1,
            "seed": self.seed,
            "target_bytes": self.target_bytes,
            "bytes": self.bytes,
            "files": self.files,
            "bytes_by_agent": dict(sorted(self.bytes_by_agent.items())),
            "files_by_agent": dict(sorted(self.files_by_agent.items())),
            "totals": {a: self.totals(a) for a in agents},
            "llm": dict(sorted(self.llm.items())),
            "tools": dict(sorted(self.tools.items())),
            "patterns": dict(sorted(self.patterns.items())),
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=False) + "\n")


# --------------------------------------------------------------------------------------------
# content pools


_REAL_WORDS = (
    "the a an of to in for on with from by is are was be this that it as at or and not "
    "function return value error request config cache token user file module test build data "
    "index handler client server session parse update check result list map state event query "
    "model path output input line branch commit merge deploy fix add remove refactor import "
    "export async await class struct type interface schema migration retry timeout buffer "
    "stream queue worker thread lock spool cursor offset batch payload header response status "
    "message context window limit price cost usage report metric trace span log level debug"
).split()

_UNICODE = ["→", "é", "—", "“quoted”", "✓", "naïve", "日本語", "Ωmega", "µs", "…"]


class Pools:
    """Big random strings built once; content is sliced from them."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"history:{seed}:pools")
        syl = [
            "ka",
            "lo",
            "mi",
            "ne",
            "ra",
            "to",
            "vu",
            "shi",
            "pe",
            "dra",
            "gon",
            "tel",
            "bar",
            "qui",
            "zen",
            "fo",
            "lix",
            "mar",
            "por",
            "sel",
            "tin",
            "ux",
            "cor",
            "dex",
        ]
        made = ["".join(rng.choices(syl, k=rng.randint(1, 4))) for _ in range(2500)]
        self.words = _REAL_WORDS + made
        w = self.words
        # prose: markdown-ish paragraphs
        parts: list[str] = []
        size = 0
        while size < 3_000_000:
            r = rng.random()
            if r < 0.06:
                s = "## " + " ".join(rng.choices(w, k=rng.randint(2, 6))).title()
            elif r < 0.2:
                s = "- " + " ".join(rng.choices(w, k=rng.randint(4, 14))) + "."
            elif r < 0.24:
                s = "`" + rng.choice(w) + "." + rng.choice(w) + "()` " + rng.choice(_UNICODE)
            else:
                n = rng.randint(2, 5)
                s = " ".join(
                    " ".join(rng.choices(w, k=rng.randint(5, 18))).capitalize() + "."
                    for _ in range(n)
                )
            parts.append(s)
            size += len(s) + 1
        self.prose = "\n".join(parts)
        # code: several languages' shapes, quotes and backslashes included
        lines: list[str] = []
        size = 0
        while size < 3_000_000:
            ind = " " * (4 * rng.randint(0, 3))
            a, b, c, d = rng.choices(w, k=4)
            r = rng.random()
            if r < 0.15:
                s = f"{ind}def {a}_{b}({c}, {d}=None):"
            elif r < 0.3:
                s = f'{ind}{a} = {b}.{c}("{d}", {rng.randint(0, 999)})'
            elif r < 0.4:
                s = f"{ind}if ({a} && !{b}) {{"
            elif r < 0.5:
                s = f"{ind}return {a}_{b}"
            elif r < 0.58:
                s = f"{ind}# {' '.join(rng.choices(w, k=rng.randint(3, 10)))}"
            elif r < 0.64:
                s = f'{ind}print(f"{a}: {{{b}}}\\n", file=sys.stderr)'
            elif r < 0.7:
                s = ""
            elif r < 0.78:
                s = f"{ind}const {a}{b.title()} = await {c}.{d}({{ {a}: true }});"
            else:
                s = f"{ind}{a}.{b}({c}, {d}) {rng.choice(_UNICODE) if rng.random() < 0.05 else ''}"
            lines.append(s)
            size += len(s) + 1
        self.code = "\n".join(lines)
        self.numbered = "\n".join(f"{i + 1:>6}→{s}" for i, s in enumerate(lines[:60000]))
        self.b64 = base64.b64encode(rng.randbytes(1_500_000)).decode()


class Content:
    """A per-generator view of the pools: its own rng, the canary and the size scale."""

    def __init__(
        self, pools: Pools, rng: random.Random, canary: str | None, scale: float, huge_ok: bool
    ) -> None:
        self.p = pools
        self.rng = rng
        self.canary = canary
        self.m = scale
        self.huge_ok = huge_ok
        self.huge_p = 0.002

    def n(self, median: float, sigma: float = 1.0, lo: int = 12, hi: int = 60_000) -> int:
        x = self.rng.lognormvariate(math.log(max(1.0, median * self.m)), sigma)
        return int(min(hi, max(lo, x)))

    def _cut(self, pool: str, n: int) -> str:
        rng = self.rng
        size = len(pool)
        if n < size:
            i = rng.randrange(size - n)
            return pool[i : i + n]
        out = []
        rem = n
        while rem > 0:
            k = min(rem, size - 1)
            i = rng.randrange(size - k)
            out.append(pool[i : i + k])
            rem -= k
        return "".join(out)

    def c(self, s: str) -> str:
        """Mark a content string with the canary."""
        return s if self.canary is None else f"{s} {self.canary}"

    def prose(self, n: int) -> str:
        return self.c(self._cut(self.p.prose, n))

    def code(self, n: int) -> str:
        return self.c(self._cut(self.p.code, n))

    def numbered(self, n: int) -> str:
        return self.c(self._cut(self.p.numbered, n))

    def words(self, k: int) -> str:
        return self.c(" ".join(self.rng.choices(self.p.words, k=k)))

    def b64(self, n: int) -> str:
        return self._cut(self.p.b64, n)

    def word(self) -> str:
        return self.rng.choice(self.p.words)

    def rel_path(self) -> str:
        r = self.rng
        ext = r.choice([".py", ".py", ".ts", ".go", ".rs", ".md", ".json", ".tsx", ".sql"])
        mid = self.canary if self.canary is not None else r.choice(["src", "lib", "pkg", "app"])
        return f"{mid}/{self.word()}/{self.word()}_{self.word()}{ext}"

    def path(self, cwd: str) -> str:
        return f"{cwd}/{self.rel_path()}"

    def big(self) -> bool:
        """Whether this tool output is one of the rare 1-5 MB ones."""
        return self.huge_ok and self.rng.random() < self.huge_p

    def tool_output_len(self) -> int:
        if self.big():
            return self.rng.randint(1_000_000, 5_000_000)
        return self.n(3000, 1.3, 20, 60_000)


# --------------------------------------------------------------------------------------------
# file writing


class Sink:
    """One output file. Counts bytes, optionally keeps clean lines (copy source)."""

    def __init__(self, truth: Truth, path: Path, agent: str, keep: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.f = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.truth = truth
        self.agent = agent
        self.buf: list[bytes] = []
        self.bufsize = 0
        self.size = 0
        self.kept: list[bytes] | None = [] if keep else None
        self.last_ms = 0

    def line(self, obj: Any, clean: bool = True) -> bytes:
        b = _ENC.encode(obj) + b"\n"
        self.raw(b)
        if clean and self.kept is not None:
            self.kept.append(b)
            if self.size > 3_000_000:
                self.kept = None
        return b

    def raw(self, b: bytes) -> None:
        self.buf.append(b)
        self.bufsize += len(b)
        self.size += len(b)
        if self.bufsize > 4_000_000:
            self.f.write(b"".join(self.buf))
            self.buf = []
            self.bufsize = 0

    def close(self, mtime_ms: int | None = None) -> None:
        if self.buf:
            self.f.write(b"".join(self.buf))
        self.buf = []
        self.f.close()
        if mtime_ms:
            os.utime(self.path, (mtime_ms / 1000, mtime_ms / 1000))
        self.truth.add_file(self.agent, self.size)


def write_file(truth: Truth, path: Path, agent: str, data: bytes, mtime_ms: int | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime_ms:
        os.utime(path, (mtime_ms / 1000, mtime_ms / 1000))
    truth.add_file(agent, len(data))


# --------------------------------------------------------------------------------------------
# shared generator base


PROJECTS = [
    "api-gateway",
    "web-frontend",
    "ml_pipeline",
    "infra.terraform",
    "mobile-app",
    "data-warehouse",
    "auth-service",
    "billing",
    "search-indexer",
    "docs-site",
    "cli-tools",
    "payments-v2",
    "notifications",
    "analytics",
    "design-system",
    "k8s-operators",
    "etl_jobs",
    "feature-flags",
    "admin-portal",
    "chat-bot",
    "scheduler",
    "image-resizer",
    "geo-service",
    "recommendation",
    "ledger",
    "monorepo",
    "sdk-python",
    "sdk-js",
    "website",
    "dotfiles",
]
BRANCHES = [
    "main",
    "main",
    "main",
    "master",
    "develop",
    "HEAD",
    "",
    "feature/{w}",
    "feature/{w}-{w2}",
    "fix/{w}",
    "chore/{w}",
]


class GenBase:
    agent = ""

    def __init__(
        self,
        home: Path,
        budget: int,
        seed: int,
        canary: str | None,
        truth: Truth,
        pools: Pools,
        scale: float,
        huge_ok: bool,
    ) -> None:
        self.home = home
        self.budget = budget
        self.rng = random.Random(f"history:{seed}:{self.agent}")
        self.truth = truth
        self.ct = Content(pools, self.rng, canary, scale, huge_ok)
        self.canary = canary
        self.scale = scale
        self.small = scale < 0.09  # tiny histories (tests): shorter turns so every pattern fits

    # ids -----------------------------------------------------------------------------------
    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def alnum(self, k: int) -> str:
        return "".join(self.rng.choices(_ALNUM, k=k))

    def hexs(self, k: int) -> str:
        return "".join(self.rng.choices(_HEX, k=k))

    def uuid7(self, ms: int) -> str:
        r = self.rng.getrandbits(80)
        x = (ms & ((1 << 48) - 1)) << 80 | (0x7 << 76) | ((r >> 64) & 0xFFF) << 64
        x |= (0b10 << 62) | (r & ((1 << 62) - 1))
        return str(uuid.UUID(int=x))

    def branch(self) -> str:
        b = self.rng.choice(BRANCHES)
        return b.format(w=self.ct.word(), w2=self.ct.word())

    def start_ms(self, margin_days: float = 2.0) -> int:
        span = int((WINDOW_DAYS - margin_days) * DAY_MS)
        return WINDOW_START_MS + self.rng.randrange(span)

    def midnight_ms(self) -> int:
        day = self.rng.randrange(1, WINDOW_DAYS - 3)
        return WINDOW_START_MS + day * DAY_MS - self.rng.randint(20_000, 240_000)


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


class ClaudeGen(GenBase):
    agent = AGENT_CLAUDE

    def __init__(self, *a: Any, **k: Any) -> None:
        super().__init__(*a, **k)
        self.root = self.home / ".claude" / "projects"
        self.cwds = [f"/home/dev/src/{p}" for p in PROJECTS]
        self.copy_src: dict[int, list[CopySrc]] = {}
        self.written = 0

    # schedule ------------------------------------------------------------------------------
    def forced(self) -> list[CSpec]:
        """Sessions that guarantee every pattern even at a tiny size (deterministic order).

        Subagent sessions get a Task/Agent call in their first turn and api_errors sessions a
        final API failure, whatever the dice say."""
        t = self.start_ms
        mid = self.midnight_ms
        s = []
        s.append(
            CSpec(
                0,
                "1.0.51",
                t(),
                0,
                subagents=True,
                api_errors=True,
                torn=True,
                partial_tail=True,
                model=M_SONNET4,
                placeholder_only=0.4,
            )
        )
        s.append(CSpec(1, "2.0.28", t(), 0, subagents=True, warmup=True, api_errors=True))
        s.append(
            CSpec(
                2,
                "2.1.39",
                mid(),
                0,
                subagents=True,
                btw=True,
                compaction=True,
                bad_utf8=True,
                notice=True,
            )
        )
        s.append(CSpec(2, "2.1.39", t(), 0, fork=True))
        s.append(
            CSpec(
                3,
                "2.1.114",
                t(),
                0,
                subagents=True,
                cache1h=True,
                api_errors=True,
                btw=True,
                model=M_OPUS47,
            )
        )
        s.append(CSpec(0, "1.0.51", t(), 0, fork=True, model=M_SONNET4))
        s.append(CSpec(4, "1.0.128", t(), 0, no_reqid=True, subagents=True, model=M_SONNET4))
        s.append(
            CSpec(
                5,
                "2.0.42",
                mid(),
                0,
                api_errors=True,
                partial_tail=True,
                warmup=True,
                subagents=True,
            )
        )
        s.append(
            CSpec(
                6,
                "2.1.78",
                t(),
                0,
                no_reqid=True,
                subagents=True,
                compaction=True,
                cache1h=True,
                model_switch=True,
                min_turns=2,
            )
        )
        s.append(
            CSpec(
                7,
                "1.0.24",
                mid(),
                0,
                subagents=True,
                placeholder_only=0.5,
                model=M_SONNET4,
                torn=True,
            )
        )
        s.append(CSpec(3, "2.1.114", t(), 0, fork=True, model=M_OPUS47))
        s.append(
            CSpec(
                8,
                "2.1.140",
                t(),
                0,
                subagents=True,
                api_errors=True,
                partial_tail=True,
                cache1h=True,
                notice=True,
                model=M_OPUS47,
            )
        )
        s.append(CSpec(9, "2.0.55", t(), 0, no_reqid=True, nocache=True, model=M_SONNET45))
        return s

    def random_spec(self) -> CSpec:
        r = self.rng
        era = r.choices(["1.0", "2.0", "2.1"], [20, 25, 55])[0]
        version = r.choice(CLAUDE_ERAS[era])
        if era == "1.0":
            model = r.choices([M_SONNET4, M_SONNET45], [85, 15])[0]
        elif era == "2.0":
            model = r.choices([M_SONNET45, M_SONNET4, M_OPUS47], [75, 10, 15])[0]
        else:
            model = r.choices([M_OPUS47, M_SONNET45, M_HAIKU45], [50, 45, 5])[0]
        midnight = r.random() < 0.03
        spec = CSpec(
            project=r.randrange(len(PROJECTS)),
            version=version,
            t0=self.midnight_ms() if midnight else self.start_ms(),
            target=0,
            no_reqid=r.random() < 0.05,
            api_errors=r.random() < 0.10,
            subagents=r.random() < 0.35,
            warmup=era == "2.0" and r.random() < 0.5,
            btw=era == "2.1" and r.random() < 0.05,
            fork=r.random() < 0.07,
            cache1h=(era == "2.1" and r.random() < 0.25) or (era == "2.0" and r.random() < 0.05),
            torn=r.random() < 0.01,
            bad_utf8=r.random() < 0.002,
            partial_tail=r.random() < 0.02,
            model_switch=r.random() < 0.05,
            notice=r.random() < 0.03,
            model=model,
        )
        if spec.no_reqid:
            spec.btw = False
            spec.nocache = r.random() < 0.3
        return spec

    def run(self) -> None:
        budget = self.budget
        forced = self.forced()
        big_sizes: list[int] = []
        if budget >= 400 * (1 << 20):
            left = int(budget * 0.4)
            for _ in range(3):
                sz = self.rng.randint(50 << 20, 200 << 20)
                if sz > left:
                    break
                big_sizes.append(sz)
                left -= sz
        remaining = budget - sum(big_sizes)
        n_sessions = max(12, int(7000 * (budget / (1 << 30)) ** 0.65))
        mean = max(4000, remaining / n_sessions)
        i = 0
        big_at = {3 + k * 7: sz for k, sz in enumerate(big_sizes)}
        while forced or self.written < budget:
            if i in big_at:
                spec = CSpec(
                    self.rng.randrange(len(PROJECTS)),
                    self.rng.choice(["2.1.39", "2.1.114"]),
                    WINDOW_START_MS + self.rng.randrange(2 * DAY_MS, 30 * DAY_MS),
                    big_at[i],
                    subagents=True,
                    api_errors=True,
                    cache1h=True,
                    big=True,
                    btw=True,
                    model=M_OPUS47,
                )
                self.truth.note("claude.big_session")
            elif forced:
                spec = forced.pop(0)
                spec.force_task = spec.subagents
                spec.force_fail = spec.api_errors
                spec.target = 0 if self.small else int(mean * self.rng.lognormvariate(0, 0.6) / 1.2)
            else:
                spec = self.random_spec()
                spec.target = int(mean * self.rng.lognormvariate(0, 1.0) / 1.65)
            i += 1
            if spec.fork:
                src = self.copy_src.get(spec.project)
                if not src or not src[-1].bounds:
                    spec.fork = False
            sess = ClaudeSession(self, spec)
            sess.generate()
            self.written += sess.bytes()


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


# --------------------------------------------------------------------------------------------
# entry points


def generate(home: Path, target_bytes: int, seed: int = 1, canary: str | None = None) -> Truth:
    """Write a synthetic HOME under ``home`` of about ``target_bytes`` and return its truth."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    truth = Truth()
    truth.seed = seed
    truth.target_bytes = target_bytes
    pools = Pools(seed)
    scale = min(1.0, max(0.04, (target_bytes / (1 << 30)) ** 0.5))
    huge_ok = target_bytes >= 200 * (1 << 20)
    for cls in (ClaudeGen, CodexGen, GeminiGen):
        budget = int(target_bytes * SHARES[cls.agent])
        cls(home, budget, seed, canary, truth, pools, scale, huge_ok).run()
    return truth


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", type=Path, help="writes OUT_DIR/home/ and OUT_DIR/truth.json")
    ap.add_argument(
        "--size", default="1GB", help="target size, e.g. 300KB, 50MB, 1GB (default 1GB)"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--canary", default=None, help="string planted in every content field")
    args = ap.parse_args(argv)
    try:
        target = parse_size(args.size)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out: Path = args.out_dir
    home = out / "home"
    if home.exists() and any(home.iterdir()):
        if not (out / "truth.json").exists():
            print(
                f"error: {home} exists and was not made by this script; remove it first",
                file=sys.stderr,
            )
            return 2
        shutil.rmtree(home)
        (out / "truth.json").unlink()
    t0 = time.perf_counter()
    truth = generate(home, target, args.seed, args.canary)
    truth.write(out / "truth.json")
    dt = time.perf_counter() - t0
    calls = sum(r["calls"] for r in truth.llm.values())
    print(
        f"wrote {truth.bytes:,} bytes in {truth.files:,} files, {calls:,} calls, in {dt:.1f}s -> {home}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
