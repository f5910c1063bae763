"""Real day-ahead prices without the internet: the bundled DE-LU sample (Bundesnetzagentur |
SMARD.de, CC BY 4.0; see ``data/SOURCES.md``), mapped onto any date, for ``wattwerk demo``.

The sample holds 2025-01-01 to 2025-09-13 (hourly, German local time). A date inside it gets its
own prices; any other date gets those of the same weekday nearest to the same calendar day in the
sample (1 December 2026, a Tuesday, takes a Tuesday of early January 2025), so weekends stay
weekends and winter stays closer to winter. Prices are published as the auction does: at ``now``
only up to the end of today, after 13:00 (Berlin) up to the end of tomorrow (``known_until``).

``SampleDayAhead`` is a ``PriceProvider``: the site's ``TariffPrices`` adds the grid fees and VAT
of the ``tariff`` section to it, exactly as for a live provider.
"""

from __future__ import annotations

import gzip
import io
from datetime import date, datetime, timedelta
from functools import cache
from importlib.resources import files
from zoneinfo import ZoneInfo

import httpx
import numpy as np

from wattwerk.market.dayahead import known_until
from wattwerk.market.prices import PriceSeries
from wattwerk.market.smard import read_smard_csv

SAMPLE = "prices_de_lu_2025_hourly_smard.csv.gz"
SOURCE = "day-ahead DE-LU 2025 sample (Bundesnetzagentur | SMARD.de, CC BY 4.0)"
BERLIN = ZoneInfo("Europe/Berlin")


@cache
def sample_series() -> PriceSeries:
    """The bundled sample as €/kWh per hour; OSError/ValueError when it cannot be read."""
    raw = (files("wattwerk.market") / "data" / SAMPLE).read_bytes()
    text = io.StringIO(gzip.decompress(raw).decode("utf-8-sig"))
    return read_smard_csv(text)  # type: ignore[arg-type]  # pandas reads a text buffer as well


def sample_day(day: date, first: date, last: date) -> date:
    """The day of the sample ``[first, last]`` whose prices ``day`` gets (see the module text)."""
    if first <= day <= last:
        return day
    near = []
    for year in (first.year - 1, first.year, first.year + 1):
        same = date(year, day.month, 28 if (day.month, day.day) == (2, 29) else day.day)
        target = min(max(same, first), last)
        near.append((abs((same - target).days), target))
    best = min(near)[1]
    mapped = best + timedelta(days=(day.weekday() - best.weekday()) % 7)
    return mapped - timedelta(days=7) if mapped > last else mapped


class SampleDayAhead:
    """A ``PriceProvider`` over the bundled sample (no network; the client is not used)."""

    name = "sample"

    def __init__(self, series: PriceSeries | None = None) -> None:
        self.series = series or sample_series()
        end = self.series.start + self.series.step * len(self.series.values)
        self.first = self.series.start.astimezone(BERLIN).date()
        self.last = (end - timedelta(seconds=1)).astimezone(BERLIN).date()

    def at(self, hours: list[datetime]) -> np.ndarray:
        """The price (€/kWh) of each UTC hour start, from the sample day its local day maps to."""
        s = self.series
        out = np.full(len(hours), np.nan)
        for i, h in enumerate(hours):
            local = h.astimezone(BERLIN)
            shift = local.date() - sample_day(local.date(), self.first, self.last)
            k = int((h - shift - s.start) // s.step)
            if 0 <= k < len(s.values):
                out[i] = s.values[k]
        return out

    async def fetch(self, client: httpx.AsyncClient | None, start: datetime, end: datetime) -> PriceSeries:
        """Hourly prices from ``start`` (floored to the hour) up to ``end``, but only as far as the
        auction had published them an hour after ``start``: ``TariffPrices`` asks from an hour
        before now, or before 13:00 from the day's start (the past its forecast repeats); both lie in
        the same publication period as now."""
        first = start.replace(minute=0, second=0, microsecond=0)
        stop = min(end, known_until(start + timedelta(hours=1)))
        n = max(0, int((stop - first) // timedelta(hours=1)))
        hours = [first + timedelta(hours=i) for i in range(n)]
        return PriceSeries(first, 60, self.at(hours), "EUR/kWh", SOURCE)
