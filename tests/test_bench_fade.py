"""The benchmark planner's fitted intraday fade (bench/year/fade.py): past data only."""

import numpy as np
import pytest

from wattwerk.bench.year.fade import FadeRecord
from wattwerk.forecast.pv import fixed_fade

DAY, HORIZON = 8, 4  # a small "day" of 8 slots keeps the test quick
LEARN = np.ones(40 * DAY, bool)


def record_days(rec: FadeRecord, days: int, rng: np.random.Generator) -> None:
    """Forecasts of 1 kW whose measured PV keeps 0.9 of the deviation seen at its own slot and 0.6
    of the one seen a slot before (so leads 0, 1, 2 keep 0.9, 0.6, 0); every 7th slot unmeasured."""
    factor = 1.0 + rng.normal(0.0, 0.3, days * DAY)
    for i, f in enumerate(factor):
        rec.record(i, float(f), np.full(HORIZON, 1000.0))
        before = factor[i - 1] - 1.0 if i else 0.0
        if i % 7 != 3:
            rec.add_measured(i, 1000.0 + 1000.0 * (0.9 * (f - 1.0) + 0.6 * before))


def test_the_fade_is_fitted_once_a_day_on_past_days_and_falls_back_before():
    fallback = fixed_fade(0.85, HORIZON)
    rec = FadeRecord(40 * DAY, HORIZON, fallback, LEARN, days=28, slots_per_day=DAY, min_days=7)
    assert rec.fade(3 * DAY) is fallback  # too few days recorded
    rng = np.random.default_rng(3)
    record_days(rec, 30, rng)
    fade = rec.fade(30 * DAY)
    assert fade == pytest.approx([0.9, 0.6, 0.0, 0.0], abs=0.08)  # as kept on the days before
    # a poisoned future (today's and later measurements) changes nothing today ...
    rec.measured[30 * DAY :] = 1e6
    assert rec.fade(30 * DAY + 5) is fade
    # ... and the fit itself never reads them: refitting for the same day gives the same
    again = FadeRecord(40 * DAY, HORIZON, fallback, LEARN, days=28, slots_per_day=DAY, min_days=7)
    again.base, again.factor, again.measured = rec.base.copy(), rec.factor.copy(), rec.measured.copy()
    assert again.fade(30 * DAY) == pytest.approx(fade)


def test_measurements_add_up_per_slot():
    rec = FadeRecord(10, HORIZON, fixed_fade(0.85, HORIZON), np.ones(10, bool))
    assert np.isnan(rec.measured[2])
    rec.add_measured(2, 100.0)
    rec.add_measured(2, 50.0)
    assert rec.measured[2] == 150.0


def test_only_the_marked_slots_teach_the_fade():
    """Slots with a recorded forecast (``learn`` False) say nothing about the week's-mean one."""
    fallback = fixed_fade(0.85, HORIZON)
    rng = np.random.default_rng(4)
    learn = np.zeros(40 * DAY, bool)
    rec = FadeRecord(40 * DAY, HORIZON, fallback, learn, days=28, slots_per_day=DAY, min_days=7)
    record_days(rec, 30, rng)
    assert rec.fade(30 * DAY) == pytest.approx(fallback)  # nothing to learn from
    learn[:] = True
    rec._day = -1
    assert rec.fade(30 * DAY) == pytest.approx([0.9, 0.6, 0.0, 0.0], abs=0.08)
