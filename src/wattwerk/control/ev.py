"""EV charging for one or several charge points: modes off / now / minpv / pv (and the planner's
power per slot when ``Signals.device_w`` has one for a point in pv or minpv mode), start and stop
with delays, 1p/3p switching, priorities with fair sharing, a target by departure, and a circuit
limit that the chargers together never exceed.

Reads ``<id>.state`` (0 no car, 1 plugged, 2 charging), ``<id>.power``, ``<id>.energy`` and, when
a target SoC is set, ``<id>.soc``. Writes ``<id>.enable`` (0/1), ``<id>.current_limit`` (A per
phase) and, for chargers that can switch, ``<id>.phases`` (1/3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from wattwerk.control.base import Result, Signals, clamp, sp
from wattwerk.control.sharing import water_fill
from wattwerk.control.timing import IDLE, NEVER, Debounce
from wattwerk.model import Setpoint
from wattwerk.snapshot import Snapshot
from wattwerk.vocabulary import EV_DEFAULTS, OWNER_EV_MODES, Command, EvMode

Mode = Literal["off", "now", "minpv", "pv"]  # the wire values of vocabulary.OWNER_EV_MODES
MODES: tuple[str, ...] = OWNER_EV_MODES


@dataclass(frozen=True, slots=True)
class ChargePoint:
    """One charge point and the owner's wishes for it. Powers in W, currents in A per phase."""

    id: str
    mode: Mode = EvMode.PV  # type: ignore[assignment]
    min_current_a: float = EV_DEFAULTS.min_a
    max_current_a: float = EV_DEFAULTS.max_a
    phases: int = EV_DEFAULTS.phases
    phase_switching: bool = False
    voltage_v: float = 230.0
    priority: int = 0  # higher first; equal priorities share fairly
    enable_delay_s: float = 60.0  # surplus must cover the minimum this long before a start
    disable_delay_s: float = 180.0  # and fall short this long before a stop
    start_margin_w: float = 0.0
    stop_margin_w: float = 0.0  # tolerated shortfall below the minimum before the stop timer runs
    phase_delay_s: float = 60.0
    min_phase_hold_s: float = 600.0  # at least this long between two phase switches
    target_energy_wh: float | None = None  # per session (since plug-in), AC side
    target_soc: float | None = None  # needs capacity_wh and an ``<id>.soc`` channel
    capacity_wh: float | None = None
    departure: datetime | None = None
    efficiency: float = 0.9  # AC -> car battery, for SoC targets
    deadline_margin: float = 1.15  # plan the deadline with this much spare time
    # an enabled point measured below idle_w for idle_after_s (a full car) claims only what it draws,
    # until it draws at least half its one-phase minimum again (hysteresis)
    idle_w: float = 100.0
    idle_after_s: float = 30.0

    def power(self, current_a: float, phases: int) -> float:
        return current_a * phases * self.voltage_v

    @property
    def lowest_phases(self) -> int:
        return 1 if self.phase_switching else self.phases


@dataclass(frozen=True, slots=True)
class PointState:
    enabled: bool = False
    phases: int = 3
    current_a: float = 0.0
    start: Debounce = IDLE
    stop: Debounce = IDLE
    down: Debounce = IDLE
    up: Debounce = IDLE
    phase_switched: float = NEVER
    plugged: bool = False
    session_wh0: float | None = None
    idle: Debounce = IDLE  # enabled and measured drawing (next to) nothing, since


@dataclass(frozen=True, slots=True)
class EvState:
    points: tuple[PointState, ...] = ()


@dataclass(frozen=True, slots=True)
class EvConfig:
    points: tuple[ChargePoint, ...]
    circuit_max_a: float | None = None  # per phase, for all points together
    circuits: tuple[tuple[tuple[str, ...], float], ...] = ()  # (point ids, max A per phase) each
    name: str = "ev"


@dataclass(frozen=True, slots=True)
class _View:
    """What one cycle knows about a point."""

    cp: ChargePoint
    st: PointState
    plugged: bool
    charging: bool
    mode: str
    need_wh: float | None
    planned_w: float = 0.0  # mode "plan": the planner's power for this slot


