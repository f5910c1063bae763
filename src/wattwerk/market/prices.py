"""Slot series: a value per fixed-length slot from a UTC start (prices in €/kWh, signals in any unit).

A ``PriceSeries`` is contiguous: slot ``i`` starts at ``start + i * slot_minutes``. Missing slots
are NaN, so a gap is visible rather than silently bridged. Slot length is 15 or 60 minutes
(the day-ahead products); other lengths divide an hour or a day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

SLOT_MINUTES = (5, 15, 30, 60)


def _utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {ts} has no timezone")
    return ts.astimezone(UTC)


@dataclass(frozen=True)
class PriceSeries:
    """Values per slot: ``values[i]`` holds for ``[start + i*slot, start + (i+1)*slot)``.

    ``unit`` is ``EUR/kWh`` for energy prices (``CHF/kWh`` for Swiss tariffs, ``g/kWh`` for a
    CO₂ signal); ``source`` names the provider for logs and the UI.
    """

    start: datetime
    slot_minutes: int
    values: np.ndarray
    unit: str = "EUR/kWh"
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.slot_minutes not in SLOT_MINUTES:
            raise ValueError(f"slot length {self.slot_minutes} min not supported (have {SLOT_MINUTES})")
        object.__setattr__(self, "start", _utc(self.start))
        object.__setattr__(self, "values", np.asarray(self.values, dtype=float))

    # ------------------------------------------------------------- construction

    @classmethod
    def from_points(
        cls,
        points: Iterable[tuple[datetime, float]],
        slot_minutes: int,
        unit: str = "EUR/kWh",
        source: str = "",
    ) -> PriceSeries:
        """Build from (slot start, value) pairs in any order; slots nobody gave are NaN.

        A start that is not on the slot grid of the first one raises ValueError.
        """
        pts = sorted((_utc(ts), float(v)) for ts, v in points)
        if not pts:
            raise ValueError("no prices")
        start = pts[0][0]
        step = timedelta(minutes=slot_minutes)
        n = int((pts[-1][0] - start) / step) + 1
        values = np.full(n, np.nan)
        for ts, v in pts:
            offset = (ts - start) / step
            if offset != int(offset):
                raise ValueError(f"{ts.isoformat()} is not on the {slot_minutes}-min grid from {start}")
            values[int(offset)] = v
        return cls(start, slot_minutes, values, unit, source)

    # ------------------------------------------------------------- properties

    @property
    def step(self) -> timedelta:
        return timedelta(minutes=self.slot_minutes)

    @property
    def end(self) -> datetime:
        """End of the last slot (exclusive)."""
        return self.start + len(self.values) * self.step

    def __len__(self) -> int:
        return len(self.values)

    def starts(self) -> list[datetime]:
        return [self.start + i * self.step for i in range(len(self.values))]

    def at(self, ts: datetime) -> float:
        """The value of the slot containing ``ts``; NaN outside the series."""
        i = int((_utc(ts) - self.start) // self.step)
        return float(self.values[i]) if 0 <= i < len(self.values) else float("nan")

    def complete(self) -> bool:
        return bool(len(self.values)) and not bool(np.isnan(self.values).any())

    # ------------------------------------------------------------- transformation

    def resample(self, slot_minutes: int) -> PriceSeries:
        """Finer slots repeat the value; coarser slots take the mean (NaN if any part is missing)."""
        if slot_minutes == self.slot_minutes:
            return self
        if self.slot_minutes % slot_minutes == 0:
            k = self.slot_minutes // slot_minutes
            return replace(self, slot_minutes=slot_minutes, values=np.repeat(self.values, k))
        if slot_minutes % self.slot_minutes == 0:
            k = slot_minutes // self.slot_minutes
            shift = int((self.start - self.start.replace(minute=0, second=0, microsecond=0)) // self.step)
            lead = (k - shift % k) % k  # drop slots before the first coarse boundary
            body = self.values[lead:]
            n = len(body) // k
            coarse = body[: n * k].reshape(n, k).mean(axis=1)
            return replace(
                self, start=self.start + lead * self.step, slot_minutes=slot_minutes, values=coarse
            )
        raise ValueError(f"cannot resample {self.slot_minutes} min to {slot_minutes} min")

    def window(self, start: datetime, end: datetime) -> PriceSeries:
        """Slots from ``start`` (inclusive, floored to the grid) to ``end`` (exclusive), NaN where unknown."""
        start, end = _utc(start), _utc(end)
        i0 = int((start - self.start) // self.step)
        i1 = -int(-(end - self.start) // self.step)
        out = np.full(max(i1 - i0, 0), np.nan)
        lo, hi = max(i0, 0), min(i1, len(self.values))
        if hi > lo:
            out[lo - i0 : hi - i0] = self.values[lo:hi]
        return replace(self, start=self.start + i0 * self.step, values=out)

    def merge(self, newer: PriceSeries) -> PriceSeries:
        """Union of both; where both have a value, ``newer`` wins. Slot lengths must agree."""
        if newer.slot_minutes != self.slot_minutes:
            newer = newer.resample(self.slot_minutes)
        start = min(self.start, newer.start)
        end = max(self.end, newer.end)
        out = self.window(start, end).values.copy()
        fresh = newer.window(start, end).values
        mask = ~np.isnan(fresh)
        out[mask] = fresh[mask]
        return replace(self, start=start, values=out, source=newer.source or self.source)

    def scaled(self, factor: float, offset: float = 0.0, unit: str | None = None) -> PriceSeries:
        return replace(self, values=self.values * factor + offset, unit=unit or self.unit)

    # ------------------------------------------------------------- JSON

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "slot_minutes": self.slot_minutes,
            "unit": self.unit,
            "source": self.source,
            "values": [None if np.isnan(v) else round(float(v), 6) for v in self.values],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PriceSeries:
        values = np.array([np.nan if v is None else float(v) for v in data["values"]])
        return cls(
            datetime.fromisoformat(data["start"]),
            int(data["slot_minutes"]),
            values,
            data.get("unit", "EUR/kWh"),
            data.get("source", ""),
        )
