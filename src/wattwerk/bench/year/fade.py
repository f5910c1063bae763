"""The benchmark planner's record of its PV forecasts, intraday factors and measured PV, from which
it fits how long an intraday deviation from the week's-mean forecast persists
(``forecast.pv.fit_fade``) on the days before."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wattwerk.forecast.pv import fit_fade


@dataclass
class FadeRecord:
    """Per slot of the year: the forecast made at its start for the ``horizon`` slots from it, the
    intraday factor then, and the mean PV measured in it (NaN where none). ``fade(i)`` is refitted
    once a day on the ``days`` before, from pairs whose measurements are all in the past, on the
    slots ``learn`` marks (those whose forecast is the kind the fade is for)."""

    n_slots: int
    horizon: int
    fallback: np.ndarray
    learn: np.ndarray  # per slot: its error is learnt from
    days: int = 28
    slots_per_day: int = 48
    min_days: int = 7
    base: np.ndarray = field(init=False)
    factor: np.ndarray = field(init=False)
    measured: np.ndarray = field(init=False)
    _day: int = -1
    _fade: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.base = np.full((self.n_slots, self.horizon), np.nan, dtype=np.float32)
        self.factor = np.full(self.n_slots, np.nan)
        self.measured = np.full(self.n_slots, np.nan)
        self._fade = self.fallback

    def add_measured(self, i: int, share_w: float) -> None:
        """Add to slot ``i``'s mean PV (W) one step's share of it (its power × its part of the slot)."""
        self.measured[i] = (0.0 if np.isnan(self.measured[i]) else self.measured[i]) + share_w

    def record(self, i: int, factor: float, forecast: np.ndarray) -> None:
        """The forecast made at the start of slot ``i`` (before its intraday correction), the factor."""
        n = min(len(forecast), self.horizon)
        self.base[i, :n] = forecast[:n]
        self.factor[i] = factor

    def fade(self, i: int) -> np.ndarray:
        """How much of the intraday deviation each lead keeps, as fitted at the start of ``i``'s day."""
        day = i // self.slots_per_day
        if day != self._day:
            self._day = day
            self._fade = self._fit(day * self.slots_per_day)
        return self._fade

    def _fit(self, now: int) -> np.ndarray:
        lo, hi = max(0, now - self.days * self.slots_per_day), now - self.horizon
        rows = np.arange(lo, max(lo, hi))
        rows = rows[np.isfinite(self.factor[rows])]
        if not len(rows):
            return self.fallback
        base = self.base[rows].astype(float)
        targets = np.minimum(rows[:, None] + np.arange(self.horizon), self.n_slots - 1)
        deviation = (self.factor[rows] - 1.0)[:, None] * base
        error = np.where(self.learn[targets], self.measured[targets] - base, np.nan)
        return fit_fade(deviation, error, self.fallback, self.min_days * self.slots_per_day)
