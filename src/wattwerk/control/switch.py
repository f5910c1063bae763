"""One law for everything switched or set by surplus, price or schedule: sockets and relays
(Tasmota, Shelly), CHP, fuel cells, electrolysers. Parameters, not copies:

* ``kind="load"`` consumes ``power_w`` when on (relay, electrolyser); it runs on surplus.
* ``kind="generator"`` produces ``power_w`` when on (CHP, fuel cell); it runs when the site
  imports (a deficit) or the price is high.
* ``command="relay"`` writes 0/1; ``command="power"`` writes a setpoint between ``min_w`` and
  ``power_w`` following the surplus (an electrolyser's stack power).
* ``price_on``/``price_off`` and ``schedule`` (local time windows) switch on regardless.
Minimum run and pause times and a cap on switches per hour always hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Literal
from zoneinfo import ZoneInfo

from wattwerk.control.base import Result, Signals, clamp, sp
from wattwerk.control.timing import IDLE, OFF, Debounce, SwitchHistory, SwitchRules
from wattwerk.snapshot import Snapshot
from wattwerk.vocabulary import Command, Kind


@dataclass(frozen=True, slots=True)
class SwitchConfig:
    id: str
    kind: Literal["load", "generator"] = "load"
    command: Literal["relay", "power"] = "relay"
    power_w: float = 1000.0  # nominal power when on (W)
    min_w: float = 0.0  # "power" command: lowest setpoint while on
    on_margin_w: float = 0.0  # extra surplus (load) or deficit (generator) needed to switch on
    delay_s: float = 60.0  # the condition must hold this long
    min_on_s: float = 300.0
    min_off_s: float = 300.0
    max_switches_per_hour: int | None = 6
    price_on: float | None = None  # load: on at or below this price; generator: at or above
    schedule: tuple[tuple[time, time], ...] = ()  # local windows in which it is on
    timezone: str = "Europe/Berlin"
    name: str = ""


@dataclass(frozen=True, slots=True)
class SwitchState:
    history: SwitchHistory = OFF
    on_cond: Debounce = IDLE
    off_cond: Debounce = IDLE


class SwitchControl:
    def __init__(self, config: SwitchConfig) -> None:
        self.config = config
        self.name = config.name or f"switch:{config.id}"
        self.tz = ZoneInfo(config.timezone)

    def devices(self) -> tuple[str, ...]:
        return (self.config.id,) if self.config.kind == Kind.LOAD else ()

    def initial(self) -> SwitchState:
        return SwitchState()

    def _scheduled(self, snap: Snapshot) -> bool:
        now = snap.now.astimezone(self.tz).time()
        return any((a <= now < b) if a <= b else (now >= a or now < b) for a, b in self.config.schedule)

    def _priced(self, signals: Signals) -> bool:
        c = self.config
        if c.price_on is None or signals.price is None:
            return False
        return signals.price <= c.price_on if c.kind == Kind.LOAD else signals.price >= c.price_on

    def step(
        self, snap: Snapshot, state: SwitchState, available_w: float | None, signals: Signals
    ) -> Result[SwitchState]:
        c = self.config
        t = snap.now.timestamp()
        on = bool(state.history.state)
        surplus = available_w if available_w is not None else 0.0
        if c.kind == Kind.LOAD:
            # available_w already includes this load's own draw while it is on
            lowest = c.min_w if c.command == Command.POWER and c.min_w > 0 else c.power_w
            start_ok = surplus >= lowest + c.on_margin_w
            stop_need = surplus < lowest
        else:  # generator: its output is part of the import it covers
            deficit = -surplus + (c.power_w if on else 0.0)
            start_ok = deficit >= c.power_w + c.on_margin_w
            stop_need = deficit < c.power_w * 0.5
        forced = self._scheduled(snap) or self._priced(signals)
        on_cond = state.on_cond.update(start_ok, t)
        off_cond = state.off_cond.update(stop_need, t)
        want = on
        if forced or (not on and on_cond.held(t, c.delay_s)):
            want = True
        elif on and off_cond.held(t, c.delay_s):
            want = False
        rules = SwitchRules(c.min_on_s, c.min_off_s, c.max_switches_per_hour)
        history = state.history
        if history.may_switch(float(want), t, rules):
            history = history.switched(float(want), t)
        on = bool(history.state)
        if c.command == Command.RELAY:
            value, power = float(on), c.power_w if on else 0.0
        else:
            power = (
                clamp(surplus, c.min_w, c.power_w)
                if on and c.kind == Kind.LOAD and not forced
                else (c.power_w if on else 0.0)
            )
            value = power
        used = power if c.kind == Kind.LOAD else -power
        return Result(
            (sp(c.id, c.command, round(value, 1), snap.now, self.name),),
            SwitchState(history, on_cond, off_cond),
            used,
        )
