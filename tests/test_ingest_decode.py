"""The reference receiver's body decoding: `decode_body` is `json.loads` plus each event's text.

The receiver stores an event's own text instead of re-encoding the parsed event, so its fast
path must parse exactly as json.loads does (or step aside for it), and every text it cuts out
must load back to the entry it came from.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.test_ingest_server import ingest

TEXT = 'a, "b" ]} [{ \\ \u00e9 \U0001f600'  # separators, quotes and non-ASCII inside a string
EVENT = {"event_id": "e1", "revision": 2, "kind": "turn", "text": TEXT}

BODIES: list[bytes] = [
    json.dumps({"sent_at": "x", "events": [EVENT, {"event_id": "e2"}]}).encode(),
    json.dumps({"events": [EVENT]}, separators=(",", ":")).encode(),
    json.dumps({"events": [EVENT]}, ensure_ascii=False).encode(),
    b' \n{ "events" :\t[ {"event_id":"a"} , 3 , "s" , null , [1, {"x": []}] ] , "n": 1 }\r\n',
    b'{"events": []}',
    b'{"events": [ ]}',
    b"{}",
    b'{"events": [1], "events": [{"event_id": "last"}]}',  # the last duplicate key wins
    b'{"events": [{"event_id": "a"}], "events": 5}',
    b'{"events": 5, "events": [{"event_id": "b"}]}',
    b'{"events": [{"event_id": "a", "event_id": "b"}]}',
    b'{"events": [{"n": 1e400, "m": -0.0, "big": 123456789012345678901234567890}]}',
    b'{"events": [{"event_id": "\\ud83d\\ude00 \\u00e9"}]}',
    b'{"events": [NaN, Infinity, -Infinity]}',
    b"[1, 2]",
    b'"events"',
    b"\xef\xbb\xbf" + b'{"events": [{"event_id": "bom"}]}',
    json.dumps({"events": [EVENT]}).encode("utf-16"),
    json.dumps({"events": [EVENT]}).encode("utf-32-le"),
    b'{"events": [{"event_id": "lone \xed\xa0\x80 surrogate"}]}',
]

BAD: list[bytes] = [
    b"",
    b"{",
    b'{"events": [1,]}',
    b'{"events": [1 2]}',
    b'{"events": [1]',
    b'{"events": [1]} x',
    b'{"events": [1]}{}',
    b'{"events" [1]}',
    b"{events: [1]}",
    b'{"events": [1], }',
    b'{"events": ["a\x01b"]}',  # a control character inside a string
    b'{"events": [{"event_id": "a"]}',
    b'{"events": [\xff]}',
    b"\xff\xfe\x00",
]


def _same(a: Any, b: Any) -> bool:
    """Equal as json.dumps sees them (NaN compares unequal to itself)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@pytest.mark.parametrize("data", BODIES)
def test_decode_body_parses_as_json_loads_and_cuts_out_each_event(data: bytes) -> None:
    obj, texts = ingest.decode_body(data)
    assert _same(obj, json.loads(data))
    if texts is not None:
        assert isinstance(obj, dict) and isinstance(obj["events"], list)
        assert len(texts) == len(obj["events"])
        for text, entry in zip(texts, obj["events"], strict=True):
            assert _same(json.loads(text), entry)
            assert text.strip() == text  # no whitespace around an entry


def test_the_fast_path_takes_the_usual_bodies() -> None:
    for data in BODIES[:5]:
        assert ingest.decode_body(data)[1] is not None
    lone = BODIES[-1]  # invalid UTF-8 (a lone surrogate) would not store as text
    assert ingest.decode_body(lone)[1] is None


@pytest.mark.parametrize("data", BAD)
def test_decode_body_refuses_what_json_loads_refuses(data: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(data)
    with pytest.raises(ValueError):
        ingest.decode_body(data)
