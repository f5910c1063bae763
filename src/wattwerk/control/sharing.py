"""Fair sharing of a limited supply (water-filling): everyone gets the same unless their own
bounds say otherwise, and what one cannot take goes to the others."""

from __future__ import annotations

from collections.abc import Sequence


def water_fill(total: float, bounds: Sequence[tuple[float, float]]) -> list[float]:
    """Split ``total`` over items with (low, high) bounds: each gets ``clamp(level, low, high)``
    for the one level at which the sum is ``total`` (all lows if the total is below their sum,
    all highs if above theirs)."""
    if not bounds:
        return []
    lo_sum = sum(lo for lo, _ in bounds)
    hi_sum = sum(hi for _, hi in bounds)
    if total <= lo_sum:
        return [lo for lo, _ in bounds]
    if total >= hi_sum:
        return [hi for _, hi in bounds]
    a = min(lo for lo, _ in bounds)
    b = max(hi for _, hi in bounds)
    for _ in range(60):  # bisection on the level; 60 halvings are far below a milliwatt
        mid = (a + b) / 2
        if sum(min(max(mid, lo), hi) for lo, hi in bounds) > total:
            b = mid
        else:
            a = mid
    return [min(max(a, lo), hi) for lo, hi in bounds]
