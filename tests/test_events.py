"""The event contract's encoding and the ledger's decisions."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from agent_cli.events import (
    LLM_FIELDS,
    TOOL_FIELDS,
    CallFact,
    Context,
    Place,
    ToolFact,
    Usage,
    encode_llm_call,
    encode_tool_call,
    event_id,
    llm_call_body,
)
from agent_cli.ledger import (
    BTW_REPLAY,
    DUPLICATE,
    DUPLICATE_TOOL,
    Drop,
    Emit,
    Ledger,
    MemoryStore,
    Supersede,
)
from tests.contract import llm_call, tool_call

text = st.none() | st.text(max_size=12)
counts = st.integers(min_value=0, max_value=10**12)


@st.composite
def calls(draw: st.DrawFn) -> CallFact:
    return CallFact(
        agent=draw(st.sampled_from(["claude-code", "codex", "gemini-cli"])),
        event_id=event_id("t", draw(st.text(max_size=8))),
        rank=draw(counts),
        timestamp=draw(st.text(max_size=24)),
        session_id=draw(text),
        model=draw(text),
        usage=Usage(*(draw(counts) for _ in range(6))),
        context=Context(agent_version=draw(text)),
        parent_session_id=draw(text),
        is_subagent=draw(st.booleans()),
        turn_index=draw(st.none() | counts),
        output_final=draw(st.booleans()),
        duration_ms=draw(st.none() | counts),
        status=draw(st.sampled_from(["ok", "error"])),
        error_code=draw(text),
    )


places = st.builds(Place, text, text, text, text, text)
costs = st.none() | st.floats(min_value=0, max_value=1e6, allow_nan=False)


@given(calls(), places, costs, st.integers(min_value=0, max_value=2**20))
def test_a_call_body_is_its_contract_encoding_at_any_revision(
    fact: CallFact, place: Place, cost: float | None, revision: int
) -> None:
    body = llm_call_body(fact.event_id, revision, encode_llm_call(fact, place, cost))
    assert body == msgspec.json.encode(llm_call(fact, place, cost, revision))
    assert tuple(msgspec.json.decode(body)) == LLM_FIELDS  # the contract's fields, in order


def test_a_tool_call_has_the_contract_fields_and_no_revision() -> None:
    fact = ToolFact("codex", event_id("t", "x"), "2026-12-01T00:00:00.000Z", "s", None, "Bash",
                    12, "ok", None)  # fmt: skip
    body = encode_tool_call(fact, Place(None, None, None, "h", "u"))
    assert body == msgspec.json.encode(tool_call(fact, Place(None, None, None, "h", "u")))
    assert tuple(msgspec.json.decode(body)) == TOOL_FIELDS


def test_ledger_decisions() -> None:
    ledger = Ledger(MemoryStore())
    assert ledger.offer_call(1, 10, None, None) == Emit(0)
    assert ledger.offer_call(1, 10, None, None) is DUPLICATE
    assert ledger.offer_call(1, 9, None, None) is DUPLICATE  # less usage: the same call again
    assert ledger.offer_call(1, 11, None, None) == Emit(1)  # grown: the next revision
    assert ledger.offer_call(1, 12, None, None) == Emit(2)
    # a /btw replay: a sidechain call reusing a main call's message id under another key
    assert ledger.offer_call(2, 5, 100, None) == Emit(0)
    assert ledger.offer_call(3, 5, 100, "btw_replay") == BTW_REPLAY
    assert ledger.offer_tool(7) == Emit(0)
    assert ledger.offer_tool(7) is DUPLICATE_TOOL


def test_a_copy_read_before_its_original_is_superseded_once() -> None:
    ledger = Ledger(MemoryStore())
    copy = event_id("claude-code", "msg", "req_copy")
    # the copy comes first: it is all there is of the call, so it is emitted
    assert ledger.offer_call(3, 5, 100, "btw_replay", copy) == Emit(0)
    assert ledger.offer_call(3, 5, 100, "btw_replay", copy) is DUPLICATE
    # the original: emitted, and the copy retired at its next revision
    assert ledger.offer_call(2, 5, 100, None) == Emit(0, Supersede(3, copy, 1))
    # neither comes back, whichever is read again, in whichever order
    assert ledger.offer_call(3, 6, 100, "btw_replay", copy) == BTW_REPLAY
    assert ledger.offer_call(2, 5, 100, None) is DUPLICATE
    # a second copy of the same call, seen after the original: dropped
    assert ledger.offer_call(4, 5, 100, "btw_replay", "ab" * 32) == BTW_REPLAY
    assert isinstance(DUPLICATE, Drop) and DUPLICATE.reason == "duplicate"
