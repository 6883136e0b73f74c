"""Reader state: a msgspec Struct per agent, stored with the cursor; a bad blob never crashes."""

from __future__ import annotations

from collections import Counter

import msgspec
import pytest

from agent_cli.sources import claude_code, codex, gemini_cli
from agent_cli.sources.claude_code import reader as claude_reader
from agent_cli.sources.codex import reader as codex_reader
from agent_cli.sources.gemini_cli import reader as gemini_reader


def _readers(state: bytes | None, skipped: Counter[str]) -> list[object]:
    return [
        claude_code.ClaudeReader("/x/s.jsonl", state, skipped),
        codex.CodexReader("/x/rollout.jsonl", state, skipped),
        gemini_cli.GeminiJsonlReader(
            "/x/chats/session-a.jsonl", state, skipped, gemini_cli.Projects()
        ),
    ]


def test_codex_state_defaults_are_a_new_readers_attributes() -> None:
    fresh = codex.CodexReader("/x/rollout.jsonl", None, Counter())
    defaults = msgspec.structs.asdict(codex_reader.State())
    assert {k: getattr(fresh, k) for k in codex_reader.STATE_FIELDS} == defaults


@pytest.mark.parametrize(
    "module", [claude_reader, codex_reader, gemini_reader], ids=["claude", "codex", "gemini"]
)
def test_a_new_readers_state_is_the_structs_defaults(module: object) -> None:
    state = module.State  # type: ignore[attr-defined]
    skipped: Counter[str] = Counter()
    for r in _readers(None, skipped):
        if type(r).__module__ == module.__name__:  # type: ignore[attr-defined]
            blob = r.state()  # type: ignore[attr-defined]
            assert msgspec.json.decode(blob, type=state) is not None
            assert list(msgspec.json.decode(blob)) == list(state.__struct_fields__)


@pytest.mark.parametrize("blob", [b"[1, 2]", b'{"calls": "many"}', b"\xff", b"{"])
def test_an_unreadable_state_is_counted_not_fatal(blob: bytes) -> None:
    skipped: Counter[str] = Counter()
    readers = _readers(blob, skipped)
    assert skipped == {"unreadable_state": len(readers)}
    for r in readers:
        assert r.state()  # type: ignore[attr-defined]
