from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from wattwerk.control.plan_model import EV, PlanRequest
from wattwerk.control.planner import solve
from wattwerk.forecast.grid_signal import EnergyChartsCO2, parse_co2eq
from wattwerk.forecast.history import read_history_csv
from wattwerk.forecast.load import LoadForecaster, blend_recent, day_energies, standard_profile_w

DATA = Path(__file__).parent / "data"
HOUSE = "real/household_load_pv_fr_48.83N_6.86E_2024-02-28_2025-02-27_30min.csv"
TZ = "Europe/Berlin"


def synthetic_history(weeks: int = 4, end: str = "2024-05-06") -> pd.Series:
    index = pd.date_range(
        pd.Timestamp(end, tz=TZ) - pd.Timedelta(weeks=weeks),
        pd.Timestamp(end, tz=TZ),
        freq="15min",
        inclusive="left",
    ).tz_convert("UTC")
    local = index.tz_convert(TZ)
    weekday = np.where((local.hour >= 18) & (local.hour < 20), 1300.0, 300.0)
    values = np.where(local.day_of_week >= 5, 600.0, weekday)
    return pd.Series(values, index=index)


def test_weekday_and_weekend_profiles_are_learnt():
    f = LoadForecaster(tz=TZ).fit(synthetic_history())
    assert f.source == "history" and f.level == pytest.approx(1.0)
    idx = pd.date_range(pd.Timestamp("2024-05-06", tz=TZ), periods=7 * 96, freq="15min").tz_convert("UTC")
    pred = f.predict(idx)
    local = idx.tz_convert(TZ)
    expected = np.where(
        local.day_of_week >= 5, 600.0, np.where((local.hour >= 18) & (local.hour < 20), 1300.0, 300.0)
    )
    assert pred == pytest.approx(expected)


def test_recent_level_scales_the_profile_within_bounds():
    h = synthetic_history()
    last_week = h.index >= h.index.max() - pd.Timedelta(days=7)
    f = LoadForecaster(tz=TZ).fit(h.where(~last_week, h * 1.1))
    assert 1.05 < f.level < 1.1  # the profile already carries some of the rise
    g = LoadForecaster(tz=TZ).fit(h.where(~last_week, h * 3))
    assert g.level == 1.3


def test_history_beats_a_flat_forecast_on_the_real_household(shared_data):
    load = read_history_csv(shared_data / HOUSE)["load_w"]
    ours, flat = [], []
    for cut in ("2024-04-15", "2024-07-01", "2024-09-09", "2024-11-04", "2025-01-13"):
        c = pd.Timestamp(cut, tz="UTC")
        past = load[load.index < c]
        f = LoadForecaster(tz="Europe/Paris").fit(past)
        idx = pd.date_range(c, periods=192, freq="15min")
        actual = load.reindex(idx, method="ffill").to_numpy()
        ours.append(np.nanmean(np.abs(f.predict(idx) - actual)))
        recent = past[past.index >= c - pd.Timedelta(days=7)].mean()
        flat.append(np.nanmean(np.abs(recent - actual)))
    assert np.mean(ours) < 0.9 * np.mean(flat)


def test_new_site_falls_back_to_the_bdew_standard_profile():
    f = LoadForecaster(tz=TZ, default_annual_kwh=3500).fit(pd.Series(dtype=float))
    assert f.source == "bdew-h25"
    year = pd.date_range("2024-01-01", "2025-01-01", freq="15min", tz=TZ, inclusive="left").tz_convert("UTC")
    pred = f.predict(year)
    assert not np.isnan(pred).any()
    assert pred.sum() * 0.25 / 1000 == pytest.approx(3500, rel=0.01)
    local = year.tz_convert(TZ)
    winter_evening = pred[(local.month == 1) & (local.hour == 19)].mean()
    summer_night = pred[(local.month == 7) & (local.hour == 3)].mean()
    assert winter_evening > 3 * summer_night
    # two days of history: still the standard profile, scaled to the level seen
    short = synthetic_history().iloc[-192:]
    g = LoadForecaster(tz=TZ).fit(short)
    assert g.source == "bdew-h25" and g.annual_kwh == pytest.approx(short.mean() * 8.766)


