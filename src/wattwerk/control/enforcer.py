"""The limiter's third stage, the one enforcer: it changes the plan until the predicted grid keeps every
limit in force.

Import side: shedding in a fixed order (battery discharge, heating rods, relay loads, chargers fairly
then by priority, heat pumps' SG-Ready, then relay loads regardless of their minimum run time, and last
the battery regardless of exports), each step by the least amount that suffices (regula falsi).
Export side: more battery charging, then a PV limit at today's output plus the remaining headroom, so
PV can never rise past the limit between two cycles. Devices gone stale get their fail-safe setpoints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from wattwerk.config.limits import ControlLimits
from wattwerk.control.devices import DeviceSpec
from wattwerk.control.kinds import FailSafe, rules_of
from wattwerk.control.limit_types import Event, LimiterState, Plan, copy_plan, ev_command, exports_of
from wattwerk.control.prediction import CycleView, Predictor
from wattwerk.control.sharing import water_fill
from wattwerk.control.timing import SwitchHistory, SwitchRules
from wattwerk.vocabulary import Command, Kind

Room = Callable[[Plan], float]  # how much (W, or 1 for a switch) a step can still give
Act = Callable[[Plan, float], None]  # give r of it
Step = tuple[str, Room, Act]


@dataclass(frozen=True, slots=True)
class Round:
    """One cycle as the enforcer sees it: the snapshot, the limits in force, the stale devices it
    leaves to their fail-safe, the switch histories and the time; events go to ``events``."""

    view: CycleView
    active: Mapping[str, float]
    skip: frozenset[str]
    switches: Mapping[str, SwitchHistory]
    t: float
    events: list[Event]
    exports: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.exports[:] = exports_of(self.active)


@dataclass(frozen=True, slots=True)
class Enforcer:
    predictor: Predictor
    limits: ControlLimits
    pv_rated_w: float
    by_kind: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def devices(self) -> Mapping[str, DeviceSpec]:
        return self.predictor.devices

    def of(self, kind: Kind) -> tuple[str, ...]:
        return self.by_kind.get(kind, ())

    def fail_safe(self, plan: Plan, dev: str, active: Mapping[str, float]) -> None:
        s = self.devices[dev]
        ctx = FailSafe(self.limits, tuple(exports_of(active)), self.pv_rated_w)
        if not rules_of(s).fail_safe(s, plan.setdefault(dev, {}), ctx):
            plan.pop(dev, None)

    def enforce(self, plan: Plan, rnd: Round) -> None:
        """Storage and PV limit for exports, then shedding for imports; shedding may lower loads
        (more export) and a PV limit may raise imports, so a few rounds settle both."""
        asked = {d: plan.get(d, {}).pop(Command.POWER_LIMIT, math.inf) for d in self.of(Kind.PV)}
        for d, w in asked.items():
            if math.isfinite(w) and not rnd.exports:
                plan[d][Command.POWER_LIMIT] = w
        for _ in range(4):
            self.export(plan, rnd, asked)
            self.shed(plan, rnd)
            if self.predictor.export_need(plan, rnd.view, rnd.exports, rnd.skip) <= 1e-6:
                break

    # ------------------------------------------------------------ exports

    def export(self, plan: Plan, rnd: Round, asked: Mapping[str, float]) -> None:
        if not rnd.exports:
            return
        view, skip = rnd.view, rnd.skip
        pvs = self.of(Kind.PV)
        for d in pvs:
            plan.setdefault(d, {}).pop(Command.POWER_LIMIT, None)
        need = self._charge_for_export(plan, rnd)
        # PV may produce what it does now plus the headroom left, split by installed power
        live = [d for d in pvs if d not in skip]
        now_pv = sum(view.power(d) or 0.0 for d in live)
        allowed = max(now_pv - need, 0.0)
        rated = sum(self.devices[d].rated_w for d in live) or 1.0
        for d in live:
            spec = self.devices[d]
            top = spec.ac_w if spec.ac_w is not None else spec.rated_w
            plan[d][Command.POWER_LIMIT] = min(allowed * spec.rated_w / rated, asked[d], top)
        for d in pvs:
            if d in skip:
                self.fail_safe(plan, d, rnd.active)

    def _charge_for_export(self, plan: Plan, rnd: Round) -> float:
        """Batteries take the export above the limit; returns the W still to remove (> 0 when over)."""
        view, skip = rnd.view, rnd.skip
        need = self.predictor.export_need(plan, view, rnd.exports, skip)
        for dev in self.of(Kind.BATTERY):
            if need <= 0 or dev in skip:
                continue
            s = self.devices[dev]
            soc = view.get(f"{dev}.soc")
            cur = plan.get(dev, {}).get(Command.BATTERY_SETPOINT, view.power(dev) or 0.0)
            if cur > 0 and soc is not None and soc <= s.reserve_soc + 0.5:
                cur = 0.0  # it cannot discharge anyway
            # a full battery (or one of unknown SoC) cannot take charge, but its discharge can
            # always be lowered: at once, to what keeps the export within the limit
            charge_room = 0.0 if soc is None or soc >= 99.5 else s.max_charge_w
            top = min(need, max(cur + charge_room, 0.0))
            if top <= 0:
                if charge_room > 0 and cur <= -s.max_charge_w + 1e-6:
                    # already absorbing all it can: pin it there, so the export it holds back stays held
                    plan.setdefault(dev, {})[Command.BATTERY_SETPOINT] = -s.max_charge_w
                continue
            plan.setdefault(dev, {})[Command.BATTERY_SETPOINT] = cur - top  # imports: shedding checks after
            need = self.predictor.export_need(plan, view, rnd.exports, skip)
        return need

    def pv_deadband(self, plan: Plan, view: CycleView, state: LimiterState, skip: frozenset[str]) -> None:
        """Keep last cycle's PV limit while the new one is only a little higher and the old one does
        not hold the inverter below its output: fewer writes, and lower is always safe for exports."""
        band = self.limits.pv_deadband_w
        for d in self.of(Kind.PV):
            cmds = plan.get(d)
            new, prev = (cmds or {}).get(Command.POWER_LIMIT), state.pv_sent.get(d)
            if cmds is None or new is None or prev is None or d in skip:
                continue
            if prev <= new <= prev + band and prev >= (view.power(d) or 0.0):
                cmds[Command.POWER_LIMIT] = prev

    def lift_pv(self, plan: Plan, state: LimiterState, active: Mapping[str, float]) -> None:
        """When no export limit is left, lift an earlier PV limit once."""
        if exports_of(active) or not state.pv_limited:
            return
        for d in self.of(Kind.PV):
            s = self.devices[d]
            plan.setdefault(d, {}).setdefault(
                Command.POWER_LIMIT, s.ac_w if s.ac_w is not None else s.rated_w
            )

    # ------------------------------------------------------------ imports

    def shed(self, plan: Plan, rnd: Round) -> None:
        """Remove import-side excess in a fixed order, each step by the least that suffices."""
        p, view, active, skip = self.predictor, rnd.view, rnd.active, rnd.skip
        if p.excess(plan, view, active, skip) <= 0:
            return
        rules_ok = {
            dev: rnd.switches.get(dev, SwitchHistory()).may_switch(
                0.0, rnd.t, SwitchRules(s.min_on_s, s.min_off_s, s.max_switches_per_hour)
            )
            for dev, s in self.devices.items()
        }
        for name, room, act in self._steps(plan, rnd, rules_ok):
            top = room(plan)
            if top <= 0:
                continue

            def excess(r: float, act: Act = act) -> float:
                trial = copy_plan(plan)
                act(trial, r)
                return p.excess(trial, view, active, skip)

            e_top = excess(top)
            if e_top > 0:
                act(plan, top)  # not enough: take all of it and go on
                self._note_override(name, rules_ok, rnd.events, view.now)
                continue
            act(plan, _least(excess, top, p.excess(plan, view, active, skip), e_top))
            self._note_override(name, rules_ok, rnd.events, view.now)
            return

    def _steps(self, plan: Plan, rnd: Round, rules_ok: Mapping[str, bool]) -> list[Step]:
        """The shedding order."""
        view, skip = rnd.view, rnd.skip
        bats = [d for d in self.of(Kind.BATTERY) if d not in skip]
        mine = [d for d in self.devices if d in plan and d not in skip]
        steps: list[Step] = [(d, self._bat_room(d, rnd, True), self._bat_up(d, view)) for d in bats]
        steps += [
            (d, lambda p, d=d: p[d].get(Command.POWER, 0.0), _rod_down(d, self.devices[d]))
            for d in mine
            if self.devices[d].kind == Kind.ROD
        ]
        loads = [d for d in mine if self.devices[d].kind == Kind.LOAD]
        steps += [
            (d, _one, _off(d)) for d in sorted(loads, key=lambda d: self.devices[d].priority) if rules_ok[d]
        ]
        evs = [
            self.devices[d]
            for d in mine
            if self.devices[d].kind == Kind.EV and ev_command(self.devices[d], plan[d]) is not None
        ]
        if evs:
            steps.append(("ev", lambda p: _ev_total(evs, p), _ev_down(evs)))
        steps += [
            (d, _one, _set(d, Command.SGREADY, min(plan[d].get(Command.SGREADY, 2.0), 2.0)))
            for d in mine
            if self.devices[d].kind == Kind.HEAT_PUMP
        ]
        steps += [(d, _one, _off(d)) for d in loads if not rules_ok[d]]
        if rnd.exports:  # last resort: the battery regardless of exports (an import limit protects the fuse)
            steps += [(d, self._bat_room(d, rnd, False), self._bat_up(d, view)) for d in bats]
        return steps

    def _bat_room(self, dev: str, rnd: Round, capped: bool) -> Room:
        """More discharge the battery can give; ``capped``: only what does not export."""
        s, view, skip = self.devices[dev], rnd.view, rnd.skip
        exports = rnd.exports if capped else []

        def room(p: Plan) -> float:
            soc = view.get(f"{dev}.soc")
            top = s.max_discharge_w if soc is not None and soc > s.reserve_soc + 0.5 else 0.0
            r = max(top - self.predictor.battery_cmd(p, view, dev), 0.0)
            if exports:  # discharging must not export if the loads do not draw
                lo = self.predictor.predict(p, view, skip).lo
                r = min(r, max(lo - (-min(exports) + self.limits.margin_w), 0.0))
            return r

        return room

    def _bat_up(self, dev: str, view: CycleView) -> Act:
        top = self.devices[dev].max_discharge_w

        def act(p: Plan, r: float) -> None:
            p.setdefault(dev, {})[Command.BATTERY_SETPOINT] = min(
                self.predictor.battery_cmd(p, view, dev) + r, top
            )

        return act

    def _note_override(
        self, name: str, rules_ok: Mapping[str, bool], events: list[Event], now: datetime
    ) -> None:
        if name in self.devices and self.devices[name].kind == Kind.LOAD and not rules_ok.get(name, True):
            events.append(
                Event(
                    now,
                    "min_time_override",
                    name,
                    f"{name}: switched off before its minimum run time to keep a grid limit",
                )
            )


# ------------------------------------------------------------ shedding actions


def _least(
    excess: Callable[[float], float], top: float, e0: float, e_top: float, tol_w: float = 20.0
) -> float:
    """The least r in [0, top] with excess(r) <= 0, for a non-increasing, piecewise linear excess
    with excess(0) = e0 > 0 >= excess(top) = e_top: regula falsi (Illinois), so a linear piece
    takes two or three evaluations; always returns a feasible r."""
    lo, hi, f_lo, f_hi = 0.0, top, e0, e_top
    last = 0  # which end moved last: -1 low, 1 high
    flat = False
    for _ in range(24):
        if hi - lo <= tol_w:
            break
        # on a step (a charger stopping, 0.1 A of current) the secant is useless: bisect there
        r = (lo + hi) / 2 if flat or f_hi == f_lo else hi - f_hi * (hi - lo) / (f_hi - f_lo)
        if not lo < r < hi:
            r = (lo + hi) / 2
        f = excess(r)
        flat = f in (f_lo, f_hi)
        if f > 0:
            lo, f_lo = r, f
            if last == -1:
                f_hi /= 2
            last = -1
        else:
            hi, f_hi = r, f
            if last == 1:
                f_lo /= 2
            last = 1
    return hi


def _one(plan: Plan) -> float:
    return 1.0


def _set(dev: str, cmd: str, value: float) -> Act:
    def act(plan: Plan, r: float) -> None:
        if r > 0:
            plan.setdefault(dev, {})[cmd] = value

    return act


def _off(dev: str) -> Act:
    def act(plan: Plan, r: float) -> None:
        if r > 0:
            cmds = plan[dev]
            for cmd in (Command.RELAY, Command.POWER):
                if cmd in cmds:
                    cmds[cmd] = 0.0

    return act


def _rod_down(dev: str, s: DeviceSpec) -> Act:
    def act(plan: Plan, r: float) -> None:
        w = max(plan[dev].get(Command.POWER, 0.0) - r, 0.0)
        if s.stages_w:
            w = max((st for st in (0.0, *s.stages_w) if st <= w + 1e-9), default=0.0)
        plan[dev][Command.POWER] = w

    return act


def _ev_total(specs: list[DeviceSpec], plan: Plan) -> float:
    total = 0.0
    for s in specs:
        told = ev_command(s, plan[s.id])
        if told is not None and told[0]:
            total += s.ev_power(told[1], told[2])
    return total


def _ev_down(specs: list[DeviceSpec]) -> Act:
    """Lower the chargers' total by r W: fairly from the top down to their minimums, then stop
    the lowest priority ones (those charging least first)."""

    def act(plan: Plan, r: float) -> None:
        told = {s.id: ev_command(s, plan[s.id]) for s in specs}
        on = [s for s in specs if told[s.id] is not None and told[s.id][0]]  # type: ignore[index]
        ph = {s.id: told[s.id][2] for s in on}  # type: ignore[index]
        power = {s.id: s.ev_power(told[s.id][1], ph[s.id]) for s in on}  # type: ignore[index]
        target = sum(power.values()) - r
        keep = sorted(on, key=lambda s: (s.priority, power[s.id]), reverse=True)
        while keep and sum(s.ev_power(s.min_a, ph[s.id]) for s in keep) > target + 1e-6:
            gone = keep.pop()
            plan[gone.id][Command.ENABLE] = 0.0
        got = water_fill(max(target, 0.0), [(s.ev_power(s.min_a, ph[s.id]), power[s.id]) for s in keep])
        for s, w in zip(keep, got, strict=True):
            amps = math.floor(w / (ph[s.id] * s.voltage_v) * 10 + 1e-9) / 10
            plan[s.id][Command.CURRENT_LIMIT] = max(min(amps, s.max_a), s.min_a)

    return act
