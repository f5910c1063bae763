"""One control cycle: the laws in priority order, each seeing the surplus the ones before it
left, then the one limiter. Pure: (snapshot, states, signals) -> (setpoints, states, events).

The surplus is ``-grid + flexible loads' own draw - battery power`` (W): what the site would
export if every flexible load were off and the battery idle. The battery law runs last and
takes what is left (or covers what is missing); below its ``priority_soc`` it claims its charge
power first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from wattwerk.control.base import NO_SIGNALS, Law, Signals
from wattwerk.control.battery import BatteryControl
from wattwerk.control.limiter import Event, Limiter, LimiterState
from wattwerk.model import Setpoint
from wattwerk.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class CycleState:
    laws: Mapping[str, Any]
    limiter: LimiterState


@dataclass(frozen=True, slots=True)
class CycleOutput:
    requested: tuple[Setpoint, ...]
    setpoints: tuple[Setpoint, ...]
    state: CycleState
    events: tuple[Event, ...]
    surplus_w: float | None
    active: Mapping[str, float] = field(default_factory=dict)  # limits in force this cycle (name -> W)


class ControlCycle:
    def __init__(
        self,
        laws: Sequence[Law],
        limiter: Limiter,
        grid_meter: str = "grid",
        battery: BatteryControl | None = None,
    ) -> None:
        self.laws = list(laws)
        self.limiter = limiter
        self.grid_meter = grid_meter
        self.battery = battery

    def initial(self) -> CycleState:
        states = {law.name: law.initial() for law in self.laws}
        if self.battery is not None:
            states[self.battery.name] = self.battery.initial()
        return CycleState(MappingProxyType(states), self.limiter.initial())

    def surplus(self, snap: Snapshot, state: CycleState | None = None) -> float | None:
        """A law may say how much of its devices' draw it really controls (``flexible_w``): a
        heating rod whose own thermostat runs it at full power is not surplus to share."""
        grid = snap.get(f"{self.grid_meter}.power")
        if grid is None:
            return None
        flex = 0.0
        for law in self.laws:
            own = getattr(law, "flexible_w", None)
            if own is not None and state is not None and law.name in state.laws:
                flex += own(snap, state.laws[law.name])
            else:
                flex += sum(snap.get(f"{d}.power") or 0.0 for d in law.devices())
        bat = snap.get(f"{self.battery.config.id}.power") if self.battery is not None else None
        return -grid + flex - (bat or 0.0)

    def pv_held(self, snap: Snapshot, state: CycleState) -> bool:
        """The limiter holds PV back for an export limit and an inverter runs at that limit (within
        3 %, at least 50 W): the sun may give more than the meter shows."""
        lim = state.limiter
        if not lim.pv_limited:
            return False
        for dev, sent in lim.pv_sent.items():
            power = snap.get(f"{dev}.power")
            if power is not None and power >= sent - max(50.0, 0.03 * sent):
                return True
        return False

    def run(self, snap: Snapshot, state: CycleState, signals: Signals = NO_SIGNALS) -> CycleOutput:
        surplus = self.surplus(snap, state)
        available = surplus
        reserved = 0.0
        if self.battery is not None:
            reserved = self.battery.reserve_w(snap, available)
            if available is not None:
                available -= reserved
        requested: list[Setpoint] = []
        states = dict(state.laws)
        for law in self.laws:
            result = law.step(snap, states.get(law.name, law.initial()), available, signals)
            states[law.name] = result.state
            requested.extend(result.setpoints)
            if available is not None:
                available -= result.used_w
        if self.battery is not None:
            left = None if available is None else available + reserved
            result = self.battery.step(
                snap,
                states.get(self.battery.name, self.battery.initial()),
                left,
                signals,
                pv_held=self.pv_held(snap, state),
            )
            states[self.battery.name] = result.state
            requested.extend(result.setpoints)
        out = self.limiter.apply(requested, snap, state.limiter)
        return CycleOutput(
            tuple(requested),
            out.setpoints,
            CycleState(MappingProxyType(states), out.state),
            out.events,
            surplus,
            out.active,
        )
