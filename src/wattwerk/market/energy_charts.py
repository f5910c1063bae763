"""Energy-Charts (Fraunhofer ISE) public API: day-ahead prices (``/price``) per bidding zone.

Response: ``{"license_info": ..., "unix_seconds": [...], "price": [...], "unit": "EUR / MWh",
"deprecated": false}``. The EPEX day-ahead results, free of charge, CC BY 4.0.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from wattwerk.errors import BadInput
from wattwerk.market.http import json_of, request
from wattwerk.market.prices import PriceSeries

BASE = "https://api.energy-charts.info"


def unix_series(payload: dict[str, Any], key: str, source: str) -> list[tuple[datetime, float | None]]:
    """Pair ``unix_seconds`` with ``key``; raise BadInput on a malformed response."""
    try:
        secs, values = payload["unix_seconds"], payload[key]
    except (KeyError, TypeError) as exc:
        raise BadInput("garbage", f"{source}: response lacks 'unix_seconds'/{key!r}") from exc
    if not secs or len(secs) != len(values):
        raise BadInput("garbage", f"{source}: {len(secs or [])} times for {len(values or [])} values")
    return [
        (datetime.fromtimestamp(int(s), UTC), None if v is None else float(v))
        for s, v in zip(secs, values, strict=True)
    ]


def step_minutes(points: list[tuple[datetime, Any]]) -> int:
    if len(points) < 2:
        return 60
    return int(min((b[0] - a[0]).total_seconds() for a, b in itertools.pairwise(points)) // 60)


def parse_price(payload: dict[str, Any], source: str = "energy-charts") -> PriceSeries:
    points = unix_series(payload, "price", source)
    unit = str(payload.get("unit", "EUR / MWh")).replace(" ", "").lower()
    scale = {"eur/mwh": 1e-3, "eur/kwh": 1.0}.get(unit)
    if scale is None:
        raise BadInput("unit", f"{source}: unknown price unit {payload.get('unit')!r}")
    known = [(t, v * scale) for t, v in points if v is not None]
    if not known:
        raise BadInput("empty", f"{source}: no prices")
    return PriceSeries.from_points(known, step_minutes(points), source=source)


@dataclass
class EnergyChartsPrice:
    """Day-ahead prices for a bidding zone such as ``DE-LU``, ``AT``, ``CH``, ``FR``."""

    bzn: str = "DE-LU"
    base: str = BASE

    @property
    def name(self) -> str:
        return f"energy-charts-{self.bzn}"

    async def fetch(self, client: httpx.AsyncClient, start: datetime, end: datetime) -> PriceSeries:
        iso = "%Y-%m-%dT%H:%MZ"
        params = {
            "bzn": self.bzn,
            "start": start.astimezone(UTC).strftime(iso),
            "end": end.astimezone(UTC).strftime(iso),
        }
        resp = await request(client, "GET", f"{self.base}/price", self.name, params=params)
        return parse_price(json_of(resp, self.name), self.name)
