from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from wattwerk.forecast.history import read_history_csv
from wattwerk.forecast.monitor import daily_checks, performance_alert
from wattwerk.forecast.pv import (
    PVArray,
    array_power,
    correction_factor,
    daily_energy_wh,
    fit_fade,
    fixed_fade,
    forecast,
)
from wattwerk.forecast.weather import OpenMeteo, Site, irradiance_from_clouds, parse_open_meteo

DATA = Path(__file__).parent / "data"
SITE = Site(48.83, 6.86, 300, tz="Europe/Paris")
HOUSE = "real/household_load_pv_fr_48.83N_6.86E_2024-02-28_2025-02-27_30min.csv"


def recorded() -> dict:
    return json.loads((DATA / "open_meteo_forecast_48.83_6.86.json").read_text())


def clear_sky_weather(day: str) -> pd.DataFrame:
    index = pd.date_range(pd.Timestamp(day, tz=SITE.tz), periods=24, freq="1h").tz_convert("UTC")
    cs = SITE.location.get_clearsky(index + pd.Timedelta(minutes=30), model="ineichen")
    return pd.DataFrame(
        {
            "ghi": cs["ghi"].to_numpy(),
            "dni": cs["dni"].to_numpy(),
            "dhi": cs["dhi"].to_numpy(),
            "temp_air": 20.0,
            "wind_speed": 2.0,
        },
        index=index,
    )


def test_open_meteo_recorded_response_indexes_hours_by_their_start():
    payload = recorded()
    w = parse_open_meteo(payload)
    assert len(w) == 72
    # the value stamped 2024-06-10T00:00 is the mean of the hour before it
    assert w.index[0] == pd.Timestamp("2024-06-09T23:00", tz="UTC")
    assert w["ghi"].tolist() == payload["hourly"]["shortwave_radiation"]
    assert set(w.columns) >= {"ghi", "dni", "dhi", "temp_air", "wind_speed", "cloud_cover"}
    noon = w.loc["2024-06-10 11:00"]
    assert noon["ghi"] > 700 and noon["cloud_cover"] == 0


async def test_open_meteo_client_asks_for_utc_hourly_irradiance():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=recorded())

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        w = await OpenMeteo(SITE, days=3).fetch(client)
    params = seen[0].url.params
    assert params["timezone"] == "UTC" and "shortwave_radiation" in params["hourly"]
    assert params["latitude"] == "48.83" and len(w) == 72


def test_clear_sky_yield_matches_published_range_and_geometry():
    south = PVArray("south", 10_000, 30, 180)
    june = daily_energy_wh(array_power(SITE, south, clear_sky_weather("2024-06-21")), SITE.tz)
    dec = daily_energy_wh(array_power(SITE, south, clear_sky_weather("2024-12-21")), SITE.tz)
    # clear summer days at 49° N give 6-7.5 kWh per kWp on a 30° south roof, winter 2-4
    assert 60_000 < june.iloc[0] < 75_000
    assert 20_000 < dec.iloc[0] < 40_000
    weather = clear_sky_weather("2024-06-21")
    arrays = [PVArray("east", 5_000, 25, 90), PVArray("west", 5_000, 25, 270), south]
    f = forecast(SITE, arrays, weather)
    assert f["east"].idxmax() < f["south"].idxmax() < f["west"].idxmax()
    assert f["east"].sum() == pytest.approx(f["west"].sum(), rel=0.08)
    assert f["south"].max() <= 10_000 * 0.9 * 1.05  # never above STC after losses (cold cells: +5 %)
    assert (f["total"] - f[["east", "west", "south"]].sum(axis=1)).abs().max() < 1e-9


def test_inverter_clips_and_correction_scales():
    weather = clear_sky_weather("2024-06-21")
    clipped = array_power(SITE, PVArray("a", 10_000, 30, 180, inverter_w=6_000), weather)
    assert clipped.max() == pytest.approx(6_000)
    base = forecast(SITE, [PVArray("a", 10_000)], weather)
    assert np.allclose(forecast(SITE, [PVArray("a", 10_000)], weather, correction=0.8)["a"], base["a"] * 0.8)


