"""Price: cost_usd of a call from genai-prices, looked up once per model, not once per call.

genai-prices' `calc_price` costs ~0.25 ms a call, too slow for a history of 100k calls. Its
price of a request is linear in each token type within a long-context tier, and the tier is
chosen by the request's whole input (input + cache read + cache writes, "cliff" pricing). So
for each model (and tier) we ask genai-prices for the price of one token of each type once,
and then price every call with five multiplications: exactly what genai-prices would say.
Tests compare both on random usages.

Importing genai-prices and probing it costs 0.3-0.6 s a run, so the rates are also kept in a
`RateCache` file in the state folder (0600): valid for one release of genai-prices' data (its
version and data file) and, for a price that changes on a date, until that date.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import astuple, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent_cli.events import Usage

_PROBE = 1_000_000  # tokens per probe above the last tier edge (exact in Decimal)
CACHE_NAME = "prices.cache"


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token of each type, for requests whose whole input exceeds `above`."""

    above: int
    input: float
    output: float
    cache_read: float
    cache_write_5m: float
    cache_write_1h: float

    def cost(self, u: Usage) -> float:
        five = u.cache_creation_tokens - u.cache_creation_1h_tokens
        return (u.input_tokens * self.input + u.output_tokens * self.output
                + u.cache_read_tokens * self.cache_read + five * self.cache_write_5m
                + u.cache_creation_1h_tokens * self.cache_write_1h)  # fmt: skip


_Key = tuple[str, str | None, str | None]  # model, provider, speed
_Window = tuple[str, str]  # the UTC days [from, until) a table holds for ("": unbounded)
Rows = dict[str, tuple[_Window, list[Rates] | None]]  # a RateCache's rows, by json key
Probe = Callable[[str, str | None, str | None], tuple[_Window | None, list[Rates] | None]]


class RateCache:
    """Tables of rates by model, kept in a file for the next run (see the module docstring).

    `get` answers only for today (UTC) and the installed genai-prices data; anything else is
    a miss and the caller probes genai-prices. Nothing but model names and public prices.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.stamp = _data_stamp()
        self.dirty = False
        self._rows: Rows = {}
        self._new: Rows = {}  # put since `take_new`
        if path is None or self.stamp is None:
            return
        try:
            data = json.loads(path.read_bytes())
            if data["stamp"] == self.stamp:
                for k, ((start, until), table) in data["rates"].items():
                    rates = None if table is None else [Rates(*r) for r in table]
                    self._rows[k] = ((str(start), str(until)), rates)
        except (OSError, ValueError, KeyError, TypeError):
            self._rows.clear()  # no cache, or one this version cannot read: probe again

    def get(self, key: _Key) -> tuple[bool, list[Rates] | None]:
        """(found, table): a table valid today, or (False, None)."""
        row = self._rows.get(json.dumps(key))
        if row is None:
            return False, None
        (start, until), table = row
        today = datetime.now(UTC).date().isoformat()
        if start <= today and (not until or today < until):
            return True, table
        return False, None

    def put(self, key: _Key, window: _Window, table: list[Rates] | None) -> None:
        self._rows[json.dumps(key)] = self._new[json.dumps(key)] = (window, table)
        self.dirty = True

    def take_new(self) -> Rows:
        """The rows put since the last call (a worker process hands them to its parent)."""
        new, self._new = self._new, {}
        return new

    def add(self, rows: Rows) -> None:
        """Keep rows another process probed (its `take_new`), to be saved with ours."""
        if rows:
            self._rows.update(rows)
            self.dirty = True

    def __len__(self) -> int:
        return len(self._rows)

    def save(self) -> None:
        """Write the file (0600, replaced atomically) if anything was added; errors are
        ignored: a cache that cannot be written only means probing again next time."""
        if not self.dirty or self.path is None or self.stamp is None:
            return
        rates = {
            k: [list(w), None if t is None else [list(astuple(r)) for r in t]]
            for k, (w, t) in self._rows.items()
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"stamp": self.stamp, "rates": rates}, f)
            os.replace(tmp, self.path)
            self.dirty = False
        except OSError:
            pass


def _data_stamp() -> list[object] | None:
    """genai-prices' installed version and data file, found without importing it."""
    from importlib.util import find_spec

    try:
        spec = find_spec("genai_prices")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    pkg = next(iter(spec.submodule_search_locations))
    site = os.path.dirname(pkg)
    try:
        infos = sorted(n for n in os.listdir(site) if n.startswith("genai_prices-"))
        st = os.stat(os.path.join(pkg, "data.py"))
    except OSError:
        return None
    return [pkg, infos, st.st_size, st.st_mtime_ns]


