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
from typing import NamedTuple

import numpy as np


class Future(NamedTuple):
    """Another future of a plan (``PlanRequest.futures``): its share of the outcomes, its PV and
    (None: the plan's) load per slot."""

    weight: float
    pv_w: Sequence[float]
    load_w: Sequence[float] | None = None


FUTURES = 5  # the plan and four other futures, each standing for a fifth of the outcomes
MIN_DAYS = 5  # fewer past days tell no spread
PV_BOUNDS = (0.0, 3.0)
LOAD_BOUNDS = (0.5, 2.0)


def day_factors(
    pv_measured_wh: Sequence[float],
    pv_forecast_wh: Sequence[float],
    load_measured_wh: Sequence[float],
    load_forecast_wh: Sequence[float],
    min_days: int = MIN_DAYS,
) -> np.ndarray | None:
    """``(FUTURES, 2)``: the PV and the load factor of each future, from the days whose four
    energies are known and whose forecasts are above 0 (the caller drops days too dull to judge).
    Ordered from the future that had to buy least to the one that had to buy most; the middle one
    is the plan's own. None with fewer than ``min_days`` days."""
    days = (pv_measured_wh, pv_forecast_wh, load_measured_wh, load_forecast_wh)
    pm, pf, lm, lf = (np.asarray(x, dtype=float) for x in days)
    ok = np.isfinite(pm) & np.isfinite(pf) & np.isfinite(lm) & np.isfinite(lf) & (pf > 0) & (lf > 0)
    if ok.sum() < max(min_days, FUTURES):
        return None
    pm, pf, lm, lf = pm[ok], pf[ok], lm[ok], lf[ok]
    rp, rl = pm / pf, lm / lf
    if np.median(rp) <= 0 or np.median(rl) <= 0:
        return None
    deficit = (lm - np.median(rl) * lf) - (pm - np.median(rp) * pf)
    groups = np.array_split(np.argsort(deficit, kind="stable"), FUTURES)
    pv = np.clip([rp[g].mean() / rp.mean() for g in groups], *PV_BOUNDS)
    load = np.clip([rl[g].mean() / rl.mean() for g in groups], *LOAD_BOUNDS)
    return np.column_stack((pv, load))


def futures(
    pv_w: np.ndarray,
    load_w: np.ndarray,
    factors: np.ndarray,
    pv_fade: np.ndarray,
    load_fade: np.ndarray,
    peak_w: float,
    fixed_load_w: np.ndarray | float = 0.0,
) -> tuple[np.ndarray, np.ndarray, tuple[Future, ...]]:
    """(the plan's PV, the plan's load, the other futures) from the forecasts and ``day_factors``.

    A future's distance from the forecast grows with the lead time, ``1 − fade[t]`` for slot t:
    the first slot is what was just measured (the intraday corrections, which slot t keeps
    ``fade[t]`` of), so the forecasts' error is small now and reaches the spread of whole days
    only as that fades. PV is capped at the arrays' ``peak_w``; ``fixed_load_w`` (a heat pump's
    expected power, say) is added to every future's load unscaled."""
    pv = np.asarray(pv_w, dtype=float)
    load = np.asarray(load_w, dtype=float)
    grow_pv = 1.0 - np.asarray(pv_fade, dtype=float)[: len(pv)]
    grow_load = 1.0 - np.asarray(load_fade, dtype=float)[: len(load)]
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
