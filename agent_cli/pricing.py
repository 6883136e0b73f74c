"""Price: cost_usd of a call from genai-prices, looked up once per model, not once per call.

genai-prices' `calc_price` costs ~0.25 ms a call, too slow for a history of 100k calls. Its
price of a request is linear in each token type within a long-context tier, and the tier is
chosen by the request's whole input (input + cache read + cache writes, "cliff" pricing). So
for each model (and tier) we ask genai-prices for the price of one token of each type once,
and then price every call with five multiplications: exactly what genai-prices would say.
Tests compare both on random usages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from agent_cli.events import Usage

_PROBE = 1_000_000  # tokens per probe above the last tier edge (exact in Decimal)


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


class Pricer:
    """Price calls; unknown models give None and are counted in `unpriced`."""

    def __init__(self) -> None:
        self._tables: dict[tuple[str, str | None, str | None], list[Rates] | None] = {}
        self.unpriced: dict[str, int] = {}

    def cost(
        self, model: str | None, provider: str | None, u: Usage, speed: str | None = None
    ) -> float | None:
        """Return the USD cost of one call, or None when the model has no known price."""
        if u.total == 0:
            return 0.0
        if not model:
            return None
        key = (model, provider, speed)
        table = self._tables.get(key, ...)
        if table is ...:
            table = self._tables[key] = _load(model, provider, speed)
        if table is None:
            self.unpriced[model] = self.unpriced.get(model, 0) + 1
            return None
        whole_input = u.input_tokens + u.cache_read_tokens + u.cache_creation_tokens
        rates = table[0]
        for r in table[1:]:
            if whole_input > r.above:
                rates = r
        return round(rates.cost(u), 10)


def _load(model: str, provider: str | None, speed: str | None) -> list[Rates] | None:
    """Probe genai-prices once for a model's per-token rates at every tier."""
    try:
        from genai_prices import Usage as GUsage
        from genai_prices import data_snapshot
        from genai_prices.types import TieredPrices

        snapshot = data_snapshot.get_snapshot()
        prov, info = snapshot.find_provider_model(model, None, provider, None)
        ctx: Any = {"speed": speed} if speed == "fast" else None
        price = info.get_prices(datetime.now(UTC), ctx)
    except (LookupError, ValueError, ImportError):
        return None
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
            return price.calc_price(GUsage(**kw))["total_price"]

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
    del prov
    return table
