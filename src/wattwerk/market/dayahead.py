"""What is known when: the day-ahead auction (EPEX/Nord Pool SDAC) clears at noon CET and its
prices are published at about 12:45-13:00 CET for the whole next delivery day. A planner that
must not peek asks ``known_until`` how far prices reach at a given moment; beyond that it plans on
a persistence forecast (``fill_unpublished``), the same in the edge and in ``wattwerk bench``."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from wattwerk.market.prices import PriceSeries

PUBLISHED = time(13, 0)  # local market time when next-day prices are out
MARKET_TZ = "Europe/Berlin"
# forecast (not yet published) buy prices are lowered by this share, the value of waiting: the real
# prices are published before they are needed, so buying now on the strength of a forecast must be
# clearly cheaper; chosen on the benchmark's windows (docs/benchmark-control.md, the price discount)
FORECAST_DISCOUNT = 0.06


def known_until(now: datetime, published: time = PUBLISHED, tz: str = MARKET_TZ) -> datetime:
    """End (exclusive, UTC-aware) of the day-ahead prices known at ``now``: the end of tomorrow
    (local) once today's results are published, else the end of today."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    days = 2 if local.time() >= published else 1
    end_day = (local.replace(tzinfo=None) + timedelta(days=days)).date()
    return datetime.combine(end_day, time(0), tzinfo=zone)


def known_prices(
    series: PriceSeries, now: datetime, published: time = PUBLISHED, tz: str = MARKET_TZ
) -> PriceSeries:
    """The part of ``series`` from the slot containing ``now`` up to ``known_until(now)``."""
    return series.window(now, min(known_until(now, published, tz), series.end))


def fill_unpublished(prices: np.ndarray, published: int, day_slots: int, discount: float = 0.0) -> np.ndarray:
    """``prices`` with every slot from ``published`` on replaced by a persistence forecast: the
    published price of the same slot one day earlier, or two (and so on) where that day is not
    published either, times ``1 - discount``. Only published prices are used, so the forecast never
    peeks. It needs a whole day of published prices (no NaN) just before ``published``; without one
    nothing is invented and only the published part ``prices[:published]`` comes back."""
    prices = np.asarray(prices, dtype=float)
    if published >= len(prices):
        return prices.copy()
    if published < day_slots or np.isnan(prices[published - day_slots : published]).any():
        return prices[:published].copy()
    j = np.arange(published, len(prices))
    back = j - ((j - published) // day_slots + 1) * day_slots  # the last published day, same slot
    return np.concatenate((prices[:published], prices[back] * (1.0 - discount)))
