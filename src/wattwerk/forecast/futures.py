"""The planner's other futures: PV and house load as they strayed from their forecasts together on
the site's own past days.

A plan is two-stage (``PlanRequest.futures``): what is decided now must suit every future, the rest
of each adapts to its own. The futures discretise how the past days went. Each day gives the
energy the site had to buy more than its forecasts said: the house load above its forecast plus
the PV below its forecast, each against its median ratio (Wh, so a kWh of load and a kWh of PV
count alike). The days are ranked by it and cut into ``FUTURES`` equal groups; each group is a
future with its days' mean PV and load ratios, over the mean of all days, so the futures average
to the forecast. The PV and the load errors keep the joint distribution the site saw, and a
future costs one copy of the LP rather than one per pair of a PV and a load future (session 6:
crossed, 3 × 3 copies, the LP three times larger).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import NamedTuple

import numpy as np


class Future(NamedTuple):
    """Another future of a plan (``PlanRequest.futures``): its share of the outcomes, its PV and
    (None: the plan's) load per slot."""

    weight: float
    pv_w: Sequence[float]
    load_w: Sequence[float] | None = None


FUTURES = 5  # the plan and four other futures, each standing for a fifth of the outcomes
FUTURE_DAYS = 28  # the past days the futures are drawn from
MIN_DAYS = 5  # fewer past days tell no spread
PV_BOUNDS = (0.0, 3.0)
LOAD_BOUNDS = (0.5, 2.0)
MIN_PAIRS = 10  # fewer pairs of consecutive days tell no persistence


def deficits(
    pv_measured_wh: Sequence[float],
    pv_forecast_wh: Sequence[float],
    load_measured_wh: Sequence[float],
    load_forecast_wh: Sequence[float],
) -> np.ndarray:
    """Per day, the Wh the site had to buy more than its forecasts said: the house load above its
    forecast plus the PV below its forecast, each against its median ratio over the days. NaN for a
    day without all four energies or with a forecast of 0 (the caller drops days too dull to
    judge)."""
    days = (pv_measured_wh, pv_forecast_wh, load_measured_wh, load_forecast_wh)
    pm, pf, lm, lf = (np.asarray(x, dtype=float) for x in days)
    ok = np.isfinite(pm) & np.isfinite(pf) & np.isfinite(lm) & np.isfinite(lf) & (pf > 0) & (lf > 0)
    out = np.full(len(pm), np.nan)
    if not ok.any():
        return out
    rp, rl = np.median(pm[ok] / pf[ok]), np.median(lm[ok] / lf[ok])
    out[ok] = (lm[ok] - rl * lf[ok]) - (pm[ok] - rp * pf[ok])
    return out


def day_factors(
    pv_measured_wh: Sequence[float],
    pv_forecast_wh: Sequence[float],
    load_measured_wh: Sequence[float],
    load_forecast_wh: Sequence[float],
    min_days: int = MIN_DAYS,
) -> np.ndarray | None:
    """``(FUTURES, 2)``: the PV and the load factor of each future, from the days ``deficits``
    can judge. Ordered from the future that had to buy least to the one that had to buy most; the
    middle one is the plan's own. None with fewer than ``min_days`` days."""
    deficit = deficits(pv_measured_wh, pv_forecast_wh, load_measured_wh, load_forecast_wh)
    ok = np.isfinite(deficit)
    if ok.sum() < max(min_days, FUTURES):
        return None
    days = (pv_measured_wh, pv_forecast_wh, load_measured_wh, load_forecast_wh)
    pm, pf, lm, lf = (np.asarray(x, dtype=float)[ok] for x in days)
    rp, rl = pm / pf, lm / lf
    if np.median(rp) <= 0 or np.median(rl) <= 0:
        return None
    groups = np.array_split(np.argsort(deficit[ok], kind="stable"), FUTURES)
    pv = np.clip([rp[g].mean() / rp.mean() for g in groups], *PV_BOUNDS)
    load = np.clip([rl[g].mean() / rl.mean() for g in groups], *LOAD_BOUNDS)
    return np.column_stack((pv, load))


def persistence(deficit: Sequence[float], dates: Sequence[date], min_pairs: int = MIN_PAIRS) -> float:
    """How much of a day's deviation the next day keeps: the correlation of ``deficits`` on
    consecutive ``dates``, bounded 0-1. 1 (each future strays alike over the whole horizon) with
    fewer than ``min_pairs`` pairs of consecutive days."""
    by_day = {d: float(x) for d, x in zip(dates, deficit, strict=True) if np.isfinite(x)}
    pairs = [(x, by_day[d + timedelta(days=1)]) for d, x in by_day.items() if d + timedelta(days=1) in by_day]
    if len(pairs) < min_pairs:
        return 1.0
    a, b = np.array(pairs).T
    if a.std() == 0 or b.std() == 0:
        return 1.0
    return float(np.clip(np.corrcoef(a, b)[0, 1], 0.0, 1.0))


def futures(
    pv_w: np.ndarray,
    load_w: np.ndarray,
    factors: np.ndarray,
    pv_fade: np.ndarray,
    load_fade: np.ndarray,
    peak_w: float,
    fixed_load_w: np.ndarray | float = 0.0,
    persist: float = 1.0,
    day_slots: int | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[Future, ...]]:
    """(the plan's PV, the plan's load, the other futures) from the forecasts and ``day_factors``.

    A future's distance from the forecast grows with the lead time, ``1 − fade[t]`` for slot t:
    the first slot is what was just measured (the intraday corrections, which slot t keeps
    ``fade[t]`` of), so the forecasts' error is small now and reaches the spread of whole days
    only as that fades. PV is capped at the arrays' ``peak_w``; ``fixed_load_w`` (a heat pump's
    expected power, say) is added to every future's load unscaled. The futures stand for days: from
    slot ``day_slots`` on (a day ahead) a future keeps ``persist`` of its deviation (``persistence``:
    a dull day is followed by a dull day only as often as the site's past says)."""
    pv = np.asarray(pv_w, dtype=float)
    load = np.asarray(load_w, dtype=float)
    grow_pv = 1.0 - np.asarray(pv_fade, dtype=float)[: len(pv)]
    grow_load = 1.0 - np.asarray(load_fade, dtype=float)[: len(load)]
    if day_slots is not None:
        keep = np.where(np.arange(len(pv)) >= day_slots, persist, 1.0)
        grow_pv, grow_load = grow_pv * keep, grow_load * keep
    each = [
        (
            np.minimum(pv * (1.0 + (a - 1.0) * grow_pv), peak_w),
            load * (1.0 + (b - 1.0) * grow_load) + fixed_load_w,
        )
        for a, b in factors
    ]
    mid, weight = len(each) // 2, 1.0 / len(each)
    others = tuple(Future(weight, p, q) for j, (p, q) in enumerate(each) if j != mid)
    return each[mid][0], each[mid][1], others
