"""Other PV futures for the planner's two-stage plan (``PlanRequest.pv_scenarios``): how far the
past days strayed from their forecast gives two more futures beside the forecast, a third of the
outcomes each."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def spread_of_ratios(ratios: Sequence[float]) -> tuple[float, float] | None:
    """How far a day strays from its forecast, as factors (low, high): the 1/6 and 5/6 quantiles of
    measured over forecast energy per day, over their median; low within [0, 1], high within
    [1, 3]. None with fewer than 5 days (too few to tell a spread) or a median of 0."""
    r = np.asarray(ratios, dtype=float)
    r = r[np.isfinite(r)]
    if len(r) < 5:
        return None
    med = float(np.median(r))
    if med <= 0:
        return None
    low, high = np.quantile(r, [1 / 6, 5 / 6]) / med
    return float(np.clip(low, 0.0, 1.0)), float(np.clip(high, 1.0, 3.0))


def futures(
    forecast: np.ndarray, low: float, high: float, decay: float, cap: float = math.inf
) -> tuple[tuple[float, np.ndarray], ...]:
    """Two other futures: the forecast scaled by ``low`` and by ``high`` (``spread_of_ratios``),
    at most ``cap`` (the PV arrays' peak).

    A third each: ``low`` and ``high`` are the 1/6 and 5/6 quantiles, so each stands for the third
    of outcomes below or above the middle third, which the forecast itself stands for. Their
    distance from the forecast grows with the lead time, ``1 − decay^t`` for slot t: the first slot
    is what was just measured (the intraday correction, fading by ``decay`` per slot), so the
    forecast's error is small now and reaches the spread of whole days only hours ahead."""
    values = np.asarray(forecast, dtype=float)
    grow = 1.0 - decay ** np.arange(len(values))
    return tuple((1 / 3, np.minimum(values * (1.0 + (f - 1.0) * grow), cap)) for f in (low, high))
