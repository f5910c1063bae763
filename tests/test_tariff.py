from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from wattwerk.market.prices import PriceSeries
from wattwerk.market.tariff import (
    Dynamic,
    FeedIn,
    Fixed,
    Tariff,
    TimeOfUse,
    Window,
    module3_window_fee,
    slot_index,
)

HT, ST, NT = 0.1500, 0.0900, 0.0300
MODULE3 = module3_window_fee(HT, ST, NT)


def local_day(day: str, tz: str = "Europe/Berlin") -> tuple[datetime, int]:
    """UTC start and number of 15-min slots of a local calendar day."""
    import pandas as pd

    a = pd.Timestamp(day, tz=tz)
    b = a + pd.DateOffset(days=1)
    return a.tz_convert("UTC").to_pydatetime(), int((b - a) / pd.Timedelta(minutes=15))


@pytest.mark.parametrize(
    ("day", "slots", "low_slots"),
    [
        ("2024-06-12", 96, 24),  # 00:00-06:00 = 6 h
        ("2024-03-31", 92, 20),  # spring forward: 02:00-03:00 does not exist
        ("2024-10-27", 100, 28),  # fall back: 02:00-03:00 happens twice
    ],
)
def test_module3_windows_follow_local_time_across_dst(day, slots, low_slots):
    start, n = local_day(day)
    assert n == slots
    fee = MODULE3.price(slot_index(start, n, 15))
    assert int((fee == NT).sum()) == low_slots
    assert int((fee == HT).sum()) == 16  # 17:00-21:00 local, every day
    assert int((fee == ST).sum()) == n - low_slots - 16
    # the first slot of the local day is 00:00 local: low rate; 17:00 local: high rate
    assert fee[0] == NT
    idx = slot_index(start, n, 15).tz_convert("Europe/Berlin")
    assert fee[list(idx.hour).index(17)] == HT


def test_module3_outside_its_months_is_standard_all_day():
    fee = module3_window_fee(HT, ST, NT, months=(1, 2, 3, 10, 11, 12))
    start, n = local_day("2024-07-01")
    assert set(fee.price(slot_index(start, n, 15)).tolist()) == {ST}


def test_tariff_adds_fees_then_vat():
    start = datetime(2024, 6, 12, 10, tzinfo=UTC)
    spot = PriceSeries(start, 60, [0.05, -0.10])
    tariff = Tariff(
        Dynamic("energy", spot, markup=0.02),
        (Fixed("electricity_tax", 0.0205), Fixed("levies", 0.0173), MODULE3),
        vat=0.19,
    )
    idx = slot_index(start, 8, 15)
    parts = tariff.breakdown(idx)
    net = np.array([0.05] * 4 + [-0.10] * 4) + 0.02 + 0.0205 + 0.0173 + ST  # 12:00/13:00 local: standard
    assert np.allclose(parts["vat"], net * 0.19)
    assert np.allclose(parts["total"], net * 1.19)
    assert np.allclose(tariff.price(idx), net * 1.19)
    # a deeply negative spot price can make the whole buy price negative
    assert (tariff.price(idx)[4:] < 0).sum() == 0  # here fees keep it positive...
    deep = Tariff(Dynamic("energy", spot.scaled(10.0)), (Fixed("fee", 0.2),), vat=0.19)
    assert (deep.price(idx)[4:] < 0).all()  # ...here not: -1.00 + 0.20


def test_dynamic_outside_known_prices_is_nan():
    start = datetime(2024, 6, 12, 10, tzinfo=UTC)
    spot = PriceSeries(start, 60, [0.05])
    out = Dynamic("energy", spot).price(slot_index(start - timedelta(hours=1), 3, 60))
    assert np.isnan(out[0]) and out[1] == 0.05 and np.isnan(out[2])


def test_time_of_use_weekday_windows():
    tou = TimeOfUse(
        "energy", 0.30, (Window("22:00", "06:00", 0.22), Window("06:00", "22:00", 0.28, weekdays=(6, 7)))
    )
    start, _ = local_day("2024-06-15")  # a Saturday
    sat = tou.price(slot_index(start, 24, 60))
    assert (
        sat[:6].tolist() == [0.22] * 6
        and sat[6:22].tolist() == [0.28] * 16
        and sat[22:].tolist() == [0.22] * 2
    )
    mon, _ = local_day("2024-06-17")
    assert tou.price(slot_index(mon, 24, 60))[12] == 0.30


def test_feed_in_fixed_and_market_value_with_negative_rule():
    start = datetime(2024, 6, 12, 10, tzinfo=UTC)
    idx = slot_index(start, 3, 60)
    assert FeedIn(0.0811).price(idx).tolist() == [0.0811] * 3
    spot = PriceSeries(start, 60, [0.05, -0.01, 0.02])
    eeg = FeedIn(0.0811, spot=spot, zero_when_negative=True).price(idx)
    assert eeg.tolist() == [0.0811, 0.0, 0.0811]
    market = FeedIn(spot=spot, markup=-0.004).price(idx)
    assert np.allclose(market, [0.046, -0.014, 0.016])


def test_tariff_series_is_a_price_series():
    t = Tariff(Fixed("energy", 0.25), (), vat=0.19)
    s = t.series(datetime(2024, 1, 1, tzinfo=UTC), 4, 15)
    assert s.slot_minutes == 15 and np.allclose(s.values, 0.2975)
