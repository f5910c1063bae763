"""What a rollup bucket keeps and how buckets combine: pure functions every backend shares.

A bucket keeps count, sum, min, max, the time and value of its last reading and the energy
(sum of counter increments). All of these combine exactly from finer buckets, which is why
coarse rollups can be recomputed from finer rollups after raw data is gone. The mean is the
sample mean ``sum / count``.

The SQLite backend does the same arithmetic in SQL; tests use these functions to check it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Agg:
    n: int
    sum: float
    min: float
    max: float
    last_ts: int
    last: float
    energy: float | None

    @property
    def mean(self) -> float:
        return self.sum / self.n


def of_points(points: Iterable[tuple[int, float, float | None]]) -> Agg | None:
    """The aggregate of (ts, value, increment) points; None when there are none.
    The increment is None for channels that are not counters."""
    n = 0
    total = 0.0
    lo = hi = last = 0.0
    last_ts = -(2**63)
    energy: float | None = None
    for ts, value, inc in points:
        if n == 0:
            lo = hi = value
        lo, hi = min(lo, value), max(hi, value)
        n += 1
        total += value
        if ts >= last_ts:
            last_ts, last = ts, value
        if inc is not None:
            energy = (energy or 0.0) + inc
    return Agg(n, total, lo, hi, last_ts, last, energy) if n else None


def combine(aggs: Iterable[Agg]) -> Agg | None:
    """The aggregate of several buckets' aggregates."""
    out: Agg | None = None
    for a in aggs:
        if out is None:
            out = a
            continue
        newer = a if a.last_ts >= out.last_ts else out
        energy = (
            out.energy if a.energy is None else (a.energy if out.energy is None else out.energy + a.energy)
        )
        out = Agg(
            out.n + a.n,
            out.sum + a.sum,
            min(out.min, a.min),
            max(out.max, a.max),
            newer.last_ts,
            newer.last,
            energy,
        )
    return out


def rollup(
    points: Iterable[tuple[int, float, float | None]], bucket_of: Callable[[int], int]
) -> dict[int, Agg]:
    """Aggregates per bucket start, ``bucket_of(ts)`` giving the start."""
    groups: dict[int, list[tuple[int, float, float | None]]] = {}
    for p in points:
        groups.setdefault(bucket_of(p[0]), []).append(p)
    out = {}
    for start, pts in groups.items():
        agg = of_points(pts)
        if agg is not None:
            out[start] = agg
    return out
