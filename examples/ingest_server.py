"""Reference receiver for agent-cli's ingest protocol v1 (Python stdlib only).

Protocol
--------
``POST /v1/events``
    Headers: ``Authorization: Bearer <key>`` (required), ``Content-Encoding: gzip`` (optional),
    ``Idempotency-Key`` (optional, recorded). Body (JSON, possibly gzip-compressed)::

        {"sent_at": "...", "shipper": {"name", "version", "host"}, "events": [{...}, ...]}

    Every event is an object with a string ``event_id``, an integer ``revision`` (0 when
    missing) and a ``kind``. Answer ``200``::

        {"accepted": int, "duplicates": int, "rejected": [{"event_id": str, "reason": str}]}

    ``accepted`` counts events stored for the first time or upgraded to a higher revision,
    ``duplicates`` events already known at the same or a higher revision. ``rejected`` lists
    events never stored: reason ``"invalid"`` (not an object, no string ``event_id``, revision
    not an integer; such entries also carry their ``index`` in the batch) or ``"poison"`` (id
    given with ``--reject-event-id``). Errors answer ``{"error": "..."}``: 400 bad gzip/JSON or
    body not ``{"events": [...]}``, 401 missing or wrong key, 411 no Content-Length, 413 body
    (after decompression) over ``--max-body-bytes``, 415 unknown Content-Encoding.
``GET /v1/health``
    Headers: ``Authorization: Bearer <key>`` (required). ``200 {"ok": true}`` when the key is
    accepted, ``401`` when it is missing or wrong; nothing is stored or logged in ``requests``.
    ``agent-cli doctor`` makes this one request to check the endpoint and the key.
``GET /healthz`` -> ``200 ok`` (no key: a liveness probe).
``POST /admin/faults`` (JSON object with any fault field, see ``Faults``) -> the fault state.
``GET /admin/stats`` -> ``{"events": n, "requests": [last 1000], "by_status": {...}, "faults"}``.
Admin endpoints need no key but answer loopback clients only (the server binds loopback only).

Storage: SQLite table ``events(event_id PK, revision, kind, body, received_at)`` keeps the
highest revision of each event (the first one received of that revision); ``body`` is the
event's JSON text as it came in the request (re-encoded compactly when the request was not
UTF-8), which loads back to the event. Table ``requests`` logs every ``/v1/events`` request.

Fault injection, evaluated in this order for each ``POST /v1/events``:
  1. ``latency``: sleep first, then ``hold="before_commit"``: the request waits until ``hold``
     is changed (``faults.held`` in ``/admin/stats`` counts waiting requests), then is answered
     503 storing nothing: "in flight, never stored".
  2. ``redirect_to``: answer 307 with ``Location``.
  3. ``drop_connections``: the first N requests are read fully, then the socket is reset
     (RST, no response). Nothing is stored unless ``drop_after_commit`` is set, in which case
     the request is processed normally (auth, storage) *before* the reset: "server committed,
     response lost". Dropped requests consume no ``status_sequence`` entry.
  4. auth (401 consumes nothing).        5. ``status_sequence``: the next entry; 2xx means
     "handle normally" (answered with that code), anything else is answered as is, storing
     nothing, with ``Retry-After: <retry_after>`` on 429/503.
  6. decode, size limit (413).           7. ``poison_status``: a batch containing a rejected id
     is answered with 400/422 as a whole, storing nothing.     8. store and answer 200; with
     ``hold="after_commit"`` the answer waits until ``hold`` is changed: "stored, answer late
     or lost". A request is held at most 300 s. ``answer_bytes`` pads a 200 answer with
     spaces to that many bytes (a huge answer); ``faults.answer_bytes_sent`` in the stats
     counts the padding the client took before it hung up; ``drip_seconds`` writes a 200
     answer one byte every that many seconds (a server that never quite answers).
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import ipaddress
import json
import os
import re
import signal
import socket
import socketserver
import sqlite3
import ssl
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HARD_MAX_BYTES = 64 * 1024 * 1024  # absolute ceiling, compressed or not
STATS_REQUESTS = 1000
HOLD_POINTS = (None, "before_commit", "after_commit")
HOLD_MAX_SECONDS = 300.0  # a held request is let go after this, so a forgotten hold never hangs

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY, revision INTEGER NOT NULL, kind TEXT, body TEXT NOT NULL,
    received_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, path TEXT NOT NULL,
    status INTEGER, dropped INTEGER NOT NULL DEFAULT 0, events INTEGER NOT NULL DEFAULT 0,
    accepted INTEGER NOT NULL DEFAULT 0, duplicates INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0, idempotency_key TEXT, bytes INTEGER NOT NULL DEFAULT 0,
    gzip INTEGER NOT NULL DEFAULT 0);
"""
# insert, or replace when the incoming revision is higher: rowcount 1 = accepted, 0 = duplicate
_UPSERT = """
INSERT INTO events (event_id, revision, kind, body, received_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (event_id) DO UPDATE SET revision = excluded.revision, kind = excluded.kind,
    body = excluded.body, received_at = excluded.received_at
WHERE excluded.revision > events.revision
"""


