"""``wattwerk bench control`` on a few real days: properties that must hold for every strategy."""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from wattwerk.bench import control as bench
from wattwerk.bench.year.futures import future_factors
from wattwerk.bench.year.laws import (
    PV_FORECAST_WEIGHT,
    Forecasts,
    Planned,
    known_slots,
    pv_correction,
    pv_forecast,
    pv_shape_correction,
    pv_week_mean,
)
from wattwerk.bench.year.rules import (
    THREE_PHASE_MAX_W,
    StoreWorth,
    battery_follow,
    battery_rule,
    ev_commands,
    ev_power_surplus,
    fuse_guard,
)
from wattwerk.bench.year.world import SLOT_S, STEP_S, Setup, build_year, read_prices
from wattwerk.forecast.futures import FUTURES
from wattwerk.market.dayahead import known_until
from wattwerk.market.tariff import slot_index
from wattwerk.sim.site import SiteSim

DAYS = 2
START = datetime(2024, 6, 3, 22, 0, tzinfo=UTC)  # Tuesday 00:00 local, a sunny June week


@pytest.fixture(scope="module")
def setup(shared_data: Path) -> Setup:
    real = shared_data / "real"
    csv = next(real.glob("household_load_pv_*.csv"))
    return Setup(csv, tuple(sorted(real.glob("prices_de_lu_*_smard.csv"))), start=START, days=DAYS)


@pytest.fixture(scope="module")
def year(setup: Setup):
    return build_year(setup)