class EvCharging:
    """The law for all charge points of a site (sharing needs to see them together)."""

    def __init__(self, config: EvConfig) -> None:
        self.config = config
        self.name = config.name

    def devices(self) -> tuple[str, ...]:
        return tuple(cp.id for cp in self.config.points)

    def initial(self) -> EvState:
        return EvState(tuple(PointState(phases=cp.phases) for cp in self.config.points))

    # ------------------------------------------------------------ per point facts

    def _need_wh(self, snap: Snapshot, cp: ChargePoint, st: PointState) -> float | None:
        """AC energy still wanted, or None when no target is set or it cannot be known."""
        if cp.target_soc is not None and cp.capacity_wh:
            soc = snap.get(f"{cp.id}.soc")
            if soc is not None:
                return max(cp.target_soc - soc, 0.0) / 100.0 * cp.capacity_wh / cp.efficiency
        if cp.target_energy_wh is not None:
            energy = snap.get(f"{cp.id}.energy")
            if energy is not None and st.session_wh0 is not None:
                return max(cp.target_energy_wh - (energy - st.session_wh0), 0.0)
        return None

    def _mode(self, cp: ChargePoint, need_wh: float | None, now: datetime) -> str:
        """The owner's mode, raised when the departure needs it; off once the target is met."""
        mode = cp.mode
        if need_wh is None or mode == EvMode.OFF:
            return mode
        if need_wh <= 0.0:
            return EvMode.OFF
        if cp.departure is None:
            return mode
        hours = (cp.departure - now).total_seconds() / 3600.0
        if hours <= 0:
            return mode
        top = cp.power(cp.max_current_a, cp.phases)
        low = cp.power(cp.min_current_a, cp.lowest_phases)
        if need_wh * cp.deadline_margin >= top * hours:
            return EvMode.NOW
        if mode == EvMode.PV and need_wh * cp.deadline_margin >= low * hours:
            return EvMode.MINPV
        return mode

    # ------------------------------------------------------------ the step

    def step(self, snap: Snapshot, state: EvState, available_w: float | None, signals: Signals) -> Result:
        now = snap.now
        t = now.timestamp()
        points = self.config.points
        states = state.points if len(state.points) == len(points) else self.initial().points
        views: list[_View] = []
        for cp, st in zip(points, states, strict=True):
            code = snap.get(f"{cp.id}.state")
            plugged = (code >= 1) if code is not None else st.plugged
            if plugged and not st.plugged:
                st = replace(st, plugged=True, session_wh0=snap.get(f"{cp.id}.energy"))
            elif not plugged:
                st = replace(st, plugged=False, session_wh0=None)
            if plugged and st.session_wh0 is None:
                st = replace(st, session_wh0=snap.get(f"{cp.id}.energy"))
            need = self._need_wh(snap, cp, st)
            mode = self._mode(cp, need, now) if plugged else "off"
            planned = signals.planned_w(cp.id)
            low = cp.power(cp.min_current_a, cp.lowest_phases)
            if mode in (EvMode.PV, EvMode.MINPV) and planned is not None and planned >= low:
                mode = EvMode.PLAN  # the planner's slot power (grid energy by departure), at least
            views.append(_View(cp, st, plugged, code == 2, mode, need, planned or 0.0))

        shares = self._share(views, available_w if available_w is not None else 0.0, t)
        setpoints: list[Setpoint] = []
        new_states: list[PointState] = []
        plan: list[tuple[ChargePoint, PointState]] = []
        for view, share in zip(views, shares, strict=True):
            plan.append((view.cp, self._decide(view, share, t)))
        plan = self._fit_circuit(plan)
        used = 0.0
        for (cp, st), view, share in zip(plan, views, shares, strict=True):
            setpoints.append(sp(cp.id, Command.ENABLE, 1.0 if st.enabled else 0.0, now, self.name))
            current = (
                max(math.floor(st.current_a * 10 + 1e-6) / 10, cp.min_current_a)
                if st.enabled
                else cp.min_current_a
            )
            setpoints.append(sp(cp.id, Command.CURRENT_LIMIT, current, now, self.name))
            if cp.phase_switching:
                setpoints.append(sp(cp.id, Command.PHASES, st.phases, now, self.name))
            st = self._idle(snap, cp, st, t)
            if st.enabled:
                surplus_share = min(share, max(available_w or 0.0, 0.0))
                reserved = cp.power(current, st.phases)
                seen = replace(view, st=replace(view.st, idle=st.idle))  # enabled as of last cycle
                used += self._claim(snap, seen, reserved, surplus_share, t)
            new_states.append(st)
        return Result(tuple(setpoints), EvState(tuple(new_states)), used)

    @staticmethod
    def _is_idle(v: _View, t: float) -> bool:
        return v.st.enabled and v.st.idle.held(t, v.cp.idle_after_s)

    @staticmethod
    def _idle(snap: Snapshot, cp: ChargePoint, st: PointState, t: float) -> PointState:
        """Track how long an enabled point has measured (next to) nothing; once idle it stays idle
        until it draws half its one-phase minimum (so a car's trickle does not flip it)."""
        drawn = snap.get(f"{cp.id}.power")
        if not st.enabled or drawn is None:
            return replace(st, idle=IDLE) if st.idle.since is not None else st
        idle = st.idle.held(t, cp.idle_after_s)
        below = drawn < (cp.power(cp.min_current_a, 1) / 2 if idle else cp.idle_w)
        return replace(st, idle=st.idle.update(below, t))

    def _claim(self, snap: Snapshot, view: _View, reserved_w: float, share_w: float, t: float) -> float:
        """What an enabled point takes from the surplus: what it was given, except for a car that
        was enabled last cycle already and still does not charge (waiting on its own timer): then
        its share of the surplus or what it measurably draws, never more, so the battery law does
        not discharge to feed a car that takes nothing; and a point measured idle for
        ``idle_after_s`` (a full car, whatever state it reports) claims only what it draws, so the
        surplus goes to the battery and the other loads."""
        code = snap.get(f"{view.cp.id}.state")
        drawn = snap.get(f"{view.cp.id}.power")
        if drawn is not None and view.st.idle.held(t, view.cp.idle_after_s):
            return min(max(drawn, 0.0), reserved_w)
        if view.st.enabled and code is not None and code < 2 and drawn is not None:
            return min(max(drawn, share_w, 0.0), reserved_w)
        return reserved_w

    def _share(self, views: list[_View], available: float, t: float) -> list[float]:
        """Power per point: now-points their maximum; the rest of the surplus shared by priority,
        fairly within a priority; a pv point that would get less than its minimum gives its share up;
        an idle point (see ``_idle``) keeps its share but takes nothing from the other points' pool."""
        shares = [0.0] * len(views)
        pool = available
        for i, v in enumerate(views):
            if v.mode == EvMode.NOW:
                shares[i] = v.cp.power(v.cp.max_current_a, v.cp.phases)
                pool -= shares[i]
            elif v.mode == EvMode.PLAN:
                shares[i] = min(v.planned_w, v.cp.power(v.cp.max_current_a, v.cp.phases))
                pool -= shares[i]
        for prio in sorted({v.cp.priority for v in views}, reverse=True):
            pv_modes = (EvMode.PV, EvMode.MINPV)
            group = [i for i, v in enumerate(views) if v.cp.priority == prio and v.mode in pv_modes]
            idle = [i for i in group if self._is_idle(views[i], t)]
            group = [i for i in group if i not in idle]  # idle points get what the others leave
            # not yet charging points give way first, then by position
            group.sort(key=lambda i: (not views[i].st.enabled, i))
            while group:
                bounds = [
                    (0.0, views[i].cp.power(views[i].cp.max_current_a, views[i].cp.phases)) for i in group
                ]
                got = water_fill(max(pool, 0.0), bounds)
                short = [
                    k
                    for k, i in enumerate(group)
                    if views[i].mode == EvMode.PV
                    and not views[i].st.enabled
                    and got[k] < views[i].cp.power(views[i].cp.min_current_a, views[i].cp.lowest_phases)
                ]
                if short and len(group) > 1:
                    group.pop(short[-1])
                    continue
                for k, i in enumerate(group):
                    shares[i] = got[k]
                break
            for i in group:
                v = views[i]
                floor = v.cp.power(v.cp.min_current_a, v.st.phases if v.st.enabled else v.cp.lowest_phases)
                taken = max(shares[i], floor) if (v.mode == EvMode.MINPV or v.st.enabled) else shares[i]
                pool -= taken
            for i in idle:  # their share stays theirs to start again with, but takes nothing from the pool
                cp = views[i].cp
                shares[i] = min(max(pool, 0.0), cp.power(cp.max_current_a, cp.phases))
        return shares

    def _phases(self, cp: ChargePoint, st: PointState, share: float, t: float) -> PointState:
        if not cp.phase_switching:
            return replace(st, phases=cp.phases)
        p3 = cp.power(cp.min_current_a, 3)
        down = st.down.update(share < p3 - cp.stop_margin_w, t)
        up = st.up.update(share >= p3 + cp.start_margin_w, t)
        st = replace(st, down=down, up=up)
        hold_ok = t - st.phase_switched >= cp.min_phase_hold_s
        want = st.phases
        if not st.enabled:  # not charging: pick the phases the surplus fits, no delay needed
            want = 3 if share >= p3 + cp.start_margin_w else 1
        elif st.phases == 3 and down.held(t, cp.phase_delay_s):
            want = 1
        elif st.phases == 1 and up.held(t, cp.phase_delay_s):
            want = 3
        if want != st.phases and hold_ok:
            st = replace(st, phases=want, phase_switched=t, down=Debounce(), up=Debounce())
        return st

    def _decide(self, v: _View, share: float, t: float) -> PointState:
        cp, st = v.cp, v.st
        if v.mode == EvMode.OFF:
            return replace(st, enabled=False, current_a=0.0, start=Debounce(), stop=Debounce())
        if v.mode == EvMode.NOW:
            want = cp.phases
            if cp.phase_switching and st.phases != want and t - st.phase_switched >= cp.min_phase_hold_s:
                st = replace(st, phases=want, phase_switched=t)
            return replace(st, enabled=True, current_a=cp.max_current_a, start=Debounce(), stop=Debounce())
        st = self._phases(cp, st, share, t)
        current = clamp(share / (st.phases * cp.voltage_v), cp.min_current_a, cp.max_current_a)
        if v.mode in (EvMode.MINPV, EvMode.PLAN):
            return replace(st, enabled=True, current_a=current, start=Debounce(), stop=Debounce())
        low = cp.power(cp.min_current_a, st.phases)
        if not st.enabled:
            start = st.start.update(share >= low + cp.start_margin_w, t)
            enabled = start.held(t, cp.enable_delay_s)
            return replace(
                st,
                enabled=enabled,
                current_a=current,
                start=Debounce() if enabled else start,
                stop=Debounce(),
            )
        lowest = cp.power(cp.min_current_a, cp.lowest_phases)
        stop = st.stop.update(share < lowest - cp.stop_margin_w, t)
        if stop.held(t, cp.disable_delay_s):
            return replace(st, enabled=False, current_a=0.0, stop=Debounce(), start=Debounce())
        return replace(st, current_a=current, stop=stop, start=Debounce())

    def _fit_circuit(
        self, plan: list[tuple[ChargePoint, PointState]]
    ) -> list[tuple[ChargePoint, PointState]]:
        """Keep each circuit's current on its busiest phase (L1 carries every point) within its
        limit: lower currents fairly; if even the minimums do not fit, stop the lowest priority."""
        circuits = list(self.config.circuits)
        if self.config.circuit_max_a is not None:
            circuits.append((tuple(cp.id for cp in self.config.points), self.config.circuit_max_a))
        plan = list(plan)
        for ids, limit in circuits:
            on = [i for i, (cp, st) in enumerate(plan) if st.enabled and cp.id in ids]
            on.sort(key=lambda i: (plan[i][0].priority, plan[i][1].current_a > 0, -i))
            while on and sum(plan[i][0].min_current_a for i in on) > limit + 1e-9:
                i = on.pop(0)
                cp, st = plan[i]
                plan[i] = (cp, replace(st, enabled=False, current_a=0.0))
            if sum(plan[i][1].current_a for i in on) > limit:
                got = water_fill(limit, [(plan[i][0].min_current_a, plan[i][1].current_a) for i in on])
                for i, current in zip(on, got, strict=True):
                    cp, st = plan[i]
                    plan[i] = (cp, replace(st, current_a=current))
        return plan