def test_dst_day_has_every_slot():
    f = LoadForecaster(tz=TZ).fit(synthetic_history(end="2024-10-27"))
    day = pd.date_range(
        pd.Timestamp("2024-10-27", tz=TZ), pd.Timestamp("2024-10-28", tz=TZ), freq="15min", inclusive="left"
    ).tz_convert("UTC")
    assert len(day) == 100 and not np.isnan(f.predict(day)).any()
    assert not np.isnan(standard_profile_w(day, 3000, TZ)).any()


# ----------------------------------------------------------------------- grid signal


def test_energy_charts_co2_recorded_measured_then_forecast():
    payload = json.loads((DATA / "energy_charts_co2eq_de.json").read_text())
    s = parse_co2eq(payload)
    assert s.unit == "g/kWh" and s.slot_minutes == 15 and len(s) == 96 and s.complete()
    assert s.values[:48].tolist() == payload["co2eq"][:48]
    assert s.values[48:].tolist() == payload["co2eq_forecast"][48:]
    assert s.meta["forecast_slots"] == 48


async def test_co2_signal_drives_the_planner():
    payload = (DATA / "energy_charts_co2eq_de.json").read_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/co2eq" and request.url.params["country"] == "de"
        return httpx.Response(200, content=payload, headers={"content-type": "application/json"})

    source = EnergyChartsCO2("de")
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        first = parse_co2eq(json.loads(payload))
        co2 = await source.fetch(client, first.start, first.end)
    ev = EV(np.ones(96, bool), energy_wh=10_000, max_power_w=11_000)
    req = PlanRequest(
        co2.start,
        15,
        np.full(96, 0.3),
        np.zeros(96),
        np.full(96, 300.0),
        evs=(ev,),
        co2_g_per_kwh=co2.values,
        objective="co2",
    )
    plan = solve(req)
    charging = plan.devices["ev1"]["power_w"] > 1
    assert co2.values[charging].max() <= np.sort(co2.values)[8] + 1e-9  # the greenest hours only


def test_the_load_just_measured_fades_into_the_forecast():
    f = np.array([500.0, 500.0, 800.0, 800.0])
    out = blend_recent(f, 2000.0, 0.5)
    np.testing.assert_allclose(
        out, [500 + 1500 * 0.5, 500 + 1500 * 0.25, 800 + 1500 * 0.125, 800 + 1500 * 0.0625]
    )
    assert (blend_recent(f, 0.0, 0.9) >= 0.0).all()  # never below 0 W
    assert len(blend_recent(np.zeros(0), 100.0, 0.5)) == 0


def test_day_energies_judge_each_day_against_a_profile_of_the_weeks_before_it():
    idx = pd.date_range("2024-03-01", periods=21 * 96, freq="15min", tz="UTC")
    load = pd.Series(400.0, index=idx)
    load[idx >= "2024-03-15"] = 800.0  # the third week draws twice as much
    load[(idx >= "2024-03-19") & (idx < "2024-03-19 12:00")] = np.nan  # half a day unknown
    days = pd.date_range("2024-03-01", "2024-03-21", freq="D", tz="UTC")
    out = day_energies(load, days, pd.Timedelta(minutes=15), "UTC")
    assert days[0] not in out.index  # nothing before it to forecast from
    assert pd.Timestamp("2024-03-19", tz="UTC") not in out.index  # too little of it measured
    assert out.loc["2024-03-14", "measured"] == pytest.approx(400.0 * 24)  # Wh
    assert out.loc["2024-03-14", "forecast"] == pytest.approx(400.0 * 24, rel=0.01)  # as before
    assert out.loc["2024-03-15", "measured"] / out.loc["2024-03-15", "forecast"] == pytest.approx(
        2.0, rel=0.01
    )
    assert day_energies(load, days[:1], pd.Timedelta(minutes=15), "UTC").empty  # and an empty frame is one
    nothing = day_energies(pd.Series(dtype=float), days, pd.Timedelta(minutes=15), "UTC")  # no grid meter
    assert nothing.empty and isinstance(nothing.index, pd.DatetimeIndex)
