from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from wattwerk.control.plan_model import EV, Battery, Heater, Plan, PlanOptions, PlanRequest, ThermalStore
from wattwerk.control.planner import solve
from wattwerk.forecast.futures import Future

T0 = datetime(2024, 6, 1, 22, tzinfo=UTC)
EPS = 1e-3  # W / Wh tolerance on solver output


def check_plan(req: PlanRequest, plan: Plan) -> None:
    """Every physical and contractual limit, recomputed from the plan's own numbers."""
    n, dt = req.n, req.dt_h
    assert plan.status in ("optimal", "time_limit"), plan.message
    imp, exp_ = plan.import_w, plan.export_w
    assert (imp >= -EPS).all() and (exp_ >= -EPS).all()
    assert (np.minimum(imp, exp_) <= 1.0).all(), "import and export in the same slot"
    assert (exp_ <= req.max_export_w + EPS).all()
    assert (imp <= req.max_import_w + EPS).all() or plan.import_excess_w > 0
    assert (plan.curtail_w >= -EPS).all() and (plan.curtail_w <= np.asarray(req.pv_w) + EPS).all()
    consumption = np.asarray(req.load_w, float).copy()
    for b in req.batteries:
        p, soc = plan.devices[b.name]["power_w"], plan.devices[b.name]["soc_pct"]
        assert (p <= b.max_discharge_w + EPS).all() and (p >= -b.max_charge_w - EPS).all()
        # a battery outside its band may only move towards it
        low, high = min(b.soc_min_pct, b.soc_pct), max(b.soc_max_pct, b.soc_pct)
        assert (soc >= low - 1e-6).all() and (soc <= high + 1e-6).all()
        if not b.grid_charge:
            assert (-p <= np.asarray(req.pv_w) + EPS).all(), "charged from the grid"
        # the SoC follows from the net power only if the battery never charges and discharges at once
        e = b.soc_pct / 100 * b.capacity_wh
        for t in range(n):
            e += dt * (b.eff_charge * max(-p[t], 0.0) - max(p[t], 0.0) / b.eff_discharge)
            assert e / b.capacity_wh * 100 == pytest.approx(soc[t], abs=2e-3), f"{b.name} slot {t}"
        consumption -= p
    for ev in req.evs:
        p = plan.devices[ev.name]["power_w"]
        plugged = np.asarray(ev.plugged)
        assert (p[~plugged] <= EPS).all() and (p <= ev.max_power_w + EPS).all()
        assert ((p <= 1.0) | (p >= ev.min_power_w - EPS)).all(), "EV below its minimum power"
        # what is not in the car by departure is reported as shortfall, never hidden
        deadline = n if ev.deadline is None else min(ev.deadline, n)
        delivered = p[:deadline].sum() * dt * ev.efficiency
        assert delivered + plan.shortfall_wh[ev.name] >= ev.energy_wh - 1.0
        assert p.sum() * dt * ev.efficiency <= max(ev.energy_wh, ev.max_energy_wh or 0) + 1.0 or (
            ev.min_power_w > 0
        )
        consumption += p
    for store in req.thermal:
        level = plan.devices[store.name]["energy_wh"]
        assert (level >= -EPS).all() and (level <= store.capacity_wh + EPS).all()
        for h in store.heaters:
            p = plan.devices[h.name]["power_w"]
            assert (p >= -EPS).all() and (p <= h.max_power_w + EPS).all()
            consumption += p
    balance = imp - exp_ + np.asarray(req.pv_w) - plan.curtail_w - consumption
    assert np.abs(balance).max() < 1e-3
    # the expected cost is the cost of this very schedule
    cost = (
        dt / 1000 * (np.asarray(req.buy_eur_per_kwh) @ imp - np.broadcast_to(req.sell_eur_per_kwh, n) @ exp_)
    )
    assert plan.cost_eur == pytest.approx(cost, abs=1e-9)


def two_price_day(cheap: float, dear: float, cheap_hours: int = 6) -> np.ndarray:
    return np.where(np.arange(96) < cheap_hours * 4, cheap, dear)


