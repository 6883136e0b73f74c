"""Synthetic heavy-user HOME with coding-agent transcripts, and its ground truth.

    python -m tests.synth OUT_DIR --size 1GB --seed 1 [--canary STR] [--agents all|a,b]

writes ``OUT_DIR/home/`` (``.claude``, ``.codex``, ``.gemini``) and ``OUT_DIR/truth.json``
(a sibling of the home, never inside it). Importable: ``generate(home, target_bytes, seed,
canary, agents) -> Truth``. ``agents`` defaults to those three (the benchmark's corpus, byte
for byte as before); ``"all"`` adds the other nine agents' generators (``ALL_SHARES``), each
writing where its discovery looks under HOME with no agent variable set. Session-delta agents
(copilot-cli) record one truth call per (process, model) on the UTC day of its shutdown.

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
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from .claude import ClaudeGen
from .cline import ClineGen
from .codex import CodexGen
from .common import (
    SHARES,
    TOKEN_FIELDS,
    GenBase,
    Pools,
    Truth,
    parse_size,
)
from .copilot import CopilotGen
from .gemini import GeminiGen
from .grok_build import GrokGen
from .kimi_cli import KimiGen
from .opencode import OpenCodeGen
from .pi import PiGen
from .qwen import QwenGen

__all__ = ["ALL_SHARES", "GENERATORS", "TOKEN_FIELDS", "Truth", "generate", "main", "parse_size"]

# Every generator by the agent name it is keyed under (``cline`` also writes roo-code and
# kilo-code tasks: one generator, three agents).
GENERATORS: dict[str, type[GenBase]] = {
    g.agent: g
    for g in (ClaudeGen, CodexGen, GeminiGen, CopilotGen, QwenGen, PiGen, KimiGen,
              OpenCodeGen, ClineGen, GrokGen)
}  # fmt: skip
DEFAULT_AGENTS = ("claude-code", "codex", "gemini-cli")
# Shares of an all-agents history: the three old ones keep their relative sizes (0.7 of SHARES),
# the seven newer generators split the remaining 30 %.
ALL_SHARES: dict[str, float] = {
    **{a: 0.7 * v for a, v in SHARES.items()},
    "copilot-cli": 0.04,
    "qwen-code": 0.04,
    "pi": 0.04,
    "kimi-cli": 0.04,
    "opencode": 0.05,
    "cline": 0.05,
    "grok-build": 0.04,
}

# --------------------------------------------------------------------------------------------
# entry points


def pick(agents: str | Iterable[str] | None) -> tuple[str, ...]:
    """Generator names for ``agents``: None = the default three, "all", or names/"a,b,c"."""
    if agents is None:
        return DEFAULT_AGENTS
    if agents == "all":
        return tuple(GENERATORS)
    names = tuple(a.strip() for a in (agents.split(",") if isinstance(agents, str) else agents))
    unknown = [a for a in names if a not in GENERATORS]
    if unknown or not names:
        raise ValueError(f"unknown agents {unknown}; choose from {', '.join(GENERATORS)} or all")
    return names


def generate(
    home: Path,
    target_bytes: int,
    seed: int = 1,
    canary: str | None = None,
    agents: str | Iterable[str] | None = None,
) -> Truth:
    """Write a synthetic HOME under ``home`` of about ``target_bytes`` and return its truth.

    ``agents``: see ``pick``. The default three get ``SHARES`` (unchanged output); any other
    choice gets ``ALL_SHARES``, renormalised over the chosen generators.
    """
    names = pick(agents)
    shares = SHARES if names == DEFAULT_AGENTS else ALL_SHARES
    total = sum(shares[a] for a in names)
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    truth = Truth()
    truth.seed = seed
    truth.target_bytes = target_bytes
    pools = Pools(seed)
    scale = min(1.0, max(0.04, (target_bytes / (1 << 30)) ** 0.5))
    huge_ok = target_bytes >= 200 * (1 << 20)
    for name in names:
        cls = GENERATORS[name]
        budget = int(target_bytes * shares[name] / total)
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
    ap.add_argument("--agents", default=None, help="all, or a,b,c (default: the first three)")
    args = ap.parse_args(argv)
    try:
        target = parse_size(args.size)
        pick(args.agents)
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
    truth = generate(home, target, args.seed, args.canary, args.agents)
    truth.write(out / "truth.json")
    dt = time.perf_counter() - t0
    calls = sum(r["calls"] for r in truth.llm.values())
    print(
        f"wrote {truth.bytes:,} bytes in {truth.files:,} files, {calls:,} calls, "
        f"in {dt:.1f}s -> {home}",
        file=sys.stderr,
    )
    return 0
