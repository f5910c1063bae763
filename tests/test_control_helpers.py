"""Shared helpers for the control tests: snapshots at chosen instants (the injected clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from wattwerk.snapshot import Snapshot

T0 = datetime(2025, 6, 14, 10, 0, tzinfo=UTC)


def snap(
    at: float | datetime = 0.0,
    ages: dict[str, float] | None = None,
    stale_after_s: float = 30.0,
    **values: float,
) -> Snapshot:
    """A snapshot ``at`` seconds after T0 (or at a datetime); channel names use ``__`` for the dot
    (``grid__power=500``); ``ages`` gives a channel's age in seconds (default 0)."""
    now = at if isinstance(at, datetime) else T0 + timedelta(seconds=at)
    ages = ages or {}
    data = {k.replace("__", "."): (float(v), ages.get(k.replace("__", "."), 0.0)) for k, v in values.items()}
    return Snapshot(now, MappingProxyType(data), stale_after_s)


def by_channel(setpoints) -> dict[str, float]:
    return {s.channel: s.value for s in setpoints}
