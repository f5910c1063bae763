"""§14a EnWG: the power a grid operator must leave to controllable consumers while dimming.

Source: BNetzA determination BK6-22-300 of 27 Nov 2023, Anlage 1 (as restated by VDE FNN's note
on Tenorziffer 2f, 04/2025, and by public EMS implementations that cite it; checked 2026-11):

* Direct control (Ziffer 4.5.1): each controllable consumer (SteuVE) keeps at least
  ``Pmin,14a = 4.2 kW``; a heat pump or air conditioner whose rated grid draw is above 11 kW keeps
  ``0.4 x`` that rating.
* Control through an energy management system (Ziffer 4.5.2): all SteuVE behind it together keep
  ``Pmin,14a = 4.2 kW + (n - 1) x GZF x 4.2 kW``, with the simultaneity factor GZF from the table
  below (2: 0.8, then 0.05 less per device, 9 or more: 0.45). Several heat pumps count as one SteuVE,
  so do several air conditioners (Ziffer 2.4.2). If the heat pumps' or the air conditioners' summed
  rating is above 11 kW, ``max(0.4 x sum heat pumps, 0.4 x sum air conditioners)`` replaces the first
  4.2 kW. Examples: charger + battery 7.56 kW; charger + battery + heat pump 10.5 kW.

The limit applies to the consumers' net draw from the grid (own PV may be used on top), which is how
the limiter applies it.
"""

from __future__ import annotations

from collections.abc import Iterable

P_MIN_W = 4200.0
LARGE_HEAT_W = 11000.0  # above this a heat pump / air conditioner keeps 0.4 x its rating
LARGE_HEAT_SHARE = 0.4
# GZF by number of SteuVE behind one energy manager (Anlage 1, Ziffer 4.5.2); 9 or more: 0.45
SIMULTANEITY: dict[int, float] = {1: 1.0, 2: 0.8, 3: 0.75, 4: 0.7, 5: 0.65, 6: 0.6, 7: 0.55, 8: 0.5}
SIMULTANEITY_MANY = 0.45
GROUPED_KINDS = ("heat_pump", "air_conditioner")  # several of one kind count as one SteuVE


def simultaneity(n: int) -> float:
    """GZF for ``n`` SteuVE behind one energy manager."""
    return SIMULTANEITY.get(n, SIMULTANEITY_MANY) if n > 0 else 1.0


def device_minimum_w(kind: str, rated_w: float | None = None) -> float:
    """The power one directly controlled consumer keeps while dimmed (W)."""
    if kind in GROUPED_KINDS and rated_w is not None and rated_w > LARGE_HEAT_W:
        return max(P_MIN_W, LARGE_HEAT_SHARE * rated_w)
    return P_MIN_W


def aggregate_minimum_w(consumers: Iterable[tuple[str, float | None]]) -> float:
    """The total grid draw all SteuVE behind one energy manager keep while dimmed (W).

    ``consumers``: (kind, rated W or None) per device, e.g. ``[("ev", None), ("heat_pump", 12e3)]``.
    """
    items = list(consumers)
    others = sum(1 for kind, _ in items if kind not in GROUPED_KINDS)
    sums = {k: sum(r or 0.0 for kind, r in items if kind == k) for k in GROUPED_KINDS}
    groups = sum(1 for k in GROUPED_KINDS if any(kind == k for kind, _ in items))
    n = others + groups
    if n == 0:
        return P_MIN_W
    large = [LARGE_HEAT_SHARE * s for s in sums.values() if s > LARGE_HEAT_W]
    first = max([P_MIN_W, *large])
    return first + (n - 1) * simultaneity(n) * P_MIN_W
