"""The site's one tariff model: the import and export price of every slot, from the site file's
``tariff`` section. The planner (through ``site_prices.TariffPrices``), the edge's cost figures
(history and charging sessions) and the plan sent to the portal all price energy with it.

Import (buy) price per slot = (energy + fees) × (1 + VAT), where

* energy is ``fixed_eur_per_kwh``, or the first matching ``time_of_use`` window, or the provider's
  price of the slot (day-ahead spot for aWATTar, ENTSO-E, Energy-Charts; Tibber's total, which
  already holds tax and VAT; the integrated price of a Swiss EKZ / Groupe E tariff);
* fees are ``grid_fees_eur_per_kwh`` (a German household's grid fee, levies, tax, margin) with, for
  §14a EnWG module 3, the slot's grid fee level in place of the standard level;

export (sell) price per slot = ``feed_in_eur_per_kwh`` or, with ``feed_in_spot``, factor × spot +
offset; nothing in slots of a negative spot price with ``no_feed_in_at_negative_prices``.

Windows are local wall time (``site.timezone``), so they follow the clock across DST days (a day
of 92 or 100 quarter hours). Where a dynamic price is unknown (``spot`` None: the edge keeps no
history of day-ahead prices) the fixed figures stand in: ``fixed_eur_per_kwh`` for the energy and
``feed_in_eur_per_kwh`` for a spot-indexed feed-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from wattwerk.config import Tariff as TariffConfig
from wattwerk.config.tariff import WEEKDAY_NAMES, span_minutes
from wattwerk.market.prices import PriceSeries
from wattwerk.market.tariff import Dynamic, TimeOfUse, Window, slot_index

SLOT_MINUTES = 15


def _clock(minutes: int) -> str:
    return "00:00" if minutes >= 1440 else f"{minutes // 60:02d}:{minutes % 60:02d}"


def _window(
    span: str, price: float, days: list[str] | None = None, months: list[int] | None = None
) -> Window:
    a, b = span_minutes(span)
    weekdays = tuple(WEEKDAY_NAMES.index(d) + 1 for d in days) if days else (1, 2, 3, 4, 5, 6, 7)
    return Window(_clock(a), _clock(b), price, weekdays, tuple(months or range(1, 13)))


@dataclass(frozen=True)
class SiteTariff:
    """Import and export €/kWh (CHF for a Swiss tariff) per slot; see the module docstring."""

    cfg: TariffConfig
    tz: str = "Europe/Berlin"

    @property
    def currency(self) -> str:
        return self.cfg.currency

    @property
    def dynamic(self) -> bool:
        """Does the energy price come from a provider (per slot) rather than the site file?"""
        return self.cfg.provider != "fixed"

    @property
    def name(self) -> str:
        t = self.cfg
        parts = [t.provider if not t.swiss else f"{t.provider} {t.tariff_name or ''}".strip()]
        if t.time_of_use:
            parts[0] = "time of use"
        if t.module3 is not None:
            parts.append(f"§14a module 3 ({t.module3.operator or 'own levels'})")
        if t.feed_in_spot is not None:
            parts.append("spot feed-in")
        return ", ".join(parts)

    def energy(self, starts: pd.DatetimeIndex, spot: PriceSeries | None = None) -> np.ndarray:
        """The energy price per slot (net); NaN where a provider's price is unknown."""
        t = self.cfg
        if not self.dynamic:
            windows = tuple(
                _window(w.hours, w.eur_per_kwh, list(w.days), list(w.months)) for w in t.time_of_use
            )
            return TimeOfUse("energy", t.fixed_eur_per_kwh, windows, self.tz).price(starts)
        if spot is None:
            return np.full(len(starts), float(t.fixed_eur_per_kwh))
        return Dynamic("energy", spot).price(starts)

    def module3_delta(self, starts: pd.DatetimeIndex) -> np.ndarray:
        """The module 3 level of each slot less the standard level (0 without module 3)."""
        m3 = self.cfg.module3
        if m3 is None:
            return np.zeros(len(starts))
        levels, periods = m3.resolved()
        windows: list[Window] = []
        for p in periods:
            windows += [_window(s, levels["low"], months=list(p.months)) for s in p.low]
            windows += [_window(s, levels["high"], months=list(p.months)) for s in p.high]
        fee = TimeOfUse("module3", levels["standard"], tuple(windows), self.tz).price(starts)
        return fee - levels["standard"]

    def fees(self, starts: pd.DatetimeIndex) -> np.ndarray:
        """Fees per slot (net): ``grid_fees_eur_per_kwh`` with the module 3 level of the slot."""
        return self.cfg.fees_per_kwh + self.module3_delta(starts)

    def buy(self, starts: pd.DatetimeIndex, spot: PriceSeries | None = None) -> np.ndarray:
        """The import price per slot, gross (with VAT)."""
        t = self.cfg
        vat = 1.0 + t.vat_rate
        if t.provider == "tibber" and spot is not None:  # Tibber's total already holds tax and VAT
            return Dynamic("energy", spot).price(starts) + self.fees(starts) * vat
        return (self.energy(starts, spot) + self.fees(starts)) * vat

    def sell(self, starts: pd.DatetimeIndex, spot: PriceSeries | None = None) -> np.ndarray:
        """The export price per slot (no VAT for a household)."""
        t = self.cfg
        out = np.full(len(starts), float(t.feed_in_eur_per_kwh))
        # the slot's spot price (Tibber's total stands in for it: negative only when the spot is)
        spot_now = None if spot is None or t.swiss else Dynamic("spot", spot).price(starts)
        if t.feed_in_spot is not None and spot_now is not None:
            out = t.feed_in_spot.factor * spot_now + t.feed_in_spot.offset_eur_per_kwh
        if t.no_feed_in_at_negative_prices and spot_now is not None:
            out = np.where(np.nan_to_num(spot_now, nan=0.0) < 0.0, 0.0, out)
        return out

    def mean_prices(self, start: datetime, end: datetime) -> tuple[float, float]:
        """(import, export) averaged over the 15-min slots of ``[start, end)``, without spot prices."""
        n = max(int((end - start) / timedelta(minutes=SLOT_MINUTES)), 1)
        starts = slot_index(start, n, SLOT_MINUTES)
        return float(np.mean(self.buy(starts))), float(np.mean(self.sell(starts)))

    def describe(
        self, starts: pd.DatetimeIndex | None = None, spot: PriceSeries | None = None
    ) -> dict[str, Any]:
        """What the portal shows of the tariff: its name, currency and, over ``starts``, the mean
        import and export price (its cost widget's fallback where no plan slot prices a time)."""
        t = self.cfg
        out: dict[str, Any] = {
            "name": self.name,
            "provider": t.provider,
            "currency": self.currency,
            "vat": t.vat_rate,
            "module3": None if t.module3 is None else (t.module3.operator or "own"),
            "time_of_use": len(t.time_of_use),
        }
        if starts is not None and len(starts):
            buy, sell = self.buy(starts, spot), self.sell(starts, spot)
            out["import_per_kwh"] = round(float(np.nanmean(buy)), 5)
            out["export_per_kwh"] = round(float(np.nanmean(sell)), 5)
        return out
