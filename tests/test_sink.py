"""HttpSink against in-process fake servers (httpx.MockTransport / respx): no network, no sleep."""

from __future__ import annotations

import gzip
import json
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
import respx

from agent_cli import __version__
from agent_cli.deliver import BACKOFF_CAP, backoff_delay
from agent_cli.errors import ConfigError
from agent_cli.sinks import Outgoing, Verdict, batches
from agent_cli.sinks.endpoint import check_endpoint, mask_key
from agent_cli.sinks.http import BREAKER_THRESHOLD, HttpSink

KEY = "sk_test_SECRETKEY1234abcd"
ENDPOINT = "https://ingest.example.test"
URL = ENDPOINT + "/v1/events"
NOW = 1_700_000_000.0


def ev(i: int, size: int = 0) -> Outgoing:
    body = json.dumps({"event_id": f"e{i:04d}", "pad": "x" * size}, separators=(",", ":"))
    return Outgoing(key=i, event_id=f"e{i:04d}", revision=1, body=body.encode())


def evs(n: int) -> list[Outgoing]:
    return [ev(i) for i in range(n)]


class Server:
    """Records each request's decoded envelope; `respond(events, request)` gives the answer."""

    def __init__(self, respond: Callable[[list[dict], httpx.Request], httpx.Response]) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []
        self.envelopes: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        envelope = json.loads(gzip.decompress(request.content))
        self.envelopes.append(envelope)
        return self.respond(envelope["events"], request)

    @property
    def calls(self) -> int:
        return len(self.requests)


def ok(events: list[dict], _req: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"accepted": len(events), "duplicates": 0, "rejected": []})


def make(respond: Callable[..., httpx.Response] = ok, **kw) -> tuple[HttpSink, Server]:
    server = Server(respond)
    client = httpx.Client(transport=httpx.MockTransport(server))
    return HttpSink(ENDPOINT, KEY, client=client, host="box", clock=lambda: NOW, **kw), server


def status(code: int, headers: dict[str, str] | None = None) -> Callable[..., httpx.Response]:
    return lambda _events, _req: httpx.Response(code, headers=headers)


# -- 2xx -------------------------------------------------------------------------------------


def test_2xx_delivers_everything_in_one_call() -> None:
    sink, server = make()
    res = sink.send(evs(5))
    assert (res.delivered, res.pending, res.quarantined) == ([0, 1, 2, 3, 4], [], [])
    assert res.verdict is Verdict.OK and res.status == 200 and server.calls == 1


def test_envelope_and_headers() -> None:
    sink, server = make()
    events = evs(3)
    sink.send(events)
    sink.send(list(reversed(events)))
    req, env = server.requests[0], server.envelopes[0]
    assert env == {
        "sent_at": "2023-11-14T22:13:20.000Z",
        "shipper": {"name": "agent-cli", "version": __version__, "host": "box"},
        "events": [json.loads(e.body) for e in events],
    }
    assert gzip.decompress(req.content).startswith(b'{"sent_at":"2023-11-14T22:13:20.000Z"')
    assert req.url == URL and req.method == "POST"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.headers["content-encoding"] == "gzip"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["user-agent"] == f"agent-cli/{__version__}"
    key = req.headers["idempotency-key"]
    assert len(key) == 64 and key == server.requests[1].headers["idempotency-key"]
    sink.send(evs(2))
    assert server.requests[2].headers["idempotency-key"] != key


def test_rejected_events_are_quarantined() -> None:
    def respond(events: list[dict], _req: httpx.Request) -> httpx.Response:
        bad = "unknown \x00field " + "y" * 100
        return httpx.Response(
            200,
            json={
                "accepted": 3,
                "duplicates": 0,
                "rejected": [{"event_id": "e0002", "reason": bad}],
            },
        )

    sink, _ = make(respond)
    res = sink.send(evs(4))
    assert res.delivered == [0, 1, 3] and res.pending == [] and res.verdict is Verdict.OK
    [(k, reason)] = res.quarantined
    assert k == 2 and reason.startswith("rejected:unknown  field y")
    assert len(reason) == len("rejected:") + 60 and reason.isprintable()


@pytest.mark.parametrize("body", [b"", b"not json", b"[1,2]", b'{"rejected": 5}'])
def test_unparseable_2xx_delivers_all(body: bytes) -> None:
    sink, server = make(lambda _e, _r: httpx.Response(202, content=body))
    res = sink.send(evs(3))
    assert res.delivered == [0, 1, 2] and res.verdict is Verdict.OK and server.calls == 1


def test_empty_send_makes_no_request() -> None:
    sink, server = make()
    res = sink.send([])
    assert res.verdict is Verdict.OK and server.calls == 0


# -- transient -------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [408, 409, 425, 429, 500, 502, 503, 504, 599])
def test_transient_status_retries(code: int) -> None:
    sink, server = make(status(code))
    res = sink.send(evs(4))
    assert res.verdict is Verdict.RETRY and res.pending == [0, 1, 2, 3]
    assert res.delivered == [] and res.quarantined == [] and res.status == code
    assert res.retry_after is None and server.calls == 1


