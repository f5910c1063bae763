"""The limiter's second stage: per-kind envelopes and timing holds.

Envelopes clamp every command to what its device can take (``kinds.RULES``; §14a caps per device while
dimmed). Holds keep what must not change yet: a switch against a device's minimum on/off time or hourly
cap is undone; a charger the limiter switched off stays off for ``ev_restart_s``; a charger or a
continuous consumer still ramping is not raised. Also here: what the next cycle needs to know of this
one (what was seen and sent), and which consumers draw above what they were told (their own will).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from wattwerk.config.limits import ControlLimits
from wattwerk.control.devices import DeviceSpec
from wattwerk.control.kinds import rules_of
from wattwerk.control.limit_types import LimiterState, Plan, ev_command
from wattwerk.control.prediction import CycleView
from wattwerk.control.timing import SwitchHistory, SwitchRules
from wattwerk.vocabulary import Command, Kind


def power_step_w(spec: DeviceSpec) -> float:
    """A continuous consumer's change that counts as a step: 5 % of its maximum, at least 100 W."""
    return max(100.0, 0.05 * spec.max_w)


@dataclass(frozen=True, slots=True)
class Holds:
    devices: Mapping[str, DeviceSpec]
    limits: ControlLimits
    p14_min: Mapping[str, float]  # §14a minimum per device (W), for per-device dimming

    evs: tuple[str, ...] = ()  # the chargers, in site order
    continuous: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        # consumers with a continuous power setpoint (not chargers): heating rods without stages,
        # loads commanded in W (an electrolyser)
        continuous = tuple(
            d
            for d, s in self.devices.items()
            if (s.kind == Kind.ROD and not s.stages_w) or (s.kind == Kind.LOAD and s.command == Command.POWER)
        )
        object.__setattr__(self, "continuous", continuous)

    def envelope(self, plan: Plan, dimmed: bool) -> None:
        """Clamp every command to what the device can take; ``dimmed``: §14a per device in force."""
        for dev, cmds in plan.items():
            s = self.devices[dev]
            rules_of(s).envelope(s, cmds, self.p14_min.get(dev) if dimmed else None)

    def level(self, dev: str, cmds: Mapping[str, float]) -> float | None:
        s = self.devices[dev]
        return rules_of(s).level(s, cmds)

    def timing(self, plan: Plan, switches: Mapping[str, SwitchHistory], t: float) -> None:
        """Undo switches that break a device's minimum on/off time or its hourly cap."""
        for dev, cmds in plan.items():
            s = self.devices[dev]
            rules = SwitchRules(s.min_on_s, s.min_off_s, s.max_switches_per_hour)
            level = self.level(dev, cmds)
            hist = switches.get(dev)
            if level is None or hist is None or hist.may_switch(level, t, rules):
                continue
            rules_of(s).keep(s, cmds, hist.state)

    def hold_off(self, plan: Plan, state: LimiterState, t: float) -> None:
        """A charger the limiter switched off is not switched on again for ``ev_restart_s``: when the
        meter and the charger's poll disagree during its ramp, shedding may switch it off for a
        prediction that the next cycle no longer makes; without this hold it would chatter."""
        for dev, since in state.ev_forced_off.items():
            cmds = plan.get(dev)
            if (
                cmds is not None
                and t - since < self.limits.ev_restart_s
                and cmds.get(Command.ENABLE, 0.0) >= 0.5
            ):
                cmds[Command.ENABLE] = 0.0

    def hold_ramping(self, plan: Plan, view: CycleView, state: LimiterState) -> None:
        """A charger whose measured power moved by 1 A or more since the last cycle, or still
        draws 1 A or more above the last current sent, is ramping, and the pushed grid meter and
        the polled charger may have seen that ramp at different instants: a prediction from the
        two would be off by the ramp. Lowering is always safe; a raise waits until both settled."""
        for d in self.evs:
            cmds = plan.get(d)
            if cmds is None or d not in state.ev_sent or Command.CURRENT_LIMIT not in cmds:
                continue
            s = self.devices[d]
            now_w, before = view.power(d), state.ev_seen.get(d)
            told = ev_command(s, cmds)
            if now_w is None or before is None or told is None or not told[0]:
                continue
            sent = state.ev_sent[d]
            one_amp = s.ev_power(1.0, told[2])
            ramping = abs(now_w - before) >= one_amp or now_w >= s.ev_power(sent, told[2]) + one_amp
            if ramping and told[1] > sent:
                cmds[Command.CURRENT_LIMIT] = sent

    def hold_ramping_power(self, plan: Plan, view: CycleView, state: LimiterState) -> None:
        """The charger rule above for continuous consumers: one whose measured power moved by a step
        since the last cycle, or still draws a step above the last setpoint, is ramping; its setpoint
        is not raised until meter and poll agree again."""
        for d in self.continuous:
            cmds = plan.get(d)
            now_w, before, sent = view.power(d), state.power_seen.get(d), state.power_sent.get(d)
            if cmds is None or Command.POWER not in cmds or now_w is None or before is None or sent is None:
                continue
            step = power_step_w(self.devices[d])
            if (abs(now_w - before) >= step or now_w >= sent + step) and cmds[Command.POWER] > sent:
                cmds[Command.POWER] = sent

    def own_will(self, view: CycleView, state: LimiterState) -> frozenset[str]:
        """Continuous consumers drawing a step above the setpoint they were sent last cycle: a
        heating rod's own thermostat keeping the water warm. Until they follow again, a lower
        setpoint is not counted on to lower the import."""
        out = set()
        for d in self.continuous:
            now_w, sent = view.power(d), state.power_sent.get(d)
            if now_w is not None and sent is not None and now_w >= sent + power_step_w(self.devices[d]):
                out.add(d)
        return frozenset(out)

    def stale(self, view: CycleView, meter: str) -> set[str]:
        """The grid meter and devices whose power is missing or older than ``fallback_after_s``."""
        limit = self.limits.fallback_after_s
        out = set()
        for dev in (meter, *self.devices):
            ch = f"{dev}.power"
            age = view.age(ch)
            if view.get(ch) is None or age is None or age > limit:
                out.add(dev)
        return out

    # ------------------------------------------------------------ for the next cycle

    def switched(self, plan: Plan, switches: dict[str, SwitchHistory], t: float) -> None:
        """Histories follow what is actually sent; at first sight a device counts as switched
        now, so the minimum times hold from the start."""
        for dev, cmds in plan.items():
            level = self.level(dev, cmds)
            if level is not None:
                switches[dev] = (
                    switches[dev].switched(level, t) if dev in switches else SwitchHistory(level, t)
                )

    def forced_off(self, plan: Plan, requested: Plan, state: LimiterState, t: float) -> dict[str, float]:
        """Chargers switched off this cycle against their law's request, and those still held."""
        out = {d: s for d, s in state.ev_forced_off.items() if t - s < self.limits.ev_restart_s}
        for dev in self.evs:
            cmds = plan.get(dev)
            if cmds is None:
                continue
            was_on = dev in state.switches and state.switches[dev].state >= 0.5
            asked_on = requested.get(dev, {}).get(Command.ENABLE, 0.0) >= 0.5
            if was_on and asked_on and cmds.get(Command.ENABLE, 1.0) < 0.5:
                out[dev] = t
        return out

    def ev_seen(self, view: CycleView) -> dict[str, float]:
        return {d: w for d in self.evs if (w := view.power(d)) is not None}

    def ev_sent(self, plan: Plan) -> dict[str, float]:
        out = {}
        for d in self.evs:
            told = ev_command(self.devices[d], plan[d]) if d in plan else None
            if told is not None and told[0]:
                out[d] = told[1]
        return out

    def power_seen(self, view: CycleView) -> dict[str, float]:
        return {d: w for d in self.continuous if (w := view.power(d)) is not None}

    def power_sent(self, plan: Plan) -> dict[str, float]:
        return {d: plan[d][Command.POWER] for d in self.continuous if Command.POWER in plan.get(d, {})}
