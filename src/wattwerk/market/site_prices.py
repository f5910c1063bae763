"""A site's prices per planning slot: the ``tariff`` section of the site file turned into buy and sell
prices (€/kWh) per 15-min slot, from a fixed price or a day-ahead provider through a disk cache.

The planner (``edge.planning.PlanService``) asks a ``PriceSource`` for the prices of its horizon;
``TariffPrices`` is the one a site file describes, ``market.sample.SamplePrices`` the demo's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
import numpy as np

from wattwerk.config import Tariff as TariffConfig
from wattwerk.errors import RetryableError
from wattwerk.market.awattar import Awattar
from wattwerk.market.dayahead import known_until
from wattwerk.market.energy_charts import EnergyChartsPrice
from wattwerk.market.entsoe import Entsoe
from wattwerk.market.prices import PriceSeries
from wattwerk.market.source import CachedPrices, PriceCache, PriceProvider
from wattwerk.market.tariff import Dynamic, Fixed, Tariff, slot_index
from wattwerk.market.tibber import Tibber

SLOT_MINUTES = 15
MIN_SLOTS = 4  # fewer known prices than an hour: no plan


@dataclass(frozen=True)
class Prices:
    """Buy and sell price (€/kWh) per slot from ``start``; ``fresh`` False when from the cache."""

    start: datetime
    buy: np.ndarray
    sell: np.ndarray
    source: str
    fresh: bool = True
    message: str = ""


class PriceSource(Protocol):
    async def prices(self, start: datetime, end: datetime) -> Prices: ...


def provider_of(t: TariffConfig) -> PriceProvider | None:
    """The day-ahead price provider of the ``tariff`` section; None for a fixed price."""
    token = t.token.get_secret_value() if t.token is not None else ""
    if t.provider == "awattar":
        return Awattar(t.country)
    if t.provider == "tibber":
        return Tibber(token)
    if t.provider == "entsoe":
        return Entsoe(token, t.zone)
    if t.provider == "energy_charts":
        return EnergyChartsPrice(t.zone)
    return None


class TariffPrices:
    """Prices per 15-min slot from the site's ``tariff`` section.

    Spot prices come from the provider through a disk cache (``CachedPrices``, which falls back
    to the last known prices and logs it); they are fetched again at most every ``refetch``,
    sooner when the day-ahead auction has published prices the held series lacks.
    """

    def __init__(
        self,
        t: TariffConfig,
        cache_path: Any,
        *,
        client: Callable[[], httpx.AsyncClient] | None = None,
        provider: PriceProvider | None = None,
        refetch: timedelta = timedelta(hours=1),
    ) -> None:
        self.cfg = t
        self.provider = provider or provider_of(t)
        self.cached = CachedPrices(self.provider, PriceCache(cache_path)) if self.provider else None
        self.client = client or (lambda: httpx.AsyncClient(timeout=20.0))
        self.refetch = refetch
        self._held: tuple[PriceSeries, datetime, bool, str] | None = None

    async def _spot(self, start: datetime, end: datetime) -> tuple[PriceSeries, bool, str]:
        assert self.cached is not None
        held = self._held
        if held is not None:
            series, at, fresh, msg = held
            due = min(known_until(start), end)
            if fresh and start - at < self.refetch and series.end >= due:
                return series, fresh, msg
        fetch_from, fetch_to = start - timedelta(hours=1), known_until(start) + timedelta(days=1)
        async with self.client() as client:
            result = await self.cached.get(client, fetch_from, fetch_to, now=start)
        self._held = (result.series, start, result.fresh, result.message)
        return result.series, result.fresh, result.message

    async def prices(self, start: datetime, end: datetime) -> Prices:
        """Raises RetryableError when no price is known for ``start``."""
        t = self.cfg
        n = int((end - start) / timedelta(minutes=SLOT_MINUTES))
        starts = slot_index(start, n, SLOT_MINUTES)
        sell = np.full(n, t.feed_in_eur_per_kwh)
        if self.provider is None:
            fees = (Fixed("fees", t.grid_fees_eur_per_kwh),)
            tariff = Tariff(Fixed("energy", t.fixed_eur_per_kwh), fees, t.vat)
            return Prices(start, tariff.price(starts), sell, "fixed")
        spot, fresh, msg = await self._spot(start, end)
        if spot.slot_minutes != SLOT_MINUTES:
            spot = spot.resample(SLOT_MINUTES)
        if t.provider == "tibber":  # Tibber's total already holds energy tax and VAT
            buy = Dynamic("energy", spot).price(starts) + t.grid_fees_eur_per_kwh * (1 + t.vat)
        else:
            tariff = Tariff(Dynamic("energy", spot), (Fixed("fees", t.grid_fees_eur_per_kwh),), t.vat)
            buy = tariff.price(starts)
        if t.no_feed_in_at_negative_prices:  # no feed-in tariff in hours of negative spot prices
            spot_now = Dynamic("energy", spot).price(starts)
            sell = np.where(np.nan_to_num(spot_now, nan=0.0) < 0.0, 0.0, sell)
        known = int(np.argmax(np.isnan(buy))) if np.isnan(buy).any() else n  # up to the first gap
        if known < MIN_SLOTS:
            raise RetryableError(f"{self.provider.name}: no prices from {start.isoformat()}")
        return Prices(start, buy[:known], sell[:known], spot.source or self.provider.name, fresh, msg)
