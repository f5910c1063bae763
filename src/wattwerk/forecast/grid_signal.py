"""Grid signals the planner can follow to be grid-friendly: CO₂ intensity (g/kWh) or grid-load
forecasts, as slot series. One public source is built in: Energy-Charts ``/co2eq`` (Fraunhofer
ISE), whose response carries measured values and a forecast in parallel arrays:
``{"unix_seconds": [...], "co2eq": [...|null], "co2eq_forecast": [...|null]}``.
More sources implement ``GridSignal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from wattwerk.errors import BadInput
from wattwerk.market.energy_charts import BASE, step_minutes, unix_series
from wattwerk.market.http import json_of, request
from wattwerk.market.prices import PriceSeries


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