def battery(**kw) -> Battery:
    base = dict(capacity_wh=10_000, soc_pct=10.0, max_charge_w=5_000, max_discharge_w=5_000, soc_min_pct=10.0)
    return Battery(**(base | kw))


def test_charges_cheap_discharges_dear_when_the_spread_beats_the_losses():
    buy = two_price_day(0.20, 0.40)
    req = PlanRequest(T0, 15, buy, np.zeros(96), np.full(96, 1000.0), 0.0, batteries=(battery(),))
    plan = solve(req)
    check_plan(req, plan)
    p = plan.devices["bat"]["power_w"]
    cheap = buy == 0.20
    assert -p[cheap].clip(max=0).sum() * 0.25 >= 8_000  # charged (nearly) full while cheap
    assert (p[~cheap] >= -EPS).all() and p[~cheap].sum() > 0  # never charged while dear, discharged then
    idle = solve(replace(req, batteries=()))
    assert plan.cost_eur < idle.cost_eur - 0.5


def test_no_cycling_when_the_spread_does_not_cover_the_losses():
    # 0.30 → 0.32: the round trip (0.95 × 0.95) makes a stored kWh cost 0.332
    req = PlanRequest(
        T0, 15, two_price_day(0.30, 0.32), np.zeros(96), np.full(96, 800.0), 0.0, batteries=(battery(),)
    )
    plan = solve(req)
    check_plan(req, plan)
    assert np.abs(plan.devices["bat"]["power_w"]).max() < EPS


def test_flat_prices_do_nothing_pointless():
    req = PlanRequest(
        T0, 15, np.full(96, 0.30), np.zeros(96), np.full(96, 600.0), 0.08, batteries=(battery(soc_pct=60.0),)
    )
    plan = solve(req)
    check_plan(req, plan)
    p = plan.devices["bat"]["power_w"]
    assert (p >= -EPS).all(), "charged from the grid at a flat price"
    assert (plan.export_w <= EPS).all()


def test_stores_pv_surplus_instead_of_exporting_it_cheaply():
    hours = np.arange(96) / 4
    pv = np.clip(6000 * np.sin((hours - 6) / 12 * np.pi), 0, None)
    req = PlanRequest(T0, 15, np.full(96, 0.30), pv, np.full(96, 500.0), 0.08, batteries=(battery(),))
    plan = solve(req)
    check_plan(req, plan)
    assert plan.devices["bat"]["soc_pct"].max() > 90  # filled from PV
    assert plan.export_w.sum() < (pv - 500).clip(min=0).sum() - 9_000 / 0.25


def test_ev_gets_its_energy_by_departure_at_the_cheapest_time():
    hours = np.arange(192) / 4
    buy = 0.30 + 0.10 * np.cos(hours / 24 * 2 * np.pi)  # cheapest around noon... and 12 h later dear
    plugged = (hours >= 2) & (hours < 14)
    ev = EV(plugged, energy_wh=15_000, max_power_w=11_000, min_power_w=4_140, deadline=14 * 4)
    req = PlanRequest(T0, 15, buy, np.zeros(192), np.full(192, 400.0), 0.0, evs=(ev,), max_import_w=14_000)
    plan = solve(req)
    check_plan(req, plan)
    energy = plan.devices["ev1"]["energy_wh"]
    assert energy[ev.deadline - 1] == pytest.approx(15_000, abs=1.0)
    assert plan.shortfall_wh["ev1"] == pytest.approx(0.0, abs=1e-6)
    p = plan.devices["ev1"]["power_w"]
    charged = np.flatnonzero(p > EPS)
    # it chose the cheapest plugged slots: nothing cheaper was left unused
    unused = plugged & (p < 11_000 - EPS)
    assert buy[charged].max() <= buy[unused].min() + 0.01


def test_ev_that_cannot_get_its_energy_reports_the_shortfall():
    plugged = np.zeros(96, bool)
    plugged[10:14] = True  # one hour at 11 kW at most: 9.9 kWh into the car
    ev = EV(plugged, energy_wh=20_000, max_power_w=11_000, deadline=20)
    req = PlanRequest(T0, 15, np.full(96, 0.3), np.zeros(96), np.full(96, 300.0), 0.0, evs=(ev,))
    plan = solve(req)
    check_plan(req, plan)
    assert plan.shortfall_wh["ev1"] == pytest.approx(20_000 - 4 * 0.25 * 11_000 * 0.9, abs=1.0)


