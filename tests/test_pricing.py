"""Pricer against genai-prices' own calc_price, on random usages of several models."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from genai_prices import Usage as GUsage
from genai_prices import calc_price

from agent_cli import pipeline, pricing
from agent_cli.config import Settings
from agent_cli.events import Usage
from agent_cli.price_probe import pricer_in
from agent_cli.pricing import Pricer

TIER = 200_000  # long-context threshold of the tiered models below (whole input, exclusive)


def reference(model: str, provider: str | None, u: Usage, speed: str | None = None) -> float:
    """genai-prices' price for our usage (its input_tokens include cache reads and writes)."""
    g = GUsage(
        input_tokens=u.input_tokens + u.cache_read_tokens + u.cache_creation_tokens,
        cache_read_tokens=u.cache_read_tokens,
        cache_write_tokens=u.cache_creation_tokens,
        cache_write_1h_tokens=u.cache_creation_1h_tokens,
        output_tokens=u.output_tokens,
    )
    ctx = {"speed": speed} if speed else None
    return float(calc_price(g, model, provider_id=provider, price_context=ctx).total_price)


def random_usages(seed: int, n: int, whole_input: tuple[int, int]) -> list[Usage]:
    """Usages whose whole input (input + cache read + cache write) is within `whole_input`."""
    rnd = random.Random(seed)
    out = []
    while len(out) < n:
        total = rnd.randint(*whole_input)
        cr = rnd.randint(0, total)
        cc = rnd.randint(0, total - cr)
        h1 = rnd.choice([0, cc, rnd.randint(0, cc)])
        u = Usage(
            input_tokens=total - cr - cc,
            output_tokens=rnd.randint(0, 64_000),
            cache_read_tokens=cr,
            cache_creation_tokens=cc,
            cache_creation_1h_tokens=h1,
        )
        if u.total:
            out.append(u)
    return out


def assert_matches(
    model: str, provider: str | None, usages: list[Usage], speed: str | None = None
) -> None:
    p = Pricer()
    bad = []
    for u in usages:
        got = p.cost(model, provider, u, speed)
        want = reference(model, provider, u, speed)
        if got is None or got != pytest.approx(want, rel=1e-9, abs=1e-12):
            bad.append((u, got, want))
    assert bad == [], f"{len(bad)} of {len(usages)} differ, e.g. {bad[:3]}"


FLAT = [
    ("claude-opus-4-7", "anthropic"),
    ("claude-haiku-4-5-20251001", "anthropic"),
    ("gpt-5-codex", "openai"),
    ("claude-haiku-4-5-20251001", None),
    ("gpt-5-codex", None),
]
TIERED = [
    ("claude-sonnet-4-5-20250929", "anthropic"),
    ("gemini-2.5-pro", "google"),
    ("claude-sonnet-4-5-20250929", None),
]


@pytest.mark.parametrize(("model", "provider"), FLAT)
def test_flat_models_match_genai_prices(model: str, provider: str | None) -> None:
    assert_matches(model, provider, random_usages(1, 200, (1, 900_000)))


@pytest.mark.parametrize(("model", "provider"), TIERED)
def test_tiered_models_above_the_threshold_match_genai_prices(
    model: str, provider: str | None
) -> None:
    assert_matches(model, provider, random_usages(2, 200, (TIER + 1, 900_000)))


@pytest.mark.parametrize(("model", "provider"), TIERED)
def test_tiered_models_below_the_threshold_match_genai_prices(
    model: str, provider: str | None
) -> None:
    assert_matches(model, provider, random_usages(3, 200, (1, TIER)))


