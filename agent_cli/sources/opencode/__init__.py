"""OpenCode: `opencode*.db` (SQLite, read-only) and legacy `storage/message/<ses>/*.json`
under $XDG_DATA_HOME/opencode or ~/.local/share/opencode (counting rules: docs/counting.md).
"""

from agent_cli.sources.opencode.source import OpenCode

__all__ = ["OpenCode"]
