"""The charging session now at each charge point, as the owner sees it: energy, PV share, cost so
far, duration. Integrated cycle by cycle from the snapshot: the car's power, the grid import (the
car is counted as the last consumer, so only import beyond the house's draw is the car's) and the
price now (``Signals.price``, per kWh). Kept in memory: a restart starts a new session record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_STEP_S = 60.0  # a longer gap (a pause, a restart of the loop) is not integrated


@dataclass
class Session:
    start: datetime
    energy0: float | None  # the charger's counter at plug-in (Wh)
    last: datetime
    wh: float = 0.0  # integrated from power
    grid_wh: float = 0.0
    cost: float = 0.0


class Sessions:
    def __init__(self, grid_meter: str = "grid") -> None:
        self.grid = grid_meter
        self.now: dict[str, Session] = {}

    def update(self, snap: Any, signals: Any, chargers: Iterable[str]) -> None:
        t = snap.now
        grid = snap.get(f"{self.grid}.power")
        price = getattr(signals, "price", None)
        for cid in chargers:
            state = snap.get(f"{cid}.state")
            if state is None or state < 1:
                self.now.pop(cid, None)
                continue
            s = self.now.get(cid)
            if s is None:
                self.now[cid] = Session(t, snap.get(f"{cid}.energy"), t)
                continue
            dt = (t - s.last).total_seconds()
            s.last = t
            if dt <= 0 or dt > MAX_STEP_S:
                continue
            w = max(snap.get(f"{cid}.power") or 0.0, 0.0)
            from_grid = min(w, max(grid or 0.0, 0.0)) if grid is not None else w
            s.wh += w * dt / 3600.0
            s.grid_wh += from_grid * dt / 3600.0
            if price is not None:
                s.cost += from_grid * dt / 3600.0 / 1000.0 * price

    def json(self, cid: str, now: datetime) -> dict[str, Any] | None:
        s = self.now.get(cid)
        if s is None:
            return None
        return {
            "start": s.start.isoformat(),
            "duration_s": round((now - s.start).total_seconds()),
            "energy_wh": round(s.wh, 1),
            "pv_share_pct": round(100.0 * (1.0 - s.grid_wh / s.wh), 1) if s.wh > 1.0 else None,
            "cost_eur": round(s.cost, 2),
        }
