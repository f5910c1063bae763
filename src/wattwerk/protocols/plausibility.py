"""Power that a meter's own counters or the grid connection contradict is not a reading.

Two checks every meter format shares (``MeterReader`` runs them on each accepted frame):

* **bound**: a power beyond what the connection can carry (main fuse x voltage x phases from the
  site file's ``site.grid``; per phase fuse x voltage) is a decoding error, not a measurement;
* **counters**: when only one energy counter (import or export) moved since the frame before, at
  most ``WINDOW_S`` earlier, and the net power of both frames is clearly of the other sign, the
  meter itself contradicts that power. A flow that reverses between two frames is not called a
  contradiction (the power of the frame before still had the counter's sign), nor is one smaller
  than ``TOLERANCE_W``, nor frames further apart (a slow sampler's powers say little about the
  energy in between).

Both drop the value as kind ``range`` (counted, logged once) instead of publishing it.
``CounterTrend`` is also what the SML decoder learns a meter's sign encoding from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wattwerk.protocols.base import Value

TOLERANCE_W = 100.0  # a reversed flow smaller than this is not called a contradiction
WINDOW_S = 30.0  # frames further apart are not compared
PHASE_POWER = ("power_l1", "power_l2", "power_l3")
TOTAL_POWER = ("power", "power_import", "power_export")


class CounterTrend:
    """Which way the import/export energy counters moved since they last moved."""

    def __init__(self) -> None:
        self._last: tuple[float | None, float | None] | None = None

    def update(self, imp: float | None, exp: float | None) -> str | None:
        """``import`` / ``export`` when only that counter rose since the last change, ``both`` when
        both did; None when they did not move (or this frame has neither, or one went back)."""
        if imp is None and exp is None:
            return None
        last, self._last = self._last, (imp, exp)
        if last is None:
            return None
        d_imp = _delta(last[0], imp)
        d_exp = _delta(last[1], exp)
        if d_imp < 0 or d_exp < 0:  # a counter going back: a replaced meter or a bad value
            return None
        if d_imp > 0 and d_exp > 0:
            return "both"
        if d_imp > 0:
            return "import"
        if d_exp > 0:
            return "export"
        return None


def _delta(old: float | None, new: float | None) -> float:
    return 0.0 if old is None or new is None else new - old


def counters(values: list[Value]) -> tuple[float | None, float | None]:
    """The frame's import and export energy totals (None where it has none)."""
    got = {v.quantity: v.value for v in values if v.quantity in ("energy_import", "energy_export")}
    return got.get("energy_import"), got.get("energy_export")


def contradicts(trend: str | None, power: float) -> bool:
    """True when counters that moved one way only disagree with the sign of a net power."""
    return (trend == "import" and power < -TOLERANCE_W) or (trend == "export" and power > TOLERANCE_W)


@dataclass
class PowerBounds:
    """The most the grid connection can carry, in W (None: not known, only the physical range)."""

    total_w: float | None = None
    phase_w: float | None = None

    @classmethod
    def of_grid(cls, fuse_a: float | None, voltage_v: float, phases: int) -> PowerBounds:
        if fuse_a is None:
            return cls()
        return cls(fuse_a * voltage_v * phases, fuse_a * voltage_v)

    def limit(self, quantity: str) -> float | None:
        if quantity in TOTAL_POWER:
            return self.total_w
        if quantity in PHASE_POWER or quantity.startswith(("power_import_l", "power_export_l")):
            return self.phase_w
        return None


class PowerCheck:
    """The bound and the counter check for one meter (it keeps the counters' trend)."""

    def __init__(self, bounds: PowerBounds | None = None) -> None:
        self.bounds = bounds or PowerBounds()
        self.trend = CounterTrend()
        self._last: tuple[datetime, float | None] | None = None  # time and net power of the frame before

    def problems(self, values: list[Value], ts: datetime) -> dict[int, str]:
        """Index of each value to drop -> why."""
        out: dict[int, str] = {}
        trend = self.trend.update(*counters(values))
        net = next((v.value for v in values if v.quantity == "power" and v.unit == "W"), None)
        last, self._last = self._last, (ts, net)
        if last is None or last[1] is None or not 0 < (ts - last[0]).total_seconds() <= WINDOW_S:
            trend = None
        elif not contradicts(trend, last[1]):
            trend = None  # the flow reversed between the two frames
        for i, value in enumerate(values):
            if value.unit != "W":
                continue
            limit = self.bounds.limit(value.quantity)
            if limit is not None and abs(value.value) > limit:
                out[i] = (
                    f"{value.obis or value.quantity} = {value.value:g} W exceeds the connection's "
                    f"{limit:g} W (site.grid fuse x voltage)"
                )
            elif value.quantity == "power" and contradicts(trend, value.value):
                out[i] = (
                    f"{value.obis or value.quantity} = {value.value:g} W while only the {trend} "
                    f"counter rose: contradicted by the meter's counters"
                )
        return out
