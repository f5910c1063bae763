"""Tariff composition: an energy price (fixed, time-of-use or dynamic) plus grid fees, levies
and taxes, then VAT; and the feed-in tariff.

Every component answers ``price(starts) -> €/kWh per slot`` for UTC slot starts
(a ``pandas.DatetimeIndex``), net of VAT. Time windows are in the tariff's local time zone, so a
window such as §14a EnWG module 3 (``17:00-21:00`` high, ``00:00-06:00`` low) follows the clock on
the wall across DST changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Protocol

import numpy as np
import pandas as pd

from wattwerk.market.prices import PriceSeries


class Component(Protocol):
    name: str

    def price(self, starts: pd.DatetimeIndex) -> np.ndarray:
        """€/kWh (net of VAT) for each slot start."""
        ...


def slot_index(start: datetime, n: int, slot_minutes: int) -> pd.DatetimeIndex:
    """UTC slot starts ``start + i*slot`` as a DatetimeIndex."""
    return pd.date_range(pd.Timestamp(start).tz_convert("UTC"), periods=n, freq=f"{slot_minutes}min")


def _hhmm(text: str) -> time:
    if text in ("24:00", "24:00:00"):
        return time(0, 0)
    return time.fromisoformat(text)


@dataclass(frozen=True)
class Fixed:
    """A constant price: a fixed energy rate, a grid fee per kWh, a levy or electricity tax."""

    name: str
    eur_per_kwh: float

    def price(self, starts: pd.DatetimeIndex) -> np.ndarray:
        return np.full(len(starts), float(self.eur_per_kwh))


@dataclass(frozen=True)
class Window:
    """``start``-``end`` in local wall time (``end`` may wrap past midnight; ``00:00`` as end is
    midnight), on the given ISO weekdays (1=Monday) and, optionally, months (1-12)."""

    start: str
    end: str
    eur_per_kwh: float
    weekdays: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    months: tuple[int, ...] = tuple(range(1, 13))

    def mask(self, local: pd.DatetimeIndex) -> np.ndarray:
        t0, t1 = _hhmm(self.start), _hhmm(self.end)
        minutes = np.asarray(local.hour * 60 + local.minute)
        m0, m1 = t0.hour * 60 + t0.minute, t1.hour * 60 + t1.minute
        in_time = (minutes >= m0) & (minutes < m1) if m0 < m1 else (minutes >= m0) | (minutes < m1)
        in_day = np.isin(np.asarray(local.day_of_week) + 1, self.weekdays)
        in_month = np.isin(np.asarray(local.month), self.months)
        return in_time & in_day & in_month


@dataclass(frozen=True)
class TimeOfUse:
    """A price by local time window; the first matching window wins, else ``default``.

    Used for day/night energy tariffs and for time-variable grid fees (§14a module 3).
    """

    name: str
    default: float
    windows: tuple[Window, ...]
    tz: str = "Europe/Berlin"

    def price(self, starts: pd.DatetimeIndex) -> np.ndarray:
        local = starts.tz_convert(self.tz)
        out = np.full(len(starts), float(self.default))
        done = np.zeros(len(starts), dtype=bool)
        for w in self.windows:
            m = w.mask(local) & ~done
            out[m] = w.eur_per_kwh
            done |= m
        return out


@dataclass(frozen=True)
class Dynamic:
    """A spot-indexed price: ``factor * spot + markup`` with the spot price from a PriceSeries.

    Slots the series does not cover are NaN — a planner must not guess them silently.
    """

    name: str
    series: PriceSeries
    markup: float = 0.0
    factor: float = 1.0

    def price(self, starts: pd.DatetimeIndex) -> np.ndarray:
        s = self.series
        first = int(s.start.timestamp())
        secs = np.asarray(starts.as_unit("s").asi8, dtype=np.int64)
        idx = (secs - first) // (s.slot_minutes * 60)
        ok = (idx >= 0) & (idx < len(s.values))
        out = np.full(len(starts), np.nan)
        out[ok] = s.values[idx[ok]]
        return self.factor * out + self.markup


@dataclass(frozen=True)
class Tariff:
    """Buy price = (energy + Σ fees) × (1 + VAT). All in €/kWh (or the series' currency)."""

    energy: Component
    fees: tuple[Component, ...] = ()
    vat: float = 0.19
    name: str = "tariff"

    def breakdown(self, starts: pd.DatetimeIndex) -> dict[str, np.ndarray]:
        """Each component net, then ``vat`` and ``total`` — what the UI shows per slot."""
        parts = {self.energy.name: self.energy.price(starts)}
        for fee in self.fees:
            parts[fee.name] = parts.get(fee.name, 0.0) + fee.price(starts)
        net = np.sum(list(parts.values()), axis=0)
        parts["vat"] = net * self.vat
        parts["total"] = net + parts["vat"]
        return parts

    def price(self, starts: pd.DatetimeIndex) -> np.ndarray:
        return self.breakdown(starts)["total"]

    def series(self, start: datetime, n: int, slot_minutes: int) -> PriceSeries:
        prices = self.price(slot_index(start, n, slot_minutes))
        return PriceSeries(start, slot_minutes, prices, source=self.name)


@dataclass(frozen=True)
class FeedIn:
    """Feed-in remuneration in €/kWh (no VAT for households).

    A fixed EEG rate, or a market value ``spot`` + ``markup``; ``zero_when_negative`` pays
    nothing in slots with a negative spot price (§51 EEG for newer plants; needs ``spot``).
    """

    eur_per_kwh: float = 0.0
    spot: PriceSeries | None = None
    markup: float = 0.0
    zero_when_negative: bool = False
    name: str = "feed_in"

    def price(self, starts: pd.DatetimeIndex) -> np.ndarray:
        if self.spot is None:
            return np.full(len(starts), float(self.eur_per_kwh))
        spot = Dynamic("spot", self.spot).price(starts)
        out = spot + self.markup if self.eur_per_kwh == 0 else np.full(len(starts), float(self.eur_per_kwh))
        if self.zero_when_negative:
            out = np.where(spot < 0, 0.0, out)
        return out


# --------------------------------------------------------------------- German defaults


def module3_window_fee(
    high: float,
    standard: float,
    low: float,
    tz: str = "Europe/Berlin",
    high_windows: tuple[tuple[str, str], ...] = (("17:00", "21:00"),),
    low_windows: tuple[tuple[str, str], ...] = (("00:00", "06:00"),),
    months: tuple[int, ...] = tuple(range(1, 13)),
) -> TimeOfUse:
    """A §14a EnWG module 3 grid fee: high/standard/low (HT/ST/NT) €/kWh in local windows.

    The operator publishes the windows and the quarters they apply in (``months``); outside
    those months the standard rate applies all day.
    """
    windows = tuple(Window(a, b, high, months=months) for a, b in high_windows)
    windows += tuple(Window(a, b, low, months=months) for a, b in low_windows)
    return TimeOfUse("grid_fee", standard, windows, tz)