_WS = re.compile(r"[ \t\n\r]*").match  # JSON's whitespace, as the json module skips it
_SCAN = json.JSONDecoder().scan_once  # the C scanner json.loads runs
_KEY = json.decoder.scanstring


class _Irregular(Exception):
    """A body the fast path of `decode_body` does not take (json.loads then decides)."""


def decode_body(data: bytes) -> tuple[Any, list[str] | None]:
    """``json.loads(data)`` (raising as it does), and the text of each entry of its
    ``"events"`` list as sent, when the body is UTF-8 and that list could be cut out.

    Storing an event's own text costs a slice where ``json.dumps`` of the parsed event cost
    more than parsing it; the text loads back to the same object. None: no texts (the
    caller encodes the events), e.g. UTF-16, invalid UTF-8 (lone surrogates would not
    store), or "events" not a list.
    """
    if json.detect_encoding(data) == "utf-8":
        try:
            return _split(data.decode())
        except (UnicodeDecodeError, ValueError, StopIteration, _Irregular):
            pass  # json.loads below gives the answer (or the error) for this body
    return json.loads(data), None


def _split(s: str) -> tuple[dict[str, Any], list[str] | None]:
    """An object as json.loads parses it, walking its top level by hand (json's own rules:
    whitespace, the last of duplicate keys wins) to cut the "events" array's entries out."""
    i = _WS(s, 0).end()
    if s[i : i + 1] != "{":
        raise _Irregular
    obj: dict[str, Any] = {}
    texts: list[str] | None = None
    i = _WS(s, i + 1).end()
    while True:
        if s[i : i + 1] != '"':
            raise _Irregular  # also an empty object: json.loads parses it
        key, i = _KEY(s, i + 1)
        i = _WS(s, i).end()
        if s[i : i + 1] != ":":
            raise _Irregular
        i = _WS(s, i + 1).end()
        if key == "events" and s[i : i + 1] == "[":
            obj[key], texts, i = _array(s, i)
        else:
            obj[key], i = _SCAN(s, i)
            texts = None if key == "events" else texts
        i = _WS(s, i).end()
        c = s[i : i + 1]
        i = _WS(s, i + 1).end()
        if c == "}":
            break
        if c != ",":
            raise _Irregular
    if i != len(s):
        raise _Irregular  # extra data
    return obj, texts


def _array(s: str, i: int) -> tuple[list[Any], list[str], int]:
    """The array at ``s[i] == "["``: its values, their texts and the index after it."""
    values: list[Any] = []
    texts: list[str] = []
    i = _WS(s, i + 1).end()
    if s[i : i + 1] == "]":
        return values, texts, i + 1
    while True:
        value, end = _SCAN(s, i)
        values.append(value)
        texts.append(s[i:end])
        i = _WS(s, end).end()
        c = s[i : i + 1]
        if c == "]":
            return values, texts, i + 1
        if c != ",":
            raise _Irregular
        i = _WS(s, i + 1).end()


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _text_or_none(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v != "")


