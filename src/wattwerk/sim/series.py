"""Precomputed time series with a cheap per-step lookup.

A builder computes values on a regular UTC grid for one calendar year at a time (vectorised,
numpy/pandas); the simulator's step loop then only interpolates in a plain Python list.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import numpy as np
import pandas as pd

# Builder: UTC sample times -> values (same length), e.g. PV power in W at those instants.
Builder = Callable[[pd.DatetimeIndex], np.ndarray]


class Lookup(Protocol):
    """Anything that gives a value at epoch seconds (a YearlySeries, or a constant in tests)."""

    def at(self, t: float) -> float: ...


_PAD_S = 2 * 86400  # each year's chunk overlaps its neighbours so a step never falls off an edge


class YearlySeries:
    """Values of ``builder`` on a grid of ``step_s`` seconds, computed one year at a time.

    ``offset_s`` places the samples inside each grid step (e.g. 1800 for hourly means centred
    at half past). ``at(t)`` interpolates linearly at epoch seconds ``t``; with ``hold`` it
    returns the sample at or before ``t`` instead (for series of interval means: each interval
    then keeps its energy exactly).
    """

    def __init__(
        self, builder: Builder, step_s: int = 3600, offset_s: float = 0.0, hold: bool = False
    ) -> None:
        self._builder = builder
        self._hold = hold
        self._step = float(step_s)
        self._offset = offset_s
        self._t0 = 0.0
        self._n = 0
        self._v: list[float] = []
        self._year: int | None = None

    def _load(self, t: float) -> None:
        year = datetime.fromtimestamp(t, UTC).year
        start = datetime(year, 1, 1, tzinfo=UTC).timestamp() - _PAD_S + self._offset
        end = datetime(year + 1, 1, 1, tzinfo=UTC).timestamp() + _PAD_S
        n = int((end - start) // self._step) + 1
        index = pd.date_range(pd.Timestamp(start, unit="s", tz="UTC"), periods=n, freq=f"{int(self._step)}s")
        values = np.asarray(self._builder(index), dtype=float)
        if values.shape != (n,):
            raise ValueError(f"series builder returned shape {values.shape}, expected ({n},)")
        if not np.all(np.isfinite(values)):
            raise ValueError("series builder returned non-finite values")
        self._t0, self._n, self._v, self._year = start, n, values.tolist(), year

    def at(self, t: float) -> float:
        """Value at epoch seconds ``t`` (linear interpolation between samples)."""
        x = (t - self._t0) / self._step
        i = int(x)
        if x < 0 or i >= self._n - 1:
            self._load(t)
            x = (t - self._t0) / self._step
            i = int(x)
        v = self._v
        a = v[i]
        if self._hold:
            return a
        return a + (v[i + 1] - a) * (x - i)
