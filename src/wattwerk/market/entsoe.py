"""ENTSO-E Transparency Platform day-ahead prices (document type A44) for any bidding zone.

``GET https://web-api.tp.entsoe.eu/api?securityToken=…&documentType=A44&in_Domain=EIC&out_Domain=EIC
&periodStart=yyyyMMddHHmm&periodEnd=yyyyMMddHHmm`` returns a ``Publication_MarketDocument``:
``TimeSeries`` → ``Period`` (``timeInterval`` start/end, ``resolution`` PT15M or PT60M) → ``Point``
(``position`` from 1, ``price.amount`` in €/MWh). With curve type A03 a position that is left
out repeats the price of the previous point, up to the end of the period. No data yields an
``Acknowledgement_MarketDocument`` with a reason text instead.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np

from wattwerk.errors import BadInput, RetryableError
from wattwerk.market.http import request
from wattwerk.market.prices import PriceSeries

URL = "https://web-api.tp.entsoe.eu/api"

# Bidding zones (short name → EIC code); any EIC code is accepted directly too.
ZONES: dict[str, str] = {
    "DE-LU": "10Y1001A1001A82H",
    "AT": "10YAT-APG------L",
    "CH": "10YCH-SWISSGRIDZ",
    "FR": "10YFR-RTE------C",
    "NL": "10YNL----------L",
    "BE": "10YBE----------2",
    "PL": "10YPL-AREA-----S",
    "CZ": "10YCZ-CEPS-----N",
    "DK1": "10YDK-1--------W",
    "DK2": "10YDK-2--------M",
    "SE3": "10Y1001A1001A46L",
    "SE4": "10Y1001A1001A47J",
    "NO1": "10YNO-1--------2",
    "FI": "10YFI-1--------U",
    "ES": "10YES-REE------0",
    "PT": "10YPT-REN------W",
    "IT-NORD": "10Y1001A1001A73I",
    "SI": "10YSI-ELES-----O",
    "HU": "10YHU-MAVIR----U",
    "EE": "10Y1001A1001A39I",
    "LV": "10YLV-1001A00074",
    "LT": "10YLT-1001A0008Q",
}
RESOLUTIONS = {"PT15M": 15, "PT30M": 30, "PT60M": 60}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(node: ET.Element, name: str) -> ET.Element | None:
    for c in node:
        if _local(c.tag) == name:
            return c
    return None


def _children(node: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in node if _local(c.tag) == name]


def _text(node: ET.Element | None, path: str) -> str:
    for part in path.split("/"):
        node = _child(node, part) if node is not None else None
    if node is None or node.text is None:
        raise BadInput("garbage", f"entsoe: missing <{path}>")
    return node.text.strip()


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def parse(xml: str | bytes, source: str = "entsoe", slot_minutes: int | None = None) -> PriceSeries:
    """A44 XML → €/kWh per slot. Periods of other resolutions are resampled to the finest one
    present (or ``slot_minutes``); the first TimeSeries wins where two cover the same slot."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise BadInput("garbage", f"{source}: not XML: {exc}") from exc
    if _local(root.tag) == "Acknowledgement_MarketDocument":
        reason = " ".join((n.text or "").strip() for n in root.iter() if _local(n.tag) == "text")
        raise RetryableError(f"{source}: no prices: {reason or 'acknowledgement without reason'}")
    if _local(root.tag) != "Publication_MarketDocument":
        raise BadInput("garbage", f"{source}: unexpected document <{_local(root.tag)}>")
    periods: list[tuple[int, PriceSeries]] = []
    for ts in _children(root, "TimeSeries"):
        curve = _child(ts, "curveType")
        a03 = curve is not None and (curve.text or "").strip() == "A03"
        for period in _children(ts, "Period"):
            periods.append(_period(period, a03, source))
    if not periods:
        raise BadInput("empty", f"{source}: document has no TimeSeries/Period")
    step = slot_minutes or min(p[0] for p in periods)
    merged: PriceSeries | None = None
    for _, series in reversed(periods):  # earlier series win: merge them last
        s = series.resample(step)
        merged = s if merged is None else merged.merge(s)
    assert merged is not None
    return merged


def _period(period: ET.Element, a03: bool, source: str) -> tuple[int, PriceSeries]:
    start = _time(_text(period, "timeInterval/start"))
    end = _time(_text(period, "timeInterval/end"))
    res = _text(period, "resolution")
    if res not in RESOLUTIONS:
        raise BadInput("garbage", f"{source}: resolution {res} not supported")
    minutes = RESOLUTIONS[res]
    n = int((end - start) / timedelta(minutes=minutes))
    values = np.full(n, np.nan)
    for point in _children(period, "Point"):
        pos = int(_text(point, "position"))
        if not 1 <= pos <= n:
            raise BadInput("garbage", f"{source}: position {pos} outside 1..{n} of {start.isoformat()}")
        values[pos - 1] = float(_text(point, "price.amount")) / 1000.0
    if a03:  # a missing position repeats the previous point's price
        for i in range(1, n):
            if np.isnan(values[i]):
                values[i] = values[i - 1]
    return minutes, PriceSeries(start, minutes, values, source=source)


@dataclass
class Entsoe:
    """Day-ahead prices of one bidding zone (short name from ZONES or an EIC code)."""

    token: str
    zone: str = "DE-LU"
    url: str = URL
    slot_minutes: int | None = None

    @property
    def name(self) -> str:
        return f"entsoe-{self.zone}"

    async def fetch(self, client: httpx.AsyncClient, start: datetime, end: datetime) -> PriceSeries:
        eic = ZONES.get(self.zone, self.zone)
        fmt = "%Y%m%d%H%M"
        params = {
            "securityToken": self.token,
            "documentType": "A44",
            "in_Domain": eic,
            "out_Domain": eic,
            "periodStart": start.astimezone(UTC).strftime(fmt),
            "periodEnd": end.astimezone(UTC).strftime(fmt),
        }
        resp = await request(client, "GET", self.url, self.name, params=params)
        return parse(resp.content, self.name, self.slot_minutes)
