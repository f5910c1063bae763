"""Fair sharing of a limited supply (water-filling): everyone gets the same unless their own
bounds say otherwise, and what one cannot take goes to the others."""

from __future__ import annotations

from collections.abc import Sequence


def water_fill(total: float, bounds: Sequence[tuple[float, float]]) -> list[float]:
    """Split ``total`` over items with (low, high) bounds: each gets ``clamp(level, low, high)``
    for the one level at which the sum is ``total`` (all lows if the total is below their sum,
    all highs if above theirs). Exact: the sum is piecewise linear in the level, so the level is
    found between two sorted breakpoints."""
    if not bounds:
        return []
    if total <= sum(lo for lo, _ in bounds):
        return [lo for lo, _ in bounds]
    if total >= sum(hi for _, hi in bounds):
        return [hi for _, hi in bounds]
    points = sorted({x for b in bounds for x in b})

    def filled(level: float) -> float:
        return sum(lo if level < lo else hi if level > hi else level for lo, hi in bounds)

    prev_x, prev_f = points[0], filled(points[0])
    level = prev_x
    for x in points[1:]:
        f = filled(x)
        if f >= total:
            level = prev_x + (total - prev_f) * (x - prev_x) / (f - prev_f) if f > prev_f else x
            break
        prev_x, prev_f = x, f
    return [lo if level < lo else hi if level > hi else level for lo, hi in bounds]
