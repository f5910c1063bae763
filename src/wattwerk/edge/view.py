"""What the local page shows, computed from the site state and the store.

One implementation serves the demo and a real edge: it needs a snapshot of the state now,
the store with today's history, the site's roles and timezone, and a clock (the demo's
clock is the simulator's).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from wattwerk.flows import FLOW_ROLES, SiteRoles, flow_energy, power_flows
from wattwerk.snapshot import Snapshot
from wattwerk.store.base import Store


class StoreView:
    def __init__(
        self,
        name: str,
        tz: ZoneInfo,
        roles: SiteRoles,
        snapshot: Callable[[], Snapshot],
        store: Store,
        now: Callable[[], datetime],
        flush: Callable[[], object] = lambda: None,
    ) -> None:
        self.name = name
        self.tz = tz
        self.roles = roles
        self.snapshot = snapshot
        self.store = store
        self.now = now
        self.flush = flush

    def local_day(self) -> tuple[datetime, datetime]:
        """Today's local midnight and the next one (23 or 25 hours apart on DST days)."""
        local = self.now().astimezone(self.tz)
        start = datetime(local.year, local.month, local.day, tzinfo=self.tz)
        end = (start + timedelta(days=1, hours=2)).replace(hour=0)
        return start, end

    def live(self) -> dict[str, Any]:
        snap = self.snapshot()
        flows = power_flows(self.roles, snap.get)
        return {
            "site": self.name,
            "ts": snap.now.isoformat(),
            "local_time": snap.now.astimezone(self.tz).strftime("%a %d %b %Y %H:%M"),
            "flows": {k: (None if v is None else round(v, 1)) for k, v in flows.items()},
            "stale": snap.stale_devices(),
        }

    def today(self) -> dict[str, Any]:
        self.flush()
        start, end = self.local_day()
        series: dict[str, list[list[Any]]] = {}
        for flow in FLOW_ROLES:
            ids = self.roles.ids(flow)
            if not ids:
                continue
            rows = self.store.query([f"{d}.power" for d in ids], start, end, "15m")
            summed: dict[datetime, float] = defaultdict(float)
            for channel_rows in rows.values():
                for row in channel_rows:
                    summed[row.ts] += row.mean
            series[flow] = [[ts.isoformat(), round(v, 1)] for ts, v in sorted(summed.items())]
        return {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "series": series,
            "energy_kwh": self.energy_kwh(start, self.now() + timedelta(milliseconds=1)),
        }

    def energy_kwh(self, start: datetime, end: datetime) -> dict[str, float]:
        """Energy per flow over [start, end): counters where a device has one, else its power's
        covered-time integral (flows.flow_energy, the rule the portal uses too)."""
        known = {c.name for c in self.store.channels()}

        def counter(channel: str) -> float | None:
            return self.store.energy(channel, start, end) if channel in known else None

        def power(channel: str) -> tuple[float, float] | None:
            if channel not in known or not hasattr(self.store, "power_energy"):
                return None
            e = self.store.power_energy(channel, start, end)
            return None if e is None else (e.pos_wh, e.neg_wh)

        return flow_energy(self.roles, counter, power)