def test_negative_prices_charge_and_never_fake_flows():
    buy = two_price_day(0.30, 0.35, cheap_hours=0).astype(float)
    buy[40:52] = -0.05  # 10:00-13:00: paid to consume
    hours = np.arange(96) / 4
    pv = np.clip(4000 * np.sin((hours - 6) / 12 * np.pi), 0, None)
    heat = ThermalStore.from_tank(300, 40, 60, 45, np.full(96, 300.0), (Heater("rod", 3000, 1.0),))
    req = PlanRequest(
        T0,
        15,
        buy,
        pv,
        np.full(96, 500.0),
        0.08,
        batteries=(battery(soc_pct=50),),
        thermal=(heat,),
        max_import_w=12_000,
    )
    plan = solve(req)
    check_plan(req, plan)  # no import+export, no charge+discharge in one slot
    neg = slice(40, 52)
    assert plan.devices["bat"]["power_w"][neg].min() < -4_000  # charging hard while paid to
    assert plan.import_w[neg].sum() > 0
    assert plan.devices["rod"]["power_w"][neg].sum() > 0  # heating with paid-for energy
    assert plan.cost_eur < solve(replace(req, buy_eur_per_kwh=np.maximum(buy, 0.30))).cost_eur


def test_negative_feed_in_curtails_pv():
    hours = np.arange(96) / 4
    pv = np.clip(8000 * np.sin((hours - 6) / 12 * np.pi), 0, None)
    sell = np.where((hours >= 11) & (hours < 15), -0.10, 0.05)
    req = PlanRequest(T0, 15, np.full(96, 0.30), pv, np.full(96, 400.0), sell, max_export_w=5_000)
    plan = solve(req)
    check_plan(req, plan)
    assert plan.export_w[sell < 0].max() <= EPS
    assert plan.curtail_w[sell < 0].sum() > 0
    assert (plan.export_w <= 5_000 + EPS).all()


def test_heat_pump_shifts_into_cheap_high_cop_slots_and_meets_demand():
    hours = np.arange(96) / 4
    buy = np.where((hours >= 17) & (hours < 21), 0.45, 0.25)
    cop = 3.0 + 0.8 * np.sin((hours - 9) / 24 * 2 * np.pi)  # warmer afternoons
    store = ThermalStore.from_tank(
        500,
        35,
        55,
        45,
        np.full(96, 1200.0),
        (Heater("hp", 2500, cop, min_power_w=800), Heater("rod", 3000, 1.0)),
        loss_w=50,
    )
    req = PlanRequest(T0, 15, buy, np.zeros(96), np.full(96, 300.0), 0.0, thermal=(store,))
    plan = solve(req)
    check_plan(req, plan)
    hp, rod = plan.devices["hp"]["power_w"], plan.devices["rod"]["power_w"]
    assert plan.shortfall_wh["heat"] == pytest.approx(0.0, abs=1.0)
    assert hp[buy == 0.45].sum() < hp[buy == 0.25].mean() * (buy == 0.45).sum()
    assert rod.sum() < EPS  # the heat pump is always cheaper here
    heat_in = (hp * cop + rod).sum() * 0.25
    level = plan.devices["heat"]["energy_wh"]
    assert heat_in == pytest.approx((1200 + 50) * 24 + level[-1] - store.energy_wh, rel=1e-6)
    # by default a slot below the minimum means part-slot running; strictly per slot it costs more
    exact = solve(req, PlanOptions(integer="mip", time_limit_s=10, strict_heaters=True))
    strict = solve(req, PlanOptions(strict_heaters=True))
    for p in (exact, strict):
        check_plan(req, p)
        assert ((p.devices["hp"]["power_w"] <= 1.0) | (p.devices["hp"]["power_w"] >= 800 - EPS)).all()
    assert plan.objective_value <= exact.objective_value + 1e-6
    assert strict.cost_eur <= exact.cost_eur * 1.05


