"""The edge's view of the site now: the latest value of every channel, with its age.

Controllers get a frozen ``Snapshot``; a value older than its channel's staleness limit
counts as unknown (``None``), so nothing acts on a meter that stopped talking.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from wattwerk.model import Reading


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Immutable site state at ``now``: channel -> (value, age in seconds)."""

    now: datetime
    values: Mapping[str, tuple[float, float]]
    stale_after_s: float

    def get(self, channel: str) -> float | None:
        """The value, or None when missing or stale."""
        entry = self.values.get(channel)
        if entry is None or entry[1] > self.stale_after_s:
            return None
        return entry[0]

    def age(self, channel: str) -> float | None:
        entry = self.values.get(channel)
        return None if entry is None else entry[1]

    def stale_devices(self) -> list[str]:
        """Devices whose every channel is older than the staleness limit."""
        fresh: dict[str, bool] = {}
        for name, (_, age) in self.values.items():
            device = name.split(".", 1)[0]
            fresh[device] = fresh.get(device, False) or age <= self.stale_after_s
        return sorted(d for d, ok in fresh.items() if not ok)


class SiteState:
    """Latest readings per channel; the poll loop updates it, controllers snapshot it."""

    def __init__(self, stale_after_s: float = 30.0) -> None:
        self.stale_after_s = stale_after_s
        self._latest: dict[str, tuple[float, datetime]] = {}

    def update(self, readings: Iterable[Reading]) -> None:
        for r in readings:
            old = self._latest.get(r.channel)
            if old is None or r.ts >= old[1]:
                self._latest[r.channel] = (r.value, r.ts)

    def snapshot(self, now: datetime) -> Snapshot:
        values = {ch: (v, (now - ts).total_seconds()) for ch, (v, ts) in self._latest.items()}
        return Snapshot(now, MappingProxyType(values), self.stale_after_s)