@pytest.mark.parametrize(
    "exc", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError]
)
def test_transport_errors_retry(exc: type[httpx.TransportError]) -> None:
    calls = []

    def boom(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise exc(f"boom {KEY}", request=request)

    client = httpx.Client(transport=httpx.MockTransport(boom))
    sink = HttpSink(ENDPOINT, KEY, client=client, clock=lambda: NOW)
    res = sink.send(evs(3))
    assert res.verdict is Verdict.RETRY and res.pending == [0, 1, 2] and res.status is None
    assert len(calls) == 1 and exc.__name__ in res.detail and KEY not in res.detail


def test_retry_after_seconds_and_date() -> None:
    sink, _ = make(status(429, {"Retry-After": "7"}))
    assert sink.send(evs(1)).retry_after == 7.0
    date = format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True)
    sink, _ = make(status(503, {"Retry-After": date}))
    assert sink.send(evs(1)).retry_after == pytest.approx(90.0)
    past = format_datetime(datetime.fromtimestamp(NOW - 90, UTC), usegmt=True)
    for value, want in [("999999", 3600.0), (past, 0.0), ("soon", None), ("nan", None)]:
        sink, _ = make(status(503, {"Retry-After": value}))
        assert sink.send(evs(1)).retry_after == want


# -- 413 split -------------------------------------------------------------------------------


def test_413_splits_until_batches_fit() -> None:
    def respond(events: list[dict], req: httpx.Request) -> httpx.Response:
        return httpx.Response(413) if len(events) > 4 else ok(events, req)

    sink, server = make(respond)
    res = sink.send(evs(16))
    assert sorted(res.delivered) == list(range(16)) and res.verdict is Verdict.OK
    assert server.calls == 1 + 2 + 4  # 16 -> 2 x 8 -> 4 x 4
    # later claims are cut to half the refused size up front: 4 batches of 4, no 413
    server.requests.clear()
    assert sorted(sink.send(evs(16)).delivered) == list(range(16))
    assert server.calls == 4


def test_413_single_event_is_quarantined() -> None:
    def respond(events: list[dict], req: httpx.Request) -> httpx.Response:
        too_big = any(len(e["pad"]) > 1000 for e in events)
        return httpx.Response(413) if too_big else ok(events, req)

    sink, _ = make(respond)
    res = sink.send([ev(0), ev(1, 5000), ev(2), ev(3)])
    assert res.quarantined == [(1, "oversize_event")] and sorted(res.delivered) == [0, 2, 3]
    assert res.verdict is Verdict.OK


def test_event_over_max_bytes_is_quarantined_unsent() -> None:
    sink, server = make(max_batch_bytes=2000)
    res = sink.send([ev(0), ev(1, 5000)])
    assert res.quarantined == [(1, "oversize_event")] and res.delivered == [0]
    assert server.calls == 1 and len(server.envelopes[0]["events"]) == 1


# -- 400 bisect and breaker ------------------------------------------------------------------


def poison(*bad: str, code: int = 400) -> Callable[..., httpx.Response]:
    def respond(events: list[dict], req: httpx.Request) -> httpx.Response:
        if any(e["event_id"] in bad for e in events):
            return httpx.Response(code)
        return ok(events, req)

    return respond


@pytest.mark.parametrize("code", [400, 422, 418])
def test_bisect_isolates_one_poison_event(code: int) -> None:
    sink, server = make(poison("e0011", code=code))
    res = sink.send(evs(16))
    assert res.quarantined == [(11, "rejected_by_server")]
    assert sorted(res.delivered) == [i for i in range(16) if i != 11]
    assert res.verdict is Verdict.OK and res.pending == []
    assert server.calls <= 2 * math.log2(16) + 1


def test_400_everywhere_opens_breaker_without_dropping_more() -> None:
    sink, server = make(status(400))
    results = [sink.send([ev(i) for i in range(n, n + 16)]) for n in (0, 16, 32)]
    quarantined = [k for r in results for k, _ in r.quarantined]
    assert len(quarantined) == BREAKER_THRESHOLD and sink.breaker_open
    assert results[0].verdict is Verdict.OK  # 16 isolated, breaker not open yet
    assert results[1].verdict is Verdict.PAUSE_INCOMPATIBLE
    assert len(results[1].quarantined) == 4 and len(results[1].pending) == 12
    calls = server.calls
    assert results[2].pending == list(range(32, 48)) and results[2].quarantined == []
    assert results[2].verdict is Verdict.PAUSE_INCOMPATIBLE
    assert sink.send(evs(8)).pending == list(range(8)) and server.calls == calls + 1


