"""PV monitoring: expected yield from measured irradiance versus the measured yield, per day,
and an under-performance alert that carries the numbers behind it.

The expected yield comes from ``pv.array_power`` driven by irradiance *measured* (or analysed)
at the site — not by a forecast — so a shortfall points at the plant: an inverter fault, new
shading, soiling, a tripped string. Dull days (little expected energy) are skipped: their
ratios are noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd


@dataclass(frozen=True)
class DayCheck:
    day: date
    expected_wh: float
    measured_wh: float

    @property
    def ratio(self) -> float:
        return self.measured_wh / self.expected_wh if self.expected_wh > 0 else float("nan")


@dataclass(frozen=True)
class PerformanceAlert:
    """``active`` when the measured energy of the last ``days`` usable days is below
    ``threshold`` × expected. ``message`` states the numbers for the owner."""

    active: bool
    ratio: float
    threshold: float
    expected_wh: float
    measured_wh: float
    days: tuple[date, ...]
    message: str


def daily_checks(expected_wh: pd.Series, measured_wh: pd.Series, min_expected_wh: float) -> list[DayCheck]:
    """Days both series know, with at least ``min_expected_wh`` expected, oldest first."""
    both = pd.concat({"e": expected_wh, "m": measured_wh}, axis=1).dropna()
    both = both[both["e"] >= min_expected_wh].sort_index()
    return [DayCheck(day, float(r.e), float(r.m)) for day, r in both.iterrows()]


def performance_alert(
    checks: list[DayCheck], threshold: float = 0.8, days: int = 3, name: str = "pv"
) -> PerformanceAlert:
    """Alert when the last ``days`` usable days together yield less than ``threshold`` of the
    expectation *and* each of them is below it (one bad day is not a fault)."""
    recent = checks[-days:]
    if len(recent) < days:
        return PerformanceAlert(
            False,
            float("nan"),
            threshold,
            0.0,
            0.0,
            tuple(c.day for c in recent),
            f"{name}: {len(recent)} of {days} usable days so far, no verdict",
        )
    expected = sum(c.expected_wh for c in recent)
    measured = sum(c.measured_wh for c in recent)
    ratio = measured / expected
    active = ratio < threshold and all(c.ratio < threshold for c in recent)
    span = f"{recent[0].day.isoformat()}..{recent[-1].day.isoformat()}"
    verdict = "UNDER-PERFORMING" if active else "ok"
    message = (
        f"{name}: {verdict}: measured {measured / 1000:.1f} kWh vs expected {expected / 1000:.1f} kWh"
        f" from irradiance over {len(recent)} days {span} ({ratio:.0%}, alert below {threshold:.0%};"
        f" daily {', '.join(f'{c.ratio:.0%}' for c in recent)})"
    )
    return PerformanceAlert(
        active, ratio, threshold, expected, measured, tuple(c.day for c in recent), message
    )
