"""The planner's other futures (forecast.futures): the spread of past days and the two futures."""

from __future__ import annotations

import numpy as np
import pytest

from wattwerk.forecast.futures import futures, spread_of_ratios


def test_spread_of_ratios_is_the_outer_sixths_over_the_median():
    ratios = [0.5, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3]  # median 1.0
    low, high = spread_of_ratios(ratios)
    assert (low, high) == pytest.approx((0.8, 1.2))  # the 2nd and 6th of 7: a sixth outside each
    assert spread_of_ratios([x * 0.5 for x in ratios]) == pytest.approx((low, high))  # relative to the median
    assert spread_of_ratios(ratios[:4]) is None  # fewer than 5 days
    assert spread_of_ratios([0.9] * 5) == pytest.approx((1.0, 1.0))  # no spread: the forecast alone
    wild = spread_of_ratios([0.01, 0.02, 1.0, 9.0, 10.0])
    assert wild is not None and wild[0] >= 0.0 and wild[1] == 3.0  # high bounded to 3


def test_futures_a_third_each_spreading_with_lead_time_capped_at_peak():
    pv = np.full(40, 4_000.0)
    (w_lo, lo), (w_hi, hi) = futures(pv, 0.5, 1.5, 0.9, cap=5_000.0)
    assert w_lo == w_hi == pytest.approx(1 / 3)
    assert lo[0] == hi[0] == 4_000.0  # now: what was just measured, the forecast
    assert lo[1] == pytest.approx(4_000.0 * (1 - 0.5 * 0.1))
    assert (np.diff(lo) < 0).all() and lo[-1] == pytest.approx(2_000.0, rel=0.02)  # towards 0.5 x
    assert hi.max() == 5_000.0 and hi[-1] == 5_000.0  # 1.5 x 4 kW is above the arrays' peak
    assert (lo <= pv).all() and (hi >= pv).all()
    night = futures(np.zeros(10), 0.5, 1.5, 0.9, 5_000.0)
    assert all((f == 0).all() for _, f in night)  # no PV stays no PV
    (_, light), (_, heavy) = futures(np.full(5, 800.0), 0.8, 1.3, 0.7)  # no cap
    assert heavy[-1] == pytest.approx(800.0 * (1 + 0.3 * (1 - 0.7**4)))
    assert light[-1] == pytest.approx(800.0 * (1 - 0.2 * (1 - 0.7**4)))