class Pricer:
    """Price calls; unknown models give None and are counted in `unpriced`."""

    def __init__(
        self,
        cache: RateCache | None = None,
        probe: Probe | None = None,
        release: Callable[[], None] | None = None,
    ) -> None:
        """`probe(model, provider, speed)` answers what the cache lacks (default: genai-prices
        in this process); `release` lets go of what probing holds, after a scan."""
        self._tables: dict[_Key, list[Rates] | None] = {}
        self.unpriced: dict[str, int] = {}
        self.cache = cache
        self._probe: Probe = probe or _load
        self._release = release

    def cost(
        self, model: str | None, provider: str | None, u: Usage, speed: str | None = None
    ) -> float | None:
        """Return the USD cost of one call, or None when the model has no known price."""
        whole_input = u.input_tokens + u.cache_read_tokens + u.cache_creation_tokens
        if whole_input + u.output_tokens == 0:  # u.total, without the property's call
            return 0.0
        if not model:
            return None
        key = (model, provider, speed)
        table = self._tables.get(key, ...)
        if table is ...:
            table = self._tables[key] = self._table(key)
        if table is None:
            self.unpriced[model] = self.unpriced.get(model, 0) + 1
            return None
        rates = table[0]
        if len(table) > 1:  # long-context tiers (most models have one)
            for r in table[1:]:
                if whole_input > r.above:
                    rates = r
        return round(rates.cost(u), 10)

    def _table(self, key: _Key) -> list[Rates] | None:
        if self.cache is not None:
            found, table = self.cache.get(key)
            if found:
                return table
        window, table = self._probe(*key)
        if self.cache is not None and window is not None:
            self.cache.put(key, window, table)
        return table

    def release(self) -> None:
        """A scan is over: let go of the prober's child (a later miss starts another)."""
        if self._release is not None:
            self._release()

    def save(self) -> None:
        """Keep the rates probed in this run for the next one (when there is a cache)."""
        if self.cache is not None:
            self.cache.save()

    def preload(self) -> None:
        """Load genai-prices' data now unless the cache holds rates already: processes forked
        after this inherit it instead of loading it each (~0.25 s of CPU)."""
        if self.cache is not None and len(self.cache):
            return
        try:
            from genai_prices import data_snapshot

            data_snapshot.get_snapshot()
        except (ImportError, ValueError):
            pass  # `_load` says the same to every call


def _load(
    model: str, provider: str | None, speed: str | None
) -> tuple[_Window | None, list[Rates] | None]:
    """Probe genai-prices once for a model's per-token rates at every tier; with the days
    the answer holds for (None: it may change within a day, not to be kept)."""
    try:
        from genai_prices import data_snapshot

        snapshot = data_snapshot.get_snapshot()
        prov, info = snapshot.find_provider_model(model, None, provider, None)
    except LookupError:
        return ("", ""), None  # unknown to this release of the data
    except (ValueError, ImportError):
        return None, None
    ctx: Any = {"speed": speed} if speed == "fast" else None
    now = datetime.now(UTC)
    try:
        price = info.get_prices(now, ctx)
    except (LookupError, ValueError):
        return None, None
    del prov
    return _window(info, ctx, now.date()), _rates(price)


def _window(info: Any, ctx: Any, today: date) -> _Window | None:
    """The UTC days today's price of `info` holds for, from its constraints (None: it
    depends on the time of day)."""
    constraints = [c.constraint for c in info.prices] if isinstance(info.prices, list) else []
    if ctx:
        constraints += [v.constraint for v in info.price_variants or ()]
    starts = []
    for c in constraints:
        if c is None:
            continue
        start = getattr(c, "start_date", None)
        if not isinstance(start, date):
            return None  # a time-of-day price (off-peak hours)
        starts.append(start)
    past = [d for d in starts if d <= today]
    future = [d for d in starts if d > today]
    return (max(past).isoformat() if past else "", min(future).isoformat() if future else "")


def _rates(price: Any) -> list[Rates]:
    """Every tier's per-token rates, probed from genai-prices' own calc_price."""
    from genai_prices import Usage as GUsage
    from genai_prices.types import TieredPrices

    starts = sorted(
        {t.start for v in price.__dict__.values() if isinstance(v, TieredPrices) for t in v.tiers}
    )
    table = []
    edges = [-1, *starts]
    for i, above in enumerate(edges):
        # A probe's whole input must fall inside this tier: genai-prices picks the tier whose
        # start the input exceeds, so the next tier's start still belongs to this one.
        base = edges[i + 1] if i + 1 < len(edges) else max(above, 0) + _PROBE

        def calc(**kw: int) -> Decimal:
            total: Decimal = price.calc_price(GUsage(**kw))["total_price"]
            return total

        p_in = calc(input_tokens=base)
        table.append(
            Rates(
                above=above,
                input=float(p_in / base),
                output=float((calc(input_tokens=base, output_tokens=_PROBE) - p_in) / _PROBE),
                cache_read=float(calc(input_tokens=base, cache_read_tokens=base) / base),
                cache_write_5m=float(calc(input_tokens=base, cache_write_tokens=base) / base),
                cache_write_1h=float(
                    calc(input_tokens=base, cache_write_tokens=base, cache_write_1h_tokens=base)
                    / base
                ),
            )
        )
    return table
