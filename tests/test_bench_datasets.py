"""The second household data set of ``wattwerk bench control`` (issue 18): its extraction, its price
reader and ``--year konstanz-2016``, on slices of a few days (no year is simulated here)."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wattwerk.bench import control as bench
from wattwerk.bench.year.datasets import BENCH_DATA, DATASETS
from wattwerk.bench.year.world import SLOT_S, STEP_S, build_year, default_setup
from wattwerk.market.energinet import is_elspot_csv, read_elspot_csv
from wattwerk.sim.site import SiteSim

ROOT = Path(__file__).resolve().parents[1]


def _extract_module():
    spec = importlib.util.spec_from_file_location(
        "extract_konstanz_2016", ROOT / "bench" / "extract_konstanz_2016.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_counters_become_hourly_means_short_gaps_spread_long_gaps_left_empty() -> None:
    ex = _extract_module()
    idx = pd.date_range("2016-05-01", periods=12, freq="1h", tz="UTC")
    kwh = [0.0, 0.5, 1.5, np.nan, np.nan, 4.5, np.nan, np.nan, np.nan, np.nan, 10.5, 11.0]
    w = ex.hourly_energy(pd.Series(kwh, index=idx))
    assert w.iloc[0] == pytest.approx(500.0) and w.iloc[1] == pytest.approx(1000.0)
    # 3 kWh over the 3 hours from the reading at 02:00 to the one at 05:00: 1 kW each, energy kept
    assert w.iloc[2:5].tolist() == pytest.approx([1000.0] * 3)
    # 6 kWh over 5 hours is too long a gap to guess: nothing is invented
    assert w.iloc[5:10].isna().all()
    assert w.iloc[10] == pytest.approx(500.0)
    assert np.isnan(w.iloc[11])  # no reading after the last one


def test_elspot_reader_sorts_picks_its_area_and_keeps_a_missing_hour_missing(tmp_path: Path) -> None:
    rows = [
        "HourUTC,HourDK,PriceArea,SpotPriceDKK,SpotPriceEUR",
        "2016-03-01 03:00,2016-03-01 04:00,DE,300.0,40.5",
        "2016-03-01 03:00,2016-03-01 04:00,DK1,1.0,0.1",
        "2016-03-01 01:00,2016-03-01 02:00,DE,200.0,-12.25",
        "2016-03-01 00:00,2016-03-01 01:00,DE,100.0,20.0",
    ]
    path = tmp_path / "elspot.csv"
    path.write_text("\n".join(rows) + "\n")
    assert is_elspot_csv(path)
    s = read_elspot_csv(path)
    assert s.start == datetime(2016, 3, 1, tzinfo=UTC) and s.slot_minutes == 60
    assert s.values[[0, 1, 3]] == pytest.approx([0.020, -0.01225, 0.0405])  # €/MWh -> €/kWh
    assert np.isnan(s.values[2])  # 02:00 is not in the file
    with pytest.raises(ValueError, match="DE, DK1"):
        read_elspot_csv(path, area="SE3")
    path.write_text("\n".join([*rows, rows[1]]) + "\n")
    with pytest.raises(ValueError, match="twice"):
        read_elspot_csv(path)


def test_a_smard_file_is_not_taken_for_elspot(shared_data: Path) -> None:
    smard = next((shared_data / "real").glob("prices_de_lu_*_smard.csv"))
    assert not is_elspot_csv(smard)


def test_konstanz_files_cover_2016_with_prices_for_every_hour() -> None:
    ds = DATASETS["konstanz-2016"]
    assert ds.folder == BENCH_DATA / "konstanz-2016" and (ds.folder / "SOURCES.md").is_file()
    prices = read_elspot_csv(ds.price_files()[0])
    year = pd.date_range("2015-12-31 23:00", "2017-01-02 23:00", freq="1h", tz="UTC")
    at = ((year - pd.Timestamp(prices.start)).total_seconds() // 3600).astype(int)
    assert np.isfinite(prices.values[at]).all()
    house = pd.read_csv(ds.household_csv(), parse_dates=["timestamp_utc"]).set_index("timestamp_utc")
    y2016 = house.loc["2016"]
    assert (y2016[["load_w", "pv_w"]].dropna() >= 0).all().all()
    assert y2016["load_w"].notna().mean() > 0.98
    assert 2_000 < y2016["load_w"].sum() / 2000 < 3_500  # kWh: a small house (heat pump and car taken out)
    assert y2016["pv_w"].sum() / 2000 > 8_000 and y2016["pv_w"].max() < 10_000 / 1.1  # the 10 kWp array


def test_year_konstanz_sets_up_its_site_prices_and_replays_its_own_2016() -> None:
    setup = default_setup(2, "konstanz-2016", start=datetime(2016, 6, 6, 22, 0, tzinfo=UTC))
    assert (setup.latitude, setup.longitude, setup.timezone, setup.pv_kwp) == (
        47.66,
        9.18,
        "Europe/Berlin",
        10.0,
    )
    assert all(is_elspot_csv(p) for p in setup.price_files)
    year = build_year(setup)
    assert np.isfinite(year.buy).all() and np.isfinite(year.sell).all()
    # the simulator replays the file's own June 2016 (a file over three calendar years)
    sim = SiteSim(setup.site(), setup.start)
    noon = datetime(2016, 6, 7, 10, 0, tzinfo=UTC)
    want = year.history.loc[pd.Timestamp(noon), "pv_w"]
    assert want > 1000
    assert sim.pv[0].available.at(noon.timestamp() + 60) == pytest.approx(want)
    assert sim.house.profile.at(noon.timestamp() + 60) == pytest.approx(
        year.history.loc[pd.Timestamp(noon), "load_w"]
    )


def test_year_takes_a_name_or_a_file_and_refuses_neither(shared_data: Path, capsys) -> None:
    csv = next((shared_data / "real").glob("household_load_pv_*.csv"))
    assert default_setup(1, csv).year_csv == csv
    assert default_setup(1, "fr-2024").year_csv == csv
    args = bench_args(["--year", "no-such-set", "--days", "1"])
    assert bench.run(args) == 2
    assert "neither a file nor a data set (fr-2024, konstanz-2016)" in capsys.readouterr().err


def bench_args(argv: list[str]):
    import argparse

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def test_planner_runs_a_konstanz_day_within_limits() -> None:
    setup = default_setup(1, "konstanz-2016", start=datetime(2016, 3, 7, 23, 0, tzinfo=UTC))
    year = build_year(setup)
    sim, meter, law = bench.start(setup, "planner", year)
    for _ in range(86400 // STEP_S):
        bench.step(sim, meter, law)
    fig = bench.figures(sim, meter, year, law, 0.0)
    assert fig["plans"] == 86400 // SLOT_S and fig["plan_status"].get("optimal") == fig["plans"]
    assert fig["limit_violations"] == 0 and fig["bad_commands"] == 0
    assert abs(fig["balance_error_wh"]) < 1.0
    assert fig["pv_kwh"] > 0 and sim.t == (setup.start + timedelta(days=1)).timestamp()
