"""What the generators of all agents share: ids, sizes and timestamps, the ground truth
(``Truth``), the content pools, the output ``Sink`` and the generator base (projects,
branches, start times).
"""

from __future__ import annotations

import base64
import json
import math
import os
import random
import re
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec

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
