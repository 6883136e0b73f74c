"""Sources: one package per coding agent, all with the same small interface (`base.Source`).

The registry below is static: one entry per agent, in reading order. Agent packages are
imported when the registry is first asked for, so `agent-cli --help` loads none of them;
an agent package that fails to import fails loudly here. Adding an agent:
docs/adding-an-agent.md.
"""

from __future__ import annotations

from agent_cli.sources.base import Source, SourceFile, walk_files

__all__ = ["AGENT_NAMES", "Source", "SourceFile", "registry", "walk_files"]

# The registry's names, in its order, known without importing an agent (for --help);
# tests/test_source_registry.py checks that the two agree.
AGENT_NAMES = (
    "claude-code", "codex", "gemini-cli", "copilot-cli", "qwen-code", "pi", "kimi-cli",
    "opencode", "grok-build", "cline", "roo-code", "kilo-code",
)  # fmt: skip


def registry() -> dict[str, Source]:
    """Return every known source by agent name, in reading order."""
    from agent_cli.sources.claude_code import ClaudeCode
    from agent_cli.sources.cline import Cline, KiloCode, RooCode
    from agent_cli.sources.codex import Codex
    from agent_cli.sources.copilot_cli import CopilotCli
    from agent_cli.sources.gemini_cli import GeminiCli
    from agent_cli.sources.grok_build import GrokBuild
    from agent_cli.sources.kimi_cli import KimiCli
    from agent_cli.sources.opencode import OpenCode
    from agent_cli.sources.pi import Pi
    from agent_cli.sources.qwen_code import QwenCode

    found: tuple[Source, ...] = (
        ClaudeCode(), Codex(), GeminiCli(), CopilotCli(), QwenCode(), Pi(), KimiCli(), OpenCode(),
        GrokBuild(), Cline(), RooCode(), KiloCode(),
    )  # fmt: skip
    return {s.agent: s for s in found}
