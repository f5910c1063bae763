"""The store interface every backend implements (SQLite embedded, PostgreSQL for the portal).

Backend-independent logic lives in pure modules a new backend reuses:
``buckets`` (bucket arithmetic, local days), ``counters`` (monotonic validation of energy
counters), ``aggregate`` (what a bucket keeps and how buckets combine) and ``validate``
(what input is refused before it reaches the store).

Semantics every backend keeps:

* Timestamps are integer milliseconds since the epoch (UTC) on disk; datetimes are UTC aware.
* Raw readings plus rollups at 1m, 15m, 1h (UTC-aligned) and 1d (local midnight of the
  store's timezone, so a DST day has 23 or 25 hours). A rollup bucket keeps count, sum,
  min, max, the last value and, for counters, the energy: the sum of the increments of the
  valid readings whose timestamp falls into it. Coarser rollups are computed from finer
  rollups, so they stay exact after raw data has been deleted.
* A duplicate (channel, ts) with the same value is a no-op; with a different value the last
  write wins. Late and out-of-order readings update every rollup they fall into.
* Readings older than the raw retention horizon (the start of the local day on which raw
  data was last cut) are refused as ``too_late``: the finer levels a rollup would be
  recomputed from are gone there. A backend that must accept data from edges that were
  offline for longer keeps raw data at least that long.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

from wattwerk.model import Channel, Reading

RESOLUTIONS: tuple[str, ...] = ("raw", "1m", "15m", "1h", "1d")
ROLLUPS: tuple[str, ...] = ("1m", "15m", "1h", "1d")

# Default retention: resolution -> keep-for (None: forever).
DEFAULT_TIERS: dict[str, timedelta | None] = {
    "raw": timedelta(days=7),
    "1m": timedelta(days=90),
    "15m": timedelta(days=730),
    "1h": None,
    "1d": None,
}

# A reading as the store takes it: a Reading, or (channel, ts in ms, value) from ingest paths
# that already carry integer milliseconds.
ReadingLike = Reading | tuple[str, int, float]


class Row(NamedTuple):
    """One bucket (or one raw reading) of one channel.

    ``mean`` is the mean of the readings in the bucket (sample mean); ``energy`` is the
    counter delta attributed to the bucket (None for channels that are not counters);
    ``last`` is the value of the bucket's latest reading.
    """

    ts: datetime
    mean: float
    min: float
    max: float
    count: int
    energy: float | None
    last: float


@dataclass
class WriteResult:
    """What one ``write`` did. ``rejected`` lists (channel, kind, message) of refused input."""

    accepted: int = 0  # new readings and replaced values written
    duplicates: int = 0  # same (channel, ts, value) already stored: no-op
    replaced: int = 0  # same (channel, ts), different value: last write wins
    glitches: int = 0  # net change of counter readings classified as glitches (gaps)
    resets: int = 0  # net change of accepted counter resets (new baselines)
    rejected: list[tuple[str, str, str]] = field(default_factory=list)

    def merge(self, other: WriteResult) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.replaced += other.replaced
        self.glitches += other.glitches
        self.resets += other.resets
        self.rejected.extend(other.rejected)


def check_tiers(tiers: Mapping[str, timedelta | None]) -> dict[str, timedelta | None]:
    """Complete and validate retention tiers: every resolution known, keep-for never shorter
    for a coarser level than for a finer one (coarse rollups are computed from finer ones)."""
    unknown = set(tiers) - set(RESOLUTIONS)
    if unknown:
        raise ValueError(f"unknown resolution(s) in retention tiers: {', '.join(sorted(unknown))}")
    full = {res: tiers.get(res, DEFAULT_TIERS[res]) for res in RESOLUTIONS}
    longest = timedelta(0)
    for res in RESOLUTIONS:
        keep = full[res]
        if keep is None:
            longest = timedelta.max
            continue
        if keep <= timedelta(0):
            raise ValueError(f"retention for {res} must be positive, got {keep}")
        if keep < longest:
            raise ValueError(f"retention for {res} ({keep}) is shorter than for a finer resolution")
        longest = keep
    return full


class Store(Protocol):
    """A time-series store of readings with rollups and retention."""

    tz: str

    def write(self, readings: Iterable[ReadingLike]) -> WriteResult:
        """Store many readings in one transaction; bad input is counted and refused."""
        ...

    def query(
        self, channels: Sequence[str], start: datetime, end: datetime, resolution: str
    ) -> dict[str, list[Row]]:
        """Rows per channel with bucket start in [start, end), oldest first."""
        ...

    def energy(self, channel: str, start: datetime, end: datetime) -> float:
        """Counter delta over [start, end), from the coarsest whole buckets that tile it."""
        ...

    def latest(self, channels: Sequence[str] | None = None) -> dict[str, Reading]:
        """The latest valid reading per channel (all channels when None)."""
        ...

    def apply_retention(self, now: datetime) -> dict[str, int]:
        """Delete what the tiers no longer keep; rows deleted per resolution."""
        ...

    def channels(self) -> list[Channel]: ...

    def raw_rows(
        self, channel: str, start: datetime, end: datetime
    ) -> list[tuple[int, float, int, float | None]]:
        """Stored raw rows (ts_ms, value, status, increment), glitches included."""
        ...

    def glitch_count(self, channel: str) -> int:
        """Counter readings currently stored as gaps."""
        ...

    def close(self) -> None: ...
