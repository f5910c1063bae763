"""The planner in the running edge: recorded day-ahead prices (aWATTar, served on a mock transport:
the edge is offline here) become a plan whose current slot drives the battery, and the page shows it."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from edge_login import signed_in, test_auth
from wattwerk.config import parse_config
from wattwerk.control.base import NO_SIGNALS
from wattwerk.control.site import build_cycle
from wattwerk.edge.assembly import EdgeOptions, assemble
from wattwerk.edge.control_step import CycleStep
from wattwerk.edge.planning import DAY_SLOTS, PlanService
from wattwerk.forecast.futures import FUTURES
from wattwerk.forecast.pv import forecast
from wattwerk.forecast.site import (
    LOAD_DECAY,
    RECENT_DECAY,
    WEEK_SHARE,
    clear_sky_pv_w,
    load_history_w,
    pv_arrays,
    weather_site,
    with_week,
)
from wattwerk.market.site_prices import Prices, TariffPrices
from wattwerk.model import Reading
from wattwerk.snapshot import SiteState
from wattwerk.store.sqlite import SqliteStore

DATA = Path(__file__).parent / "data" / "awattar_de_marketdata.json"  # 2024-05-31 22:00 to 06-02 22:00 UTC
NOW = datetime(2024, 6, 2, 10, tzinfo=UTC)

SITE = """\
site: {name: Plan house, location: {latitude: 48.0, longitude: 7.8}, timezone: Europe/Berlin}
devices:
  - id: grid
    role: grid_meter
    catalog: sunspec-meter-int
    connection: {type: modbus_tcp, host: 127.0.0.1, port: 9}
  - id: bat
    role: battery
    catalog: sunspec-storage
    connection: {type: modbus_tcp, host: 127.0.0.1, port: 9}
    capacity_wh: 10000
    max_charge_w: 5000
    max_discharge_w: 5000
    reserve_soc: 10
PV
strategy: {mode: planner}
tariff: {provider: TARIFF}
store: {data_dir: DATADIR}
"""


PV = """\
  - id: pv1
    role: pv
    kwp: 8
    tilt: 30
    azimuth: 180
    catalog: sunspec-inverter-int
    connection: {type: modbus_tcp, host: 127.0.0.1, port: 9}
