"""A classic task's `ui_messages.json` to facts, by the counting rules of the package doc.

The file is rewritten whole, and messages can disappear from it: a checkpoint restore deletes
every message after the restore point and then says their summed usage (Cline
`deleted_api_reqs`, Roo/Kilo `api_req_deleted`). So:

- a call's id is the task id + the message's `ts` (the webview's unique list key), never a
  position in the file;
- the state remembers the raw usage of everything emitted from this file (`live`) and the
  deletion messages already settled (`deleted`). What vanishes joins a `pool`; a new deletion
  message claims from the pool what it sums, and the rest (spent by requests this reader never
  saw) becomes one `session_delta` event keyed by that message. Cline's sum includes the
  earlier deletion messages it deletes (nested), so those join the pool too; Roo's does not.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import msgspec

from agent_cli.events import CallFact, Context, Usage, event_id
from agent_cli.sources.cline import tokens
from agent_cli.sources.cline.format import (
    API_REQ,
    API_REQ_FINISHED,
    CLINE,
    CONDENSE,
    DELETED,
    SUBAGENT,
    USAGE_SAYS,
    USER_SAYS,
    ApiReq,
    UiMessage,
    dec_api_req,
    dec_text,
    dec_ui,
    dec_ui_message,
    encode,
)
from agent_cli.sources.cline.side import TaskInfo
from agent_cli.sources.common import fmt_ms, to_int
from agent_cli.sources.decode import FAILED, UNRECOGNIZED_LINE, classify, decode_state, decode_value

_FIELDS = 5  # tokensIn, tokensOut, cacheWrites, cacheReads, cost
_ERROR_HEAD = 600


class State(msgspec.Struct):
    """What a task file's reader keeps between reads (the names are the stored format)."""

    live: dict[str, list[float]] = msgspec.field(default_factory=dict)  # ts -> raw usage
    deleted: dict[str, list[float]] = msgspec.field(default_factory=dict)  # settled, by ts
    pool: list[float] = msgspec.field(default_factory=lambda: [0.0] * _FIELDS)  # unclaimed


_decode_state = msgspec.json.Decoder(State).decode


@dataclass(slots=True)
class Item:
    """A usage message of the file: its key, kind, raw usage and what the record says."""

    ts: int
    kind: str
    req: ApiReq
    model: str | None
    provider: str | None
    protocol: str | None
    turn: int
    call: int | None = None  # the request's position among the file's requests

    def raw(self) -> list[float]:
        r = self.req
        return [
            float(to_int(r.tokensIn)),
            float(to_int(r.tokensOut)),
            float(to_int(r.cacheWrites)),
            float(to_int(r.cacheReads)),
            tokens.cost(r.cost) or 0.0,
        ]


def classify_error(head: bytes) -> str:
    """Map the head of a failed stream's message to the contract's error codes."""
    low = head.lower()
    if b"429" in low or b"rate limit" in low or b"quota" in low:
        return "rate_limit"
    if b"529" in low or b"503" in low or b"overloaded" in low:
        return "overloaded"
    if b"401" in low or b"403" in low or b"unauthorized" in low or b"api key" in low:
        return "auth"
    if b"context" in low and (b"length" in low or b"window" in low or b"too long" in low):
        return "context_overflow"
    return "server_error"


def _text(raw: msgspec.Raw) -> ApiReq | None:
    if not raw:
        return None
    text = decode_value(dec_text, raw)
    if text is FAILED or not text:
        return None
    req = decode_value(dec_api_req, text.encode("utf-8", "surrogatepass"))
    return None if req is FAILED else req


def _has_counts(r: ApiReq) -> bool:
    return any(v is not None for v in (r.tokensIn, r.tokensOut, r.cacheWrites, r.cacheReads))


