"""The edge plans over the benchmark's 48 h: the published day-ahead prices, then the persistence
forecast the benchmark plans on (``market.dayahead.fill_unpublished``: the same slot a day or two
earlier, buy prices ``FORECAST_DISCOUNT`` lower). Recorded aWATTar prices (2024-05-31 22:00 to
06-02 22:00 UTC) are served on a mock transport; planner, tariff, cache and page are the real ones."""

from __future__ import annotations

import json
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from edge_login import signed_in, test_auth
from test_edge_planning import Clock, site
from wattwerk.bench.control import PLANNER_TUNING
from wattwerk.bench.year.laws import HORIZON_SLOTS, known_slots, price_horizon
from wattwerk.edge.assembly import EdgeOptions, assemble
from wattwerk.edge.planning import PlanService
from wattwerk.errors import RetryableError
from wattwerk.market.awattar import Awattar, parse
from wattwerk.market.dayahead import FORECAST_DISCOUNT, fill_unpublished
from wattwerk.market.site_prices import DAY_SLOTS, MIN_SLOTS, Prices, TariffPrices
from wattwerk.market.site_tariff import SiteTariff
from wattwerk.market.tariff import slot_index
from wattwerk.model import Reading
from wattwerk.snapshot import SiteState

DATA = Path(__file__).parent / "data" / "awattar_de_marketdata.json"
NOW = datetime(2024, 6, 2, 10, tzinfo=UTC)  # 12:00 in Berlin: 3 June's prices are not out yet
STATIC = Path(__file__).parents[1] / "src" / "wattwerk" / "static"
HOUR_MS = 3_600_000


def recorded_payload() -> dict:
    return json.loads(DATA.read_text())


def with_3_june(payload: dict) -> dict:
    """The recording and 3 June's prices as published at 13:00 on 2 June (made up, unlike any day)."""
    last = payload["data"][-1]["end_timestamp"]
    extra = [
        {
            "start_timestamp": last + h * HOUR_MS,
            "end_timestamp": last + (h + 1) * HOUR_MS,
            "marketprice": 300.0 + 7.0 * h,
            "unit": "Eur/MWh",
        }
        for h in range(24)
    ]
    return payload | {"data": payload["data"] + extra}


def serving(payload: dict, since: datetime | None = None):
    """A provider answering ``payload``; with ``since``, only the hours from then on (a provider
    that serves only what is current)."""

    def handler(request: httpx.Request) -> httpx.Response:
        rows = payload["data"]
        if since is not None:
            rows = [r for r in rows if r["start_timestamp"] >= since.timestamp() * 1000]
        return httpx.Response(200, json=payload | {"data": rows})

    return lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler))


