"""Bucket arithmetic on integer milliseconds: pure functions every backend shares.

1m, 15m and 1h buckets are aligned to UTC. Day buckets run from local midnight to the next
local midnight in the store's timezone, so they last 23 or 25 hours on DST days. Where a
local midnight does not exist (a DST jump at midnight) the day starts at the first instant
that does.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

FIXED_MS: dict[str, int] = {"1m": 60_000, "15m": 900_000, "1h": 3_600_000}
_QUARTER = FIXED_MS["15m"]


@lru_cache(maxsize=64)
def zone(tz: str) -> ZoneInfo:
    """The ZoneInfo for a name; raises ValueError with the name when it is unknown."""
    try:
        return ZoneInfo(tz)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"unknown timezone {tz!r}") from exc


def _ms(dt: datetime) -> int:
    return round(dt.timestamp() * 1000)


def _local_day(ts: int, tz: str) -> tuple[int, int]:
    zi = zone(tz)
    day = datetime.fromtimestamp(ts / 1000, zi).date()
    start = datetime.combine(day, time(), tzinfo=zi)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zi)
    return _ms(start), _ms(end)


@lru_cache(maxsize=65536)
def _day_of_quarter(quarter: int, tz: str) -> tuple[int, int]:
    return _local_day(quarter, tz)


def day_range(ts: int, tz: str) -> tuple[int, int]:
    """[start, end) in ms of the local day containing ``ts``."""
    start, end = _day_of_quarter(ts - ts % _QUARTER, tz)
    if start <= ts < end:
        return start, end
    return _local_day(ts, tz)  # a zone whose midnight is not on a quarter hour


def floor(ts: int, resolution: str, tz: str = "UTC") -> int:
    """Start of the bucket of ``resolution`` that contains ``ts``."""
    if resolution == "1d":
        return day_range(ts, tz)[0]
    size = FIXED_MS[resolution]
    return ts - ts % size


def bucket(ts: int, resolution: str, tz: str = "UTC") -> tuple[int, int]:
    """[start, end) of the bucket containing ``ts``."""
    if resolution == "1d":
        return day_range(ts, tz)
    size = FIXED_MS[resolution]
    start = ts - ts % size
    return start, start + size


def ceil(ts: int, resolution: str, tz: str = "UTC") -> int:
    """The first bucket boundary at or after ``ts``."""
    start, end = bucket(ts, resolution, tz)
    return ts if start == ts else end


def child_of(start: int, end: int, resolution: str) -> str:
    """The finer level a bucket is recomputed from: raw for 1m, 1m for 15m, 15m for 1h and,
    for a day, the coarsest fixed level whose buckets tile it (1h for whole-hour zones)."""
    if resolution == "1m":
        return "raw"
    if resolution == "15m":
        return "1m"
    if resolution == "1h":
        return "15m"
    for level in ("1h", "15m", "1m"):
        size = FIXED_MS[level]
        if start % size == 0 and end % size == 0:
            return level
    return "raw"


def parents(buckets_1m: set[tuple[int, int]], tz: str) -> dict[str, set[tuple[int, int, int]]]:
    """Dirty buckets per level, (key, start, end), from dirty (key, 1m-bucket) pairs.

    ``key`` is opaque (a channel id) and passed through.
    """
    out: dict[str, set[tuple[int, int, int]]] = {"1m": set(), "15m": set(), "1h": set(), "1d": set()}
    for key, b in buckets_1m:
        out["1m"].add((key, b, b + 60_000))
        q = b - b % 900_000
        out["15m"].add((key, q, q + 900_000))
        h = b - b % 3_600_000
        out["1h"].add((key, h, h + 3_600_000))
        d0, d1 = day_range(b, tz)
        out["1d"].add((key, d0, d1))
    return out


def cover(
    start: int, end: int, tz: str, levels: tuple[str, ...] = ("1d", "1h", "15m", "1m")
) -> list[tuple[str, int, int]]:
    """Tile [start, end) with the coarsest whole buckets: (resolution, start, end) pieces,
    with ``raw`` for the unaligned millisecond edges. Pieces are in time order."""
    if start >= end:
        return []
    if not levels:
        return [("raw", start, end)]
    level, finer = levels[0], levels[1:]
    a, b = ceil(start, level, tz), floor(end, level, tz)
    if a >= b:
        return cover(start, end, tz, finer)
    return [*cover(start, a, tz, finer), (level, a, b), *cover(b, end, tz, finer)]