def test_sonnet_4_5_base_rates() -> None:
    p = Pricer()
    m = "claude-sonnet-4-5-20250929"
    assert p.cost(m, "anthropic", Usage(input_tokens=1_000_000 // 10)) == pytest.approx(0.3)
    assert p.cost(m, "anthropic", Usage(output_tokens=1_000_000)) == pytest.approx(15.0)


def test_sonnet_4_5_long_context_rates() -> None:
    p = Pricer()
    m = "claude-sonnet-4-5-20250929"
    # above 200k of whole input every token of the request uses the premium rate
    assert p.cost(m, "anthropic", Usage(input_tokens=300_000)) == pytest.approx(1.8)
    assert p.cost(
        m, "anthropic", Usage(input_tokens=1, cache_read_tokens=250_000, output_tokens=1000)
    ) == pytest.approx(
        reference(
            m, "anthropic", Usage(input_tokens=1, cache_read_tokens=250_000, output_tokens=1000)
        )
    )


def test_each_token_type_has_its_own_rate() -> None:
    p = Pricer()
    m = "claude-opus-4-7"
    one = {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_creation_tokens": 0,
        "cache_creation_1h_tokens": 0,
    }
    costs = {}
    for field in ("input_tokens", "output_tokens", "cache_read_tokens"):
        costs[field] = p.cost(m, "anthropic", Usage(**dict(one, **{field: 1_000_000})))
    costs["5m"] = p.cost(m, "anthropic", Usage(cache_creation_tokens=1_000_000))
    costs["1h"] = p.cost(
        m, "anthropic", Usage(cache_creation_tokens=1_000_000, cache_creation_1h_tokens=1_000_000)
    )
    assert costs == {
        "input_tokens": pytest.approx(5.0),
        "output_tokens": pytest.approx(25.0),
        "cache_read_tokens": pytest.approx(0.5),
        "5m": pytest.approx(6.25),
        "1h": pytest.approx(10.0),
    }


def test_fast_mode_uses_the_fast_price() -> None:
    u = Usage(
        input_tokens=1000,
        output_tokens=1000,
        cache_read_tokens=5000,
        cache_creation_tokens=300,
        cache_creation_1h_tokens=100,
    )
    p = Pricer()
    fast = p.cost("claude-opus-4-8", "anthropic", u, "fast")
    std = p.cost("claude-opus-4-8", "anthropic", u)
    assert fast == pytest.approx(reference("claude-opus-4-8", "anthropic", u, "fast"), rel=1e-9)
    assert std == pytest.approx(reference("claude-opus-4-8", "anthropic", u), rel=1e-9)
    assert fast == pytest.approx(2 * std)


def test_unknown_model_is_none_and_counted() -> None:
    p = Pricer()
    u = Usage(input_tokens=10, output_tokens=5)
    assert p.cost("no-such-model-1234", "anthropic", u) is None
    assert p.cost("no-such-model-1234", "anthropic", u) is None
    assert p.cost("no-such-model-1234", None, u) is None
    assert p.unpriced == {"no-such-model-1234": 3}
    assert p.cost(None, "anthropic", u) is None


def test_zero_tokens_cost_nothing_even_without_a_price() -> None:
    p = Pricer()
    assert p.cost("claude-opus-4-7", "anthropic", Usage()) == 0.0
    assert p.cost("no-such-model-1234", "anthropic", Usage()) == 0.0
    assert p.cost(None, None, Usage()) == 0.0
    assert p.unpriced == {}


def test_price_table_is_loaded_once_per_model(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str | None, str | None]] = []
    real_load = pricing._load

    def counting(model: str, provider: str | None, speed: str | None):
        calls.append((model, provider, speed))
        return real_load(model, provider, speed)

    monkeypatch.setattr(pricing, "_load", counting)
    p = Pricer()
    rnd = random.Random(4)
    for _ in range(300):
        u = Usage(input_tokens=rnd.randint(1, 10_000), output_tokens=rnd.randint(0, 1000))
        for model in ("claude-opus-4-7", "claude-haiku-4-5-20251001", "no-such-model-1234"):
            p.cost(model, "anthropic", u)
    assert sorted(calls) == [
        ("claude-haiku-4-5-20251001", "anthropic", None),
        ("claude-opus-4-7", "anthropic", None),
        ("no-such-model-1234", "anthropic", None),
    ]
    assert p.unpriced == {"no-such-model-1234": 300}


def test_unpriced_calls_are_counted_in_the_report(tmp_path: Path) -> None:
    proj = tmp_path / "claude" / "projects" / "p"
    proj.mkdir(parents=True)
    lines = []
    for i, model in enumerate(["claude-opus-4-7", "claude-imaginary-9", "claude-imaginary-9"]):
        lines.append(
            json.dumps(
                {
                    "type": "assistant",
                    "uuid": f"u{i}",
                    "sessionId": "s",
                    "timestamp": f"2026-03-01T10:00:0{i}.000Z",
                    "requestId": f"r{i}",
                    "message": {
                        "id": f"m{i}",
                        "model": model,
                        "stop_reason": "end_turn",
                        "usage": {"input_tokens": 1_000_000, "output_tokens": 0},
                    },
                }
            )
        )
    (proj / "s.jsonl").write_text("\n".join(lines) + "\n")
    out = io.BytesIO()
    env = {"HOME": str(tmp_path), "CLAUDE_CONFIG_DIR": str(tmp_path / "claude")}
    report = pipeline.dry_run(Settings(agents=("claude-code",)), out, env)
    costs = [json.loads(x)["cost_usd"] for x in out.getvalue().splitlines()]
    assert costs == [pytest.approx(5.0), None, None]
    assert report.unpriced_calls == 2
    assert report.cost_usd == pytest.approx(5.0)


# -- the rate cache -----------------------------------------------------------------------------
CACHED_MODELS = [
    ("claude-opus-4-7", "anthropic", None),
    ("claude-opus-4-8", "anthropic", "fast"),
    ("claude-sonnet-4-5-20250929", "anthropic", None),
    ("no-such-model-1234", "anthropic", None),
]


def test_cached_rates_price_every_call_exactly_as_genai_prices(tmp_path: Path) -> None:
    usages = random_usages(9, 300, (1, 2 * TIER))
    fresh = Pricer(pricing.RateCache(tmp_path / pricing.CACHE_NAME))
    want = [fresh.cost(m, p, u, s) for m, p, s in CACHED_MODELS for u in usages]
    fresh.save()
    assert (tmp_path / pricing.CACHE_NAME).stat().st_mode & 0o777 == 0o600
    cached = pricer_in(tmp_path)
    assert all(cached.cache is not None and cached.cache.get(k)[0] for k in CACHED_MODELS)
    assert [cached.cost(m, p, u, s) for m, p, s in CACHED_MODELS for u in usages] == want
    assert cached.unpriced == fresh.unpriced == {"no-such-model-1234": 300}


def test_a_run_with_the_cache_does_not_import_genai_prices(tmp_path: Path) -> None:
    warm = Pricer(pricing.RateCache(tmp_path / pricing.CACHE_NAME))
    warm.cost("claude-opus-4-7", "anthropic", Usage(input_tokens=5))
    warm.save()
    code = (
        "import sys; from agent_cli.price_probe import pricer_in; "
        "from agent_cli.events import Usage; "
        f"p = pricer_in(__import__('pathlib').Path({str(tmp_path)!r})); "
        "print(p.cost('claude-opus-4-7', 'anthropic', Usage(input_tokens=5))); "
        "print('genai_prices' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    cost, imported = out.stdout.split()
    assert float(cost) == warm.cost("claude-opus-4-7", "anthropic", Usage(input_tokens=5))
    assert imported == "False"


def test_a_cache_of_other_data_or_unreadable_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / pricing.CACHE_NAME
    key = ("claude-opus-4-7", "anthropic", None)
    warm = Pricer(pricing.RateCache(path))
    warm.cost(*key[:2], Usage(input_tokens=5))
    warm.save()
    data = json.loads(path.read_text())
    path.write_text(json.dumps(dict(data, stamp=["another release"])))
    assert pricing.RateCache(path).get(key) == (False, None)
    path.write_text("{not json")
    assert pricing.RateCache(path).get(key) == (False, None)


def test_a_price_that_changes_is_kept_only_while_it_holds() -> None:
    from datetime import date, time

    from genai_prices.types import StartDateConstraint, TimeOfDateConstraint

    def info(*constraints: object) -> object:
        return type("Info", (), {"prices": [type("C", (), {"constraint": c}) for c in constraints],
                                 "price_variants": None})()  # fmt: skip

    today = date(2026, 6, 1)
    starts = (None, StartDateConstraint(date(2026, 1, 1)), StartDateConstraint(date(2026, 9, 1)))
    assert pricing._window(info(*starts), None, today) == ("2026-01-01", "2026-09-01")
    assert pricing._window(info(None), None, today) == ("", "")
    off_peak = TimeOfDateConstraint(time(16, 30), time(0, 30))
    assert pricing._window(info(None, off_peak), None, today) is None  # not kept at all
