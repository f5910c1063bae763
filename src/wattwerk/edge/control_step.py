"""The runtime's control step: the site's ``ControlCycle`` (controllers, then the one limiter)
with its state kept between cycles, its events logged, and its last output kept for the page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from wattwerk.control.base import NO_SIGNALS, Signals
from wattwerk.control.battery import BatteryControl
from wattwerk.control.cycle import ControlCycle, CycleOutput
from wattwerk.control.ev import EvCharging
from wattwerk.control.owner import Override, OverrideKind, battery_reason, reasons, wrap_heaters
from wattwerk.control.reasons import Reason
from wattwerk.model import Setpoint
from wattwerk.snapshot import Snapshot
from wattwerk.vocabulary import OWNER_EV_MODES

log = logging.getLogger("wattwerk.control")

EV_MODES = OWNER_EV_MODES


class CycleStep:
    """Callable as ``ControlStep``: ``snapshot -> setpoints``."""

    def __init__(
        self, cycle: ControlCycle, signals: Callable[[], Signals] = lambda: NO_SIGNALS, tz: str = "UTC"
    ) -> None:
        self.cycle = cycle
        self.signals = signals
        self.tz = ZoneInfo(tz)
        self.state = cycle.initial()
        self.last: CycleOutput | None = None
        self.battery_w: float | None = None  # the owner's battery setpoint (+ discharge), if any
        self.heaters = wrap_heaters(cycle.laws)  # heat pumps and rods: the owner's boost / off on top
        self.reasons: dict[str, Reason] = {}  # device -> the last cycle's decision and why (an English str)
        self.on_cycle: Callable[[Snapshot, Signals], None] | None = None  # the owner's sessions and plans
        self.battery_mode: str | None = None  # the owner's battery mode, when set
        self.on_events: Callable[[tuple[Any, ...]], None] | None = None  # the episode journal's record
        ev_laws = [law for law in cycle.laws if isinstance(law, EvCharging)]
        # the configured maximum of every charge point: the owner's cap never goes above it
        self._max_current = {p.id: p.max_current_a for law in ev_laws for p in law.config.points}

    def __call__(self, snap: Snapshot) -> tuple[Setpoint, ...]:
        signals = self.signals()
        if self.battery_w is not None:
            signals = replace(signals, battery_w=self.battery_w, hold_battery=False, battery_pv_w=0.0)
        elif self.battery_mode is not None and self.battery_mode != "planner":
            # the owner's mode, not the planner's hold nor its PV charge
            signals = replace(signals, hold_battery=False, battery_pv_w=0.0)
        out = self.cycle.run(snap, self.state, signals)
        self.state = out.state
        self.last = out
        self.reasons = reasons(
            self.cycle.laws,
            snap,
            out.requested,
            out.setpoints,
            out.active,
            out.surplus_w,
            signals,
            self.tz,
            getattr(self.cycle, "grid_meter", "grid"),
        )
        bat = getattr(self.cycle, "battery", None)
        if bat is not None:
            self.reasons[bat.config.id] = battery_reason(bat.config, out.requested, out.setpoints, snap)
        if self.on_cycle is not None:
            self.on_cycle(snap, signals)
        for event in out.events:
            level = logging.WARNING if event.kind.startswith(("fallback", "restriction")) else logging.INFO
            log.log(level, "%s %s: %s", event.kind, event.subject, event.message)
        if out.events and self.on_events is not None:
            self.on_events(out.events)
        return out.setpoints

    def _change_point(self, device: str, **changes: object) -> bool:
        """Change one charge point's settings; every law keeps its state. False if no such point."""
        changed = False
        for i, law in enumerate(self.cycle.laws):
            if isinstance(law, EvCharging) and device in law.devices():
                points = tuple(replace(p, **changes) if p.id == device else p for p in law.config.points)
                self.cycle.laws[i] = EvCharging(replace(law.config, points=points))
                changed = True
        return changed

    def set_ev_mode(self, device: str, mode: str) -> bool:
        """The owner's charging mode for one charge point (from MQTT or the UI); the limiter
        still has the last word. False if no such point."""
        if mode not in EV_MODES:
            raise ValueError(f"unknown charging mode {mode!r}; expected one of {', '.join(EV_MODES)}")
        return self._change_point(device, mode=mode)

    def set_ev_current(self, device: str, amps: float) -> bool:
        """The owner's cap on a charge point's current, within its configured maximum."""
        top = self._max_current.get(device)
        if top is None:
            return False
        return self._change_point(device, max_current_a=max(0.0, min(top, amps)))

    def set_ev_plan(
        self,
        device: str,
        *,
        energy_wh: float | None = None,
        soc: float | None = None,
        capacity_wh: float | None = None,
        departure: datetime | None = None,
    ) -> bool:
        """The owner's target for a charge point (energy or SoC by ``departure``); all None ends it."""
        return self._change_point(
            device, target_energy_wh=energy_wh, target_soc=soc, capacity_wh=capacity_wh, departure=departure
        )

    def set_ev_min_current(self, device: str, amps: float) -> bool:
        """The owner's minimum current (A per phase), at least 6 A and within the point's maximum."""
        top = self._max_current.get(device)
        if top is None:
            return False
        return self._change_point(device, min_current_a=max(6.0, min(top, amps)))

    def set_ev_phases(self, device: str, phases: int) -> bool:
        """1, 3 or 0 (automatic switching, where the charger can)."""
        if phases not in (0, 1, 3):
            raise ValueError(f"phases must be 1, 3 or 0 (automatic), not {phases}")
        if phases == 0:
            return self._change_point(device, phase_switching=True, phases=3)
        return self._change_point(device, phase_switching=False, phases=phases)

    def point(self, device: str) -> Any:
        """A charge point's settings as the control runs them, or None."""
        laws = [law for law in self.cycle.laws if isinstance(law, EvCharging)]
        return next((p for law in laws for p in law.config.points if p.id == device), None)

    def set_battery_mode(self, mode: str | None = None, reserve_soc: float | None = None) -> bool:
        """The battery law's mode (self_consumption, hold, charge = from the grid at full power,
        planner) and reserve SoC. False when the site has no controlled battery."""
        bat = self.cycle.battery
        if bat is None:
            return False
        c = bat.config
        if mode is not None:
            self.battery_mode = mode
            c = replace(c, mode=mode, charge_w=c.max_charge_w if mode == "charge" else c.charge_w)  # type: ignore[arg-type]
        if reserve_soc is not None:
            c = replace(c, reserve_soc=max(0.0, min(100.0, reserve_soc)))
        self.cycle.battery = BatteryControl(c)
        return True

    def set_override(self, device: str, kind: OverrideKind | None, until: datetime | None) -> bool:
        """Boost or off for a heat pump or heating rod until ``until``; ``kind`` None ends it."""
        w = self.heaters.get(device)
        if w is None:
            return False
        w.override = None if kind is None or until is None else Override(kind, until)
        return True

    def modes(self) -> dict[str, str]:
        """Each charge point's mode as the control runs it (the default or the owner's choice)."""
        laws = [law for law in self.cycle.laws if isinstance(law, EvCharging)]
        return {p.id: p.mode for law in laws for p in law.config.points}

    def set_battery(self, watts: float | None) -> None:
        """The owner's battery setpoint (+ discharge), followed like the planner's; None ends it."""
        self.battery_w = watts

    def active_limits(self) -> Mapping[str, float]:
        """The limits in force in the last cycle (name -> W), for the page."""
        return {} if self.last is None else self.last.active