def test_import_limit_is_respected_and_excess_reported_not_raised():
    ev = EV(np.ones(16, bool), energy_wh=10_000, max_power_w=11_000)
    ok = PlanRequest(
        T0, 15, np.full(16, 0.3), np.zeros(16), np.full(16, 1000.0), evs=(ev,), max_import_w=6_000
    )
    plan = solve(ok)
    check_plan(ok, plan)
    assert plan.import_w.max() <= 6_000 + EPS
    over = solve(replace(ok, load_w=np.full(16, 7_000.0), evs=()))
    assert over.import_excess_w == pytest.approx(1_000, abs=1)


def test_co2_objective_moves_the_ev_to_green_slots():
    hours = np.arange(96) / 4
    co2 = 450 - 250 * np.exp(-(((hours - 13) / 2.5) ** 2))
    ev = EV(np.ones(96, bool), energy_wh=12_000, max_power_w=11_000)
    req = PlanRequest(
        T0,
        15,
        np.full(96, 0.30),
        np.zeros(96),
        np.full(96, 300.0),
        evs=(ev,),
        co2_g_per_kwh=co2,
        objective="co2",
    )
    plan = solve(req)
    check_plan(req, plan)
    p = plan.devices["ev1"]["power_w"]
    assert co2[p > EPS].max() < 260
    cost_plan = solve(replace(req, objective="cost"))
    assert plan.co2_kg <= cost_plan.co2_kg + 1e-9


def test_self_consumption_objective_imports_less():
    hours = np.arange(96) / 4
    pv = np.clip(2500 * np.sin((hours - 6) / 12 * np.pi), 0, None)
    buy = np.where(hours < 5, 0.10, 0.35)  # cheap night power tempts grid charging
    req = PlanRequest(
        T0, 15, buy, pv, np.full(96, 700.0), 0.08, batteries=(battery(),), objective="self_consumption"
    )
    own = solve(req)
    cheap = solve(replace(req, objective="cost"))
    check_plan(req, own)
    assert own.import_w.sum() < cheap.import_w.sum() - 300  # no night charging for the morning
    assert cheap.cost_eur <= own.cost_eur + 1e-9


def test_auto_mode_is_close_to_the_exact_mip():
    hours = np.arange(48) / 4
    buy = 0.30 + 0.08 * np.sin(hours / 12 * 2 * np.pi)
    ev = EV(np.ones(48, bool), energy_wh=9_000, max_power_w=11_000, min_power_w=4_140, deadline=40)
    req = PlanRequest(
        T0, 15, buy, np.zeros(48), np.full(48, 500.0), 0.0, batteries=(battery(soc_pct=40),), evs=(ev,)
    )
    fast, exact = solve(req), solve(req, PlanOptions(integer="mip", time_limit_s=10))
    check_plan(req, fast)
    check_plan(req, exact)
    assert exact.size["integer_columns"] > 0 and fast.size["integer_columns"] == 0
    assert fast.cost_eur == pytest.approx(exact.cost_eur, rel=0.03)


def test_48h_horizon_plan_is_json_and_has_the_problem_size():
    n = 192
    hours = np.arange(n) / 4
    req = PlanRequest(
        T0,
        15,
        0.3 + 0.1 * np.sin(hours / 24 * 2 * np.pi),
        np.clip(5000 * np.sin((hours % 24 - 6) / 12 * np.pi), 0, None),
        np.full(n, 500.0),
        0.08,
        batteries=(battery(),),
        evs=(EV((hours % 24 >= 18) | (hours % 24 < 7), 20_000, 11_000, 4_140, deadline=31 * 4),),
        thermal=(ThermalStore.from_tank(300, 40, 60, 50, np.full(n, 800.0), (Heater("hp", 2000, 3.0),)),),
        max_import_w=20_000,
        max_export_w=7_000,
    )
    plan = solve(req)
    check_plan(req, plan)
    data = json.loads(json.dumps(plan.to_json()))
    assert data["size"]["slots"] == 192 and data["size"]["columns"] > 5 * 192
    assert len(data["slots"]["grid_w"]) == 192 and set(data["devices"]) == {"bat", "ev1", "hp", "heat"}
    assert plan.slot(0)["start"] == T0.isoformat()
    assert plan.slot(4)["bat.soc_pct"] == pytest.approx(plan.devices["bat"]["soc_pct"][4])


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match="pv_w"):
        solve(PlanRequest(T0, 15, np.full(4, 0.3), np.zeros(3), np.zeros(4)))
    with pytest.raises(ValueError, match="buy_eur_per_kwh"):
        solve(PlanRequest(T0, 15, [0.3, float("nan")], np.zeros(2), np.zeros(2)))


