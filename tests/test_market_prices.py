from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from wattwerk.market.prices import PriceSeries
from wattwerk.market.smard import read_smard_csv

T0 = datetime(2024, 6, 1, 22, 0, tzinfo=UTC)


def test_from_points_leaves_gaps_visible():
    s = PriceSeries.from_points([(T0, 0.1), (T0 + timedelta(hours=2), 0.3)], 60)
    assert len(s) == 3
    assert np.isnan(s.values[1])
    assert not s.complete()
    assert s.at(T0 + timedelta(minutes=150)) == pytest.approx(0.3)
    assert np.isnan(s.at(T0 - timedelta(minutes=1)))


def test_off_grid_point_is_rejected():
    with pytest.raises(ValueError, match="grid"):
        PriceSeries.from_points([(T0, 0.1), (T0 + timedelta(minutes=20), 0.2)], 15)


def test_resample_fine_repeats_and_coarse_averages():
    s = PriceSeries(T0, 60, [0.1, 0.2])
    q = s.resample(15)
    assert q.values.tolist() == [0.1] * 4 + [0.2] * 4
    back = PriceSeries(T0 + timedelta(minutes=15), 15, np.arange(9, dtype=float)).resample(60)
    # the first three quarters lie before the first full hour and are dropped
    assert back.start == T0 + timedelta(hours=1)
    assert back.values.tolist() == [pytest.approx(np.mean([3, 4, 5, 6]))]


def test_merge_newer_wins_and_extends():
    old = PriceSeries(T0, 60, [1.0, 2.0, 3.0])
    new = PriceSeries(T0 + timedelta(hours=2), 60, [30.0, 40.0])
    m = old.merge(new)
    assert m.values.tolist() == [1.0, 2.0, 30.0, 40.0]


def test_window_pads_with_nan_and_json_round_trip():
    s = PriceSeries(T0, 15, [0.1, -0.05, 0.2])
    w = s.window(T0 - timedelta(minutes=15), T0 + timedelta(minutes=60))
    assert len(w) == 5 and np.isnan(w.values[0]) and np.isnan(w.values[-1])
    back = PriceSeries.from_json(w.to_json())
    assert back.start == w.start and np.allclose(back.values, w.values, equal_nan=True)


def test_smard_year_parses_with_dst(shared_data):
    s = read_smard_csv(shared_data / "real" / "prices_de_lu_2024_hourly_smard.csv")
    assert s.slot_minutes == 60 and s.complete()
    # 2024 is a leap year: 366 days × 24 h, DST days included (23 h + 25 h)
    assert len(s) == 8784
    assert s.start == datetime(2023, 12, 31, 23, tzinfo=UTC)
    # SOURCES.md: 27.10.2024 02:00 appears twice, 82.23 (CEST) then 80.43 (CET) €/MWh
    assert s.at(datetime(2024, 10, 27, 0, tzinfo=UTC)) == pytest.approx(0.08223)
    assert s.at(datetime(2024, 10, 27, 1, tzinfo=UTC)) == pytest.approx(0.08043)
    assert s.values.min() == pytest.approx(-0.13545)
    assert s.values.max() == pytest.approx(0.93628)
    assert int((s.values < 0).sum()) == 457


def test_smard_unknown_zone_names_columns(shared_data):
    with pytest.raises(ValueError, match="Belgien"):
        read_smard_csv(shared_data / "real" / "prices_de_lu_2024_hourly_smard.csv", zone="Atlantis")


def test_day_ahead_prices_known_only_after_publication():
    from wattwerk.market.dayahead import known_prices, known_until

    before = datetime(2024, 6, 12, 10, 0, tzinfo=UTC)  # 12:00 CEST: tomorrow not yet out
    after = datetime(2024, 6, 12, 11, 5, tzinfo=UTC)  # 13:05 CEST
    assert known_until(before) == datetime(2024, 6, 12, 22, tzinfo=UTC)
    assert known_until(after) == datetime(2024, 6, 13, 22, tzinfo=UTC)
    # winter: CET, and across the DST change the local day is 23 or 25 h long
    assert known_until(datetime(2024, 10, 26, 12, 30, tzinfo=UTC)) == datetime(2024, 10, 27, 23, tzinfo=UTC)
    s = PriceSeries(datetime(2024, 6, 11, 22, tzinfo=UTC), 60, np.arange(72, dtype=float))
    k = known_prices(s, after)
    assert k.start == datetime(2024, 6, 12, 11, tzinfo=UTC) and k.end == datetime(2024, 6, 13, 22, tzinfo=UTC)
    assert k.complete()
