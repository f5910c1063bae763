"""A wallbox with a commuter's car: leaves in the morning, comes back in the evening with less charge.

Without an energy manager the wallbox charges at its maximum current from arrival until the
car reaches its target SoC. Departure and arrival times get seeded jitter per day, so the
pattern does not depend on the step size.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from wattwerk.sim.device import BadCommand, SimComponent
from wattwerk.sim.params import EVParams

NO_CAR, PLUGGED, CHARGING = 0, 1, 2  # like IEC 61851 states A, B, C


def _clock(text: str) -> time:
    hh, mm = text.split(":")
    return time(int(hh), int(mm))


class EVCharger(SimComponent):
    """``power`` is the AC power drawn by the wallbox (+ consuming).

    Commands: ``current_limit`` (A per phase; above the maximum it is capped, between 0 and the
    minimum the charge pauses, as IEC 61851 has it), ``enable`` (0/1), ``phases`` (1 or 3, only
    with ``phase_switching``). ``plugged``, ``soc``, ``energy_needed_wh`` and ``departure`` say
    what a smart-charging controller needs to know.
    """

    commands = ("current_limit", "enable", "phases")

    def __init__(self, name: str, params: EVParams, timezone: str, seed: int) -> None:
        super().__init__(name)
        if params.phases not in (1, 3):
            raise ValueError(f"{name}: phases must be 1 or 3, got {params.phases}")
        if not 0 < params.min_current_a <= params.max_current_a:
            raise ValueError(f"{name}: need 0 < min_current_a <= max_current_a")
        if params.capacity_wh <= 0 or not 0 < params.charge_eff <= 1:
            raise ValueError(f"{name}: need capacity_wh > 0 and charge_eff in (0, 1]")
        self.params = params
        self.voltage = params.voltage_v
        self.tz = ZoneInfo(timezone)
        self._seed = seed
        self._dep = _clock(params.departure)
        self._arr = _clock(params.arrival)
        self.stored_wh = params.capacity_wh * params.soc_initial / 100.0
        self._target_wh = params.capacity_wh * params.soc_target / 100.0
        self.current_limit = params.max_current_a
        self.enabled = True
        self.phases = params.phases
        self.current = 0.0
        self.plugged = True
        self._next_event = float("-inf")  # set on the first step
        self._trip_end = 0.0
        self._trips: dict[date, tuple[float, float] | None] = {}

    # ------------------------------------------------------------ commute pattern

    def trip(self, day: date) -> tuple[float, float] | None:
        """(departure, arrival) in epoch seconds for a local date, or None when the car stays home."""
        if day not in self._trips:
            p = self.params
            if day.weekday() >= 5 and not p.weekend_trips:
                self._trips[day] = None
            else:
                rng = random.Random(self._seed * 1_000_003 + day.toordinal())
                dep = datetime.combine(day, self._dep, self.tz).timestamp() + rng.gauss(0, p.jitter_min) * 60
                arr = datetime.combine(day, self._arr, self.tz).timestamp() + rng.gauss(0, p.jitter_min) * 60
                self._trips[day] = (dep, max(arr, dep + 600.0))
        return self._trips[day]

    def _local_day(self, t: float) -> date:
        return datetime.fromtimestamp(t, self.tz).date()

    def _schedule(self, t: float) -> None:
        """Set plugged state and the next event for time ``t`` (first step, or after a jump)."""
        day = self._local_day(t) - timedelta(days=1)
        for _ in range(16):
            trip = self.trip(day)
            if trip is not None:
                dep, arr = trip
                if dep <= t < arr:
                    self.plugged, self._next_event, self._trip_end = False, arr, arr
                    return
                if t < dep:
                    self.plugged, self._next_event = True, dep
                    return
            day += timedelta(days=1)
        self.plugged, self._next_event = True, t + 86400.0

    def _events(self, t: float) -> None:
        while t >= self._next_event:
            if self.plugged:  # leave: the trip's energy is used on the way, booked on arrival
                self.plugged = False
                self._next_event = self._trip_end = self.trip(self._local_day(self._next_event))[1]
            else:
                used = self.params.km_per_day * self.params.consumption_wh_per_km
                self.stored_wh = max(self.stored_wh - used, 0.0)
                self._schedule(self._next_event)
                self.plugged = True

    # ------------------------------------------------------------ commands and step

    def apply(self, command: str, value: float) -> None:
        value = self.check(command, value)
        p = self.params
        if command == "current_limit":
            if value < 0:
                raise BadCommand(self.name, f"current_limit must be >= 0 A, got {value}")
            self.current_limit = min(value, p.max_current_a)
        elif command == "enable":
            if value not in (0, 1):
                raise BadCommand(self.name, f"enable must be 0 or 1, got {value}")
            self.enabled = bool(value)
        else:
            if value not in (1, 3):
                raise BadCommand(self.name, f"phases must be 1 or 3, got {value}")
            if not p.phase_switching and value != p.phases:
                raise BadCommand(
                    self.name, f"this charger cannot switch phases (fixed at {p.phases})", "unsupported"
                )
            self.phases = int(value)

    def update(self, t: float, dt_s: float) -> float:
        if t >= self._next_event:
            if self._next_event == float("-inf"):
                self._schedule(t)
            self._events(t)
        p = self.params
        power = 0.0
        if (
            self.plugged
            and self.enabled
            and self.current_limit >= p.min_current_a
            and self.stored_wh < self._target_wh
        ):
            h = dt_s / 3600.0
            power = self.phases * self.voltage * self.current_limit
            need = (self._target_wh - self.stored_wh) / p.charge_eff / h
            if need < power:
                power = need
            self.stored_wh += power * p.charge_eff * h
        self.power = power
        self.current = power / (self.phases * self.voltage)
        return power

    # ------------------------------------------------------------ what it shows

    @property
    def soc(self) -> float:
        return 100.0 * self.stored_wh / self.params.capacity_wh

    @property
    def state(self) -> int:
        if not self.plugged:
            return NO_CAR
        return CHARGING if self.power > 0 else PLUGGED

    @property
    def energy_needed_wh(self) -> float:
        """AC energy still needed to reach the target SoC (what the car requests by departure)."""
        return max(self._target_wh - self.stored_wh, 0.0) / self.params.charge_eff

    @property
    def departure(self) -> datetime | None:
        """When the plugged car leaves next (UTC), if known."""
        if not self.plugged or self._next_event == float("-inf"):
            return None
        return datetime.fromtimestamp(self._next_event, UTC)

    def values(self) -> dict[str, float]:
        return {
            "power": self.power,
            "energy": self.energy,
            "soc": self.soc,
            "state": float(self.state),
            "current": self.current,
            "current_limit": self.current_limit,
            "phases": float(self.phases),
            "relay": float(self.enabled),
        }