def test_2xx_resets_the_breaker() -> None:
    answers = iter([400] * 15 + [200] + [400] * 100)
    sink, _ = make(lambda e, r: ok(e, r) if next(answers) == 200 else httpx.Response(400))
    for i in range(15):
        sink.send([ev(i)])
    assert sink.send([ev(15)]).delivered == [15]
    for i in range(16, 16 + BREAKER_THRESHOLD - 1):
        assert sink.send([ev(i)]).quarantined
    assert not sink.breaker_open


def test_transient_during_bisect_keeps_progress() -> None:
    answers = iter([400, 200, 503])  # 8 -> first half ok, second half 503

    def respond(events: list[dict], req: httpx.Request) -> httpx.Response:
        code = next(answers)
        return ok(events, req) if code == 200 else httpx.Response(code)

    sink, server = make(respond)
    res = sink.send(evs(8))
    assert res.delivered == [0, 1, 2, 3] and res.pending == [4, 5, 6, 7]
    assert res.verdict is Verdict.RETRY and server.calls == 3


# -- pauses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        (401, Verdict.PAUSE_AUTH),
        (403, Verdict.PAUSE_AUTH),
        (404, Verdict.PAUSE_ENDPOINT),
        (405, Verdict.PAUSE_ENDPOINT),
        (501, Verdict.PAUSE_ENDPOINT),
        (505, Verdict.PAUSE_ENDPOINT),
    ],
)
def test_pause_statuses_keep_everything(code: int, verdict: Verdict) -> None:
    sink, server = make(status(code))
    res = sink.send(evs(5))
    assert res.verdict is verdict and res.pending == list(range(5)) and server.calls == 1
    assert res.delivered == [] and res.quarantined == [] and KEY not in res.detail


def test_redirect_to_other_host_is_not_followed() -> None:
    with respx.mock(assert_all_called=False) as router:
        route = router.post(URL).respond(307, headers={"Location": "https://evil.test/v1/events"})
        other = router.route(host="evil.test").respond(200)
        sink = HttpSink(ENDPOINT, KEY, client=httpx.Client(follow_redirects=True))
        res = sink.send(evs(2))
    assert res.verdict is Verdict.PAUSE_ENDPOINT and res.pending == [0, 1] and res.status == 307
    assert "evil.test" in res.detail and KEY not in res.detail
    assert route.call_count == 1 and other.call_count == 0


# -- helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "want"),
    [
        ("https://ingest.sutrace.dev/", "https://ingest.sutrace.dev"),
        ("https://x.test/prefix/", "https://x.test/prefix"),
        ("http://127.0.0.1:8787", "http://127.0.0.1:8787"),
        ("http://localhost:8787/", "http://localhost:8787"),
        ("http://[::1]:8787", "http://[::1]:8787"),
        ("HTTPS://x.test", "https://x.test"),
    ],
)
def test_check_endpoint_accepts(given: str, want: str) -> None:
    assert check_endpoint(given) == want


@pytest.mark.parametrize(
    "bad",
    [
        "http://example.com",
        "ftp://example.com",
        "example.com",
        "",
        "https://",
        "https://user:sk_secret@x.test",
        "https://x.test:99999",
        "http://127.evil.test",
    ],
)
def test_check_endpoint_rejects(bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_endpoint(bad)
    assert "sk_secret" not in str(err.value)


def test_mask_key_and_repr() -> None:
    assert mask_key(KEY) == "…abcd" and mask_key("") == "…"
    assert mask_key("shrt") == "… (4 characters: too short to show any)"
    sink, _ = make()
    assert KEY not in repr(sink) and "…abcd" in repr(sink)


def test_backoff_delay() -> None:
    assert backoff_delay(1, None, rng=lambda: 1.0) == 1.0
    assert backoff_delay(5, None, rng=lambda: 1.0) == 16.0
    assert backoff_delay(50, None, rng=lambda: 1.0) == BACKOFF_CAP
    assert backoff_delay(10_000, None, rng=lambda: 0.0) == 0.0
    assert backoff_delay(1, 42.0, rng=lambda: 1.0) == 42.0
    rng = random.Random(7).random
    for attempt in range(0, 40):
        assert 0 <= backoff_delay(attempt, None, rng) <= BACKOFF_CAP
    means = [sum(backoff_delay(a, None, rng) for _ in range(400)) / 400 for a in (1, 3, 6, 9)]
    assert means == sorted(means) and means[-1] > 100


def test_batches_respects_both_limits() -> None:
    events = [ev(i, size=i % 7 * 10) for i in range(100)]
    out = list(batches(events, max_events=8, max_bytes=300))
    assert [e for b in out for e in b] == events
    for b in out:
        assert len(b) <= 8
        assert len(b) == 1 or sum(len(e.body) for e in b) + len(b) - 1 <= 300
    assert len(list(batches(evs(1000)))) == 2
    assert [len(b) for b in batches([ev(0), ev(1, 500), ev(2)], max_bytes=100)] == [1, 1, 1]
