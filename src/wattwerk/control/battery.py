"""Battery: self-consumption (grid to zero), hold (no discharge), charge from the grid at the
planner's setpoint, and a reserve SoC kept for backup. Works for AC-coupled batteries and hybrid
inverters alike: the setpoint is the battery's AC-side power (+ discharge, - charge).

Reads ``<id>.power`` and ``<id>.soc``; writes ``<id>.battery_setpoint`` (W).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from wattwerk.control.base import Result, Signals, clamp, sp
from wattwerk.snapshot import Snapshot

BatteryMode = Literal["self_consumption", "hold", "charge", "planner", "off"]


@dataclass(frozen=True, slots=True)
class BatteryConfig:
    id: str = "bat"
    mode: BatteryMode = "self_consumption"
    max_charge_w: float = 5000.0
    max_discharge_w: float = 5000.0
    reserve_soc: float = 10.0  # never discharged below (backup)
    reserve_hysteresis: float = 2.0  # discharge again only above reserve + this
    full_soc: float = 100.0
    charge_w: float = 0.0  # mode "charge": grid charging power
    hold_while_ev_from_grid: tuple[str, ...] = ()  # EV ids: the battery does not discharge into them
    priority_soc: float = 0.0  # below this SoC the battery takes surplus before the other laws
    probe_w: float = 500.0  # PV held back at an export limit: try to take this much more per cycle
    name: str = "battery"


PROBE_WAIT_MAX = 64  # cycles: the longest pause after probes the PV did not follow


@dataclass(frozen=True, slots=True)
class BatteryState:
    below_reserve: bool = False
    probed: bool = False  # the last cycle asked for more charge than the meter showed (a probe)
    probe_misses: int = 0  # probes in a row the PV did not follow
    probe_wait: int = 0  # cycles until the next probe


class BatteryControl:
    def __init__(self, config: BatteryConfig) -> None:
        self.config = config
        self.name = config.name

    def devices(self) -> tuple[str, ...]:
        return ()  # the battery's own power is added to the surplus by the cycle, not as a load

    def initial(self) -> BatteryState:
        return BatteryState()

    def reserve_w(self, snap: Snapshot, available_w: float | None) -> float:
        """Surplus the battery claims ahead of the other laws (below ``priority_soc``)."""
        soc = snap.get(f"{self.config.id}.soc")
        if available_w is None or soc is None or soc >= self.config.priority_soc:
            return 0.0
        return clamp(available_w, 0.0, self.config.max_charge_w)

    def probe(self, state: BatteryState, pv_held: bool, room: bool) -> tuple[float, BatteryState]:
        """PV the export limiter holds back (the inverters run at their limit) is not on the meter:
        the grid sits at the limit, so self-consumption alone would never store it. While the
        battery has room it asks for ``probe_w`` more than the meter shows; the limiter then lets
        the PV rise by what the battery takes. A probe the PV did not follow (the sun does not give
        it) pauses probing for 2, 4, .. 64 cycles. Returns (W to add to the surplus, new state)."""
        misses, wait = state.probe_misses, max(state.probe_wait - 1, 0)
        if state.probed and not pv_held:
            misses += 1
            wait = min(2**misses, PROBE_WAIT_MAX)
        elif state.probed:
            misses = 0
        go = pv_held and room and wait == 0
        return (self.config.probe_w if go else 0.0), replace(
            state, probed=go, probe_misses=misses, probe_wait=wait
        )

    def step(
        self,
        snap: Snapshot,
        state: BatteryState,
        available_w: float | None,
        signals: Signals,
        pv_held: bool = False,
    ) -> Result[BatteryState]:
        """``pv_held``: the export limiter holds the PV at a limit it reaches (see ``probe``)."""
        c = self.config
        soc = snap.get(f"{c.id}.soc")
        below = state.below_reserve
        if soc is not None:
            if soc <= c.reserve_soc:
                below = True
            elif soc >= c.reserve_soc + c.reserve_hysteresis:
                below = False
        mode = c.mode
        if mode == "planner":
            mode = "charge" if (signals.battery_w or 0.0) < 0 else "self_consumption"
        if mode == "off":
            want = 0.0
        elif mode == "charge" and c.mode == "planner":
            want = signals.battery_w or 0.0  # negative: the planner's grid-charging power
        elif mode == "charge":
            want = -c.charge_w
        elif available_w is None:
            want = 0.0  # no grid meter: the limiter's fail-safe decides
        else:
            room = soc is not None and soc < c.full_soc
            extra, state = self.probe(state, pv_held and mode == "self_consumption", room)
            want = -(available_w + extra)  # grid to zero: discharge what is missing, charge what is left
        hold = mode == "hold" or signals.hold_battery or (soc is None and mode != "charge")
        if want > 0 and c.hold_while_ev_from_grid:
            ev = sum(snap.get(f"{e}.power") or 0.0 for e in c.hold_while_ev_from_grid)
            want = max(want - ev, 0.0)  # cover the house, not the car
        if want > 0 and (hold or below):
            want = 0.0
        if soc is not None and soc >= c.full_soc and want < 0:
            want = 0.0
        want = clamp(want, -c.max_charge_w, c.max_discharge_w)
        setpoint = sp(c.id, "battery_setpoint", round(want, 1), snap.now, self.name)
        return Result((setpoint,), replace(state, below_reserve=below), used_w=-want)