def test_cloud_cover_gives_kasten_czeplak_irradiance():
    index = pd.date_range("2024-06-21 10:00", periods=3, freq="1h", tz="UTC")
    clear = SITE.location.get_clearsky(index + pd.Timedelta(minutes=30))["ghi"].to_numpy()
    irr = irradiance_from_clouds(SITE, index, np.array([0.0, 50.0, 100.0]))
    assert irr["ghi"].to_numpy() == pytest.approx(clear * np.array([1.0, 1 - 0.75 * 0.5**3.4, 0.25]))
    assert (irr["dni"] >= 0).all() and (irr["dhi"] > 0).all()
    # the recorded response's overcast day then forecasts far less than its clear day
    w = parse_open_meteo(recorded()).drop(columns=["ghi", "dni", "dhi"])
    days = daily_energy_wh(forecast(SITE, [PVArray("a", 5_000)], w)["total"], SITE.tz)
    assert days.loc[date(2024, 6, 12)] < 0.4 * days.loc[date(2024, 6, 10)]


def test_correction_factor_from_the_real_plant(shared_data):
    """The real plant's measured PV against a clear-sky model of a 5 kWp roof: bounded ratio."""
    pv = read_history_csv(shared_data / HOUSE)["pv_w"].fillna(0.0)
    days = pd.date_range("2024-06-01", periods=7, freq="D", tz=SITE.tz)
    measured = daily_energy_wh(
        pv[days[0].tz_convert("UTC") : days[-1].tz_convert("UTC") + pd.Timedelta("23h30min")], SITE.tz
    )
    modelled = pd.concat(
        [
            daily_energy_wh(
                array_power(SITE, PVArray("roof", 5_000), clear_sky_weather(str(d.date()))), SITE.tz
            )
            for d in days
        ]
    )
    c = correction_factor(measured, modelled, bounds=(0.5, 1.2))
    assert c.days == 7
    assert c.ratio == pytest.approx(measured.sum() / modelled.sum())
    assert c.ratio < 1.0  # real June days are not all clear
    assert c.factor == pytest.approx(min(max(c.ratio, 0.5), 1.2))


def test_correction_factor_bounds_and_dull_days():
    modelled = pd.Series([20_000.0, 20_000.0, 500.0, 20_000.0])
    assert correction_factor(modelled * 0.9, modelled).factor == pytest.approx(0.9)
    low = correction_factor(modelled * 0.3, modelled)
    assert low.factor == 0.6 and low.ratio == pytest.approx(0.3)
    measured = modelled * 0.9
    measured.iloc[2] = 5_000.0  # a dull day with a wild ratio is skipped
    c = correction_factor(measured, modelled, min_day_wh=2_000)
    assert c.days == 3 and c.factor == pytest.approx(0.9)
    assert [m / f for _, m, f in c.day_wh] == pytest.approx(
        [0.9, 0.9, 0.9]
    )  # the days it used: not the dull one
    assert [d for d, _, _ in c.day_wh] == [0, 1, 3]
    assert correction_factor(pd.Series(dtype=float), pd.Series(dtype=float)).factor == 1.0


def test_under_performance_alert_with_its_numbers():
    w = parse_open_meteo(recorded())  # as if measured irradiance
    expected = daily_energy_wh(array_power(SITE, PVArray("roof", 8_000), w), SITE.tz)
    checks = daily_checks(expected, expected * 0.97, min_expected_wh=3_000)
    assert [c.day for c in checks] == [date(2024, 6, 10), date(2024, 6, 11), date(2024, 6, 12)]
    assert not performance_alert(checks, 0.8).active
    faulty = expected * 0.55
    alert = performance_alert(daily_checks(expected, faulty, 3_000), 0.8, name="roof")
    assert alert.active and alert.ratio == pytest.approx(0.55)
    assert "UNDER-PERFORMING" in alert.message and "55%" in alert.message and "80%" in alert.message
    one_bad = expected.copy() * 0.95
    one_bad.iloc[1] *= 0.3
    assert not performance_alert(daily_checks(expected, one_bad, 3_000), 0.8).active
    assert not performance_alert(daily_checks(expected, faulty, 3_000)[:2], 0.8).active  # too few days