def tariff_prices(cfg, payload: dict, start: datetime, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Buy and sell of the site's tariff on ``payload``'s spot prices, straight from the tariff."""
    spot = parse(payload, "awattar-de").resample(15)
    tariff, starts = SiteTariff(cfg.tariff, cfg.site.timezone), slot_index(start, n, 15)
    return tariff.buy(starts, spot), tariff.sell(starts, spot)


def planner(tmp_path: Path, cfg, client, clock: Clock, **kw) -> PlanService:
    state = SiteState()
    state.update([Reading("bat.soc", NOW, 30.0), Reading("grid.power", NOW, 400.0)])
    prices = TariffPrices(cfg.tariff, tmp_path / "prices.json", client=client, **kw)
    return PlanService(cfg, lambda: state.snapshot(clock()), prices, clock=clock)


# ---------------------------------------------------------------- the shared fill


def test_the_fill_takes_the_same_slot_one_day_back_then_two() -> None:
    day = 4
    prices = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan])
    out = fill_unpublished(prices, 6, day)
    # slots 6..9 are a day after 2..5; slots 10, 11 a day after 6, 7 (unpublished): two days back
    assert out.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 3.0, 4.0, 5.0, 6.0, 3.0, 4.0]
    lower = fill_unpublished(prices, 6, day, 0.25)
    assert lower[:6].tolist() == out[:6].tolist() and lower[6:].tolist() == (0.75 * out[6:]).tolist()
    # the published part wins even where a price follows the first gap (an outage): from it on, a forecast
    gap = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    assert fill_unpublished(gap, 5, day).tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 2.0, 3.0, 4.0]
    assert fill_unpublished(gap, 8, day).tolist() == gap.tolist()  # all published: unchanged


def test_the_fill_invents_nothing_without_a_published_day_before_the_gap() -> None:
    prices = np.array([1.0, 2.0, 3.0, np.nan, np.nan])
    assert fill_unpublished(prices, 3, 4).tolist() == [1.0, 2.0, 3.0]  # less than a day
    holed = np.array([1.0, np.nan, 3.0, 4.0, 5.0, np.nan, np.nan])  # a hole in the day before the gap
    out = fill_unpublished(holed, 5, 4)
    assert len(out) == 5 and np.array_equal(out, holed[:5], equal_nan=True)


def test_the_benchmark_s_horizon_is_the_shared_fill() -> None:
    """``bench.year.laws.price_horizon`` forecasts with the same function and discount constant."""
    assert PLANNER_TUNING["forecast_price_discount"] == FORECAST_DISCOUNT == 0.06
    n = 4 * 48
    starts = pd.date_range("2024-06-03 08:00", periods=n, freq="30min", tz="UTC")  # 10:00 in Berlin
    rng = np.random.default_rng(7)
    year = types.SimpleNamespace(n=n, buy=rng.random(n), sell=rng.random(n), starts=starts)
    i = 60  # 2024-06-04 14:00 UTC: 16:00 in Berlin, 5 June's prices are out (to 22:00 UTC)
    now = starts[i].to_pydatetime()
    known = known_slots(year, i, now)  # type: ignore[arg-type]
    buy, sell = price_horizon(year, i, now, discount=FORECAST_DISCOUNT)  # type: ignore[arg-type]
    assert known == 64 and len(buy) == len(sell) == HORIZON_SLOTS
    j = np.arange(known, HORIZON_SLOTS)
    assert np.array_equal(buy[:known], year.buy[i : i + known])
    assert np.array_equal(buy[known:], year.buy[i + j - 48] * (1.0 - FORECAST_DISCOUNT))
    assert np.array_equal(sell[known:], year.sell[i + j - 48])


# ---------------------------------------------------------------- the edge's prices and plan


async def test_in_the_morning_the_edge_plans_48_h_published_then_yesterday_s_prices(tmp_path) -> None:
    cfg, payload = site(tmp_path), recorded_payload()
    svc = planner(tmp_path, cfg, serving(payload), Clock(NOW))
    plan = await svc.refresh()
    assert (
        plan is not None
        and plan.status == "optimal"
        and plan.n == 48 * 4 == svc.horizon / timedelta(minutes=15)
    )
    p = svc.prices
    assert p is not None and p.published == 48  # to midnight in Berlin, 22:00 UTC
    buy, sell = tariff_prices(cfg, payload, NOW - timedelta(days=1), DAY_SLOTS + 48)
    # published: as the tariff prices them; the rest: the same slot a day earlier, buy 6 % lower
    assert np.array_equal(plan.buy_eur_per_kwh[:48], buy[DAY_SLOTS:])
    assert np.array_equal(p.sell[:48], sell[DAY_SLOTS:])
    day1 = np.arange(48, 48 + DAY_SLOTS)  # 2 June 22:00 to 3 June 22:00 UTC: from 1 June 22:00
    assert np.array_equal(p.buy[day1], buy[day1] * (1 - FORECAST_DISCOUNT))
    assert np.array_equal(p.sell[day1], sell[day1])
    day2 = np.arange(48 + DAY_SLOTS, 192)  # 3 June 22:00 to 4 June 10:00: two days back
    assert np.array_equal(p.buy[day2], buy[day2 - DAY_SLOTS] * (1 - FORECAST_DISCOUNT))
    page = svc.plan_json()
    assert page["published_slots"] == 48 and len(page["slots"]) == 192
    svc.clock.now = NOW + timedelta(minutes=20)  # type: ignore[attr-defined]  # a slot later
    assert svc.plan_json()["published_slots"] == 47


async def test_once_the_next_day_is_published_the_plan_takes_its_prices(tmp_path, caplog) -> None:
    caplog.set_level("INFO", logger="wattwerk.planner")
    cfg, payload = site(tmp_path), recorded_payload()
    handler = {"payload": payload}

    def client():
        return serving(handler["payload"])()

    clock = Clock(NOW)
    svc = planner(tmp_path, cfg, client, clock, refetch=timedelta(hours=6))  # asked again when due
    assert await svc.refresh() is not None
    clock.now = NOW + timedelta(minutes=15)  # the next slot, nothing new published: no change
    assert await svc.refresh() is not None and "prices changed" not in caplog.text
    guessed = svc.prices
    handler["payload"] = with_3_june(payload)
    clock.now = NOW + timedelta(hours=1, minutes=5)  # 13:05 in Berlin
    plan = await svc.refresh()
    assert plan is not None and svc.prices is not None and guessed is not None
    start = NOW + timedelta(hours=1)
    assert plan.start == start and svc.prices.published == 44 + DAY_SLOTS  # to 3 June 22:00 UTC
    assert "prices changed" in caplog.text  # a day more published
    buy, _ = tariff_prices(cfg, handler["payload"], start, 44 + DAY_SLOTS)
    assert np.array_equal(plan.buy_eur_per_kwh[: 44 + DAY_SLOTS], buy)  # 3 June no longer a forecast
    assert not np.allclose(plan.buy_eur_per_kwh[44:52], guessed.buy[48:56])
    # beyond: 3 June's own prices a day later, 6 % lower
    rest = plan.buy_eur_per_kwh[44 + DAY_SLOTS :]
    assert np.array_equal(rest, buy[44 : 44 + len(rest)] * (1 - FORECAST_DISCOUNT))
    assert svc.plan_json()["published_slots"] == 44 + DAY_SLOTS


async def test_a_provider_outage_gap_is_filled_from_the_gap_on(tmp_path) -> None:
    cfg, payload = site(tmp_path), recorded_payload()
    hole = int((NOW + timedelta(hours=4)).timestamp() * 1000)  # 2 June 14:00 and 15:00 UTC missing
    rows = [r for r in payload["data"] if not hole <= r["start_timestamp"] < hole + 2 * HOUR_MS]
    prices = TariffPrices(cfg.tariff, tmp_path / "p.json", client=serving(payload | {"data": rows}))
    got = await prices.prices(NOW, NOW + timedelta(hours=48))
    buy, _ = tariff_prices(cfg, payload, NOW - timedelta(days=1), DAY_SLOTS + 192)
    assert got.published == 16 and len(got.buy) == 192
    assert np.array_equal(got.buy[:16], buy[DAY_SLOTS : DAY_SLOTS + 16])
    # from the gap on (published slots after it too) the same slot a day earlier
    assert np.array_equal(got.buy[16:24], buy[16:24] * (1 - FORECAST_DISCOUNT))
    assert np.array_equal(got.buy[24:48], buy[24:48] * (1 - FORECAST_DISCOUNT))


async def test_without_a_published_day_before_the_gap_nothing_is_invented(tmp_path) -> None:
    """A provider that serves only the present, a fresh cache: the plan stops at the gap as before;
    once the cache holds a day of prices (an earlier fetch), the forecast fills the horizon."""
    cfg, payload = site(tmp_path), recorded_payload()
    present = TariffPrices(cfg.tariff, tmp_path / "a.json", client=serving(payload, NOW - timedelta(hours=1)))
    got = await present.prices(NOW, NOW + timedelta(hours=48))
    assert got.published == len(got.buy) == len(got.sell) == 48
    earlier = TariffPrices(cfg.tariff, tmp_path / "b.json", client=serving(payload))
    await earlier.prices(NOW - timedelta(hours=12), NOW)  # its fetch fills the cache
    restarted = TariffPrices(
        cfg.tariff, tmp_path / "b.json", client=serving(payload, NOW - timedelta(hours=1))
    )
    got = await restarted.prices(NOW, NOW + timedelta(hours=48))
    assert got.published == 48 and len(got.buy) == 192
    late = NOW + timedelta(hours=12) - timedelta(minutes=15 * (MIN_SLOTS - 1))  # fewer than MIN_SLOTS known
    with pytest.raises(RetryableError, match="no prices"):
        await restarted.prices(late, late + timedelta(hours=48))


async def test_a_fixed_tariff_is_all_published(tmp_path, caplog) -> None:
    caplog.set_level("INFO", logger="wattwerk.planner")
    cfg = site(tmp_path, "fixed, fixed_eur_per_kwh: 0.3, feed_in_eur_per_kwh: 0.08")
    clock = Clock(NOW)
    svc = planner(tmp_path, cfg, serving(recorded_payload()), clock)
    plan = await svc.refresh()
    assert plan is not None and plan.n == 192 and svc.prices is not None
    assert svc.prices.published == 192 and svc.prices.source == "fixed"
    assert np.ptp(plan.buy_eur_per_kwh) == 0 and svc.plan_json()["published_slots"] == 192
    clock.now = NOW + timedelta(minutes=15)  # the horizon slides a slot: the prices did not change
    assert await svc.refresh() is not None and "prices changed" not in caplog.text
    assert Prices(NOW, np.ones(3), np.ones(3), "x").published == 3  # the default: all published


async def test_a_fixed_buy_price_beside_spot_feed_in_is_never_discounted(tmp_path) -> None:
    """Only the spot-priced side has a gap: the fixed buy price stays, the feed-in is forecast."""
    cfg = site(tmp_path, "fixed, fixed_eur_per_kwh: 0.3, feed_in_spot: {factor: 1.0}, zone: DE-LU")
    payload = recorded_payload()
    prices = TariffPrices(cfg.tariff, tmp_path / "p.json", client=serving(payload), provider=Awattar("de"))
    got = await prices.prices(NOW, NOW + timedelta(hours=48))
    assert got.published == 48 and len(got.buy) == 192 and got.source.startswith("fixed, feed-in")
    assert np.ptp(got.buy) == 0  # the fixed price, published or not
    _, sell = tariff_prices(cfg, payload, NOW - timedelta(days=1), DAY_SLOTS + 48)
    assert np.array_equal(got.sell[:48], sell[DAY_SLOTS:])
    assert np.array_equal(got.sell[48:144], sell[48:144])  # a day earlier, not discounted


async def test_the_page_gets_the_published_slots_and_marks_forecast_prices(tmp_path) -> None:
    edge = assemble(site(tmp_path), EdgeOptions(auth=test_auth(tmp_path)))
    try:
        assert edge.planner is not None and edge.planner.horizon == timedelta(hours=48)
        edge.planner.clock = Clock(NOW)
        edge.planner.source = TariffPrices(
            edge.cfg.tariff, tmp_path / "p.json", client=serving(recorded_payload())
        )
        assert await edge.planner.refresh() is not None
        body = signed_in(TestClient(edge.web_app())).get("/api/plan").json()
    finally:
        edge.close()
    assert body["published_slots"] == 48 and len(body["slots"]) == 192
    app = (STATIC / "app.js").read_text()
    assert (
        "plan.published_slots" in app
        and '"live.plan_forecast"' in app
        and '"live.plan_expected_forecast"' in app
    )
    cats = {lang: json.loads((STATIC / "i18n" / f"{lang}.json").read_text()) for lang in ("de", "en", "fr")}
    assert cats["de"]["live.plan_expected_forecast"].startswith(
        "erwartet im Planzeitraum, ab {time} mit Prognose"
    )
    for cat in cats.values():
        assert {"live.plan_forecast", "live.plan_expected_forecast", "live.slot_forecast"} <= cat.keys()
        assert (
            "{time}" in cat["live.plan_expected_forecast"] and "{parts}" in cat["live.plan_expected_forecast"]
        )


async def test_cheap_and_expensive_are_judged_on_published_prices_only(tmp_path) -> None:
    cfg, payload = site(tmp_path), recorded_payload()
    clock = Clock(NOW)
    svc = planner(tmp_path, cfg, serving(payload), clock)
    plan = await svc.refresh()
    assert plan is not None and svc.prices is not None
    buy, published = plan.buy_eur_per_kwh, svc.prices.published
    lo, hi = np.quantile(buy[:published], [0.25, 0.75])
    lo_all, hi_all = np.quantile(buy, [0.25, 0.75])  # with the forecast: what the signal must not use
    differ = [
        i
        for i in range(published)
        if (buy[i] <= lo) != (buy[i] <= lo_all) or (buy[i] >= hi) != (buy[i] >= hi_all)
    ]
    assert differ  # on these prices the forecast would move the quarters
    for i in differ:
        clock.now = plan.slot_start(i)
        sig = svc.signals()
        assert (sig.cheap, sig.expensive) == (bool(buy[i] <= lo), bool(buy[i] >= hi))
