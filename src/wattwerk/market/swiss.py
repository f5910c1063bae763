"""Swiss dynamic tariffs in the common public tariff API format (EKZ, Groupe E Vario, …):
``GET <base>/v1/tariffs?tariff_name=…&start_timestamp=…&end_timestamp=…``.

Response: ``{"publication_timestamp": …, "prices": [{"start_timestamp": ISO, "end_timestamp": ISO,
"electricity": [{"unit": "CHF_kWh", "value": …}], "grid": [...], "integrated": [...]}]}``.
``integrated`` is energy plus grid; components may also carry a monthly ``CHF_m`` entry, ignored here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from wattwerk.errors import BadInput
from wattwerk.market.http import json_of, request
from wattwerk.market.prices import PriceSeries

PROVIDERS = {
    "ekz": "https://api.tariffs.ekz.ch/v1/tariffs",
    "groupe-e": "https://api.tariffs.groupe-e.ch/v1/tariffs",
}
UNITS = {"CHF_kWh": 1.0, "Rp_kWh": 0.01}


def parse(payload: dict[str, Any], component: str = "integrated", source: str = "swiss") -> PriceSeries:
    """Per-slot CHF/kWh of one component (``integrated``, ``electricity`` or ``grid``)."""
    rows = payload.get("prices") if isinstance(payload, dict) else None
    if not rows:
        raise BadInput("empty", f"{source}: no 'prices' in response")
    points, lengths = [], set()
    for row in rows:
        try:
            start = datetime.fromisoformat(row["start_timestamp"])
            end = datetime.fromisoformat(row["end_timestamp"])
            parts = [p for p in row[component] if p.get("unit") in UNITS]
            value = sum(float(p["value"]) * UNITS[p["unit"]] for p in parts)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInput("garbage", f"{source}: bad entry {row!r}: {exc!r}") from exc
        if not parts:
            raise BadInput("unit", f"{source}: no per-kWh value in {component!r} at {start.isoformat()}")
        points.append((start, value))
        lengths.add(int((end - start).total_seconds() // 60))
    if len(lengths) != 1:
        raise BadInput("garbage", f"{source}: mixed slot lengths {sorted(lengths)} min")
    return PriceSeries.from_points(points, lengths.pop(), unit="CHF/kWh", source=source)


@dataclass
class SwissTariff:
    provider: str = "ekz"
    tariff_name: str = "400D"
    component: str = "integrated"
    url: str | None = None

    @property
    def name(self) -> str:
        return f"{self.provider}-{self.tariff_name}"

    async def fetch(self, client: httpx.AsyncClient, start: datetime, end: datetime) -> PriceSeries:
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        params = {
            "tariff_name": self.tariff_name,
            "start_timestamp": start.astimezone(UTC).strftime(fmt),
            "end_timestamp": end.astimezone(UTC).strftime(fmt),
        }
        resp = await request(client, "GET", self.url or PROVIDERS[self.provider], self.name, params=params)
        return parse(json_of(resp, self.name), self.component, self.name)