def test_hourly_slots_work_the_same():
    buy = np.where(np.arange(24) < 6, 0.20, 0.40)
    req = PlanRequest(T0, 60, buy, np.zeros(24), np.full(24, 1000.0), 0.0, batteries=(battery(),))
    plan = solve(req)
    check_plan(req, plan)
    p = plan.devices["bat"]["power_w"]
    assert (p[:6] <= EPS).all() and p[:6].sum() < -8_000 and (p[6:] >= -EPS).all()


def test_time_limit_returns_the_best_plan_so_far():
    hours = np.arange(192) / 4
    store = ThermalStore.from_tank(
        300, 35, 55, 45, np.full(192, 900.0), (Heater("hp", 2500, 3.0 + np.sin(hours), min_power_w=800),)
    )
    req = PlanRequest(
        T0, 15, 0.3 + 0.1 * np.sin(hours / 3), np.zeros(192), np.full(192, 400.0), thermal=(store,)
    )
    plan = solve(req, PlanOptions(time_limit_s=0.0, strict_heaters=True))
    # the first LP always runs to the end; the passes that settle minimum powers are cut
    assert plan.status == "time_limit" and plan.size["lp_passes"] == 1
    check_plan(req, replace(plan, status="optimal"))
    full = solve(req, PlanOptions(strict_heaters=True))
    assert full.status == "optimal" and full.size["lp_passes"] > 1


def test_co2_shadow_price_shifts_a_cost_plan_to_green_slots():
    hours = np.arange(96) / 4
    co2 = 450 - 250 * np.exp(-(((hours - 13) / 2.5) ** 2))
    buy = np.where(hours < 6, 0.29, 0.30)  # the night is a little cheaper
    ev = EV(np.ones(96, bool), energy_wh=12_000, max_power_w=11_000)
    req = PlanRequest(T0, 15, buy, np.zeros(96), np.full(96, 300.0), evs=(ev,), co2_g_per_kwh=co2)
    cheapest = solve(req)
    greener = solve(replace(req, co2_eur_per_kg=0.1))  # 100 €/t
    for p in (cheapest, greener):
        check_plan(req, p)
    assert (cheapest.devices["ev1"]["power_w"][hours >= 6] <= EPS).all()
    assert greener.co2_kg < cheapest.co2_kg - 0.5
    assert greener.cost_eur > cheapest.cost_eur  # paid for, and the plan says so


def test_stored_value_is_the_dual_of_the_energy_in_the_store():
    """The value of one more kWh in the battery per slot (the LP's dual): what the energy costs to
    put in while charging is cheap, what it saves later once the dear hours come."""
    buy = two_price_day(0.10, 0.40, cheap_hours=6)
    req = PlanRequest(T0, 15, buy, np.zeros(96), np.full(96, 1000.0), 0.05, batteries=(battery(),))
    plan = solve(req)
    check_plan(req, plan)
    value = plan.stored_value_eur_per_kwh["bat"]
    assert value.shape == (96,)
    charging = plan.devices["bat"]["power_w"] < -1.0
    assert charging.any()
    # while it charges in the cheap hours a stored kWh is worth its price after the charging loss
    assert value[charging] == pytest.approx(0.10 / 0.95, rel=1e-3)
    # in the dear hours it replaces 0.40 €/kWh of import after the discharging loss
    assert value[-1] == pytest.approx(0.40 * 0.95, rel=1e-3)


