"""§14a EnWG: the power a grid operator must leave to controllable consumers while dimming.

From BNetzA BK6-22-300 (Anlage 1), as data: each controllable consumer keeps at least 4.2 kW; a
heat pump or air conditioner rated above 11 kW keeps 0.4 x its rated power. Several consumers
behind one energy manager are dimmed together: their total grid draw stays within the sum of
their minimums times a simultaneity factor that falls with their number, and never below 4.2 kW.
"""

from __future__ import annotations

from collections.abc import Iterable

P_MIN_W = 4200.0
LARGE_HEAT_W = 11000.0  # above this a heat pump / air conditioner keeps 0.4 x rated power
LARGE_HEAT_SHARE = 0.4
# simultaneity factor by number of controllable consumers behind one energy manager (9 or more: 0.45)
SIMULTANEITY: dict[int, float] = {1: 1.0, 2: 0.8, 3: 0.75, 4: 0.7, 5: 0.65, 6: 0.6, 7: 0.55, 8: 0.5}
SIMULTANEITY_MANY = 0.45


def device_minimum_w(kind: str, rated_w: float | None = None) -> float:
    """The power one consumer keeps while dimmed (W)."""
    if kind == "heat_pump" and rated_w is not None and rated_w > LARGE_HEAT_W:
        return max(P_MIN_W, LARGE_HEAT_SHARE * rated_w)
    return P_MIN_W


def aggregate_minimum_w(minimums: Iterable[float]) -> float:
    """The total grid draw several dimmed consumers behind one energy manager keep (W)."""
    values = list(minimums)
    if not values:
        return P_MIN_W
    factor = SIMULTANEITY.get(len(values), SIMULTANEITY_MANY)
    return max(P_MIN_W, factor * sum(values))
