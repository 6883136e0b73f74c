"""OTLP's two encodings of one message: binary protobuf, or OTLP/JSON.

OTLP/JSON is protobuf's JSON mapping with two exceptions the spec makes: trace and span ids
are hex, not base64, and enums are integers. Answers are decoded leniently: an answer that
does not decode is a plain success (the status is authoritative, as for the Sutrace sink).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from google.protobuf.message import DecodeError, Message

from agent_cli.sinks.answers import sanitise

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})


def encode(message: Message, as_json: bool) -> bytes:
    if not as_json:
        return bytes(message.SerializeToString())
    doc = MessageToDict(message, use_integers_for_enums=True)
    return json.dumps(_hex_ids(doc), separators=(",", ":")).encode()


def _hex_ids(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: base64.b64decode(v).hex() if k in _ID_KEYS and isinstance(v, str) else _hex_ids(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids(v) for v in node]
    return node


def rejected(response: Message, body: bytes, as_json: bool, field: str) -> tuple[int, str]:
    """(rejected count, server's message) of an Export*ServiceResponse's partial_success."""
    if not body:
        return 0, ""
    try:
        if as_json:
            ParseDict(json.loads(body), response, ignore_unknown_fields=True)
        else:
            response.ParseFromString(body)
    except (DecodeError, ParseError, ValueError, TypeError, RecursionError):
        return 0, ""
    partial: Any = getattr(response, "partial_success")  # noqa: B009 - every response has it
    return max(int(getattr(partial, field)), 0), sanitise(partial.error_message)