def test_futures_buy_cheap_energy_against_a_sunny_forecast_that_may_fail():
    """One cheap hour now, dear evenings; the forecast says PV fills the battery every day, so a
    single plan buys nothing now. With a third of the futures dull (no PV), the first slot charges
    from the grid: the expected saving beats what it costs where the sun does come."""
    n = 48  # hourly slots over two days
    hour = np.arange(n) % 24
    buy = np.where(np.arange(n) == 0, 0.10, 0.35)
    load = np.where(hour >= 18, 1500.0, 0.0)
    sunny = np.where((hour >= 8) & (hour < 18), 6000.0, 0.0)
    req = PlanRequest(T0, 60, buy, sunny, load, 0.05, batteries=(battery(soc_pct=10.0),))
    alone = solve(req)
    check_plan(req, alone)
    dull = np.zeros(n)
    hedged = solve(replace(req, futures=(Future(1 / 3, dull),)))
    check_plan(req, hedged)  # the plan shown is the central future's, as consistent as a single plan
    assert alone.devices["bat"]["power_w"][0] > -1.0  # nothing bought against the sunny forecast
    assert hedged.devices["bat"]["power_w"][0] < -1000.0  # bought: it pays in expectation
    same = solve(replace(req, futures=((0.5, sunny),)))  # a future equal to the forecast (a tuple will do)
    assert same.devices["bat"]["power_w"][0] == pytest.approx(alone.devices["bat"]["power_w"][0], abs=1.0)
    assert same.cost_eur == pytest.approx(alone.cost_eur, abs=1e-6)


def test_futures_that_differ_now_never_make_a_zero_export_plan_infeasible():
    """A full battery at zero export must curtail what the house does not use, and the first slot's
    curtailment is one decision for every future: the futures take the forecast's PV for that slot
    (a future that strayed already now once made every such plan fall back)."""
    n = 8
    pv = np.full(n, 4700.0)
    req = PlanRequest(
        T0,
        30,
        np.full(n, 0.2),
        pv,
        np.full(n, 400.0),
        0.08,
        batteries=(battery(soc_pct=100.0),),
        max_export_w=0.0,
        curtail=True,
    )
    load = np.full(n, 400.0)  # both off the forecast in slot 0 already, PV and load
    futures = (Future(1 / 3, pv * 0.87, load * 1.5), Future(1 / 3, pv * 1.25, load * 0.5))
    plan = solve(replace(req, futures=futures))
    assert plan.status == "optimal"
    assert plan.export_w.max() <= 1e-6
    assert plan.curtail_w[0] == pytest.approx(4700.0 - 400.0, abs=1.0)


def test_a_future_whose_evening_draws_more_buys_cheap_energy_now():
    """No PV, one cheap hour now, a dear evening the battery covers as forecast, and energy left at
    the end worth little (0.05 €/kWh). A fifth of the futures draw twice the evening load: the first
    slot buys more now, since a kWh short there costs 0.40 € while a kWh left over in the others
    loses only part of its 0.10 €. A future that draws less changes nothing now."""
    n = 24
    hour = np.arange(n)
    buy = np.where(hour == 0, 0.10, 0.40)
    load = np.where(hour >= 18, 500.0, 0.0)
    bat = battery(soc_pct=10.0, terminal_value_eur_per_kwh=0.05)
    req = PlanRequest(T0, 60, buy, np.zeros(n), load, 0.05, batteries=(bat,))
    alone = solve(req)
    check_plan(req, alone)
    more = solve(replace(req, futures=(Future(0.2, np.zeros(n), load * 2.0),)))
    less = solve(replace(req, futures=(Future(0.2, np.zeros(n), load * 0.5),)))
    check_plan(req, more)
    charged = -alone.devices["bat"]["power_w"][0]
    assert charged > 1000.0  # the forecast evening, bought in the cheap hour
    assert -more.devices["bat"]["power_w"][0] > charged + 1000.0
    assert -less.devices["bat"]["power_w"][0] == pytest.approx(charged, abs=1.0)


@pytest.mark.parametrize("weights", [(0.0,), (0.6, 0.5), (-0.1,)])
def test_future_weights_are_checked(weights: tuple[float, ...]):
    n = 4
    req = PlanRequest(T0, 60, np.full(n, 0.3), np.zeros(n), np.full(n, 500.0), batteries=(battery(),))
    with pytest.raises(ValueError, match="futures"):
        solve(replace(req, futures=tuple(Future(w, np.zeros(n)) for w in weights)))
