"""The tolerant-decode policy: why a line is skipped follows from its bytes, not the exception."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_cli.sources.decode import FAILED, classify, decode_line, decode_value, recover, skip

INVALID_UTF8 = b'{"type":"assistant","message":{"content":"caf\xe9"}}\n'
MALFORMED = b'{"type":"assistant","message":{"content":\n'
UNKNOWN_SHAPE = b'{"type":["not","a","string"]}\n'
LINES = {
    "invalid_utf8": INVALID_UTF8,
    "malformed_json": MALFORMED,
    "unrecognized_line": UNKNOWN_SHAPE,
}


def _msgspec_errors() -> list[type[BaseException]]:
    found = {
        o
        for m in (msgspec, msgspec.json, msgspec.msgpack)
        for o in vars(m).values()
        if isinstance(o, type) and issubclass(o, BaseException)
    }
    assert {
        msgspec.MsgspecError,
        msgspec.DecodeError,
        msgspec.ValidationError,
        msgspec.EncodeError,
    } <= found
    return sorted(found, key=lambda t: t.__name__)


def _instance(kind: type[BaseException]) -> BaseException:
    if kind is UnicodeDecodeError:
        return UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid continuation byte")
    return kind("raised by a decoder")


# Whatever a decoder raises, on any release: msgspec's own tree, what older releases raised
# for invalid UTF-8, deep nesting, and what a struct's own code may raise.
ERRORS = [
    *_msgspec_errors(),
    UnicodeDecodeError,
    ValueError,
    TypeError,
    RecursionError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
]


def _raising(kind: type[BaseException]) -> Callable[[bytes], object]:
    def decode(_: bytes) -> object:
        raise _instance(kind)

    return decode


@pytest.mark.parametrize("kind", ERRORS, ids=lambda k: k.__name__)
@pytest.mark.parametrize("reason", list(LINES))
def test_reason_comes_from_the_bytes_whatever_the_decoder_raises(
    kind: type[BaseException], reason: str
) -> None:
    skipped: Counter[str] = Counter()
    assert decode_line(LINES[reason], skipped, _raising(kind)) is None
    assert skipped == {reason: 1}

    try:
        raise _instance(kind)
    except Exception:
        skip(LINES[reason], skipped)
    assert skipped == {reason: 2}
    try:
        _raising(kind)(LINES[reason])
    except Exception:
        assert recover(LINES[reason], skipped) is None
    assert skipped == {reason: 3}
    assert decode_value(_raising(kind), LINES[reason]) is FAILED


@pytest.mark.parametrize("reason", list(LINES))
def test_real_msgspec_decoders_agree(reason: str) -> None:
    class Line(msgspec.Struct):
        type: str | None = None
        message: dict[str, str] | None = None

    skipped: Counter[str] = Counter()
    assert decode_line(LINES[reason], skipped, msgspec.json.Decoder(Line).decode) is None
    assert skipped == {reason: 1}


def test_the_fallback_is_tried_only_for_valid_json_of_another_shape() -> None:
    tried: list[bytes] = []

    def loose(line: bytes) -> str:
        tried.append(line)
        return "loose"

    skipped: Counter[str] = Counter()
    strict = _raising(msgspec.ValidationError)
    assert decode_line(UNKNOWN_SHAPE, skipped, strict, loose) == "loose"
    assert decode_line(INVALID_UTF8, skipped, strict, loose) is None
    assert decode_line(MALFORMED, skipped, strict, loose) is None
    assert tried == [UNKNOWN_SHAPE]
    assert skipped == {"invalid_utf8": 1, "malformed_json": 1}

    failing = _raising(TypeError)
    assert decode_line(UNKNOWN_SHAPE, skipped, strict, failing) is None
    assert skipped["unrecognized_line"] == 1


def test_interrupts_are_not_swallowed() -> None:
    skipped: Counter[str] = Counter()
    with pytest.raises(KeyboardInterrupt):
        decode_line(UNKNOWN_SHAPE, skipped, _raising(KeyboardInterrupt))
    with pytest.raises(SystemExit):
        decode_line(UNKNOWN_SHAPE, skipped, _raising(SystemExit))
    assert skipped == {}


def test_a_line_that_decodes_is_returned_and_not_counted() -> None:
    skipped: Counter[str] = Counter()
    assert decode_line(b'{"a": 1}', skipped, msgspec.json.decode) == {"a": 1}
    assert decode_value(msgspec.json.decode, b"null") is None  # null is a value, not a failure
    assert skipped == {}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"NaN", "malformed_json"),  # Python's json would accept it; JSON does not
        (b'{"a": Infinity}', "malformed_json"),
        (b"", "malformed_json"),
        (b'{"a": 1} {"b": 2}', "malformed_json"),
        (b"\xed\xa0\x80", "invalid_utf8"),  # an encoded surrogate is not UTF-8
        (b"[" * 100_000 + b"]" * 100_000, "unrecognized_line"),  # valid, nested past any limit
        (b'  {"a": 1}\r\n', "unrecognized_line"),
    ],
)
def test_classify_edges(data: bytes, reason: str) -> None:
    assert classify(data) == reason


@given(st.binary(max_size=64))
def test_classify_any_bytes_names_one_reason(data: bytes) -> None:
    reason = classify(data)
    try:
        msgspec.json.decode(data)
        valid = True
    except Exception:
        valid = False
    # bytes msgspec accepts as JSON are never called malformed or invalid
    assert reason == "unrecognized_line" if valid else reason in LINES
