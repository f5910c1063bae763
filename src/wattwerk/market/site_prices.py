"""A site's prices per planning slot: the ``tariff`` section of the site file turned into buy and sell
prices (€/kWh) per 15-min slot by the one tariff model (``market.site_tariff.SiteTariff``), with a
day-ahead provider's prices through a disk cache where the tariff needs them.

The planner (``edge.planning.PlanService``) asks a ``PriceSource`` for the prices of its horizon;
``TariffPrices`` is the one a site file describes, ``market.sample.SamplePrices`` the demo's.
Beyond the published day-ahead prices the horizon is filled by the persistence forecast the
benchmark plans on (``market.dayahead.fill_unpublished``: the same slot a day or two earlier, buy
prices ``FORECAST_DISCOUNT`` lower), so the edge plans as ``wattwerk bench`` measures it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
import numpy as np

from wattwerk.config import Tariff as TariffConfig
from wattwerk.errors import RetryableError
from wattwerk.market.awattar import Awattar
from wattwerk.market.dayahead import FORECAST_DISCOUNT, fill_unpublished, known_until
from wattwerk.market.energy_charts import EnergyChartsPrice
from wattwerk.market.entsoe import Entsoe
from wattwerk.market.prices import PriceSeries
from wattwerk.market.site_tariff import SiteTariff
from wattwerk.market.source import CachedPrices, PriceCache, PriceProvider
from wattwerk.market.swiss import SwissTariff
from wattwerk.market.tariff import slot_index
from wattwerk.market.tibber import Tibber

SLOT_MINUTES = 15
MIN_SLOTS = 4  # fewer known prices than an hour: no plan
DAY = timedelta(days=1)
DAY_SLOTS = DAY // timedelta(minutes=SLOT_MINUTES)


@dataclass(frozen=True)
class Prices:
    """Buy and sell price (€/kWh) per slot from ``start``; ``fresh`` False when from the cache. The
    first ``published`` slots have published prices, the rest a forecast (negative: all published)."""

    start: datetime
    buy: np.ndarray
    sell: np.ndarray
    source: str
    fresh: bool = True
    message: str = ""
    published: int = -1

    def __post_init__(self) -> None:
        if self.published < 0 or self.published > len(self.buy):
            object.__setattr__(self, "published", len(self.buy))


class PriceSource(Protocol):
    async def prices(self, start: datetime, end: datetime) -> Prices: ...


def provider_of(t: TariffConfig) -> PriceProvider | None:
    """The price provider of the ``tariff`` section: day-ahead prices, a Swiss tariff's prices, or
    for a fixed price with a spot-indexed feed-in the spot price of ``zone``; None for a fixed price."""
    token = t.token.get_secret_value() if t.token is not None else ""
    if t.swiss:
        name = t.tariff_name or SwissTariff.tariff_name
        return SwissTariff(t.provider.replace("_", "-"), name)
    if t.provider == "fixed" and t.feed_in_spot is not None:
        return EnergyChartsPrice(t.zone)
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
        tz: str = "Europe/Berlin",
        client: Callable[[], httpx.AsyncClient] | None = None,
        provider: PriceProvider | None = None,
        refetch: timedelta = timedelta(hours=1),
    ) -> None:
        self.cfg = t
        self.tariff = SiteTariff(t, tz)
        self.provider = provider or provider_of(t)
        self.cached = CachedPrices(self.provider, PriceCache(cache_path)) if self.provider else None
        self.client = client or (lambda: httpx.AsyncClient(timeout=20.0))
        self.refetch = refetch
        self._held: tuple[PriceSeries, datetime, bool, str] | None = None

    async def _spot(self, start: datetime, end: datetime) -> tuple[PriceSeries, bool, str]:
        """The provider's prices from a day before ``start`` (the forecast's past) to the end of
        tomorrow. The provider is asked from the hour before ``start``, or from a day before the
        end of the published prices when that is earlier (the past the forecast needs in the
        morning); the rest of the past day comes from the cache of earlier fetches, since a
        provider may serve only what is published now (Tibber, the demo's sample)."""
        assert self.cached is not None
        name, held = self.cached.provider.name, self._held
        if held is not None:
            series, at, fresh, msg = held
            due = min(known_until(start), end)
            if fresh and start - at < self.refetch and series.end >= due:
                return series, fresh, msg
        until = known_until(start).astimezone(UTC)  # a day before it: the slots the forecast repeats
        fetch_from, fetch_to = min(start - timedelta(hours=1), until - DAY), until + DAY
        async with self.client() as client:
            result = await self.cached.get(client, fetch_from, fetch_to, now=start)
        series = result.series
        cached = self.cached.cache.get(name)
        if (
            cached is not None
            and cached[0].slot_minutes == series.slot_minutes
            and series.start > start - DAY
        ):
            series = cached[0].window(start - DAY, series.start).merge(series)  # the past before it
        self._held = (series, start, result.fresh, result.message)
        return series, result.fresh, result.message

    async def prices(self, start: datetime, end: datetime) -> Prices:
        """The slots from ``start`` to ``end``: published prices up to the first gap, then the
        persistence forecast (``fill_unpublished``) where a day of published prices precedes the
        gap; only the published ones without it. Raises RetryableError when fewer than MIN_SLOTS
        prices from ``start`` are published."""
        n = int((end - start) / timedelta(minutes=SLOT_MINUTES))
        if self.provider is None:
            starts = slot_index(start, n, SLOT_MINUTES)
            return Prices(start, self.tariff.buy(starts), self.tariff.sell(starts), "fixed")
        spot, fresh, msg = await self._spot(start, end)
        if spot.slot_minutes != SLOT_MINUTES:
            spot = spot.resample(SLOT_MINUTES)
        starts = slot_index(start - DAY, DAY_SLOTS + n, SLOT_MINUTES)  # with the day before
        buy, sell = self.tariff.buy(starts, spot), self.tariff.sell(starts, spot)
        gaps = np.isnan(buy[DAY_SLOTS:]) | np.isnan(sell[DAY_SLOTS:])
        known = int(np.argmax(gaps)) if gaps.any() else n  # up to the first gap
        if known < MIN_SLOTS:
            raise RetryableError(f"{self.provider.name}: no prices from {start.isoformat()}")
        buy, sell = _filled(buy, FORECAST_DISCOUNT), _filled(sell, 0.0)
        k = min(len(buy), len(sell))
        source = spot.source or self.provider.name
        if self.cfg.provider == "fixed":
            source = f"fixed, feed-in {source}"
        return Prices(start, buy[:k], sell[:k], source, fresh, msg, known)


def _filled(values: np.ndarray, discount: float) -> np.ndarray:
    """The slots after the day before ``start``: published up to the first gap from ``start`` on,
    then the persistence forecast (``discount`` lower), or up to that gap without a day before it.
    A price that does not depend on the provider (a fixed buy price beside spot feed-in) has no gap."""
    gaps = np.isnan(values[DAY_SLOTS:])
    published = DAY_SLOTS + (int(np.argmax(gaps)) if gaps.any() else len(gaps))
    return fill_unpublished(values, published, DAY_SLOTS, discount)[DAY_SLOTS:]
