"""The hot path's shortcuts say exactly what the plain code they replace says.

Each fast path is checked against a copy of the code it replaced (the oracle), on the
fixture values and on hypothesis-generated ones, so a byte of output cannot move.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections import Counter
from datetime import UTC, datetime

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from agent_cli import history, prepare, sources
from agent_cli.events import (
    LLM_FIELDS,
    TOOL_FIELDS,
    CallFact,
    Context,
    Place,
    ToolFact,
    Usage,
    _LlmTail,
    _ToolEvent,
    encode_llm_call,
    encode_tool_call,
    event_id,
    llm_call_body,
)
from agent_cli.ledger import alias_key, key_of
from agent_cli.sources import common
from tests.conftest import FIXTURES
from tests.contract import llm_call, tool_call


def _oracle_ms(ts: str | None) -> int | None:
    """`common.ms` before its caches (2026-12-02), verbatim but for the day cache."""
    if not ts or not isinstance(ts, str):
        return None
    if len(ts) == 24 and ts[23] == "Z" and ts[10] == "T" and ts[19] == ".":
        day = common._slow_ms(ts[:10] + "T00:00:00+00:00")
        if day is None:
            return None
        try:
            return (
                day
                + int(ts[11:13]) * 3_600_000
                + int(ts[14:16]) * 60_000
                + int(ts[17:19]) * 1000
                + int(ts[20:23])
            )
        except ValueError:
            return None
    return common._slow_ms(ts)


_PART = st.one_of(
    st.integers(0, 99).map(lambda i: f"{i:02d}"),
    st.text("0123456789 +-_x\u0663", min_size=2, max_size=2),
)
_USUAL = st.builds(
    lambda d, h, m, s, f: f"{d}T{h}:{m}:{s}.{f}Z",
    st.dates(min_value=datetime(1990, 1, 1).date()).map(lambda d: d.isoformat()),
    _PART,
    _PART,
    _PART,
    st.one_of(
        st.integers(0, 999).map(lambda i: f"{i:03d}"),
        st.text("0123456789 +x", min_size=3, max_size=3),
    ),
)
_ANY_TS = st.one_of(
    _USUAL,
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    st.text(max_size=30),
)


@given(st.lists(_ANY_TS, max_size=20))
def test_ms_matches_the_plain_parse(values: list[str]) -> None:
    for ts in values + values:  # the second pass answers from the caches
        assert common.ms(ts) == _oracle_ms(ts), ts


def test_ms_caches_stay_bounded() -> None:
    for i in range(common._CACHE_MAX + 10):
        ts = common.fmt_ms(1_700_000_000_000 + i * 61_001)
        assert common.ms(ts) == _oracle_ms(ts)
    assert len(common._SEEN) <= common._CACHE_MAX
    assert len(common._MINUTES) <= common._CACHE_MAX


# -- encoding ------------------------------------------------------------------------------

_DIRS = {"claude-code": "claude", "codex": "codex", "gemini-cli": "gemini"}


def _fixture_facts() -> list[object]:
    """Every fact the three main readers find in the fixture transcripts."""
    reg = sources.registry()
    facts: list[object] = []
    for agent, folder in _DIRS.items():
        for path in sorted((FIXTURES / folder).rglob("*.json*")):
            for chunk in reg[agent].read(str(path), None, Counter(), 1 << 26):
                facts.extend(chunk.facts)
    return facts


PLACES = [Place(None, None, None, None, None), Place("/r", "github.com/o/r", "main", "h", "u")]


def test_fixture_events_encode_as_the_contract_dicts() -> None:
    facts = _fixture_facts()
    calls = [f for f in facts if isinstance(f, CallFact)]
    tools = [f for f in facts if isinstance(f, ToolFact)]
    assert len(calls) > 50 and len(tools) > 20  # the fixtures, not an empty walk
    for place in PLACES:
        for cost in (None, 0.0, 1.25e-05):
            for f in calls:
                whole = msgspec.json.encode(llm_call(f, place, cost, 3))
                assert llm_call_body(f.event_id, 3, encode_llm_call(f, place, cost)) == whole
        for t in tools:
            assert encode_tool_call(t, place) == msgspec.json.encode(tool_call(t, place))


def test_event_structs_have_the_contract_fields_in_order() -> None:
    assert _LlmTail.__struct_fields__ == LLM_FIELDS[2:]
    assert _ToolEvent.__struct_fields__ == TOOL_FIELDS


_TEXT = st.none() | st.text(max_size=12)
_COUNT = st.integers(min_value=0, max_value=2**63)
_HEX = st.text("0123456789abcdef", min_size=64, max_size=64)  # event ids are sha256 hex
tools_st = st.builds(
    ToolFact,
    st.sampled_from(["claude-code", "codex"]),
    st.text(max_size=64),
    st.text(max_size=24),
    _TEXT,
    _TEXT,
    st.text(max_size=12),
    st.none() | _COUNT,
    st.sampled_from(["ok", "error"]),
    _TEXT,
    st.builds(Context, _TEXT, _TEXT, _TEXT, _TEXT),
)


@given(tools_st, st.builds(Place, _TEXT, _TEXT, _TEXT, _TEXT, _TEXT))
def test_a_tool_event_encodes_as_its_contract_dict(fact: ToolFact, place: Place) -> None:
    assert encode_tool_call(fact, place) == msgspec.json.encode(tool_call(fact, place))


@given(
    st.builds(
        CallFact,
        st.sampled_from(["claude-code", "codex", "gemini-cli"]),
        _HEX,
        _COUNT,
        st.text(max_size=24),
        _TEXT,
        _TEXT,
        st.builds(Usage, _COUNT, _COUNT, _COUNT, _COUNT, _COUNT, _COUNT),
        st.builds(Context, _TEXT, _TEXT, _TEXT, _TEXT),
        _TEXT,
        _TEXT,
        st.booleans(),
        st.none() | _COUNT,
        st.none() | _COUNT,
        _TEXT,
        st.booleans(),
        st.none() | _COUNT,
        st.sampled_from(["ok", "error"]),
        _TEXT,
        _TEXT,
        _TEXT,
        _TEXT,
        st.none() | st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(["call", "session_delta"]),
        st.none() | st.floats(min_value=0, max_value=1e9),
        _TEXT,
    ),
    st.builds(Place, _TEXT, _TEXT, _TEXT, _TEXT, _TEXT),
    st.none() | st.floats(allow_nan=False, allow_infinity=False),
)
def test_a_call_event_encodes_as_its_contract_dict(
    fact: CallFact, place: Place, cost: float | None
) -> None:
    whole = msgspec.json.encode(llm_call(fact, place, cost, 0))
    assert llm_call_body(fact.event_id, 0, encode_llm_call(fact, place, cost)) == whole


@given(st.sampled_from(["claude-code", "codex", "gemini-cli"]), st.text(max_size=40))
def test_alias_key_is_the_key_of_the_alias_event_id(agent: str, alias: str) -> None:
    assert alias_key(agent, alias) == key_of(event_id(agent, "alias", alias))


def test_prepared_tuples_built_without_their_new_are_the_same_tuples() -> None:
    fields = (1, 2, None, "btw_replay", "e" * 64, "claude-code", b"{}", False, None)
    fast = prepare._new(prepare.Prepared, fields)
    assert type(fast) is prepare.Prepared and fast == prepare.Prepared(*fields)
    assert fast.copy == "btw_replay" and pickle.loads(pickle.dumps(fast)) == fast


def _oracle_row(w: history.HistoryWriter, key: int, body: bytes) -> tuple[object, ...] | None:
    """`HistoryWriter._row` before its inlined interning (2026-12-02), verbatim."""
    try:
        e = history._decode(body)
    except msgspec.DecodeError:
        return None
    ts = common.ms(e.timestamp)
    if ts is None:
        return None
    n = w.name
    call = key_of(e.call_event_id) if e.call_event_id else None
    return (
        key, e.revision, history.TOOL if e.kind == "tool_call" else history.LLM, ts, n(e.agent),
        n(e.agent_version), n(e.session_id), n(e.parent_session_id), n(e.agent_id),
        e.is_subagent, e.turn_index, e.call_index, n(e.provider), n(e.model),
        e.input_tokens, e.output_tokens, e.cache_read_tokens, e.cache_creation_tokens,
        e.cache_creation_1h_tokens, e.reasoning_tokens, e.output_final, e.cost_usd,
        n(e.cost_source), n(e.granularity), e.billed_quantity, n(e.billed_unit),
        e.duration_ms, n(e.status), n(e.error_code), n(e.repo_path), n(e.repo_name),
        n(e.git_branch), n(e.host), n(e.user), call, n(e.tool_name),
    )  # fmt: skip


def test_history_rows_and_interned_ids_are_the_plain_writer_s() -> None:
    bodies = []
    for i, f in enumerate(_fixture_facts()):
        place = PLACES[i % 2]
        if isinstance(f, CallFact):
            bodies.append(llm_call_body(f.event_id, i % 3, encode_llm_call(f, place, 0.5)))
        elif isinstance(f, ToolFact):
            bodies.append(encode_tool_call(f, place))
    bodies.append(b"not json")
    fast_db, plain_db = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    for db in (fast_db, plain_db):
        for statement in history.TABLES:
            db.execute(statement)
    fast, plain = history.HistoryWriter(fast_db), history.HistoryWriter(plain_db)
    for i, body in enumerate(bodies):
        assert fast._row(i, body) == _oracle_row(plain, i, body)
    assert history.names(fast_db) == history.names(plain_db)
