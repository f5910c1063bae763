"""Heating rod: continuous power (e.g. my-PV) or relay stages, from PV surplus; a daily minimum
energy by a local time, and legionella protection (the tank once a day above a temperature).

Reads ``<id>.power``, ``<id>.energy`` and ``<id>.temperature``; writes ``<id>.power`` (W).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from wattwerk.control.base import Result, Signals, clamp, sp
from wattwerk.control.timing import IDLE, OFF, Debounce, SwitchHistory, SwitchRules
from wattwerk.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class HeatingRodConfig:
    id: str = "rod"
    max_w: float = 3000.0
    stages_w: tuple[float, ...] = ()  # relay stages in W, ascending; empty = continuous
    min_w: float = 100.0  # a continuous rod below this is switched off
    up_delay_s: float = 60.0  # a stage is raised when the surplus covers it (plus margin) this long
    up_margin_w: float = 100.0
    down_delay_s: float = 0.0  # and lowered when the surplus falls short this long (quick off, slow on)
    min_on_s: float = 60.0  # relay stages: at least this long in a stage
    max_switches_per_hour: int = 12
    daily_min_wh: float = 0.0  # energy per local day, reached by ``daily_by``
    daily_by: time = time(18, 0)
    legionella_c: float | None = None  # e.g. 60: the tank reaches this once a day
    legionella_after: time = time(14, 0)  # forced after this local time if not reached yet
    timezone: str = "Europe/Berlin"
    name: str = "heating_rod"


@dataclass(frozen=True, slots=True)
class HeatingRodState:
    day: date | None = None
    day_wh0: float | None = None
    legionella_done: bool = False
    history: SwitchHistory = OFF
    up: Debounce = IDLE
    down: Debounce = IDLE
    sent_w: float = 0.0  # the power last asked for


class HeatingRodControl:
    def __init__(self, config: HeatingRodConfig) -> None:
        self.config = config
        self.name = config.name
        self.tz = ZoneInfo(config.timezone)

    def devices(self) -> tuple[str, ...]:
        return (self.config.id,)

    def initial(self) -> HeatingRodState:
        return HeatingRodState()

    def _forced(self, snap: Snapshot, st: HeatingRodState, local: datetime) -> tuple[bool, HeatingRodState]:
        """Whether the daily minimum or legionella protection needs full power now."""
        c = self.config
        energy = snap.get(f"{c.id}.energy")
        temp = snap.get(f"{c.id}.temperature")
        if st.day != local.date():
            st = replace(st, day=local.date(), day_wh0=energy, legionella_done=False)
        elif st.day_wh0 is None and energy is not None:
            st = replace(st, day_wh0=energy)
        if c.legionella_c is not None and temp is not None and temp >= c.legionella_c:
            st = replace(st, legionella_done=True)
        force = False
        if c.legionella_c is not None and not st.legionella_done and local.time() >= c.legionella_after:
            force = True
        if c.daily_min_wh > 0 and energy is not None and st.day_wh0 is not None:
            missing = c.daily_min_wh - (energy - st.day_wh0)
            deadline = datetime.combine(local.date(), c.daily_by, self.tz)
            hours = (deadline - local).total_seconds() / 3600.0
            if missing > 0 and (hours <= 0 or missing * 1.1 >= c.max_w * hours):
                force = True
        return force, st

    def step(
        self, snap: Snapshot, state: HeatingRodState, available_w: float | None, signals: Signals
    ) -> Result[HeatingRodState]:
        c = self.config
        t = snap.now.timestamp()
        force, st = self._forced(snap, state, snap.now.astimezone(self.tz))
        surplus = signals.heat_surplus(available_w) or 0.0
        planned = signals.planned_w(c.id)  # the planner heats the tank now (cheap energy): as if surplus
        if planned is not None and planned > surplus:
            surplus = planned + (c.up_margin_w if c.stages_w else 0.0)
        if not c.stages_w:
            want = c.max_w if force else clamp(surplus, 0.0, c.max_w)
            if want < c.min_w:
                want = 0.0
            st = replace(st, history=st.history.switched(float(want > 0), t))
        else:
            want, up, down = (c.max_w, Debounce(), Debounce()) if force else self._stage(st, surplus, t)
            rules = SwitchRules(c.min_on_s, c.min_on_s, c.max_switches_per_hour)
            if not force and not st.history.may_switch(want, t, rules):
                want = st.history.state
            if want != st.history.state:
                up, down = Debounce(), Debounce()
            st = replace(st, history=st.history.switched(want, t), up=up, down=down)
        st = replace(st, sent_w=round(want, 1))
        return Result((sp(c.id, "power", round(want, 1), snap.now, self.name),), st, used_w=want)

    def flexible_w(self, snap: Snapshot, state: HeatingRodState) -> float:
        """Only what it draws on our request counts: beyond that its own thermostat runs it."""
        return min(snap.get(f"{self.config.id}.power") or 0.0, state.sent_w)

    def _stage(self, st: HeatingRodState, surplus: float, t: float) -> tuple[float, Debounce, Debounce]:
        """Relay stages: one step up when the surplus covers the next stage for ``up_delay_s``;
        down to the highest stage the surplus covers when it falls short for ``down_delay_s``."""
        c = self.config
        levels = (0.0, *c.stages_w)
        now_level = st.history.state if st.history.state in levels else 0.0
        i = levels.index(now_level)
        up = st.up.update(i + 1 < len(levels) and surplus >= levels[i + 1] + c.up_margin_w, t)
        down = st.down.update(i > 0 and surplus < levels[i], t)
        if up.held(t, c.up_delay_s):
            return levels[i + 1], up, down
        if down.held(t, c.down_delay_s):
            return max(lv for lv in levels if lv <= max(surplus, 0.0)), up, down
        return now_level, up, down
