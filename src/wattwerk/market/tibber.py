"""Tibber GraphQL ``priceInfo`` (``POST https://api.tibber.com/v1-beta/gql``, Bearer token).

Tibber's ``total`` is the consumer price including energy tax and VAT; ``energy`` is the spot
part. Use ``total`` with a Tariff that adds nothing on top, or ``energy`` and compose fees yourself.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from wattwerk.errors import BadInput, PermanentError
from wattwerk.market.http import json_of, request
from wattwerk.market.prices import PriceSeries

URL = "https://api.tibber.com/v1-beta/gql"
QUERY = (
    "{ viewer { homes { id currentSubscription { priceInfo(resolution: %s) {"
    " today { total energy tax startsAt currency } tomorrow { total energy tax startsAt currency }"
    " } } } } }"
)


def parse(
    payload: dict[str, Any], field: str = "total", home: int = 0, source: str = "tibber"
) -> PriceSeries:
    """Tibber response → today and tomorrow as one series in the response's currency per kWh."""
    if payload.get("errors"):
        raise PermanentError(f"{source}: {payload['errors'][0].get('message', payload['errors'])}")
    try:
        homes = payload["data"]["viewer"]["homes"]
        info = homes[home]["currentSubscription"]["priceInfo"]
    except (KeyError, IndexError, TypeError) as exc:
        raise BadInput("garbage", f"{source}: no priceInfo for home {home} in response") from exc
    rows = (info.get("today") or []) + (info.get("tomorrow") or [])
    if not rows:
        raise BadInput("empty", f"{source}: priceInfo has no prices")
    try:
        points = [(datetime.fromisoformat(r["startsAt"]), float(r[field])) for r in rows]
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput("garbage", f"{source}: bad price entry: {exc!r}") from exc
    starts = sorted(p[0] for p in points)
    step = min(((b - a).total_seconds() // 60 for a, b in itertools.pairwise(starts)), default=60)
    currency = rows[0].get("currency", "EUR")
    return PriceSeries.from_points(points, int(step), unit=f"{currency}/kWh", source=source)


@dataclass
class Tibber:
    token: str
    field: str = "total"
    resolution: str = "QUARTER_HOURLY"  # or HOURLY
    home: int = 0
    url: str = URL
    name: str = "tibber"

    async def fetch(self, client: httpx.AsyncClient, start: datetime, end: datetime) -> PriceSeries:
        """Today and tomorrow (what Tibber publishes); ``start``/``end`` only trim the result."""
        resp = await request(
            client,
            "POST",
            self.url,
            self.name,
            json={"query": QUERY % self.resolution},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        series = parse(json_of(resp, self.name), self.field, self.home, self.name)
        return series.window(max(start, series.start), min(end, series.end))