"""


def site(tmp_path: Path, tariff: str = "awattar", pv: bool = False):
    text = SITE.replace("TARIFF", tariff).replace("DATADIR", str(tmp_path / "var"))
    return parse_config(text.replace("PV\n", PV if pv else ""))


def recorded(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=json.loads(DATA.read_text()))


def failing(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, text="down for maintenance")


def client_of(handler):
    return lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def service(tmp_path: Path, handler=recorded, soc: float = 20.0, tariff: str = "awattar"):
    cfg = site(tmp_path, tariff)
    clock = Clock(NOW)
    state = SiteState()
    state.update(
        [Reading("bat.soc", NOW, soc), Reading("grid.power", NOW, 400.0), Reading("bat.power", NOW, 0.0)]
    )
    prices = TariffPrices(cfg.tariff, tmp_path / "prices.json", client=client_of(handler))
    svc = PlanService(cfg, lambda: state.snapshot(clock()), prices, clock=clock)
    return cfg, svc, clock, state


async def test_cheap_slots_charge_dear_slots_discharge_and_the_current_slot_is_the_signal(tmp_path):
    _, svc, clock, _ = service(tmp_path)
    plan = await svc.refresh()
    assert plan is not None and plan.status == "optimal"
    assert plan.start == NOW and plan.n == 192  # 48 h: published prices end at midnight local (22:00 UTC)
    assert svc.prices is not None and svc.prices.published == 48  # the rest a persistence forecast
    power, buy = plan.devices["bat"]["power_w"], plan.buy_eur_per_kwh
    charge, discharge = power < -1.0, power > 1.0
    assert charge[:48].any() and discharge[:48].any()
    # the spread beats the round-trip losses: energy bought cheap is sold (saved) dear (on the
    # published prices of 2 June)
    assert buy[:48][charge[:48]].max() < 0.95 * 0.95 * buy[:48][discharge[:48]].min()
    cheapest, dearest = int(np.argmin(buy)), int(np.argmax(buy))
    assert power[cheapest] < 0 < power[dearest]
    for i in (cheapest, dearest, 0):
        clock.now = plan.slot_start(i) + timedelta(minutes=7)
        sig = svc.signals()
        assert sig.battery_w == pytest.approx(power[i], abs=0.1)
        assert sig.price == pytest.approx(buy[i])
        assert sig.hold_battery == (power[i] < 1.0)
    clock.now = plan.slot_start(cheapest)
    assert svc.signals().cheap and not svc.signals().expensive
    clock.now = plan.slot_start(dearest)
    assert svc.signals().expensive and not svc.signals().cheap
    clock.now = plan.slot_start(plan.n)  # past the plan: no signals, self-consumption
    assert svc.signals() == NO_SIGNALS


async def test_the_planned_charge_reaches_the_battery_setpoint(tmp_path):
    cfg, svc, clock, state = service(tmp_path)
    plan = await svc.refresh()
    assert plan is not None
    i = int(np.argmin(plan.devices["bat"]["power_w"]))
    clock.now = plan.slot_start(i) + timedelta(minutes=1)
    state.update(
        [
            Reading("bat.soc", clock.now, 30.0),
            Reading("grid.power", clock.now, 300.0),
            Reading("bat.power", clock.now, 0.0),
        ]
    )
    step = CycleStep(build_cycle(cfg), svc.signals)
    setpoints = {s.channel: s.value for s in step(state.snapshot(clock.now))}
    assert setpoints["bat.battery_setpoint"] == pytest.approx(plan.devices["bat"]["power_w"][i], abs=0.5)
    assert setpoints["bat.battery_setpoint"] < 0


async def test_flat_price_never_charges_from_the_grid(tmp_path):
    _, svc, _, _ = service(tmp_path, tariff="fixed", soc=50.0)
    plan = await svc.refresh()
    assert plan is not None and svc.prices is not None and svc.prices.source == "fixed"
    assert np.ptp(plan.buy_eur_per_kwh) == 0
    assert (plan.devices["bat"]["power_w"] > -1.0).all()
    sig = svc.signals()
    assert not sig.cheap and not sig.expensive


async def test_no_prices_means_no_signals_logged_once(tmp_path, caplog):
    _, svc, _, _ = service(tmp_path, handler=failing)
    with caplog.at_level(logging.WARNING, logger="wattwerk.planner"):
        assert await svc.refresh() is None
        assert await svc.refresh() is None
    assert svc.signals() == NO_SIGNALS
    warnings = [r.getMessage() for r in caplog.records if r.name == "wattwerk.planner"]
    assert len(warnings) == 1 and "no prices" in warnings[0] and "503" in warnings[0]
    assert svc.failures == 2
    page = svc.plan_json()
    assert page["slots"] == [] and "no prices" in page["message"]


async def test_provider_down_plans_with_the_cached_prices(tmp_path, caplog):
    _, first, _, _ = service(tmp_path)
    assert await first.refresh() is not None  # fills the price cache
    _, svc, _, _ = service(tmp_path, handler=failing)
    with caplog.at_level(logging.INFO):
        plan = await svc.refresh()
    assert plan is not None and svc.prices is not None and not svc.prices.fresh
    assert np.allclose(plan.buy_eur_per_kwh, first.plan.buy_eur_per_kwh)
    assert any("last known prices" in r.getMessage() for r in caplog.records)
    assert svc.plan_json()["fresh"] is False


def test_load_history_from_the_store_feeds_the_forecast(tmp_path):
    cfg = site(tmp_path)
    store = SqliteStore(tmp_path / "s.sqlite", tz="Europe/Berlin")
    t0 = NOW - timedelta(days=8)
    readings = []
    for k in range(8 * 24 * 4):
        ts = t0 + timedelta(minutes=15 * k)
        readings += [Reading("grid.power", ts, 700.0), Reading("bat.power", ts, -200.0)]
    store.write(readings)
    history = load_history_w(cfg, store, NOW)
    store.close()
    assert len(history) > 7 * 96
    assert history.median() == pytest.approx(500.0)  # grid + battery (charging is negative)


async def test_page_shows_the_plan(tmp_path):
    edge = assemble(site(tmp_path), EdgeOptions(auth=test_auth(tmp_path)))
    try:
        assert edge.planner is not None and edge.control is not None
        assert edge.control.signals == edge.planner.signals
        clock = Clock(NOW + timedelta(minutes=20))
        edge.planner.clock = clock
        edge.planner.source = TariffPrices(edge.cfg.tariff, tmp_path / "p.json", client=client_of(recorded))
        plan = await edge.planner.refresh()
        assert plan is not None and plan.start == NOW + timedelta(minutes=15)
        clock.now += timedelta(minutes=15)  # one slot later, before the next plan
        body = signed_in(TestClient(edge.web_app())).get("/api/plan").json()
    finally:
        edge.close()
    assert body["currency"] == "EUR" and body["status"] == "optimal"
    assert len(body["slots"]) == plan.n - 1  # from the current slot on
    first = body["slots"][0]
    assert first["start"] == plan.slot_start(1).isoformat()
    assert first["battery_w"] == pytest.approx(plan.devices["bat"]["power_w"][1], abs=0.1)
    assert first["price"] == pytest.approx(plan.buy_eur_per_kwh[1], abs=1e-4)
    assert {"start", "end", "price", "grid_w", "battery_w", "ev_w"} <= first.keys()


async def test_weather_offline_plans_pv_from_clear_sky(tmp_path, caplog):
    cfg = site(tmp_path, pv=True)
    clock = Clock(NOW)
    state = SiteState()
    calls = []

    async def offline():
        calls.append(1)
        raise httpx.ConnectError("Name or service not known")

    prices = TariffPrices(cfg.tariff, tmp_path / "prices.json", client=client_of(recorded))
    svc = PlanService(cfg, lambda: state.snapshot(clock()), prices, clock=clock, weather=offline)
    with caplog.at_level(logging.WARNING, logger="wattwerk.planner"):
        plan = await svc.refresh()
        assert await svc.refresh() is not None
    assert plan is not None and len(calls) == 2
    warnings = [r.getMessage() for r in caplog.records if "weather" in r.getMessage()]
    assert len(warnings) == 1 and "clear sky" in warnings[0]
    local_noon = int(np.argmax(plan.pv_w))
    assert 3000 < plan.pv_w[local_noon] < 8000  # 8 kWp, June, clear sky scaled
    assert 9 <= plan.slot_start(local_noon).hour <= 13  # solar noon at 7.8° E is near 11:30 UTC
    assert plan.pv_w[47] == 0.0  # 21:45 UTC: night
    assert svc.plan_json()["pv"] == "clear sky (no weather)"


ROD = """\
  - id: rod
    role: heating_rod
    connection: {type: modbus_tcp, host: 127.0.0.1, port: 9}
    limits: {max_power_w: 3000}