# fault name -> (validity check, what a valid value is)
_FAULT_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "status_sequence": (
        lambda v: isinstance(v, list) and all(_is_int(s) and 200 <= s <= 599 for s in v),
        "a list of HTTP statuses (200-599)",
    ),
    "retry_after": (_text_or_none, "a non-empty string or null"),
    "latency": (lambda v: (_is_int(v) or isinstance(v, float)) and v >= 0, "seconds >= 0"),
    "drop_connections": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "drop_after_commit": (lambda v: isinstance(v, bool), "a boolean"),
    "max_body_bytes": (lambda v: v is None or (_is_int(v) and v > 0), "an integer > 0 or null"),
    "reject_event_ids": (
        lambda v: isinstance(v, list | set | tuple) and all(isinstance(i, str) for i in v),
        "a list of strings",
    ),
    "poison_status": (lambda v: v is None or v in (400, 422), "400, 422 or null"),
    "redirect_to": (_text_or_none, "a non-empty string or null"),
    "hold": (lambda v: v in HOLD_POINTS, '"before_commit", "after_commit" or null'),
    "answer_bytes": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "drip_seconds": (lambda v: (_is_int(v) or isinstance(v, float)) and v >= 0, "seconds >= 0"),
}


def _check_fault(name: str, value: Any) -> Any:
    """Validate and normalise one fault field; raise ValueError when it is wrong."""
    if name not in _FAULT_RULES:
        raise ValueError(f"unknown fault {name!r}")
    valid, what = _FAULT_RULES[name]
    if not valid(value):
        raise ValueError(f"{name} must be {what}")
    if name == "latency":
        return float(value)
    if name in ("status_sequence", "reject_event_ids"):
        return list(value) if name == "status_sequence" else set(value)
    return value


