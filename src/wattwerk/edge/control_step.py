"""The runtime's control step: the site's ``ControlCycle`` (controllers, then the one limiter)
with its state kept between cycles, its events logged, and its last output kept for the page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace

from wattwerk.control.base import NO_SIGNALS, Signals
from wattwerk.control.cycle import ControlCycle, CycleOutput
from wattwerk.control.ev import EvCharging
from wattwerk.edge.state import Snapshot
from wattwerk.model import Setpoint

log = logging.getLogger("wattwerk.control")

EV_MODES = ("off", "now", "minpv", "pv")


class CycleStep:
    """Callable as ``ControlStep``: ``snapshot -> setpoints``."""

    def __init__(self, cycle: ControlCycle, signals: Callable[[], Signals] = lambda: NO_SIGNALS) -> None:
        self.cycle = cycle
        self.signals = signals
        self.state = cycle.initial()
        self.last: CycleOutput | None = None

    def __call__(self, snap: Snapshot) -> tuple[Setpoint, ...]:
        out = self.cycle.run(snap, self.state, self.signals())
        self.state = out.state
        self.last = out
        for event in out.events:
            level = logging.WARNING if event.kind.startswith(("fallback", "restriction")) else logging.INFO
            log.log(level, "%s %s: %s", event.kind, event.subject, event.message)
        return out.setpoints

    def set_ev_mode(self, device: str, mode: str) -> bool:
        """The owner's charging mode for one charge point (from MQTT or the UI); the state of
        every law is kept, and the limiter still has the last word. False if no such point."""
        if mode not in EV_MODES:
            raise ValueError(f"unknown charging mode {mode!r}; expected one of {', '.join(EV_MODES)}")
        changed = False
        for i, law in enumerate(self.cycle.laws):
            if isinstance(law, EvCharging) and device in law.devices():
                points = tuple(replace(p, mode=mode) if p.id == device else p for p in law.config.points)
                self.cycle.laws[i] = EvCharging(replace(law.config, points=points))
                changed = True
        return changed

    def active_limits(self) -> Mapping[str, float]:
        """The limits in force in the last cycle (name -> W), for the page."""
        return {} if self.last is None else self.last.active
