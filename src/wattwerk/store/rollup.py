"""The rollup rules the edge store and the portal share: energy per bucket and local calendar periods.

* **Counters** (Wh): the energy of a bucket is the sum of the validated increments of the
  readings in it (``counters.classify``: a glitch is a gap, a reset a new baseline).
* **Power** (W) without a counter: the integral over the time actually covered. Between two
  readings at most ``MAX_GAP_MS`` apart the earlier value holds until the later one; a longer
  gap, and the time after a channel's newest reading, are not covered (never extrapolated).
  The held intervals are split at bucket boundaries, so each bucket gets exactly its share:
  positive energy (W > 0: import, discharge, production, consumption), negative energy (its
  magnitude: export, charge) and the covered milliseconds.
* **Periods above the hour** — local days (23 or 25 h on DST days), ISO weeks (Monday),
  months and years of the site's time zone — are sums of finer buckets that carry energy and
  covered time (hours, or 5-minute buckets where a zone's midnight is not on the hour), never
  a mean power times a bucket length. A period therefore equals the sum of its sub-periods.

Pure functions; the backends load and store rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from wattwerk.store import buckets

MAX_GAP_MS = 300_000  # readings further apart than this leave the time between them uncovered
MS_PER_H = 3_600_000
PERIODS = ("day", "week", "month", "year")


@dataclass(slots=True)
class Energy:
    """A power channel's covered-time integral over one bucket."""

    pos_wh: float = 0.0
    neg_wh: float = 0.0
    covered_ms: int = 0

    def add_held(self, value: float, dt_ms: int) -> None:
        wh = value * dt_ms / MS_PER_H
        if wh >= 0:
            self.pos_wh += wh
        else:
            self.neg_wh -= wh
        self.covered_ms += dt_ms

    def add(self, other: Energy) -> None:
        self.pos_wh += other.pos_wh
        self.neg_wh += other.neg_wh
        self.covered_ms += other.covered_ms

    @property
    def net_wh(self) -> float:
        return self.pos_wh - self.neg_wh


def integrate(
    points: Iterable[tuple[int, float]],
    bucket_of: Callable[[int], tuple[int, int]],
    lo: int = -(2**62),
    hi: int = 2**62,
    max_gap_ms: int = MAX_GAP_MS,
) -> dict[int, Energy]:
    """Energy per bucket start of the (ts_ms, W) ``points`` (time order), counting only the
    covered time inside [lo, hi). ``bucket_of(ts)`` gives the [start, end) of ts's bucket.
    Give the reading before ``lo`` and the one after ``hi`` (when they exist) so the intervals
    that cross them are counted."""
    out: dict[int, Energy] = {}
    prev: tuple[int, float] | None = None
    for t1, v1 in points:
        if prev is not None:
            t0, v0 = prev
            if 0 < t1 - t0 <= max_gap_ms:
                s, e = max(t0, lo), min(t1, hi)
                while s < e:
                    b0, b1 = bucket_of(s)
                    piece = min(b1, e)
                    bucket = out.get(b0)
                    if bucket is None:
                        bucket = out[b0] = Energy()
                    bucket.add_held(v0, piece - s)
                    s = piece
        prev = (t1, v1)
    return out


def fixed(step_ms: int) -> Callable[[int], tuple[int, int]]:
    """``bucket_of`` for UTC-aligned buckets of ``step_ms``."""

    def bucket_of(ts: int) -> tuple[int, int]:
        start = ts - ts % step_ms
        return start, start + step_ms

    return bucket_of


def dirty_span(
    new_min: int, new_max: int, prev_ts: int | None, next_ts: int | None, max_gap_ms: int = MAX_GAP_MS
) -> tuple[int, int]:
    """[a, b] of the time whose integral new readings in [new_min, new_max] can change: from the
    stored reading before them to the one after (when within the gap)."""
    a = prev_ts if prev_ts is not None and new_min - prev_ts <= max_gap_ms else new_min
    b = next_ts if next_ts is not None and next_ts - new_max <= max_gap_ms else new_max
    return a, b


# ------------------------------------------------------------------ local calendar periods


def local_midnight(day: date, tz: str) -> int:
    """Milliseconds of the local midnight starting ``day`` (the first instant of the day where
    midnight does not exist)."""
    start, _ = buckets.day_range(
        round(datetime(day.year, day.month, day.day, 12, tzinfo=buckets.zone(tz)).timestamp() * 1000), tz
    )
    return start


def local_date(ts: int, tz: str) -> date:
    return datetime.fromtimestamp(ts / 1000, buckets.zone(tz)).date()


def period_dates(kind: str, day: date) -> tuple[date, date]:
    """The first day of the ``kind`` period (day, ISO week from Monday, month, year) containing
    ``day`` and the first day after it."""
    if kind == "day":
        return day, day + timedelta(days=1)
    if kind == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if kind == "month":
        start = day.replace(day=1)
        return start, (start + timedelta(days=32)).replace(day=1)
    if kind == "year":
        return day.replace(month=1, day=1), day.replace(year=day.year + 1, month=1, day=1)
    raise ValueError(f"unknown period {kind!r}; expected one of {', '.join(PERIODS)}")


def period_ms(kind: str, day: date, tz: str) -> tuple[int, int]:
    """[start, end) in ms of the local ``kind`` period containing ``day``."""
    first, after = period_dates(kind, day)
    return local_midnight(first, tz), local_midnight(after, tz)


def days(start_ms: int, end_ms: int, tz: str) -> list[tuple[int, int]]:
    """The local days [start, end) that overlap [start_ms, end_ms), in order."""
    out: list[tuple[int, int]] = []
    t = start_ms
    while t < end_ms:
        b, e = buckets.day_range(t, tz)
        out.append((b, e))
        t = e
    return out


def sub_periods(kind: str, day: date, tz: str) -> list[tuple[int, int]]:
    """The sub-periods a period's figures are the sum of: hours of a day, days of a week or a
    month, months of a year (local)."""
    start, end = period_ms(kind, day, tz)
    if kind == "day":
        return (
            [(t, min(t + MS_PER_H, end)) for t in range(start, end, MS_PER_H)]
            if start % MS_PER_H == 0
            else [(start, end)]
        )
    if kind in ("week", "month"):
        return days(start, end, tz)
    first = period_dates("year", day)[0]
    return [period_ms("month", first.replace(month=m), tz) for m in range(1, 13)]


def day_child(start: int, end: int) -> str:
    """The finer level a local day is summed from: ``1h`` when it is made of whole UTC hours,
    else ``5m`` (zones whose offset is not a whole hour)."""
    return "1h" if start % MS_PER_H == 0 and end % MS_PER_H == 0 else "5m"


def group_days(rows: Sequence[tuple[int, ...]], tz: str) -> dict[int, list[tuple[int, ...]]]:
    """Rows (bucket start first) grouped by the local day they fall in, keyed by its start."""
    out: dict[int, list[tuple[int, ...]]] = {}
    for row in rows:
        out.setdefault(buckets.day_range(row[0], tz)[0], []).append(row)
    return out