@dataclass
class Faults:
    """Injected faults; shared by all request threads and changeable at run time."""

    status_sequence: list[int] = field(default_factory=list)
    retry_after: str | None = None
    latency: float = 0.0
    drop_connections: int = 0
    drop_after_commit: bool = False
    max_body_bytes: int | None = None
    reject_event_ids: set[str] = field(default_factory=set)
    poison_status: int | None = None
    redirect_to: str | None = None
    hold: str | None = None
    answer_bytes: int = 0  # pad a 200 answer to this size (JSON, then spaces): a huge answer
    drip_seconds: float = 0.0  # write a 200 answer's body one byte every this many seconds
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _released: threading.Condition = field(init=False, repr=False, compare=False)
    _held: int = field(default=0, init=False, repr=False, compare=False)
    answer_bytes_sent: int = field(default=0, init=False, repr=False, compare=False)

    FIELDS = tuple(_FAULT_RULES)

    def __post_init__(self) -> None:
        for name in self.FIELDS:
            setattr(self, name, _check_fault(name, getattr(self, name)))
        self._released = threading.Condition(self._lock)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``changes`` atomically; raise ValueError (changing nothing) if any is bad."""
        checked = {name: _check_fault(name, value) for name, value in changes.items()}
        with self._lock:
            for name, value in checked.items():
                setattr(self, name, value)
            self._released.notify_all()

    def wait_if_held(self, point: str) -> bool:
        """Keep a request at ``point`` while ``hold`` names it; True if it was held.

        Lets a test act at an exact moment of a request (kill the client while its batch is
        on the wire, or after the server committed it) instead of guessing a time.
        """
        with self._lock:
            if self.hold != point:
                return False
            self._held += 1
            deadline = time.monotonic() + HOLD_MAX_SECONDS
            try:
                while self.hold == point and time.monotonic() < deadline:
                    self._released.wait(deadline - time.monotonic())
            finally:
                self._held -= 1
            return True

    def take_drop(self) -> bool:
        with self._lock:
            if self.drop_connections > 0:
                self.drop_connections -= 1
                return True
            return False

    def take_status(self) -> int | None:
        with self._lock:
            return self.status_sequence.pop(0) if self.status_sequence else None

    def rejects(self) -> set[str]:
        with self._lock:
            return set(self.reject_event_ids)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            state = {name: getattr(self, name) for name in self.FIELDS}
        state["status_sequence"] = list(state["status_sequence"])
        state["reject_event_ids"] = sorted(state["reject_event_ids"])
        state["held"] = self._held
        state["answer_bytes_sent"] = self.answer_bytes_sent
        return state


class Store:
    """SQLite storage; one connection guarded by a lock (so ``:memory:`` works too)."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        if path != ":memory:":
            # 64 KiB pages (a new file only): ~95 bodies a page, and each commit's random
            # index inserts dirty far fewer pages: ~40 % less CPU in SQLite, half of it in
            # the system calls that write the WAL.
            self._conn.execute("PRAGMA page_size=65536")
            self._conn.execute("PRAGMA journal_mode=WAL")
            # A demo receiver: WAL + NORMAL stays consistent and does not fsync every request.
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: random ids, big index
        self._conn.executescript(_SCHEMA)

    def ingest(
        self, events: list[Any], rejects: set[str], texts: list[str] | None = None
    ) -> tuple[int, int, list[dict[str, Any]]]:
        """Store the valid events (``texts``: each one's JSON text, else it is encoded here);
        return (accepted, duplicates, rejected) as the protocol counts them."""
        rejected: list[dict[str, Any]] = []
        rows = []
        now = time.time()
        for index, event in enumerate(events):
            is_obj = isinstance(event, dict)
            event_id = event.get("event_id") if is_obj else None
            revision = (event.get("revision") or 0) if is_obj else None
            if not isinstance(event_id, str) or not event_id or type(revision) is not int:
                rid = event_id if isinstance(event_id, str) else None
                rejected.append({"event_id": rid, "reason": "invalid", "index": index})
                continue
            if event_id in rejects:
                rejected.append({"event_id": event_id, "reason": "poison"})
                continue
            kind = event.get("kind")
            rows.append(
                (
                    event_id,
                    revision,
                    None if kind is None else str(kind),
                    json.dumps(event, separators=(",", ":")) if texts is None else texts[index],
                    now,
                )
            )
        with self._lock, self._conn:
            # rowcount of an executemany is the number of rows inserted or upgraded
            accepted = self._conn.executemany(_UPSERT, rows).rowcount if rows else 0
        return accepted, len(rows) - accepted, rejected

    def record(self, rec: dict[str, Any]) -> None:
        sql = f"INSERT INTO requests ({', '.join(rec)}) VALUES ({', '.join('?' * len(rec))})"
        with self._lock, self._conn:
            self._conn.execute(sql, tuple(rec.values()))

    def stats(self) -> dict[str, Any]:
        with self._lock:
            count = self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            rows = self._conn.execute(
                "SELECT * FROM requests ORDER BY id DESC LIMIT ?", (STATS_REQUESTS,)
            ).fetchall()
            groups = self._conn.execute(
                "SELECT CASE WHEN dropped THEN 'dropped' ELSE CAST(status AS TEXT) END, "
                "COUNT(*) FROM requests GROUP BY 1"
            ).fetchall()
        requests = [
            {**dict(r), "dropped": bool(r["dropped"]), "gzip": bool(r["gzip"])} for r in rows
        ]
        by_status = {str(key): n for key, n in groups}
        return {"events": count, "requests": requests[::-1], "by_status": by_status}

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _Reply(Exception):
    def __init__(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.payload, self.headers = status, payload, headers or {}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Handler(BaseHTTPRequestHandler):
    server: IngestServer
    protocol_version = "HTTP/1.1"
    server_version = "agent-cli-example-ingest/1"
    timeout = 30
    disable_nagle_algorithm = True  # headers and body are separate writes

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is written by _log; headers are never logged

    def _log(self, line: str) -> None:
        if not self.server.quiet:
            print(f"ingest-server: {line}", file=sys.stderr, flush=True)

    def _send_dripping(self, payload: Any, seconds: float) -> None:
        """A 200 whose body comes one byte every `seconds` (for at most HOLD_MAX_SECONDS)."""
        body = json.dumps(payload).encode()
        deadline = time.monotonic() + HOLD_MAX_SECONDS
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(len(body)):
                if time.monotonic() > deadline:
                    break
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                time.sleep(seconds)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _send_padded(self, payload: Any, faults: Faults) -> None:
        """A 200 whose body is the answer padded with spaces to `answer_bytes`, written in
        chunks; counts what the client took before it hung up."""
        body = json.dumps(payload).encode()
        total = max(faults.answer_bytes, len(body))
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(total))
            self.end_headers()
            self.wfile.write(body)
            sent, pad = len(body), b" " * 65536
            while sent < total:
                n = min(len(pad), total - sent)
                self.wfile.write(pad[:n])
                sent += n
                with faults._lock:
                    faults.answer_bytes_sent += n
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        if isinstance(payload, bytes):
            body, ctype = payload, "text/plain; charset=utf-8"
        else:
            body, ctype = json.dumps(payload).encode(), "application/json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client is gone (killed while held): not an error

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            raise _Reply(411, {"error": "Content-Length required"})
        if int(length) > HARD_MAX_BYTES:
            self.close_connection = True
            raise _Reply(413, {"error": "request body too large"})
        return self.rfile.read(int(length))

    def _admin_allowed(self) -> bool:
        if _is_loopback(self.client_address[0]):
            return True
        self._send(403, {"error": "admin endpoints answer loopback clients only"})
        return False

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/healthz":
            self._send(200, b"ok")
        elif path == "/v1/health":
            expected = f"Bearer {self.server.api_key}".encode()
            if hmac.compare_digest(self.headers.get("Authorization", "").encode(), expected):
                self._send(200, {"ok": True})
            else:
                self._send(401, {"error": "missing or invalid API key"})
        elif path == "/admin/stats":
            if self._admin_allowed():
                faults = self.server.faults.snapshot()
                self._send(200, {**self.server.store.stats(), "faults": faults})
        elif path == "/v1/events":
            self._send(405, {"error": "use POST"}, {"Allow": "POST"})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path == "/v1/events":
            self._ingest()
            return
        try:
            raw = self._read_body()
        except _Reply as reply:
            self._send(reply.status, reply.payload)
            return
        if path != "/admin/faults":
            self._send(404, {"error": "not found"})
        elif self._admin_allowed():
            try:
                changes = json.loads(raw or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("body must be a JSON object")
                self.server.faults.update(changes)
            except ValueError as exc:  # includes JSONDecodeError
                self._send(400, {"error": str(exc)})
                return
            self._log(f"faults updated: {sorted(changes)}")
            self._send(200, self.server.faults.snapshot())

    def _ingest(self) -> None:
        faults = self.server.faults
        rec: dict[str, Any] = {
            "at": time.time(), "path": "/v1/events", "status": None, "dropped": 0, "events": 0,
            "accepted": 0, "duplicates": 0, "rejected": 0, "bytes": 0,
            "idempotency_key": self.headers.get("Idempotency-Key"),
            "gzip": int(self.headers.get("Content-Encoding", "").strip().lower() == "gzip"),
        }  # fmt: skip
        status, payload, committed = 0, None, False
        headers: dict[str, str] = {}
        try:
            raw = self._read_body()
            rec["bytes"] = len(raw)
            if faults.latency:
                time.sleep(faults.latency)
            if faults.wait_if_held("before_commit"):
                raise _Reply(503, {"error": "held before commit, then let go unstored"})
            if faults.redirect_to:
                raise _Reply(307, {"error": "moved"}, {"Location": faults.redirect_to})
            if faults.take_drop():
                rec["dropped"] = 1
                if faults.drop_after_commit:
                    try:
                        self._process(raw, None, rec)
                        committed = True
                    except _Reply:
                        pass  # nothing was stored
                self.close_connection = True
                self.server.reset_on_close(self.connection)
            else:
                status, payload = self._process(raw, faults.take_status(), rec)
        except _Reply as reply:
            status, payload, headers = reply.status, reply.payload, reply.headers
        # record and log before answering, so /admin/stats already shows this request
        # by the time the client has its response
        outcome = str(status)
        if rec["dropped"]:
            outcome = "dropped after commit" if committed else "dropped"
        else:
            rec["status"] = status
        self.server.store.record(rec)
        if status == 200:
            faults.wait_if_held("after_commit")
        self._log(
            f"POST /v1/events {outcome} events={rec['events']} accepted={rec['accepted']} "
            f"duplicates={rec['duplicates']} rejected={rec['rejected']} bytes={rec['bytes']}"
        )
        if not rec["dropped"]:
            if status == 200 and faults.drip_seconds:
                self._send_dripping(payload, faults.drip_seconds)
            elif status == 200 and faults.answer_bytes:
                self._send_padded(payload, faults)
            else:
                self._send(status, payload, headers)

    def _process(self, raw: bytes, forced: int | None, rec: dict[str, Any]) -> tuple[int, Any]:
        faults, auth = self.server.faults, self.headers.get("Authorization", "")
        expected = f"Bearer {self.server.api_key}"
        if not hmac.compare_digest(auth.encode(), expected.encode()):
            raise _Reply(401, {"error": "missing or invalid API key"})
        if forced is not None and not 200 <= forced < 300:
            retry = faults.retry_after if forced in (429, 503) else None
            headers = {"Retry-After": retry} if retry else {}
            raise _Reply(forced, {"error": f"injected status {forced}"}, headers)
        limit = min(faults.max_body_bytes or HARD_MAX_BYTES, HARD_MAX_BYTES)
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding == "gzip":
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                data = inflater.decompress(raw, limit + 1)
            except zlib.error as exc:
                raise _Reply(400, {"error": f"bad gzip body: {exc}"}) from None
            if len(data) <= limit and not inflater.eof:
                raise _Reply(400, {"error": "truncated gzip body"})
        elif encoding in ("", "identity"):
            data = raw
        else:
            raise _Reply(415, {"error": f"unsupported Content-Encoding {encoding!r}"})
        if len(data) > limit:
            raise _Reply(413, {"error": f"body over {limit} bytes after decompression"})
        try:
            body, texts = decode_body(data)
        except (ValueError, UnicodeDecodeError):
            raise _Reply(400, {"error": "body is not valid JSON"}) from None
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            raise _Reply(400, {"error": 'body must be an object with an "events" list'})
        events: list[Any] = body["events"]
        rec["events"] = len(events)
        rejects = faults.rejects()
        if rejects and faults.poison_status:
            ids = [e.get("event_id") for e in events if isinstance(e, dict)]
            if any(isinstance(i, str) and i in rejects for i in ids):
                raise _Reply(faults.poison_status, {"error": "batch contains a rejected event"})
        accepted, duplicates, rejected = self.server.store.ingest(events, rejects, texts)
        rec.update(accepted=accepted, duplicates=duplicates, rejected=len(rejected))
        status = forced if forced is not None else 200
        return status, {"accepted": accepted, "duplicates": duplicates, "rejected": rejected}


class IngestServer(ThreadingHTTPServer):
    """The receiver. ``start_in_thread()``/``stop()`` for tests, ``serve_forever()`` for CLI."""

    daemon_threads = True

    def __init__(self, host: str, port: int, store: Store, api_key: str, faults: Faults) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.store, self.api_key, self.faults = store, api_key, faults
        self.quiet = False
        self.scheme = "http"
        self._resets: set[socket.socket] = set()
        self._resets_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:  # skip HTTPServer's slow getfqdn()
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = str(self.server_address[0])
        return f"{self.scheme}://{f'[{host}]' if ':' in host else host}:{self.port}"

    def reset_on_close(self, sock: socket.socket) -> None:
        with self._resets_lock:
            self._resets.add(sock)

    def shutdown_request(self, request: Any) -> None:
        with self._resets_lock:
            reset = request in self._resets
            self._resets.discard(request)
        if not reset:
            super().shutdown_request(request)
            return
        # SO_LINGER 0: close() sends RST instead of FIN, like a crashed peer.
        with contextlib.suppress(OSError):
            request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_request(request)

    def start_in_thread(self) -> threading.Thread:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()

    def server_close(self) -> None:
        super().server_close()
        self.store.close()


def make_server(
    host: str, port: int, db_path: str, api_key: str, faults: Faults | None = None,
    *, quiet: bool = False, tls: tuple[str, str] | None = None,
) -> IngestServer:  # fmt: skip
    """Bind (not yet serving) a receiver; refuses any non-loopback ``host``.

    ``tls`` (certificate file, key file) serves HTTPS instead of HTTP.
    """
    if not _is_loopback(host):
        raise ValueError(f"refusing to listen on non-loopback host {host!r}")
    server = IngestServer(host, port, Store(db_path), api_key, faults or Faults())
    server.quiet = quiet
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.scheme = "https"
    return server


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--host", default="127.0.0.1", help="loopback address only")
    p.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    p.add_argument("--db", default="ingest.sqlite", help="SQLite path or :memory:")
    p.add_argument("--api-key", default="dev")
    p.add_argument("--ready-file", help="write the bound port here once listening")
    p.add_argument("--quiet", action="store_true", help="no per-request log lines")
    f = p.add_argument_group("fault injection")
    f.add_argument("--status-sequence", default="", help="e.g. 503,503,429,200")
    f.add_argument("--retry-after", help="Retry-After value for 429/503 (seconds or HTTP date)")
    f.add_argument("--latency", type=float, default=0.0, help="seconds to sleep per request")
    f.add_argument("--drop-connections", type=int, default=0, metavar="N")
    f.add_argument("--drop-after-commit", action="store_true", help="store, then drop")
    f.add_argument("--max-body-bytes", type=int, metavar="N")
    f.add_argument("--reject-event-id", action="append", default=[], metavar="ID")
    f.add_argument("--poison-status", type=int, choices=(400, 422))
    f.add_argument("--redirect-to", metavar="URL")
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate")
    p.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        sequence = [int(s) for s in args.status_sequence.replace(" ", "").split(",") if s]
        faults = Faults(
            status_sequence=sequence, retry_after=args.retry_after, latency=args.latency,
            drop_connections=args.drop_connections, drop_after_commit=args.drop_after_commit,
            max_body_bytes=args.max_body_bytes, reject_event_ids=set(args.reject_event_id),
            poison_status=args.poison_status, redirect_to=args.redirect_to,
        )  # fmt: skip
        tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
        server = make_server(
            args.host, args.port, args.db, args.api_key, faults, quiet=args.quiet, tls=tls
        )
    except (ValueError, OSError) as exc:
        print(f"ingest-server: error: {exc}", file=sys.stderr)
        return 2
    if args.ready_file:
        tmp = f"{args.ready_file}.tmp"
        with open(tmp, "w") as fh:
            fh.write(f"{server.port}\n")
        os.replace(tmp, args.ready_file)

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    print(f"ingest-server: listening on {server.url}/v1/events (db {args.db})", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