class ClassicReader:
    """One read of a task file: `read(data)` returns the facts; `state()` what to keep."""

    def __init__(
        self,
        agent: str,
        path: str,
        task_id: str,
        info: TaskInfo,
        state: bytes | None,
        skipped: Counter[str],
    ) -> None:
        self.agent = agent
        self.path = path
        self.task = task_id
        self.info = info
        self.skipped = skipped
        s = decode_state(_decode_state, state, skipped) if state else None
        self.s = s if s is not None else State()
        self.out: list[CallFact] = []

    def state(self) -> bytes:
        return encode(self.s)

    def read(self, data: bytes) -> list[object]:
        raws = decode_value(dec_ui, data)
        if raws is FAILED:
            not_ours = classify(data) == UNRECOGNIZED_LINE
            self.skipped["not_a_task" if not_ours else "malformed_task_file"] += 1
            return []
        messages = []
        for raw in raws:  # one odd message never costs the others
            m = decode_value(dec_ui_message, raw)
            if m is FAILED:
                self.skipped["unrecognized_message"] += 1
            else:
                messages.append(m)
        items, condensed = self._items(messages)
        live: dict[str, list[float]] = {}
        deleted: dict[str, list[float]] = {}
        nxt: int | None = None
        for idx in range(len(items) - 1, -1, -1):  # backwards: each request knows the next
            it = items[idx]
            if it.kind in DELETED:
                deleted[str(it.ts)] = it.raw()
                continue
            if self._emit(it, nxt):
                live[str(it.ts)] = it.raw()
            if it.kind == API_REQ:
                nxt = it.ts
        for m, turn in condensed:
            cost = self._condense(m, turn)
            if cost:
                live["c" + str(to_int(m.ts))] = [0.0, 0.0, 0.0, 0.0, cost]
        self._settle(live, deleted)
        self.out.sort(key=lambda f: f.timestamp)
        return list(self.out)

    def _items(self, messages: list[UiMessage]) -> tuple[list[Item], list[tuple[UiMessage, int]]]:
        """The usage messages in file order (an `api_req_finished` folded into its start)."""
        items: list[Item] = []
        condensed: list[tuple[UiMessage, int]] = []
        turn, calls = 1, 0  # the task itself is the first turn
        open_start: Item | None = None
        for m in messages:
            if m.type == "say" and m.say in USER_SAYS:
                turn += 1
            if m.say == CONDENSE and m.contextCondense is not None:
                condensed.append((m, turn))
            if m.say not in USAGE_SAYS or m.partial is True:
                continue
            req = _text(m.text)
            ts = to_int(m.ts)
            if req is None or not ts:
                self.skipped["unrecognized_usage_message"] += 1
                continue
            if m.say == API_REQ_FINISHED:
                if open_start is not None and not _has_counts(open_start.req):
                    open_start.req = req  # the oldest Cline: counts in a second message
                    continue
                m.say = API_REQ
            info = m.modelInfo
            item = Item(
                ts,
                m.say or "",
                req,
                info.modelId if info else None,
                info.providerId if info else None,
                req.apiProtocol or m.apiProtocol,
                turn,
            )
            if m.say == API_REQ:
                item.call, calls, open_start = calls, calls + 1, item
            items.append(item)
        return items, condensed

    def _emit(self, it: Item, nxt: int | None) -> bool:
        """Emit one call or subagent batch; True when it counts (it is then `live`)."""
        r = it.req
        if not _has_counts(r) and tokens.cost(r.cost) is None:
            self.skipped["pending_request"] += 1  # a placeholder; a later rewrite fills it
            return False
        if self.s.live.get(str(it.ts)) == it.raw():
            return True  # emitted by an earlier read with these very counts: nothing new
        stamped = self.info.timeline.before(nxt)
        model = it.model or (stamped[0] if stamped else None)
        provider = it.provider or (stamped[1] if stamped else None)
        raw = (r.tokensIn, r.tokensOut, r.cacheWrites, r.cacheReads)
        usage = tokens.classic_usage(self.agent, raw, it.ts, it.protocol, provider)
        cost = tokens.cost(r.cost)
        if usage.total == 0 and not cost:
            self.skipped["zero_tokens"] += 1
            return False
        failed = r.cancelReason in ("streaming_failed", "retries_exhausted") or bool(
            r.streamingFailedMessage
        )
        sub = it.kind == SUBAGENT
        fact = self._fact(("subagent_usage", str(it.ts)) if sub else (str(it.ts),), it.ts, usage)
        fact.model, fact.provider, fact.cost_usd, fact.turn_index = model, provider, cost, it.turn
        fact.call_index = it.call
        if sub:
            fact.is_subagent, fact.granularity = True, "session_delta"
        if failed:
            fact.status = "error"
            fact.error_code = classify_error(bytes(r.streamingFailedMessage)[:_ERROR_HEAD])
        self.out.append(fact)
        return True

    def _fact(self, key: tuple[str, ...], ts: int, usage: Usage) -> CallFact:
        return CallFact(
            agent=self.agent,
            event_id=event_id(self.agent, self.task, *key),
            rank=usage.total,
            timestamp=fmt_ms(ts),
            session_id=self.task,
            model=None,
            usage=usage,
            context=Context(cwd=self.info.cwd),
            parent_session_id=self.info.parent,
        )

    def _condense(self, m: UiMessage, turn: int) -> float | None:
        """A Roo/Kilo context condense: one call whose only record is its cost (returned)."""
        cost = tokens.cost(m.contextCondense.cost if m.contextCondense else None)
        ts = to_int(m.ts)
        if not cost or not ts:
            return None
        if "c" + str(ts) in self.s.live:
            return cost  # emitted by an earlier read
        stamped = self.info.timeline.before(ts + 1)
        fact = self._fact(("condense", str(ts)), ts, Usage())
        fact.model, fact.cost_usd, fact.turn_index = stamped[0] if stamped else None, cost, turn
        self.out.append(fact)
        return cost

    def _settle(self, live: dict[str, list[float]], deleted: dict[str, list[float]]) -> None:
        """Pool what vanished; let each new deletion message claim its part; emit the rest."""
        s = self.s
        gone = [raw for ts, raw in s.live.items() if ts not in live]
        if self.agent == CLINE:  # Cline's sum includes the deletion messages it deletes
            gone += [raw for ts, raw in s.deleted.items() if ts not in deleted]
        for raw in gone:
            s.pool = [a + b for a, b in zip(s.pool, raw, strict=True)]
        s.live = live
        for ts in sorted(deleted, key=int):
            if ts in s.deleted:
                continue
            claim = [min(p, d) for p, d in zip(s.pool, deleted[ts], strict=True)]
            s.pool = [p - c for p, c in zip(s.pool, claim, strict=True)]
            left = [d - c for d, c in zip(deleted[ts], claim, strict=True)]
            if any(left[:4]) or left[4] >= 1e-9:
                self._delta(int(ts), left)
        s.deleted = deleted

    def _delta(self, ts: int, left: list[float]) -> None:
        tin, out, writes, reads = (round(x) for x in left[:4])
        stamped = self.info.timeline.before(None)
        provider = stamped[1] if stamped else None
        usage = tokens.classic_usage(self.agent, (tin, out, writes, reads), ts, None, provider)
        fact = self._fact(("deleted_api_reqs", str(ts)), ts, usage)
        fact.model = stamped[0] if stamped else None
        fact.cost_usd = left[4] if left[4] >= 1e-9 else None
        fact.granularity = "session_delta"
        self.out.append(fact)
