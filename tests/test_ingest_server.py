"""Tests for examples/ingest_server.py, the reference receiver of ingest protocol v1."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "ingest_server.py"
KEY = "test-key-0123456789"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ingest_server_example", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


ingest = _load()


def ev(event_id: str, revision: int | None = 0, kind: str = "turn", **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"event_id": event_id, "kind": kind, **extra}
    if revision is not None:
        event["revision"] = revision
    return event


def batch(events: list[Any]) -> dict[str, Any]:
    return {
        "sent_at": "2025-01-01T00:00:00Z",
        "shipper": {"name": "agent-cli", "version": "0.0.0", "host": "test"},
        "events": events,
    }


def post(
    client: httpx.Client,
    events: list[Any],
    *,
    compress: bool = True,
    key: str | None = KEY,
    idem: str | None = None,
) -> httpx.Response:
    body = json.dumps(batch(events)).encode()
    headers = {"Content-Type": "application/json"}
    if compress:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return client.post("/v1/events", content=body, headers=headers)


Server = Any  # ingest.IngestServer, loaded dynamically


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(faults: Any = None, db: str = ":memory:", quiet: bool = True) -> Server:
        server = ingest.make_server("127.0.0.1", 0, db, KEY, faults, quiet=quiet)
        server.start_in_thread()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def client_for() -> Iterator[Callable[[Server], httpx.Client]]:
    clients: list[httpx.Client] = []

    def make(server: Server) -> httpx.Client:
        client = httpx.Client(base_url=server.url, timeout=5.0, follow_redirects=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def stats(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/admin/stats")
    assert response.status_code == 200
    return response.json()


def test_healthz_and_unknown_paths(serve, client_for) -> None:
    client = client_for(serve())
    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz").text == "ok"
    assert client.get("/nope").status_code == 404
    assert client.get("/v1/events").status_code == 405
    assert client.post("/nope", content=b"x").status_code == 404


def test_v1_health_needs_the_key_and_stores_nothing(serve, client_for) -> None:
    server = serve()
    client = client_for(server)
    ok = client.get("/v1/health", headers={"Authorization": f"Bearer {KEY}"})
    assert ok.status_code == 200 and ok.json() == {"ok": True}
    assert client.get("/v1/health").status_code == 401
    wrong = client.get("/v1/health", headers={"Authorization": "Bearer wrong-key-0000"})
    assert wrong.status_code == 401
    assert stats(client)["requests"] == []


def test_auth_missing_or_wrong_key_is_401_and_key_never_logged(serve, client_for, capsys) -> None:
    server = serve(quiet=False)
    client = client_for(server)
    for key in (None, "wrong-secret-key-xyz"):
        response = post(client, [ev("a")], key=key)
        assert response.status_code == 401
        assert "error" in response.json()
    assert stats(client)["events"] == 0
    assert post(client, [ev("a")]).status_code == 200
    err = capsys.readouterr().err
    assert err.count("POST /v1/events 401") == 2
    assert "POST /v1/events 200 events=1 accepted=1 duplicates=0" in err
    assert "wrong-secret-key-xyz" not in err and KEY not in err and "Bearer" not in err


def test_plain_and_gzip_bodies(serve, client_for) -> None:
    client = client_for(serve())
    plain = post(client, [ev("p1"), ev("p2")], compress=False)
    zipped = post(client, [ev("g1"), ev("g2"), ev("g3")], compress=True)
    assert plain.status_code == zipped.status_code == 200
    assert plain.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert zipped.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    summary = stats(client)
    assert summary["events"] == 5
    first, second = summary["requests"]
    assert (first["gzip"], second["gzip"]) == (False, True)
    assert first["bytes"] > 0 and second["bytes"] > 0


def test_bad_bodies(serve, client_for) -> None:
    client = client_for(serve())
    auth = {"Authorization": f"Bearer {KEY}"}
    bad_gzip = client.post(
        "/v1/events", content=b"not gzip", headers={**auth, "Content-Encoding": "gzip"}
    )
    assert bad_gzip.status_code == 400
    assert client.post("/v1/events", content=b"{nope", headers=auth).status_code == 400
    assert client.post("/v1/events", content=b'{"events": 3}', headers=auth).status_code == 400
    br = client.post("/v1/events", content=b"{}", headers={**auth, "Content-Encoding": "br"})
    assert br.status_code == 415
    assert stats(client)["by_status"] == {"400": 3, "415": 1}


def test_highest_revision_wins(serve, client_for, tmp_path: Path) -> None:
    db = tmp_path / "ingest.sqlite"
    client = client_for(serve(db=str(db)))
    assert post(client, [ev("e1", 2, tokens=20)]).json()["accepted"] == 1
    lower = post(client, [ev("e1", 1, tokens=10)]).json()
    assert (lower["accepted"], lower["duplicates"]) == (0, 1)
    higher = post(client, [ev("e1", 5, tokens=50)]).json()
    assert (higher["accepted"], higher["duplicates"]) == (1, 0)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT event_id, revision, kind, body FROM events").fetchall()
    assert len(rows) == 1
    event_id, revision, kind, body = rows[0]
    assert (event_id, revision, kind) == ("e1", 5, "turn")
    assert json.loads(body)["tokens"] == 50


def test_duplicates_counted_including_missing_revision(serve, client_for) -> None:
    client = client_for(serve())
    first = post(client, [ev("t1", None, kind="tool_call"), ev("t2", 0), ev("t2", 0)]).json()
    assert first == {"accepted": 2, "duplicates": 1, "rejected": []}
    again = post(client, [ev("t1", 0, kind="tool_call"), ev("t2", None), ev("t3")]).json()
    assert again == {"accepted": 1, "duplicates": 2, "rejected": []}
    assert stats(client)["events"] == 3


def test_invalid_and_poison_events_rejected(serve, client_for) -> None:
    client = client_for(serve(ingest.Faults(reject_event_ids={"bad"})))
    bad_revision: dict[str, Any] = {"event_id": "r", "revision": "x"}
    events = [ev("ok"), ev("bad"), "not an object", {"kind": "turn"}, bad_revision]
    events.append({"event_id": [1]})
    result = post(client, events).json()
    assert result["accepted"] == 1 and result["duplicates"] == 0
    reasons = [(r["event_id"], r["reason"]) for r in result["rejected"]]
    assert reasons == [
        ("bad", "poison"), (None, "invalid"), (None, "invalid"), ("r", "invalid"), (None, "invalid")
    ]  # fmt: skip
    assert [r.get("index") for r in result["rejected"]] == [None, 2, 3, 4, 5]
    assert stats(client)["events"] == 1
    # a rejected event stays rejected
    assert post(client, [ev("bad")]).json()["rejected"] == [{"event_id": "bad", "reason": "poison"}]


def test_poison_status_answers_whole_batch(serve, client_for) -> None:
    client = client_for(serve(ingest.Faults(reject_event_ids={"bad"}, poison_status=422)))
    assert post(client, [ev("a"), ev("bad"), ev("b")]).status_code == 422
    assert stats(client)["events"] == 0
    # bisected halves: the clean one goes through, the poisoned one keeps failing
    assert post(client, [ev("a")]).json()["accepted"] == 1
    assert post(client, [ev("bad"), ev("b")]).status_code == 422
    assert post(client, [{"event_id": ["unhashable"]}, ev("bad")]).status_code == 422
    assert post(client, [ev("b")]).json()["accepted"] == 1
    assert stats(client)["events"] == 2


def test_status_sequence_and_retry_after(serve, client_for) -> None:
    faults = ingest.Faults(status_sequence=[503, 429, 500, 200], retry_after="7")
    client = client_for(serve(faults))
    answers = [post(client, [ev("s1")]) for _ in range(5)]
    assert [r.status_code for r in answers] == [503, 429, 500, 200, 200]
    assert answers[0].headers["Retry-After"] == "7"
    assert answers[1].headers["Retry-After"] == "7"
    assert "Retry-After" not in answers[2].headers
    assert [r.json()["accepted"] for r in answers[3:]] == [1, 0]
    summary = stats(client)
    assert summary["events"] == 1
    assert summary["by_status"] == {"503": 1, "429": 1, "500": 1, "200": 2}
    assert [r["accepted"] for r in summary["requests"]] == [0, 0, 0, 1, 0]


def test_status_sequence_2xx_entry_is_handled_normally(serve, client_for) -> None:
    client = client_for(serve(ingest.Faults(status_sequence=[202])))
    response = post(client, [ev("x")])
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}


def test_retry_after_http_date_passes_through(serve, client_for) -> None:
    date = "Wed, 21 Oct 2037 07:28:00 GMT"
    client = client_for(serve(ingest.Faults(status_sequence=[429], retry_after=date)))
    assert post(client, [ev("x")]).headers["Retry-After"] == date


def test_max_body_bytes_413_after_decompression(serve, client_for) -> None:
    client = client_for(serve(ingest.Faults(max_body_bytes=4096)))
    big = [ev(f"big-{i}", text="a" * 200) for i in range(40)]  # ~10 kB, gzips to little
    assert len(gzip.compress(json.dumps(batch(big)).encode())) < 4096
    assert post(client, big).status_code == 413
    assert post(client, big, compress=False).status_code == 413
    assert stats(client)["events"] == 0
    assert post(client, big[:5]).json()["accepted"] == 5


def test_dropped_connection_stores_nothing_and_later_requests_work(serve, client_for) -> None:
    client = client_for(serve(ingest.Faults(drop_connections=1, status_sequence=[503])))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        post(client, [ev("d1")])
    assert stats(client)["events"] == 0
    # the drop consumed no status-sequence entry
    assert post(client, [ev("d1")]).status_code == 503
    assert post(client, [ev("d1")]).json()["accepted"] == 1
    summary = stats(client)
    assert summary["by_status"] == {"dropped": 1, "503": 1, "200": 1}
    assert summary["requests"][0]["dropped"] is True
    assert summary["requests"][0]["status"] is None


def test_drop_after_commit_stores_then_drops(serve, client_for) -> None:
    faults = ingest.Faults(drop_connections=1, drop_after_commit=True)
    client = client_for(serve(faults))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        post(client, [ev("c1"), ev("c2")], idem="k1")
    assert stats(client)["events"] == 2
    retry = post(client, [ev("c1"), ev("c2")], idem="k1").json()
    assert retry == {"accepted": 0, "duplicates": 2, "rejected": []}
    dropped, answered = stats(client)["requests"]
    assert dropped["dropped"] and dropped["accepted"] == 2 and dropped["idempotency_key"] == "k1"
    assert answered["status"] == 200 and answered["idempotency_key"] == "k1"


def test_redirect_is_answered_not_followed(serve, client_for) -> None:
    client = client_for(serve(ingest.Faults(redirect_to="https://elsewhere.example/v1/events")))
    response = post(client, [ev("r1")])
    assert response.status_code == 307
    assert response.headers["Location"] == "https://elsewhere.example/v1/events"
    assert stats(client)["events"] == 0


def _wait_held(client: httpx.Client, n: int) -> None:
    """Until `n` requests are held by the server (a generous ceiling: only a hang fails)."""
    deadline = time.monotonic() + 60
    while stats(client)["faults"]["held"] < n:
        assert time.monotonic() < deadline, "requests were not held"
        time.sleep(0.01)


def test_latency_is_waited(serve, client_for) -> None:
    client = client_for(serve(ingest.Faults(latency=0.2)))
    started = time.monotonic()
    assert post(client, [ev("l0")]).status_code == 200
    assert time.monotonic() - started >= 0.2  # a lower bound: a busy machine only adds to it


def test_requests_are_served_concurrently(serve, client_for) -> None:
    server = serve(ingest.Faults(hold="after_commit"))
    client = client_for(server)
    codes: list[int] = []

    def send(i: int) -> None:
        with httpx.Client(base_url=server.url, timeout=120.0) as own:
            codes.append(post(own, [ev(f"l{i}"), ev("shared")]).status_code)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(1, 6)]
    for thread in threads:
        thread.start()
    _wait_held(client, 5)  # all five in the server at once: served in parallel
    assert client.post("/admin/faults", json={"hold": None}).status_code == 200
    for thread in threads:
        thread.join(120)
    assert codes == [200] * 5
    summary = stats(client)
    assert summary["events"] == 6 and summary["faults"]["held"] == 0
    assert sum(r["accepted"] for r in summary["requests"]) == 6
    assert sum(r["duplicates"] for r in summary["requests"]) == 4


def _send_in_background(server: Any) -> tuple[threading.Thread, list[int]]:
    """POST one event from another thread (the server may hold it); its status lands in the list."""
    codes: list[int] = []

    def send() -> None:
        with httpx.Client(base_url=server.url, timeout=120.0) as own:
            codes.append(post(own, [ev("h")]).status_code)

    sender = threading.Thread(target=send)
    sender.start()
    return sender, codes


def test_hold_before_commit_stores_nothing(serve, client_for) -> None:
    server = serve(ingest.Faults(hold="before_commit"))
    admin = client_for(server)
    sender, codes = _send_in_background(server)
    _wait_held(admin, 1)
    assert stats(admin)["events"] == 0
    assert admin.post("/admin/faults", json={"hold": None}).status_code == 200
    sender.join(120)
    assert codes == [503]
    assert stats(admin)["events"] == 0
    assert post(admin, [ev("h")]).status_code == 200  # not held any more


def test_hold_after_commit_stores_before_answering(serve, client_for) -> None:
    server = serve(ingest.Faults(hold="after_commit"))
    admin = client_for(server)
    sender, codes = _send_in_background(server)
    _wait_held(admin, 1)
    assert stats(admin)["events"] == 1 and codes == []  # stored, not yet answered
    assert admin.post("/admin/faults", json={"hold": None}).status_code == 200
    sender.join(120)
    assert codes == [200]
    assert admin.post("/admin/faults", json={"hold": "later"}).status_code == 400


def test_admin_faults_change_at_run_time(serve, client_for) -> None:
    client = client_for(serve())
    assert post(client, [ev("a")]).status_code == 200
    state = client.post(
        "/admin/faults",
        json={"status_sequence": [503], "retry_after": "2", "reject_event_ids": ["p"]},
    )
    assert state.status_code == 200
    assert state.json()["status_sequence"] == [503]
    assert state.json()["reject_event_ids"] == ["p"]
    response = post(client, [ev("b")])
    assert (response.status_code, response.headers["Retry-After"]) == (503, "2")
    assert post(client, [ev("b"), ev("p")]).json()["rejected"] == [
        {"event_id": "p", "reason": "poison"}
    ]
    assert client.post("/admin/faults", json={"poison_status": 400}).status_code == 200
    assert post(client, [ev("p")]).status_code == 400
    assert client.post("/admin/faults", json={"drop_connections": 1}).status_code == 200
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        post(client, [ev("c")])
    cleared = client.post(
        "/admin/faults", json={"reject_event_ids": [], "poison_status": None, "max_body_bytes": 10}
    )
    assert cleared.json()["reject_event_ids"] == [] and cleared.json()["poison_status"] is None
    assert post(client, [ev("p")]).status_code == 413
    # invalid changes are refused as a whole
    for bad in ({"latency": -1}, {"nope": 1}, {"status_sequence": "503"}, {"poison_status": 500}):
        assert client.post("/admin/faults", json=bad).status_code == 400
    assert client.post("/admin/faults", content=b"[1]").status_code == 400
    half_bad = {"max_body_bytes": None, "latency": -1}
    assert client.post("/admin/faults", json=half_bad).status_code == 400
    assert stats(client)["faults"]["max_body_bytes"] == 10


def test_stats_shape(serve, client_for) -> None:
    client = client_for(serve())
    post(client, [ev("a"), ev("b")], idem="batch-1")
    post(client, [ev("a")], key="nope")
    summary = stats(client)
    assert set(summary) == {"events", "requests", "by_status", "faults"}
    assert summary["events"] == 2
    assert summary["by_status"] == {"200": 1, "401": 1}
    ok, denied = summary["requests"]
    assert ok["status"] == 200 and ok["events"] == 2 and ok["accepted"] == 2
    assert ok["idempotency_key"] == "batch-1" and ok["path"] == "/v1/events"
    assert denied["status"] == 401 and denied["accepted"] == 0
    assert denied["id"] > ok["id"]


def test_refuses_non_loopback_host(capsys) -> None:
    with pytest.raises(ValueError, match="loopback"):
        ingest.make_server("0.0.0.0", 0, ":memory:", KEY)
    assert ingest.main(["--host", "192.0.2.1", "--port", "0", "--db", ":memory:"]) == 2
    assert "loopback" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_subprocess_with_ready_file(tmp_path: Path) -> None:
    ready = tmp_path / "port"
    db = tmp_path / "ingest.sqlite"
    proc = subprocess.Popen(
        [
            sys.executable, str(SCRIPT), "--port", "0", "--ready-file", str(ready),
            "--db", str(db), "--api-key", KEY, "--status-sequence", "503,200",
            "--retry-after", "3", "--reject-event-id", "bad",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.02)
        port = int(ready.read_text())
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as client:
            first = post(client, [ev("a"), ev("bad")])
            assert (first.status_code, first.headers["Retry-After"]) == (503, "3")
            second = post(client, [ev("a"), ev("bad")]).json()
            assert (second["accepted"], second["duplicates"]) == (1, 0)
            assert second["rejected"] == [{"event_id": "bad", "reason": "poison"}]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "POST /v1/events 503" in err and "POST /v1/events 200 events=2 accepted=1" in err
    assert KEY not in err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT event_id FROM events").fetchall() == [("a",)]
        assert conn.execute("SELECT COUNT(*) FROM requests").fetchone() == (2,)


def test_counts_of_a_batch_mixing_new_duplicate_higher_lower_and_invalid(
    serve, client_for, tmp_path: Path
) -> None:
    db = tmp_path / "ingest.sqlite"
    client = client_for(serve(ingest.Faults(reject_event_ids={"p"}), db=str(db)))
    assert post(client, [ev("a", 1), ev("b", 3)]).json()["accepted"] == 2
    answer = post(
        client,
        [
            ev("a", 2, n="first"),  # higher: accepted
            ev("b", 1),  # lower: duplicate
            ev("b", 3),  # same: duplicate
            ev("c", 0),  # new: accepted
            ev("c", 0, n="again"),  # the same revision again in this batch: duplicate
            ev("d", None),  # no revision (0), new: accepted
            ev("d", 4),  # higher than the one just stored: accepted
            "not an object",
            {"kind": "turn"},
            {"event_id": "e", "revision": "1"},
            {"event_id": "f", "revision": True},
            {"event_id": 5},
            {"event_id": ""},
            ev("p", 0),  # poison
            ev("a", 2, n="second"),  # same as the higher one above: duplicate
            ev("é\u2603", 1, text='naïve ☃ \\ "q"'),  # non-ASCII: accepted
        ],
    ).json()
    assert (answer["accepted"], answer["duplicates"]) == (5, 4)
    assert answer["rejected"] == [
        {"event_id": None, "reason": "invalid", "index": 7},
        {"event_id": None, "reason": "invalid", "index": 8},
        {"event_id": "e", "reason": "invalid", "index": 9},
        {"event_id": "f", "reason": "invalid", "index": 10},
        {"event_id": None, "reason": "invalid", "index": 11},
        {"event_id": "", "reason": "invalid", "index": 12},
        {"event_id": "p", "reason": "poison"},
    ]
    last = stats(client)["requests"][-1]
    assert (last["events"], last["accepted"], last["duplicates"], last["rejected"]) == (16, 5, 4, 7)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT event_id, revision, kind, body FROM events").fetchall()
    stored = {eid: (rev, kind, json.loads(body)) for eid, rev, kind, body in rows}
    assert sorted(stored) == ["a", "b", "c", "d", "é\u2603"]
    assert stored["a"] == (2, "turn", ev("a", 2, n="first"))
    assert stored["b"] == (3, "turn", ev("b", 3))
    assert stored["c"] == (0, "turn", ev("c", 0))
    assert stored["d"] == (4, "turn", ev("d", 4))
    assert stored["é\u2603"][2] == ev("é\u2603", 1, text='naïve ☃ \\ "q"')
