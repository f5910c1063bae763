"""aWATTar day-ahead market data (DE and AT): ``GET https://api.awattar.{de,at}/v1/marketdata``.

Response: ``{"object": "list", "data": [{"start_timestamp": ms, "end_timestamp": ms,
"marketprice": 42.09, "unit": "Eur/MWh"}, ...]}``; ``start``/``end`` query parameters are epoch ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from wattwerk.errors import BadInput
from wattwerk.market.http import json_of, request
from wattwerk.market.prices import PriceSeries

URLS = {"de": "https://api.awattar.de/v1/marketdata", "at": "https://api.awattar.at/v1/marketdata"}
UNIT_SCALE = {"eur/mwh": 1e-3, "eur/kwh": 1.0}


def parse(payload: dict[str, Any], source: str = "awattar") -> PriceSeries:
    """aWATTar JSON → €/kWh per slot (slot length from start/end of the entries)."""
    rows = payload.get("data") if isinstance(payload, dict) else None
    if not rows:
        raise BadInput("empty", f"{source}: no 'data' entries in response")
    points, lengths = [], set()
    for row in rows:
        try:
            start, end = int(row["start_timestamp"]), int(row["end_timestamp"])
            scale = UNIT_SCALE[str(row.get("unit", "Eur/MWh")).lower()]
            points.append((datetime.fromtimestamp(start / 1000, UTC), float(row["marketprice"]) * scale))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInput("garbage", f"{source}: bad entry {row!r}: {exc!r}") from exc
        lengths.add((end - start) // 60_000)
    if len(lengths) != 1:
        raise BadInput("garbage", f"{source}: mixed slot lengths {sorted(lengths)} min")
    return PriceSeries.from_points(points, lengths.pop(), source=source)


@dataclass
class Awattar:
    """Spot prices (no fees, no VAT) for Germany (``country="de"``) or Austria (``"at"``)."""

    country: str = "de"
    url: str | None = None

    @property
    def name(self) -> str:
        return f"awattar-{self.country}"

    async def fetch(self, client: httpx.AsyncClient, start: datetime, end: datetime) -> PriceSeries:
        params = {"start": int(start.timestamp() * 1000), "end": int(end.timestamp() * 1000)}
        resp = await request(client, "GET", self.url or URLS[self.country], self.name, params=params)
        return parse(json_of(resp, self.name), self.name)
