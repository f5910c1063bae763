"""What is known when: the day-ahead auction (EPEX/Nord Pool SDAC) clears at noon CET and its
prices are published at about 12:45-13:00 CET for the whole next delivery day. A planner that
must not peek asks ``known_until`` how far prices reach at a given moment."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from wattwerk.market.prices import PriceSeries

PUBLISHED = time(13, 0)  # local market time when next-day prices are out
MARKET_TZ = "Europe/Berlin"


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