def test_forecaster_learns_a_derate_from_measured_days_and_applies_it():
    from wattwerk.forecast.pv import PVForecaster

    arrays = [PVArray("roof", 6_000)]
    past = pd.concat([clear_sky_weather(f"2024-06-{d:02d}") for d in range(14, 21)])
    truth = forecast(SITE, arrays, past)["total"] * 0.85  # a soiled plant
    truth.iloc[30:40] = np.nan  # a logger gap: that day is not judged
    fc = PVForecaster(SITE, arrays)
    c = fc.update(truth, past)
    assert c.factor == pytest.approx(0.85, rel=1e-6) and c.days == 6
    tomorrow = clear_sky_weather("2024-06-21")
    assert np.allclose(fc.forecast(tomorrow)["total"], forecast(SITE, arrays, tomorrow)["total"] * 0.85)


def test_hourly_forecast_onto_quarter_hour_slots():
    from wattwerk.forecast.slots import to_slots

    hourly = pd.Series(
        [0.0, 1000.0, 3000.0], index=pd.date_range("2024-06-21 04:00", periods=3, freq="1h", tz="UTC")
    )
    q = to_slots(hourly, hourly.index[0].to_pydatetime(), 14, 15, fill=0.0)
    assert q.tolist() == [0.0] * 4 + [1000.0] * 4 + [3000.0] * 4 + [0.0] * 2
    half = pd.Series(np.arange(8.0), index=pd.date_range("2024-06-21", periods=8, freq="30min", tz="UTC"))
    assert to_slots(half, half.index[0].to_pydatetime(), 4, 60).tolist() == [0.5, 2.5, 4.5, 6.5]


def test_forecaster_on_the_real_plant_judges_days_despite_empty_nights(shared_data):
    from wattwerk.forecast.pv import PVForecaster

    pv = read_history_csv(shared_data / HOUSE)["pv_w"]  # NaN at night: the logger records only output
    past = pd.concat([clear_sky_weather(f"2024-06-{d:02d}") for d in range(3, 10)])
    fc = PVForecaster(SITE, [PVArray("roof", 5_000)], bounds=(0.3, 1.5))
    c = fc.update(pv.resample("1h").mean(), past)
    assert c.days >= 5
    assert 0.3 < c.ratio < 1.2 and c.factor == pytest.approx(c.ratio)


def test_fit_fade_finds_how_long_a_deviation_persists_and_never_lets_it_grow():
    rng = np.random.default_rng(1)
    rows, leads = 400, 6
    truth = np.array([1.0, 0.9, 0.7, 0.5, 0.55, 0.2])  # lead 4 looks more persistent than lead 3
    deviation = rng.normal(0.0, 500.0, (rows, 1)) * np.ones((1, leads))
    error = deviation * truth + rng.normal(0.0, 50.0, (rows, leads))
    fade = fit_fade(deviation, error, fixed_fade(0.85, leads), min_rows=100)
    assert fade[:4] == pytest.approx(truth[:4], abs=0.03)
    assert fade[4] == pytest.approx(fade[3])  # non-increasing: lead 4 keeps at most lead 3's share
    assert fade[5] == pytest.approx(0.2, abs=0.03)
    # bounded: an error that overshoots the deviation (or opposes it) keeps 1 (or 0) of it
    assert fit_fade(deviation, 3 * deviation, fixed_fade(0.85, leads), 100) == pytest.approx(np.ones(leads))
    assert fit_fade(deviation, -deviation, fixed_fade(0.85, leads), 100) == pytest.approx(np.zeros(leads))


def test_fit_fade_keeps_the_fallback_with_too_few_rows_or_no_deviation():
    fallback = fixed_fade(0.85, 4)
    some = np.ones((10, 4))
    assert fit_fade(some, some, fallback, min_rows=11) is fallback
    none = np.zeros((50, 4))
    none[:, 0] = np.nan  # unmeasured rows are left out, not taken as 0 W
    assert fit_fade(none, np.ones((50, 4)), fallback, 10) == pytest.approx(fallback)
