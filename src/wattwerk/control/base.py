"""What every control law shares: external signals, a law's result, the law protocol.

A control law is a pure function ``step(snapshot, state, available_w, signals) -> Result``:
the clock is ``snapshot.now`` (injected, so tests move it), ``state`` is a small frozen
dataclass the law returns renewed, and ``available_w`` is the surplus (W) the laws ahead of it
in priority order left over (None when the grid meter is unknown). A law reports ``used_w``,
the power it expects its devices to draw after its setpoints, so the next law sees the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from wattwerk.model import Setpoint
from wattwerk.snapshot import Snapshot

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Signals:
    """Inputs that are not device readings: the price now and what the planner decided.

    ``price`` in currency per kWh; ``cheap``/``expensive`` are the tariff's (or planner's) verdict
    on the price now; ``battery_w`` is the planner's battery setpoint (+ discharge); ``hold_battery``
    asks the battery not to discharge (energy is cheap now and dear later); ``battery_pv_w`` is the
    PV the plan stores in the battery now (W): worth more there than in a heater the plan did not
    schedule, so the heaters' surplus leaves it out (``heat_surplus``).
    """

    price: float | None = None
    cheap: bool = False
    expensive: bool = False
    battery_w: float | None = None
    hold_battery: bool = False
    # the planner's power (W) for the current slot per planned device (EV chargers, heaters)
    device_w: tuple[tuple[str, float], ...] = ()
    battery_pv_w: float = 0.0

    def heat_surplus(self, available_w: float | None) -> float | None:
        """The surplus a heater may take on its own: what is left after the plan's PV charge."""
        return None if available_w is None else available_w - self.battery_pv_w

    def planned_w(self, device_id: str) -> float | None:
        for name, watts in self.device_w:
            if name == device_id:
                return watts
        return None


NO_SIGNALS = Signals()


@dataclass(frozen=True, slots=True)
class Result(Generic[S]):
    setpoints: tuple[Setpoint, ...]
    state: S
    used_w: float = 0.0
    notes: tuple[str, ...] = field(default=())


class Law(Protocol[S]):
    """A control law for one device or a group (e.g. all charge points)."""

    name: str

    def devices(self) -> tuple[str, ...]:
        """Device ids whose ``<id>.power`` counts as flexible load in the surplus."""
        ...

    def initial(self) -> S: ...

    def step(self, snap: Snapshot, state: S, available_w: float | None, signals: Signals) -> Result[S]: ...


def sp(device: str, command: str, value: float, now: datetime, source: str) -> Setpoint:
    return Setpoint(f"{device}.{command}", float(value), now, source)


def clamp(value: float, lo: float, hi: float) -> float:
    return lo if value < lo else hi if value > hi else value