"""


async def test_pv_the_plan_stores_in_the_battery_is_not_surplus_for_the_heating_rod(tmp_path):
    """A sunny noon: the plan charges the battery from PV. A heating rod the plan did not schedule
    takes only what is left, not the battery's PV (the demo's rod took 3 kW and left the battery
    0.8 kW while the plan stored 3.9 kW for the evening)."""
    cfg = parse_config(
        SITE.replace("TARIFF", "fixed").replace("DATADIR", str(tmp_path / "var")).replace("PV\n", PV + ROD)
    )
    clock = Clock(NOW)
    state = SiteState()
    state.update(
        [Reading("bat.soc", NOW, 20.0), Reading("grid.power", NOW, -4000.0), Reading("bat.power", NOW, 0.0)]
    )

    async def offline():
        raise httpx.ConnectError("Name or service not known")

    prices = TariffPrices(cfg.tariff, tmp_path / "prices.json", client=client_of(recorded))
    svc = PlanService(cfg, lambda: state.snapshot(clock()), prices, clock=clock, weather=offline)
    plan = await svc.refresh()
    assert plan is not None and plan.status == "optimal"
    stored = -float(plan.devices["bat"]["power_w"][0])
    assert stored > 1000.0 and plan.grid_w[0] <= 1.0  # noon, clear sky: the battery takes PV
    sig = svc.signals()
    assert sig.battery_w is None and sig.battery_pv_w == pytest.approx(stored, abs=0.1)
    clock.now = NOW + timedelta(minutes=1)
    state.update(
        [
            Reading("grid.power", clock.now, -4000.0),  # 4 kW of PV to spare, battery and rod idle
            Reading("bat.power", clock.now, 0.0),
            Reading("rod.power", clock.now, 0.0),
            Reading("bat.soc", clock.now, 20.0),
        ]
    )
    setpoints = {
        x.channel: x.value for x in CycleStep(build_cycle(cfg), svc.signals)(state.snapshot(clock.now))
    }
    assert setpoints["rod.power"] <= 4000.0 - stored + 1.0  # only what the plan leaves (without: 3000 W)
    assert setpoints["bat.battery_setpoint"] <= -stored + 1.0  # at least the plan's PV charge


async def test_run_plans_until_stopped(tmp_path):
    _, svc, _, _ = service(tmp_path)
    stop = asyncio.Event()
    done = asyncio.Event()
    real = svc.refresh

    async def refresh():
        plan = await real()
        done.set()
        return plan

    svc.refresh = refresh
    task = asyncio.create_task(svc.run(stop))
    await asyncio.wait_for(done.wait(), 30)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert svc.plan is not None and svc.signals().price is not None


async def test_a_zero_export_site_plans_curtailment_and_the_page_gets_it(tmp_path):
    text = SITE.replace("TARIFF", "awattar").replace("DATADIR", str(tmp_path / "var")).replace("PV\n", PV)
    zero = "site: {grid: {max_export_w: 0}, name: Plan house,"
    cfg = parse_config(text.replace("site: {name: Plan house,", zero))
    assert cfg.site.grid.max_export_w == 0
    clock = Clock(NOW)
    state = SiteState()
    state.update(
        [Reading("bat.soc", NOW, 95.0), Reading("grid.power", NOW, 0.0), Reading("bat.power", NOW, 0.0)]
    )
    prices = TariffPrices(cfg.tariff, tmp_path / "prices.json", client=client_of(recorded))

    async def offline():
        raise httpx.ConnectError("offline")

    svc = PlanService(cfg, lambda: state.snapshot(clock()), prices, clock=clock, weather=offline)
    plan = await svc.refresh()
    assert plan is not None and plan.status == "optimal"  # never infeasible because of PV
    assert plan.export_w.max() <= 1e-6  # zero export kept
    assert plan.curtail_w.max() > 1000.0  # a clear June noon on 8 kWp with a full battery
    page = svc.plan_json()
    assert [s["curtail_w"] for s in page["slots"]] == [round(float(w), 1) for w in plan.curtail_w]
    assert page["curtailed_kwh"] == pytest.approx(plan.curtail_w.sum() * plan.slot_minutes / 60_000, abs=1e-3)


async def test_no_feed_in_at_negative_prices_curtails_and_pulls_consumption_in(tmp_path):
    """The recorded 2 June 2024 has negative spot prices around noon: with the tariff's switch the
    feed-in is worth 0 there, so the plan exports nothing in those slots (it stores and curtails);
    without it, it exports at the fixed feed-in tariff."""
    plans = {}
    for switch in (False, True):
        text = SITE.replace("TARIFF", "awattar").replace("DATADIR", str(tmp_path / f"var{switch}"))
        text = text.replace("PV\n", PV).replace(
            "tariff: {provider: awattar}",
            f"tariff: {{provider: awattar, no_feed_in_at_negative_prices: {str(switch).lower()}}}",
        )
        cfg = parse_config(text)
        assert cfg.tariff.no_feed_in_at_negative_prices is switch
        state = SiteState()
        state.update(
            [Reading("bat.soc", NOW, 30.0), Reading("grid.power", NOW, 0.0), Reading("bat.power", NOW, 0.0)]
        )
        prices = TariffPrices(cfg.tariff, tmp_path / f"p{switch}.json", client=client_of(recorded))

        async def offline():
            raise httpx.ConnectError("offline")

        svc = PlanService(
            cfg, lambda state=state: state.snapshot(NOW), prices, clock=Clock(NOW), weather=offline
        )
        plans[switch] = await svc.refresh()
    off, on = plans[False], plans[True]
    assert off is not None and on is not None
    neg = on.sell_eur_per_kwh == 0.0
    published = np.arange(on.n) < 48  # 2 June's published prices (the rest of the 48 h is a forecast)
    neg &= published
    assert neg.any() and (off.sell_eur_per_kwh == pytest.approx(0.0811))
    assert on.buy_eur_per_kwh[neg].max() < on.buy_eur_per_kwh[published & ~neg].min()  # the cheapest hours
    assert on.export_w[neg].max() <= 1e-6 < off.export_w[neg].max()  # no feed-in in those hours
    assert on.curtail_w[neg].sum() > 0  # what the site cannot take is curtailed
    bat = on.devices["bat"]["power_w"]
    assert bat[neg].min() < -1000.0  # the battery charges in them


async def plan_request_after_measured_days(
    tmp_path: Path, factors: list[float], offline: bool = False, loads: list[float] | None = None
):
    """The planner on clear-sky weather (7 or more past days, 2 ahead; with ``offline`` none reachable)
    with the plant measured at ``factors[d]`` × the model on the local days just before NOW, and the
    house drawing ``loads[d]`` × 600 W (1 without ``loads``) through the grid meter;
    (service, request, plan)."""
    cfg = site(tmp_path, pv=True)
    past = max(7, len(factors))
    index = pd.date_range(NOW.date() - timedelta(days=past), periods=24 * (past + 2), freq="1h", tz="UTC")
    clear = weather_site(cfg).location.get_clearsky(index + pd.Timedelta(minutes=30), model="ineichen")
    weather = clear.set_axis(index)[["ghi", "dni", "dhi"]].assign(temp_air=18.0, wind_speed=2.0)
    modelled = forecast(weather_site(cfg), pv_arrays(cfg), weather)["total"]
    days = sorted({d for d in modelled.index.tz_convert(cfg.site.timezone).date if d < NOW.date()})
    factor = dict(zip(days[len(days) - len(factors) :], factors, strict=True))
    house = dict(zip(days[len(days) - len(factors) :], loads or [1.0] * len(factors), strict=True))
    tmp_path.mkdir(exist_ok=True)
    store = SqliteStore(tmp_path / "s.sqlite", tz="Europe/Berlin")
    readings = []
    for ts, watts in modelled.items():
        day = ts.tz_convert(cfg.site.timezone).date()
        if day in factor:
            t = ts.to_pydatetime()
            pv, load = factor[day] * watts, house[day] * 600.0
            for q in range(4):
                at = t + timedelta(minutes=15 * q)
                readings += [Reading("pv1.power", at, pv), Reading("grid.power", at, load - pv)]
    store.write(readings)
    state = SiteState()
    state.update(
        [Reading("bat.soc", NOW, 50.0), Reading("grid.power", NOW, 0.0), Reading("bat.power", NOW, 0.0)]
    )
    prices = TariffPrices(cfg.tariff, tmp_path / "prices.json", client=client_of(recorded))

    async def fetch():
        if offline:
            raise httpx.ConnectError("Name or service not known")
        return weather

    svc = PlanService(cfg, lambda: state.snapshot(NOW), prices, store=store, clock=Clock(NOW), weather=fetch)
    try:
        seen = None if offline else weather
        req = svc.request(await prices.prices(NOW, NOW + svc.horizon), state.snapshot(NOW), seen)
        plan = await svc.refresh()
    finally:
        store.close()
    return svc, req, plan


async def test_measured_days_give_the_planner_other_futures_of_pv_and_load(tmp_path):
    factors = [0.6, 0.9, 1.0, 0.8, 1.1, 0.7, 0.95]  # seven days that missed the model each its own way
    loads = [1.0, 1.3, 0.7, 1.0, 1.6, 0.9, 1.1]  # and a house that drew more on some
    svc, req, plan = await plan_request_after_measured_days(tmp_path, factors, loads=loads)
    assert svc.pv_correction is not None
    assert [m / f for _, m, f in svc.pv_correction.day_wh] == pytest.approx(factors, rel=0.02)
    store = SqliteStore(tmp_path / "s.sqlite", tz="Europe/Berlin")
    try:
        strayed = svc.future_factors(load_history_w(svc.cfg, store, NOW, weeks=10), svc.pv_correction)
    finally:
        store.close()
    assert strayed is not None
    expected, keep = strayed
    assert expected.shape == (FUTURES, 2) and keep == 1.0  # seven days: too few to tell what a day keeps
    fresh = PlanService(svc.cfg, svc.snapshot, svc.source)
    assert fresh.future_factors(pd.Series(dtype=float), svc.pv_correction) is None  # no house load known
    assert np.ptp(expected[:, 0]) > 0.1 and np.ptp(expected[:, 1]) > 0.1  # PV and load both stray
    assert len(req.futures) == FUTURES - 1
    assert [f.weight for f in req.futures] == pytest.approx([1 / FUTURES] * (FUTURES - 1))
    pv, load = np.asarray(req.pv_w), np.asarray(req.load_w)
    k = int(np.argmax(pv))  # the sunniest slot, hours ahead: most of the past days' spread
    grow = 1.0 - RECENT_DECAY**k
    others = [row for j, row in enumerate(expected) if j != FUTURES // 2]
    for f, (pv_factor, load_factor) in zip(req.futures, others, strict=True):
        assert f.pv_w[0] == pytest.approx(pv[0]) and f.load_w[0] == pytest.approx(load[0])  # now: as measured
        middle = pv[k] / (1 + (expected[FUTURES // 2, 0] - 1) * grow)  # the forecast before the futures
        assert f.pv_w[k] == pytest.approx(min(middle * (1 + (pv_factor - 1) * grow), 8000.0), rel=1e-6)
        last = 1.0 - LOAD_DECAY ** (len(load) - 1)  # the load strays as its deviation just measured fades
        middle = load[-1] / (1 + (expected[FUTURES // 2, 1] - 1) * last)
        assert f.load_w[-1] == pytest.approx(middle * (1 + (load_factor - 1) * last), rel=1e-6)
    short = [float(np.sum(np.asarray(f.load_w) - np.asarray(f.pv_w))) for f in req.futures]
    assert short[0] < float(np.sum(load - pv)) < short[-1]  # from the one that bought least to most
    assert plan is not None and plan.status == "optimal"
    assert plan.pv_w == pytest.approx(pv)  # the plan shown is the central one


async def test_a_day_ahead_the_edge_s_futures_keep_what_the_site_s_past_days_kept(tmp_path):
    # fourteen days whose misses swing slowly, as weather does: a dull day tends to follow a dull day
    factors = [0.6, 0.6, 0.8, 0.8, 1.1, 1.1, 1.2, 1.2, 0.9, 0.9, 0.7, 0.7, 1.0, 1.0]
    svc, _, _ = await plan_request_after_measured_days(tmp_path, factors)
    assert svc.pv_correction is not None and len(svc.pv_correction.day_wh) == 14  # all judged, not 7
    store = SqliteStore(tmp_path / "s.sqlite", tz="Europe/Berlin")
    try:
        strayed = svc.future_factors(load_history_w(svc.cfg, store, NOW, weeks=10), svc.pv_correction)
        assert strayed is not None
        expected, keep = strayed
        assert 0.3 < keep < 0.9  # about half of a day's miss carries into the next
        # prices for a day and a half: from a day ahead on, each future keeps that share of its miss
        n = 36 * 4
        long = Prices(NOW, np.full(n, 0.30), np.full(n, 0.08), "test")
        svc.store = store
        req = svc.request(long, svc.snapshot(), await svc.weather())
    finally:
        store.close()
    pv = np.asarray(req.pv_w)
    t = DAY_SLOTS + int(np.argmax(pv[DAY_SLOTS:]))  # tomorrow's sunniest slot
    today = int(np.argmax(pv[:DAY_SLOTS]))
    mid = expected[FUTURES // 2, 0]
    others = [row for j, row in enumerate(expected) if j != FUTURES // 2]
    checked = 0
    for f, (pv_factor, _) in zip(req.futures, others, strict=True):
        if max(f.pv_w[today], f.pv_w[t]) >= 8000.0:
            continue  # capped at the arrays' peak
        checked += 1
        for slot, share in ((today, 1.0), (t, keep)):  # today all of the miss, tomorrow ``keep`` of it
            grow = (1.0 - RECENT_DECAY**slot) * share
            ratio = (1 + (pv_factor - 1) * grow) / (1 + (mid - 1) * grow)
            assert f.pv_w[slot] / pv[slot] == pytest.approx(ratio)
    assert checked >= 3


async def test_offline_the_plant_s_measured_week_is_the_pv_forecast(tmp_path, caplog):
    """No weather forecast reachable: the mean of what the plant measured in each quarter hour of
    the last week (the benchmark's forecast where none was recorded), not 70 % of clear sky."""
    factors = [0.5, 0.6, 0.4, 0.5, 0.6, 0.4, 0.5]  # a dull week: half of clear sky
    svc, req, plan = await plan_request_after_measured_days(tmp_path, factors, offline=True)
    assert plan is not None and svc.plan_json()["pv"] == "measured week (no weather)"
    svc.pv_source = "weather"  # the weather was there until now: an outage starts
    svc.store = store = SqliteStore(tmp_path / "s.sqlite", tz="Europe/Berlin")
    try:
        with caplog.at_level(logging.WARNING, logger="wattwerk.planner"):
            for _ in range(2):
                assert await svc.refresh() is not None
    finally:
        store.close()
    assert len([r for r in caplog.records if "no weather forecast" in r.getMessage()]) == 1  # once a streak
    assert svc.plan_json()["pv"] == "measured week (no weather)"
    cfg = site(tmp_path / "clear", pv=True)
    clear = clear_sky_pv_w(cfg, req.start, req.n)  # 0.7 of clear sky
    k = int(np.argmax(clear[:96]))  # tomorrow's or today's sunniest quarter hour
    assert req.pv_w[k] == pytest.approx(clear[k] / 0.7 * np.mean(factors), rel=0.1)
    assert req.pv_w[k] < 0.8 * clear[k]


async def test_too_few_measured_days_or_none_give_no_futures(tmp_path):
    svc, req, plan = await plan_request_after_measured_days(tmp_path / "few", [0.6, 1.0, 0.8])
    assert svc.pv_correction is not None and svc.pv_correction.days == 3  # corrected, but no spread
    assert req.futures == () and plan is not None
    svc, req, plan = await plan_request_after_measured_days(tmp_path / "none", [])
    assert svc.pv_correction is None and req.futures == () and plan is not None


async def test_the_house_load_just_measured_fades_into_the_load_forecast(tmp_path):
    """The house draws 2.6 kW more now than a moment ago: the plan's load for the coming slots is
    that much higher, fading by LOAD_DECAY per slot, and the same a day ahead."""
    _, svc, _, state = service(tmp_path)
    known = await svc.source.prices(NOW, NOW + svc.horizon)
    before = np.asarray(svc.request(known, state.snapshot(NOW)).load_w)
    state.update([Reading("grid.power", NOW, 3000.0)])  # house = grid + battery: 400 W → 3 kW
    after = np.asarray(svc.request(known, state.snapshot(NOW)).load_w)
    assert after[0] - before[0] == pytest.approx(2600.0 * LOAD_DECAY)
    assert after[4] - before[4] == pytest.approx(2600.0 * LOAD_DECAY**5)
    assert after[-1] == pytest.approx(before[-1], abs=1.0)


def test_the_pv_forecast_is_blended_with_the_week_the_plant_measured(tmp_path):
    """3 kW measured at every quarter hour of the last days: the forecast's 1 kW becomes
    (1 − WEEK_SHARE) · 1 kW + WEEK_SHARE · 3 kW; with two measured days it stays the forecast."""
    cfg = site(tmp_path, pv=True)
    pv = np.full(8, 1000.0)
    for days, expected in ((4, (1 - WEEK_SHARE) * 1000.0 + WEEK_SHARE * 3000.0), (2, 1000.0)):
        store = SqliteStore(tmp_path / f"w{days}.sqlite", tz="Europe/Berlin")
        start = NOW - timedelta(days=days)
        readings = [Reading("pv1.power", start + timedelta(minutes=5 * k), 3000.0) for k in range(days * 288)]
        store.write(readings)
        try:
            assert with_week(cfg, store, NOW, pv) == pytest.approx(np.full(8, expected)), days
        finally:
            store.close()
