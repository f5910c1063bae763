"""The planner's other futures: PV and load errors of the past days, together (forecast.futures)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from wattwerk.forecast.futures import FUTURES, MIN_PAIRS, day_factors, deficits, futures, persistence
from wattwerk.forecast.pv import fixed_fade


def test_days_ranked_by_what_the_site_had_to_buy_more_make_the_futures():
    # ten days, forecasts 10 kWh of PV and 10 kWh of load each; load errors matter as much as PV's
    pv_ratio = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 1.5, 1.0, 1.0])
    load_ratio = np.array([1.0, 0.8, 1.2, 1.0, 1.0, 1.0, 1.0, 1.0, 1.4, 0.6])
    f = np.full(10, 10_000.0)
    factors = day_factors(pv_ratio * f, f, load_ratio * f, f)
    assert factors is not None and factors.shape == (FUTURES, 2)
    # bought least: the sunny day and the day the house drew 0.6; most: the dull day and 1.4
    np.testing.assert_allclose(factors[0], [(1.5 + 1.0) / 2, (1.0 + 0.6) / 2])
    np.testing.assert_allclose(factors[-1], [(0.5 + 1.0) / 2, (1.4 + 1.0) / 2])
    short = factors[:, 1] - factors[:, 0]  # load over PV, both forecast alike here
    assert (np.diff(short) >= 0).all()  # in order of what each had to buy more
    np.testing.assert_allclose(factors.mean(axis=0), [1.0, 1.0])  # equal groups: the forecast on average


def test_the_factors_are_relative_and_skip_what_cannot_be_judged():
    rng = np.random.default_rng(3)
    pv_m, load_m = rng.uniform(5_000, 15_000, 12), rng.uniform(8_000, 12_000, 12)
    pv_f, load_f = np.full(12, 10_000.0), np.full(12, 10_000.0)
    base = day_factors(pv_m, pv_f, load_m, load_f)
    assert base is not None
    # a forecast that runs 20 % low on every day moves no future: the factors are relative
    np.testing.assert_allclose(day_factors(pv_m, pv_f * 0.8, load_m, load_f * 0.8), base)
    # a day without a forecast or a value says nothing and is left out
    pv_f_gap, load_m_gap = np.append(pv_f, 0.0), np.append(load_m, np.nan)
    np.testing.assert_allclose(
        day_factors(np.append(pv_m, 1.0), pv_f_gap, np.append(load_m, 1.0), np.append(load_f, 1.0)), base
    )
    np.testing.assert_allclose(
        day_factors(np.append(pv_m, 1.0), np.append(pv_f, 1.0), load_m_gap, np.append(load_f, 1.0)), base
    )
    assert day_factors(pv_m[:4], pv_f[:4], load_m[:4], load_f[:4]) is None  # too few days to tell a spread
    assert day_factors(pv_m[:6], pv_f[:6], load_m[:6], load_f[:6], min_days=7) is None
    wild = day_factors(
        np.array([0.0, 0.0, 1.0, 30.0, 1.0]), np.ones(5), np.array([0.1, 1, 1, 1, 9.0]), np.ones(5)
    )
    assert wild is not None and wild[:, 0].max() == 3.0 and wild[:, 0].min() >= 0.0  # PV within 0..3
    assert wild[:, 1].min() >= 0.5 and wild[:, 1].max() <= 2.0  # load within 0.5..2


def test_futures_spread_with_lead_time_around_the_middle_one():
    n = 40
    pv, load = np.full(n, 4_000.0), np.full(n, 800.0)
    factors = np.array([[1.5, 0.5], [1.2, 0.8], [1.0, 1.1], [0.8, 1.2], [0.5, 1.5]])
    pv_fade, load_fade = fixed_fade(0.9, n), 0.7 ** np.arange(n)
    central_pv, central_load, others = futures(pv, load, factors, pv_fade, load_fade, 5_000.0, 300.0)
    assert [f.weight for f in others] == pytest.approx([1 / FUTURES] * (FUTURES - 1))
    # the plan's own future is the middle group's: the forecast now, 1.1 x the load later
    assert central_pv == pytest.approx(pv) and central_load[0] == pytest.approx(800.0 + 300.0)
    assert central_load[-1] == pytest.approx(800.0 * 1.1 + 300.0, rel=1e-3)
    hi, lo = others[0], others[-1]
    assert all(f.pv_w[0] == 4_000.0 and f.load_w[0] == 1_100.0 for f in others)  # now: what was measured
    assert hi.pv_w[1] == pytest.approx(4_000.0 * (1 + 0.5 * 0.1))  # PV strays as its correction fades
    assert lo.load_w[1] == pytest.approx(800.0 * (1 + 0.5 * 0.3) + 300.0)  # the load as its deviation does
    assert max(hi.pv_w) == 5_000.0  # 1.5 x 4 kW is above the arrays' peak
    assert lo.pv_w[-1] == pytest.approx(2_000.0, rel=0.02) and lo.load_w[-1] == pytest.approx(
        1_500.0, rel=1e-3
    )
    night = futures(np.zeros(10), np.full(10, 500.0), factors, fixed_fade(0.9, 10), 0.7 ** np.arange(10), 5e3)
    assert all((np.asarray(f.pv_w) == 0).all() for f in night[2])  # no PV stays no PV


def test_deficits_are_wh_bought_more_than_forecast_against_the_median_ratios():
    f = np.full(5, 10_000.0)
    pv_ratio, load_ratio = np.array([1.0, 1.0, 0.5, 1.0, 1.2]), np.array([1.0, 1.3, 1.0, 1.0, 1.0])
    d = deficits(pv_ratio * f, f, load_ratio * f, np.append(f[:4], 0.0))
    # medians 1.0: the busy evening bought 3 kWh more, the dull day 5 kWh; no load forecast: unjudged
    np.testing.assert_allclose(d[:4], [0.0, 3_000.0, 5_000.0, 0.0])
    assert np.isnan(d[4])


def test_persistence_is_how_much_of_a_day_s_deviation_the_next_day_keeps():
    rng = np.random.default_rng(7)
    days = [date(2024, 1, 1) + timedelta(days=k) for k in range(28)]
    weather = np.repeat(rng.normal(0.0, 1.0, 14), 2)  # each deviation lasts two days
    assert 0.3 < persistence(weather, days) < 0.8
    assert persistence(rng.normal(0.0, 1.0, 28), days) < 0.4  # days on their own keep little
    assert persistence(np.arange(28.0), days) == pytest.approx(1.0)  # a drift: all of it
    alternating = np.where(np.arange(28) % 2, 1.0, -1.0)
    assert persistence(alternating, days) == 0.0  # bounded: a day never predicts the opposite
    # only consecutive days pair: every other day missing leaves no pair, so no persistence is known
    gaps = np.where(np.arange(28) % 2, np.nan, weather)
    assert persistence(gaps, days) == 1.0
    assert persistence(weather[: MIN_PAIRS - 1], days[: MIN_PAIRS - 1]) == 1.0  # too few pairs


def test_a_day_ahead_a_future_keeps_its_persistence():
    n, day = 20, 8
    pv, load = np.full(n, 4_000.0), np.full(n, 800.0)
    factors = np.array([[1.5, 0.5], [1.2, 0.8], [1.0, 1.0], [0.8, 1.2], [0.5, 1.5]])
    no_fade = np.zeros(n)  # the whole deviation at once, to see the day boundary alone
    _, _, full = futures(pv, load, factors, no_fade, no_fade, 10_000.0)
    _, _, kept = futures(pv, load, factors, no_fade, no_fade, 10_000.0, persist=0.4, day_slots=day)
    for a, b in zip(full, kept, strict=True):  # the first day as before
        np.testing.assert_allclose(b.pv_w[:day], a.pv_w[:day])
        np.testing.assert_allclose(b.load_w[:day], a.load_w[:day])
    dull = kept[-1]  # a day ahead 0.4 of the deviation: PV 1 − 0.5 × 0.4, load 1 + 0.5 × 0.4
    np.testing.assert_allclose(dull.pv_w[day:], 4_000.0 * 0.8)
    np.testing.assert_allclose(dull.load_w[day:], 800.0 * 1.2)
