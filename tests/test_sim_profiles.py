"""Profiles behind the simulator: series lookup, TRY weather, BDEW household load, the measured CSV."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from wattwerk.sim import HouseParams, Location, PVParams, SiteParams, SiteSim
from wattwerk.sim.profiles import bdew_household, csv_column
from wattwerk.sim.series import YearlySeries
from wattwerk.sim.weather import nearest_try_region, try_rows, try_stations, try_table, weather_at

CSV = "real/household_load_pv_fr_48.83N_6.86E_2024-02-28_2025-02-27_30min.csv"
FR = Location(latitude=48.83, longitude=6.86, altitude_m=250.0, timezone="Europe/Paris")


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_yearly_series_interpolates_and_crosses_years() -> None:
    calls = []

    def hours_since_epoch(index: pd.DatetimeIndex) -> np.ndarray:
        calls.append(index[0])
        return index.as_unit("s").asi8 / 3600.0

    s = YearlySeries(hours_since_epoch, 3600, 1800.0)
    for t in (
        ts(2025, 3, 1, 12, 10),
        ts(2025, 12, 31, 23, 59),
        ts(2026, 1, 1, 0, 1),
        ts(2024, 2, 29, 7),
        ts(2026, 1, 9),
    ):
        assert s.at(t) == pytest.approx(t / 3600.0, abs=1e-9)
    assert len(calls) == 3  # 2025 once (its chunk reaches a little into 2026), 2024, 2026
    held = YearlySeries(hours_since_epoch, 3600, 0.0, hold=True)
    assert held.at(ts(2025, 5, 5, 10, 59)) == pytest.approx(ts(2025, 5, 5, 10) / 3600.0)


def test_try_table_and_calendar_mapping() -> None:
    table = try_table(12)
    assert len(table) == 8760
    assert 8.0 < table["temp_air"].mean() < 13.0  # Mannheim: a mild German climate
    assert (table["dhi"] <= table["ghi"]).all()
    # 00:30 UTC on 1 January is 01:30 CET: the hour ending at 02, the second row of the year
    assert try_rows(pd.DatetimeIndex([pd.Timestamp("2025-01-01 00:30", tz="UTC")]))[0] == 1
    leap = pd.DatetimeIndex(["2024-02-29 11:30", "2025-02-28 11:30"]).tz_localize("UTC")
    assert try_rows(leap)[0] == try_rows(leap)[1]
    noon = pd.date_range("2025-06-21 11:30", periods=1, tz="UTC")
    midnight = pd.date_range("2025-06-21 23:30", periods=1, tz="UTC")
    assert weather_at(12, noon)["ghi"].iloc[0] > 0 and weather_at(12, midnight)["ghi"].iloc[0] == 0
    with pytest.raises(ValueError, match=r"1\.\.15"):
        try_table(16)


def test_bdew_household_integrates_to_the_annual_energy() -> None:
    index = pd.date_range("2025-01-01 00:07:30", "2025-12-31 23:59", freq="15min", tz="UTC")
    load = bdew_household(4000.0, "Europe/Berlin")(index)
    assert load.sum() * 0.25 / 1000 == pytest.approx(4000.0, rel=0.01)
    assert load.min() > 0
    by_hour = pd.Series(load, index=index.tz_convert("Europe/Berlin")).groupby(lambda t: t.hour).mean()
    assert by_hour[19] > 1.5 * by_hour[3]  # evening peak over the night's base load
    winter = load[index.month == 1].mean()
    summer = load[index.month == 7].mean()
    assert winter > summer  # the dynamic H25 profile is higher in winter


def test_house_follows_the_measured_csv(shared_data) -> None:
    path = shared_data / CSV
    raw = pd.read_csv(path, parse_dates=["timestamp_utc"]).set_index("timestamp_utc")["load_w"]
    sim = SiteSim(
        SiteParams(
            location=FR,
            house=HouseParams(csv_path=path),
            pv=(),
            battery=None,
            evs=(),
            heat_pump=None,
            rod=None,
        ),
        datetime(2024, 6, 10, tzinfo=UTC),
    )
    means = []
    for _ in range(2 * 48):  # 30-minute means of 60-s steps
        e0 = sim.house.energy
        sim.run(1800, 60)
        means.append((sim.house.energy - e0) * 2)
    measured = raw["2024-06-10":"2024-06-11"].to_numpy()
    assert not np.isnan(measured).any()
    assert np.asarray(means) == pytest.approx(measured, rel=1e-9, abs=1e-6)  # each interval's energy kept


def test_measured_load_maps_onto_other_years_and_fills_gaps(shared_data) -> None:
    path = shared_data / CSV
    build = csv_column(path, "load_w")
    s2024 = YearlySeries(build, 1800)
    s2027 = YearlySeries(build, 1800)
    assert s2027.at(ts(2027, 6, 10, 12, 15)) == pytest.approx(s2024.at(ts(2024, 6, 10, 12, 15)))
    assert s2027.at(ts(2027, 1, 20, 18, 15)) == pytest.approx(s2024.at(ts(2025, 1, 20, 18, 15)))
    raw = pd.read_csv(path, parse_dates=["timestamp_utc"]).set_index("timestamp_utc")["load_w"]
    gaps = raw[raw.isna()]
    gaps = gaps[gaps.index > pd.Timestamp("2024-04-01", tz="UTC")]
    assert len(gaps) > 0
    t = gaps.index[0]
    before = raw[:t].dropna().iloc[-1]
    after = raw[t:].dropna().iloc[0]
    value = s2024.at((t + pd.Timedelta(minutes=15)).timestamp())
    assert np.isfinite(value)
    assert min(before, after) - 1e-6 <= value <= max(before, after) + 1e-6


def test_measured_pv_is_zero_at_night_and_matches_by_day(shared_data) -> None:
    path = shared_data / CSV
    pv = PVParams(source="csv", csv_path=path)
    sim = SiteSim(
        SiteParams(location=FR, pv=(pv,), battery=None, evs=(), heat_pump=None, rod=None),
        datetime(2024, 7, 1, tzinfo=UTC),
    )
    night = []
    for _ in range(24 * 60):
        sim.step(60)
        if sim.now.hour in (0, 1, 2, 22, 23):
            night.append(sim.pv[0].power)
    assert max(night) == 0.0
    raw = pd.read_csv(path, parse_dates=["timestamp_utc"]).set_index("timestamp_utc")["pv_w"]
    day = raw["2024-07-01"].fillna(0).sum() * 0.5
    assert day > 5000  # a real summer day in the file
    assert sim.pv[0].energy == pytest.approx(day, rel=0.1)


def test_default_site_needs_no_shared_data() -> None:
    params = SiteParams()
    assert params.house.csv_path is None and all(p.source == "try" for p in params.pv)
    sim = SiteSim(params, datetime(2025, 1, 6, tzinfo=UTC) + timedelta(hours=17))
    sim.run(3600, 60)
    assert sim.house.power > 0


def test_nearest_try_region_from_the_station_positions() -> None:
    stations = try_stations()
    assert len(stations) == 15
    lat, lon, alt = stations[12]
    assert nearest_try_region(lat, lon) == 12  # a station is nearest to itself
    assert 49 < lat < 50 and 8 < lon < 9 and alt < 200  # Mannheim
    assert nearest_try_region(52.52, 13.40) == 4  # Berlin: Potsdam
    assert nearest_try_region(47.99, 7.85) == 12  # Freiburg: the upper Rhine, not the Swabian Alb