def _run(setup: Setup, year, name: str):
    sim, meter, law = bench.start(setup, name, year)
    boundary_import, boundary_export = [], []
    for k in range(setup.days * 86400 // STEP_S):
        if k % (SLOT_S // STEP_S) == 0:  # the grid meter's counters at every slot start
            boundary_import.append(sim.grid.energy_import)
            boundary_export.append(sim.grid.energy_export)
        bench.step(sim, meter, law)
    boundary_import.append(sim.grid.energy_import)
    boundary_export.append(sim.grid.energy_export)
    return sim, meter, law, np.diff(boundary_import), np.diff(boundary_export)


@pytest.mark.parametrize("name", ["none", "surplus", "planner", "oracle"])
def test_strategy_days_balance_cost_and_limits(setup: Setup, year, name: str) -> None:
    sim, meter, law, imp, exp_ = _run(setup, year, name)
    fig = bench.figures(sim, meter, year, law, 0.0)
    # energy balance of the simulated site holds over the run
    assert abs(sim.balance_error_wh()) < 1e-3 * max(sim.grid.energy_import, 1.0)
    # the reported cost is the grid meter's counters per slot times the tariff's prices
    starts = slot_index(setup.start, setup.n_slots, SLOT_S // 60)
    buy, sell = year.tariff.price(starts), year.feed_in.price(starts)
    assert np.isfinite(buy).all()
    expected = float(imp @ buy - exp_ @ sell) / 1000.0
    assert fig["cost_eur"] == pytest.approx(expected, abs=0.01)
    assert fig["grid_import_kwh"] == pytest.approx(imp.sum() / 1000, abs=0.1)
    # every requested EV energy arrives by departure, and no limit is broken
    assert fig["ev_sessions"] >= 1
    assert fig["ev_energy_delivered_pct"] == pytest.approx(100.0, abs=0.01), fig
    assert fig["limit_violations"] == 0, fig["violations_by_kind"]
    assert fig["bad_commands"] == 0
    if name in ("planner", "oracle"):
        assert fig["plans"] == setup.n_slots
        assert fig["solve_ms_p95"] >= fig["solve_ms_p50"] > 0


def test_ev_sessions_account_for_the_car_counter(setup: Setup, year) -> None:
    sim, meter, _, _, _ = _run(setup, year, "surplus")
    ev = sim.evs[0]
    closed = sum(s.delivered_wh for s in meter.sessions)
    open_wh = meter._open.delivered_wh if meter._open is not None else 0.0
    # every Wh the charger delivered belongs to exactly one session
    assert closed + open_wh == pytest.approx(ev.energy, abs=1e-6)
    for s in meter.sessions:
        assert s.departure is not None and s.departure > s.arrival
        assert s.requested_wh >= 0.0
    pct, n, short = meter.ev_delivered_pct()
    req = sum(s.requested_wh for s in meter.sessions)
    got = sum(min(s.delivered_wh, s.requested_wh) for s in meter.sessions)
    assert n == len(meter.sessions) and pct == pytest.approx(100 * got / req)
    assert short == sum(s.delivered_wh < s.requested_wh - 1 for s in meter.sessions)


def test_no_peeking_poisoned_future_prices_leave_the_plan_unchanged(setup: Setup, year) -> None:
    spot = read_prices(setup.price_files)
    i = 21  # 08:30 UTC = 10:30 CEST on the first day: tomorrow's prices are not out yet
    now = year.starts[i].to_pydatetime()
    until = known_until(now)
    assert until == START + timedelta(days=1)  # sanity: only today is known
    k0 = int((until - spot.start).total_seconds() // (spot.slot_minutes * 60))
    values = spot.values.copy()
    values[k0:] = np.where(np.arange(len(values) - k0) % 2, 5.0, -5.0)  # absurd prices from then on
    poisoned_year = build_year(setup, spot=replace(spot, values=values))
    assert not np.allclose(poisoned_year.buy, year.buy)  # the poison is there to be seen

    def plan_at(y, slot: int):
        sim = SiteSim(setup.site(), y.starts[slot].to_pydatetime())
        law = Planned(y, Forecasts(None, pv_forecast(y), oracle=False))
        sim.step(STEP_S)  # devices have values
        return law.request(sim, slot)

    a, b = plan_at(year, i), plan_at(poisoned_year, i)
    assert known_slots(year, i, now) == 27  # up to 24:00 local
    assert len(a.buy_eur_per_kwh) == 96  # the rest of 48 h: a persistence forecast of known prices
    np.testing.assert_array_equal(a.buy_eur_per_kwh[:27], year.buy[i : i + 27])
    np.testing.assert_array_equal(a.buy_eur_per_kwh, b.buy_eur_per_kwh)
    from wattwerk.control.planner import solve

    pa, pb = solve(a), solve(b)
    for dev in pa.devices:
        for key in pa.devices[dev]:
            np.testing.assert_allclose(pa.devices[dev][key], pb.devices[dev][key])
    # after 13:00 CET (11:00 UTC in summer) tomorrow is known: the poison shows up
    later = 26  # 11:00 UTC
    assert known_slots(year, later, year.starts[later].to_pydatetime()) == 70  # to tomorrow 24:00
    c, d = plan_at(year, later), plan_at(poisoned_year, later)
    assert not np.allclose(c.buy_eur_per_kwh, d.buy_eur_per_kwh)


def test_ev_laws() -> None:
    assert ev_commands(0.0)[0] == 0
    assert ev_commands(1000.0)[0] == 0  # below 6 A on one phase: pause
    assert ev_commands(2300.0) == (1, 1, pytest.approx(10.0))
    assert ev_commands(6900.0) == (1, 3, pytest.approx(10.0))
    assert ev_commands(50_000.0) == (1, 3, 16.0)
    # PV mode: only surplus; near the deadline full power
    assert ev_power_surplus(500.0, 8000.0, 12 * 3600.0) == 0.0
    assert ev_power_surplus(3000.0, 8000.0, 12 * 3600.0) == 3000.0
    assert ev_power_surplus(0.0, 8000.0, 1800.0) == THREE_PHASE_MAX_W
    assert ev_power_surplus(0.0, 0.0, 60.0) == 0.0


@pytest.mark.parametrize(
    ("plan", "dev", "zero", "want"),
    [
        (0.0, 500.0, 500.0, 500.0),  # more load than forecast: cover it
        (0.0, 800.0, 500.0, 500.0),  # but never discharge into export
        (2000.0, -500.0, 300.0, 1500.0),  # less load: discharge less
        (2000.0, 0.0, -1000.0, 2000.0),  # a planned discharge for export stays
        (-3000.0, 1000.0, 800.0, -2000.0),  # planned grid charging shrinks with more load
        (-3000.0, -9000.0, -9000.0, -5000.0),  # device limit
    ],
)
def test_battery_follow(plan: float, dev: float, zero: float, want: float) -> None:
    assert battery_follow(plan, dev, zero, 5000.0) == pytest.approx(want)


# a kWh in the battery worth 0.30 €/kWh to the plan; 95 % each way; export capped at 4 kW
WORTH = StoreWorth(0.30, buy=0.25, sell=0.08, eff_charge=0.95, eff_discharge=0.95, export_cap_w=4000.0)


@pytest.mark.parametrize(
    ("worth", "plan", "dev", "zero", "want"),
    [
        (WORTH, 0.0, 500.0, 500.0, 0.0),  # more load at 0.25: import it, the stored kWh is worth more
        (replace(WORTH, buy=0.40), 0.0, 500.0, 500.0, 500.0),  # at 0.40 the battery covers it
        (WORTH, -3000.0, 1000.0, 800.0, -3000.0),  # planned charging goes on (0.25 < 0.30 x 0.95)
        (replace(WORTH, buy=0.29), -3000.0, 4000.0, 800.0, 0.0),  # charging less pays, discharging not
        (WORTH, 0.0, -1000.0, -1000.0, -1000.0),  # more PV: stored (0.285 beats 0.08 feed-in)
        (replace(WORTH, value=0.05), 0.0, -1000.0, -1000.0, 0.0),  # stored energy is cheap: export
        # cheap storage, but 5 kW of export with a 4 kW cap: 1 kW would be curtailed, so it is stored
        (replace(WORTH, value=0.05), 0.0, -5000.0, -5000.0, -1000.0),
    ],
)
def test_battery_follow_weighs_the_forecast_error_against_the_stored_value(
    worth: StoreWorth, plan: float, dev: float, zero: float, want: float
) -> None:
    assert battery_follow(plan, dev, zero, 5000.0, worth) == pytest.approx(want)


def test_pv_shape_correction_learns_the_time_of_day_error_from_past_days_only(setup: Setup, year) -> None:
    shape = pv_shape_correction(year)
    assert shape.day.shape == shape.tod.shape == (year.n,)
    assert ((shape.table >= 0.5) & (shape.table <= 2.0)).all()
    cut = year.starts[48]  # the second day starts here
    poisoned = replace(year, history=year.history.copy())
    afternoon = (poisoned.history.index >= cut) & (poisoned.history.index.hour >= 12)
    poisoned.history.loc[afternoon, "pv_w"] *= 10.0  # the sun comes late from the second day on
    other = pv_shape_correction(poisoned)
    rows = sorted(set(shape.day[:96]))  # the rows in use on the poison's day and the next: unchanged
    np.testing.assert_array_equal(other.table[rows], shape.table[rows])
    late = other.table[other.day[-1]]  # days later the afternoon half hours are corrected upwards
    assert late[13 * 2 : 16 * 2].min() > shape.table[shape.day[-1]][13 * 2 : 16 * 2].max()
    # the planner's forecast uses it: the factor known at a slot for each coming slot's time of day
    fc = Forecasts(None, pv_forecast(poisoned), False, *pv_correction(poisoned), other)
    i = year.n - 200
    expected = pv_forecast(poisoned)[i : i + 48] * other.table[other.day[i], other.tod[i : i + 48]]
    has = poisoned.history["pv_forecast_w"].reindex(year.starts[i : i + 48]).notna().to_numpy()
    np.testing.assert_allclose(fc.pv_at(i, 48)[has], expected[has])


def test_future_factors_and_the_planner_s_futures_use_past_days_only(setup: Setup, year) -> None:
    factors, keep = future_factors(year)
    assert factors.shape == (year.n, FUTURES, 2) and keep.shape == (year.n,)
    assert ((keep >= 0.0) & (keep <= 1.0)).all()
    assert factors[:, :, 0].min() < 0.9 and factors[:, :, 0].max() > 1.1  # PV does miss its forecast
    assert factors[:, :, 1].min() < 0.95 and factors[:, :, 1].max() > 1.05  # and so does the load
    poisoned = replace(year, history=year.history.copy())
    later = poisoned.history.index >= year.starts[48]
    poisoned.history.loc[later, "load_w"] *= np.where(poisoned.history.index[later].day % 2, 3.0, 0.3)
    wild, wild_keep = future_factors(poisoned)
    known = year.starts.floor("D") <= year.starts[48].floor("D")  # days before the poisoned one's end
    np.testing.assert_array_equal(wild[known], factors[known])  # unchanged until that day is past
    np.testing.assert_array_equal(wild_keep[known], keep[known])
    assert not np.allclose(wild[-48:], factors[-48:])  # later days learn the wild days
    sim, _, law = bench.start(setup, "planner", year)
    req = law.request(sim, 100)
    assert [f.weight for f in req.futures] == pytest.approx([1 / FUTURES] * (FUTURES - 1))
    for f in req.futures:  # now: what was just measured; later: the spread of past days
        assert (f.pv_w[0], f.load_w[0]) == (req.pv_w[0], req.load_w[0])
    short = [float(np.sum(np.asarray(f.load_w) - np.asarray(f.pv_w))) for f in req.futures]
    assert short[0] < float(np.sum(np.asarray(req.load_w) - np.asarray(req.pv_w))) < short[-1]


def test_pv_correction_uses_past_days_only(setup: Setup, year) -> None:
    scale, has = pv_correction(year)
    assert scale.shape == has.shape == (year.n,)
    assert ((scale >= 0.7) & (scale <= 1.6)).all()
    cut = year.starts[48]  # the second day starts here
    poisoned = replace(year, history=year.history.copy())
    poisoned.history.loc[poisoned.history.index >= cut, "pv_w"] *= 10.0
    other, _ = pv_correction(poisoned)
    np.testing.assert_array_equal(other[:96], scale[:96])  # the poison's day and the next: unchanged
    assert not np.array_equal(other[96:], scale[96:]) or len(scale) <= 96


def test_emhass_without_its_venv_says_why(setup: Setup, year) -> None:
    out = bench.simulate(replace(setup, emhass_python=""), "emhass", year)
    assert out["status"] == "not_run"
    assert "--emhass-python" in out["reason"] and "numpy" in out["reason"]


def test_chunks_cover_the_period_once_and_merge_sums_and_recomputes(setup: Setup) -> None:
    long = replace(setup, days=365)
    parts = bench.chunked(long, 6)
    assert [p.days for p in parts] == [60, 60, 60, 60, 60, 65]
    assert parts[0].start == long.start
    for a, b in itertools.pairwise(parts):
        assert b.start == a.start + timedelta(days=a.days)
    two_days = [replace(setup, days=1), replace(setup, days=1, start=START + timedelta(days=1))]
    assert bench.chunked(replace(setup, days=2), 6) == two_days
    one = {
        "status": "ok",
        "peak_import_kw": 5.0,
        "violations_by_kind": {"grid_import": 1},
        "wall_s": 1.0,
        "pv_kwh": 10.0,
        "grid_export_kwh": 2.0,
        "grid_import_kwh": 30.0,
        "house_kwh": 30.0,
        "ev_kwh": 8.0,
        "heat_pump_kwh": 2.0,
        "ev_requested_kwh": 8.0,
        "ev_delivered_kwh": 8.0,
        "_solve_ms": [1.0, 3.0],
    }
    one |= {k: one.get(k, 1.0) for k in bench.SUMMED}
    two = one | {
        "peak_import_kw": 7.0,
        "ev_delivered_kwh": 6.0,
        "_solve_ms": [2.0],
        "violations_by_kind": {"grid_import": 2, "x": 1},
    }
    m = bench.merge([one, two])
    assert m["grid_import_kwh"] == 60.0 and m["peak_import_kw"] == 7.0
    assert m["ev_energy_delivered_pct"] == 87.5  # 14 of 16 kWh
    assert m["self_consumption_pct"] == 80.0 and m["autarky_pct"] == 25.0  # 1 - 60/80
    assert m["violations_by_kind"] == {"grid_import": 3, "x": 1} and m["plans"] == 3
    assert m["solve_ms_p50"] == 2.0
    assert bench.merge([one, {"status": "not_run", "reason": "r"}])["status"] == "not_run"


def test_start_is_local_midnight_and_bad_options_are_refused(capsys) -> None:
    assert bench._date("2024-06-10") == datetime(2024, 6, 9, 23, 0, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError):
        bench._date("10.06.2024")
    args = argparse.Namespace(
        strategies="none",
        days=0,
        year=None,
        prices=None,
        start=None,
        shift_heat=False,
        emhass_python="",
        emhass_replan_slots=2,
        chunks=1,
        jobs=1,
        partial="",
        json=True,
    )
    assert bench.run(args) == 2
    assert "at least 1" in capsys.readouterr().err


def test_replanning_every_other_slot_follows_the_plan_in_between(setup: Setup, year) -> None:
    scale, has = pv_correction(year)
    law = Planned(year, Forecasts(None, pv_forecast(year), False, scale, has), replan_slots=2)
    sim, meter, _ = bench.start(setup, "none", year)
    law_every = Planned(year, Forecasts(None, pv_forecast(year), False, scale, has))
    sim2, meter2, _ = bench.start(setup, "none", year)
    for _ in range(setup.days * 86400 // STEP_S):
        bench.step(sim, meter, law)
        bench.step(sim2, meter2, law_every)
    slots = setup.days * 86400 // SLOT_S
    assert slots // 2 <= len(law.solve_ms) < slots  # hourly, plus a plan when the car plugs in or out
    assert len(law_every.solve_ms) == slots
    out = bench.figures(sim, meter, year, law, 0.0)
    assert out["ev_energy_delivered_pct"] == 100.0 and out["limit_violations"] == 0


def test_forecast_prices_are_discounted_published_ones_are_not(year) -> None:
    from wattwerk.bench.year.laws import price_horizon

    i = 10  # 04:00 local: today's prices are known, tomorrow's are a persistence forecast
    now = year.starts[i].to_pydatetime()
    known = known_slots(year, i, now)
    plain, _ = price_horizon(year, i, now)
    lower, _ = price_horizon(year, i, now, discount=0.03)
    assert 0 < known < len(plain) == len(lower)
    assert np.array_equal(plain[:known], lower[:known])
    assert np.allclose(lower[known:], 0.97 * plain[known:])
    oracle, _ = price_horizon(year, i, now, oracle=True, discount=0.03)
    assert np.array_equal(oracle, year.buy[i : i + len(oracle)])


@pytest.mark.parametrize("name", ["none", "planner"])
def test_pv_twice_the_export_limit_is_curtailed_by_the_limiter_without_violations(
    setup: Setup, name: str
) -> None:
    tight = replace(setup, pv_scale=2.0, export_limit_w=7_000.0, feed_in_limit_pct=30.0)  # 3 kW of 10 kWp
    assert tight.export_cap_w == pytest.approx(3_000.0)
    sim, meter, law = bench.start(tight, name, build_year(tight))
    available = 0.0
    for _ in range(tight.days * 86400 // STEP_S):
        available += sum(a.available.at(sim.t + STEP_S / 2) for a in sim.pv) * STEP_S / 3600.0
        bench.step(sim, meter, law)
    fig = bench.figures(sim, meter, build_year(tight), law, 0.0)
    assert max(a.available_w for a in sim.pv) >= 0  # the arrays were read
    assert fig["limit_violations"] == 0, fig["violations_by_kind"]
    assert fig["curtailed_kwh"] > 1.0  # June with 2 x the PV: the limiter had to cut
    assert fig["bad_commands"] == 0  # every power limit written was one the inverter accepts
    # what the arrays produced plus what the limiter held back is what the sun offered
    assert sum(a.energy for a in sim.pv) + sim.pv_limiter.curtailed_wh == pytest.approx(available, rel=1e-9)
    assert abs(sim.balance_error_wh()) < 1e-3 * max(sim.grid.energy_import, 1.0)
    if name == "planner":
        assert law.statuses.get("fallback", 0) == 0


def test_zero_export_holds_for_a_battery_in_its_own_mode(setup: Setup) -> None:
    zero = replace(setup, pv_scale=2.0, export_limit_w=0.0, days=1)
    sim, meter, law = bench.start(zero, "none", build_year(zero))
    for _ in range(zero.days * 86400 // STEP_S):
        bench.step(sim, meter, law)
    assert sim.grid.energy_export <= 1e-6 * max(sim.grid.energy_import, 1.0)
    assert meter.violations == {} and sim.pv_limiter.curtailed_wh > 0


def test_a_series_that_starts_in_january_replays_1_january_from_a_december_start(tmp_path: Path) -> None:
    from wattwerk.sim.profiles import csv_column
    from wattwerk.sim.series import YearlySeries

    idx = slot_index(datetime(2025, 1, 1, tzinfo=UTC), 365 * 48, 30)
    values = 100.0 + np.arange(len(idx)) % 997
    rows = "\n".join(f"{t:%Y-%m-%dT%H:%M:%SZ},{v}" for t, v in zip(idx, values, strict=True))
    (tmp_path / "y.csv").write_text("timestamp_utc,load_w\n" + rows + "\n")
    series = YearlySeries(csv_column(tmp_path / "y.csv", "load_w"), 1800, 0.0, hold=True)
    series.at(datetime(2024, 12, 31, 23, 0, tzinfo=UTC).timestamp())  # 1 January local: the old year's chunk
    for k in (0, 24, 70, 95):  # the first two days are the file's own, not its last value held
        assert series.at(idx[k].timestamp()) == values[k]


def test_bad_curtailment_options_are_refused(capsys) -> None:
    base = dict(
        strategies="none",
        days=1,
        year=None,
        prices=None,
        start=None,
        shift_heat=False,
        emhass_python="",
        emhass_replan_slots=2,
        chunks=1,
        jobs=1,
        partial="",
        json=True,
        export_limit_w=None,
        feed_in_limit_pct=None,
        pv_scale=1.0,
    )
    for bad in ({"pv_scale": 0.0}, {"export_limit_w": -1.0}, {"feed_in_limit_pct": 120.0}):
        assert bench.run(argparse.Namespace(**(base | bad))) == 2
        assert "--" in capsys.readouterr().err


def test_the_fuse_guard_counts_no_discharge_from_an_empty_battery() -> None:
    """27 Dec 2024, 04:05 local, 2 x PV: the car had to charge at full power for its deadline while
    the heat pump ran (house + heat pump 6957 W); the battery law asked the empty battery (5 %) for
    2582 W, the guard counted on them and the year had 5 five-minute steps over the fuse."""
    limit = 16_750.0
    ev_w, bat_w = fuse_guard(6957.0, THREE_PHASE_MAX_W, 2582.0, limit, can_discharge=False)
    assert 6957.0 + ev_w == pytest.approx(limit) and bat_w == 2582.0  # the car gives way
    ev_w, _ = fuse_guard(6957.0, THREE_PHASE_MAX_W, 2582.0, limit, can_discharge=True)
    assert ev_w == THREE_PHASE_MAX_W  # a battery that can discharge covers it
    # charging is shed after the car: here both
    assert fuse_guard(16_000.0, 2000.0, -3000.0, limit, True) == (0.0, pytest.approx(-750.0))


def test_the_battery_rule_meets_a_heat_pump_inside_the_step() -> None:
    """The plan expected 500 W of residual (the heat pump's mean) and a 300 W discharge; a step where
    the heat pump runs (2.5 kW) is met from the battery, a step where it is off is not exported, and
    charging never takes the import past the fuse."""
    rule = battery_rule(300.0, 500.0, 5000.0, 10_000.0, None)
    assert rule(2500.0) == pytest.approx(2300.0)  # the error (2 kW) from the battery: 200 W import as planned
    assert rule(150.0) == pytest.approx(150.0)  # never more than the house takes: no export
    charging = battery_rule(-3000.0, 8000.0, 5000.0, 10_000.0, None)
    assert charging(8000.0) == pytest.approx(-2000.0)  # 8 kW + 2 kW charge = the fuse


def test_a_battery_rule_acts_on_the_steps_own_residual_and_a_command_clears_it(setup: Setup) -> None:
    sim = SiteSim(setup.site(), START)
    bat = sim.battery
    assert bat is not None
    seen: list[float] = []
    bat.rule = lambda residual: seen.append(residual) or min(0.1 * residual, 500.0)
    sim.step(STEP_S)
    assert seen and bat.power == pytest.approx(min(0.1 * seen[-1], 500.0))
    sim.command(bat.name, "battery_setpoint", 0.0)
    assert bat.rule is None


def test_a_recorded_pv_forecast_is_blended_with_the_week_s_mean_of_past_days(setup: Setup, year) -> None:
    week = pv_week_mean(year)
    assert week.shape == (year.n,) and (week >= 0).all()
    i = 150
    assert week.max() > 0.0  # the days before had sun
    poisoned = replace(year, history=year.history.copy())
    poisoned.history.loc[poisoned.history.index >= year.starts[i], "pv_w"] *= 10.0
    np.testing.assert_array_equal(pv_week_mean(poisoned)[: i + 1], week[: i + 1])  # past days only
    scaled = np.zeros(year.n, bool)
    scaled[i + 2 :] = True  # a recorded forecast from slot i+2 on; before it, the fallback
    plain = Forecasts(None, np.full(year.n, 1000.0), False, np.ones(year.n), scaled)
    blended = replace(plain, pv_week=week)
    got, alone = blended.pv_at(i, 6), plain.pv_at(i, 6)
    np.testing.assert_array_equal(got[:2], alone[:2])  # a fallback is not blended
    w = PV_FORECAST_WEIGHT
    np.testing.assert_allclose(got[2:], w * 1000.0 + (1 - w) * week[i + 2 : i + 6])


def test_the_intraday_fade_is_fitted_where_the_forecast_is_the_week_s_mean(setup: Setup, year) -> None:
    """Slots with a recorded forecast keep the fixed fade; week's-mean slots take the one fitted on
    the site's own past days (a cloudy morning's deviation from a week's mean persists)."""
    recorded = np.arange(year.n) % 2 == 0  # every other slot has a recorded forecast
    fc = Forecasts(None, pv_forecast(year), False, np.ones(year.n), recorded)
    law = Planned(year, fc, pv_recent_slots=4, pv_recent_decay=0.85)
    rec = law._record()
    fitted = np.linspace(1.0, 0.5, 96)
    rec._day, rec._fade = 1, fitted  # as if fitted at the start of day 1
    n = min(96, year.n - 48)
    fitted = fitted[:n]
    fade = law._fade(48, n)
    week = ~recorded[48 : 48 + n]
    np.testing.assert_allclose(fade[week], fitted[week])
    np.testing.assert_allclose(fade[~week], (0.85 ** np.arange(n))[~week])
    # the futures spread as the forecast's deviation fades: not at all where it keeps all of it
    factors = np.tile([[0.5, 1.0], [0.8, 1.0], [1.0, 1.0], [1.2, 1.0], [1.5, 1.0]], (year.n, 1, 1))
    law = Planned(year, replace(fc, futures=factors), pv_recent_slots=4, pv_recent_decay=0.85)
    law._record()._day, law._record()._fade = 1, np.ones(96)
    sim, _, _ = bench.start(setup, "none", year)
    req = law.request(sim, 48)
    lo, hi, pv = (np.asarray(x) for x in (req.futures[0].pv_w, req.futures[-1].pv_w, req.pv_w))
    np.testing.assert_allclose(lo[week], pv[week])
    fading = ~week & (pv > 1.0) & (np.arange(n) > 0)  # sun, and not the slot now
    assert fading.any() and (lo[fading] < pv[fading]).all() and (hi[fading] > pv[fading]).all()
