"""Grid signals the planner can follow to be grid-friendly: CO₂ intensity (g/kWh) or grid-load
forecasts, as slot series. One public source is built in: Energy-Charts ``/co2eq`` (Fraunhofer
ISE), whose response carries measured values and a forecast in parallel arrays:
``{"unix_seconds": [...], "co2eq": [...|null], "co2eq_forecast": [...|null]}``.
More sources implement ``GridSignal``.

``Co2Source`` is what the planner holds (``strategy.co2`` in the site file): the signal per planning
slot, fetched at most once per ``refetch`` through the same disk cache as the prices
(``market.source.CachedPrices``), so a restart or an unreachable API plans with the last known
values; with none at all the planner plans on price alone and says so once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
import numpy as np

from wattwerk.errors import BadInput, WattwerkError
from wattwerk.market.energy_charts import BASE, step_minutes, unix_series
from wattwerk.market.http import json_of, request
from wattwerk.market.prices import PriceSeries
from wattwerk.market.source import CachedPrices, PriceCache

log = logging.getLogger("wattwerk.planner")


class GridSignal(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def unit(self) -> str: ...

    async def fetch(self, client: httpx.AsyncClient, start: datetime, end: datetime) -> PriceSeries: ...


def parse_co2eq(payload: dict[str, Any], source: str = "energy-charts-co2") -> PriceSeries:
    """Measured CO₂ intensity where known, else the forecast, per slot (g/kWh)."""
    measured = unix_series(payload, "co2eq", source)
    forecast = dict(unix_series(payload, "co2eq_forecast", source)) if "co2eq_forecast" in payload else {}
    points = [(t, v if v is not None else forecast.get(t)) for t, v in measured]
    known = [(t, float(v)) for t, v in points if v is not None]
    if not known:
        raise BadInput("empty", f"{source}: neither measured nor forecast CO₂ values")
    series = PriceSeries.from_points(known, step_minutes(measured), unit="g/kWh", source=source)
    n_forecast = sum(1 for _, v in measured if v is None)
    series.meta["forecast_slots"] = n_forecast
    return series


@dataclass
class EnergyChartsCO2:
    country: str = "de"
    base: str = BASE
    unit: str = "g/kWh"

    @property
    def name(self) -> str:
        return f"energy-charts-co2-{self.country}"

    async def fetch(self, client: httpx.AsyncClient, start: datetime, end: datetime) -> PriceSeries:
        resp = await request(client, "GET", f"{self.base}/co2eq", self.name, params={"country": self.country})
        series = parse_co2eq(json_of(resp, self.name), self.name)
        return series.window(max(start, series.start), min(end, series.end))


class Co2Source:
    """The grid's CO₂ intensity per planning slot (g/kWh) for the planner; see the module docstring."""

    def __init__(
        self,
        signal: GridSignal,
        cache_path: Path,
        *,
        client: Callable[[], httpx.AsyncClient] | None = None,
        refetch: timedelta = timedelta(hours=1),
    ) -> None:
        self.signal = signal
        self.cached = CachedPrices(signal, PriceCache(cache_path))
        self.client = client or (lambda: httpx.AsyncClient(timeout=20.0))
        self.refetch = refetch
        self.fresh = False
        self._held: tuple[PriceSeries, datetime] | None = None
        self._failing = False

    @property
    def name(self) -> str:
        return self.signal.name

    async def _series(self, now: datetime) -> PriceSeries | None:
        held = self._held
        if held is not None and self.fresh and now - held[1] < self.refetch:
            return held[0]
        try:
            async with self.client() as client:
                result = await self.cached.get(
                    client, now - timedelta(hours=1), now + timedelta(days=2), now=now
                )
        except (WattwerkError, httpx.HTTPError, ValueError, OSError) as exc:
            if not self._failing:
                log.warning("planner: no CO₂ signal from %s (%s); planning on price alone", self.name, exc)
            self._failing, self.fresh = True, False
            return None
        self._failing = False
        self._held, self.fresh = (result.series, now), result.fresh
        return result.series

    async def per_slot(self, start: datetime, n: int, slot_minutes: int = 15) -> np.ndarray | None:
        """g/kWh for the ``n`` slots from ``start``; a slot the signal does not reach gets the mean of
        those it does (neutral between slots); None without any value."""
        series = await self._series(start)
        if series is None or not len(series):
            return None
        if series.slot_minutes != slot_minutes:
            series = series.resample(slot_minutes)
        values = series.window(start, start + n * timedelta(minutes=slot_minutes)).values[:n]
        values = np.concatenate([values, np.full(n - len(values), np.nan)])
        if np.isnan(values).all():
            return None
        return np.where(np.isnan(values), float(np.nanmean(values)), values)
