"""The tolerant-decode policy every source follows: a bad line is skipped and counted, never raised.

Why a line was skipped is decided from the line's bytes alone, never from the type or message
of the exception a decoder raised: msgspec 0.23 raises `DecodeError` for invalid UTF-8 where
0.19-0.22 raised `UnicodeDecodeError`, and a reader keyed on that counted the line under the
wrong reason. The bytes do not change between releases:

- `invalid_utf8`: the line is not valid UTF-8;
- `malformed_json`: it is UTF-8 but not one JSON value (RFC 8259: no NaN or Infinity);
- `unrecognized_line`: it is valid JSON of a shape the reader does not know.

Every exception (`Exception`, not `BaseException`) raised while a line is decoded or used is
caught: a transcript is input, and no input may stop a reader. Interrupts still propagate.
A reader's hot path is a plain try/except around its decoder and its use of the line; the
except blocks call `recover` and `skip`, which decide the reason.
"""

from __future__ import annotations

import enum
import json
from collections import Counter
from collections.abc import Callable
from typing import Final, Literal, TypeVar

T = TypeVar("T")

INVALID_UTF8: Final = "invalid_utf8"
MALFORMED_JSON: Final = "malformed_json"
UNRECOGNIZED_LINE: Final = "unrecognized_line"
Reason = Literal["invalid_utf8", "malformed_json", "unrecognized_line"]


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def classify(data: bytes) -> Reason:
    """Name what is wrong with `data`, which a decoder refused, from its bytes alone."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return INVALID_UTF8
    try:
        json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        return UNRECOGNIZED_LINE  # valid JSON nested deeper than any transcript writes
    except ValueError:
        return MALFORMED_JSON
    return UNRECOGNIZED_LINE


def recover(
    line: bytes, skipped: Counter[str], fallback: Callable[[bytes], T] | None = None
) -> T | None:
    """For a reader's `except Exception:` after its decoder refused `line`: count why, or
    return `fallback(line)` when the line is valid JSON of an unknown shape and a looser
    decoder is given (never for bytes that are not JSON, so the outcome never depends on
    which exception the decoder chose)."""
    reason = classify(line)
    if reason == UNRECOGNIZED_LINE and fallback is not None:
        try:
            return fallback(line)
        except Exception:
            pass
    skipped[reason] += 1
    return None


def skip(line: bytes, skipped: Counter[str]) -> None:
    """For a reader's `except Exception:` while it used a decoded line: count it as skipped.

    Readers catch with a plain try/except (it costs nothing when nothing is raised; a context
    manager per line costs 0.3 us) and leave the naming to `classify`.
    """
    skipped[classify(line)] += 1


def decode_line(
    line: bytes,
    skipped: Counter[str],
    decode: Callable[[bytes], T],
    fallback: Callable[[bytes], T] | None = None,
) -> T | None:
    """Return `decode(line)`, or what `recover` makes of the failure (None: skipped)."""
    try:
        return decode(line)
    except Exception:
        return recover(line, skipped, fallback)


class Failed(enum.Enum):
    """The type of `FAILED`: what `decode_value` returns for a value it could not decode."""

    FAILED = "failed"


FAILED: Final = Failed.FAILED


def decode_value(decode: Callable[[bytes], T], data: bytes) -> T | Failed:
    """Return `decode(data)` for a nested value or a small side file, `FAILED` if it fails.

    For values whose failure the caller counts under its own name (`unrecognized_content`,
    `not_a_session`, ...) or ignores (a registry file that may be absent or odd). JSON `null`
    decodes to None, so failure needs its own marker.
    """
    try:
        return decode(data)
    except Exception:
        return FAILED


def decode_state(decode: Callable[[bytes], T], data: bytes, skipped: Counter[str]) -> T | None:
    """A reader's stored state, or None after counting `unreadable_state` (the reader goes on
    from the cursor without it: never a crash over a blob this code did not write)."""
    state = decode_value(decode, data)
    if state is FAILED:
        skipped["unreadable_state"] += 1
        return None
    return state
