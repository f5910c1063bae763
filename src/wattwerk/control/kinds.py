"""The limiter's per-kind rules, one class per ``Kind`` (``RULES``): the envelope a command is clamped
to, the on/off level the minimum on/off times watch (and how a too-early switch is undone), the
device's draw now and in the worst case for imports and for exports, and its fail-safe setpoints.

The limiter's stages ask ``RULES[spec.kind]`` and never test a kind themselves."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from wattwerk.config.limits import ControlLimits
from wattwerk.control.devices import DeviceSpec
from wattwerk.control.limit_types import ev_command
from wattwerk.vocabulary import Command, Kind


class Reads(Protocol):
    """What the rules read of a cycle: a channel's value (a ``Snapshot`` or the limiter's view)."""

    def get(self, channel: str) -> float | None: ...


Cmds = dict[str, float]
Draw = tuple[float, float, float]  # W drawn (+) now, in the worst case for imports, for exports


@dataclass(frozen=True, slots=True)
class FailSafe:
    """What a fail-safe setpoint depends on besides the device: the site file's choices, the
    export limits in force and the installed PV power."""

    limits: ControlLimits
    exports: tuple[float, ...]
    pv_rated_w: float


def _finite(w: float, default: float = 0.0) -> float:
    return w if math.isfinite(w) else default


def _stage(spec: DeviceSpec, w: float) -> float:
    """The largest relay stage not above ``w`` (continuous rods take ``w`` as it is)."""
    if not spec.stages_w:
        return w
    return max((st for st in (0.0, *spec.stages_w) if st <= w + 1e-9), default=0.0)


class Rules:
    """A kind without commands the limiter knows: it neither draws nor switches."""

    def envelope(self, spec: DeviceSpec, cmds: Cmds, dim_w: float | None) -> None:
        """Clamp ``cmds`` to the device; ``dim_w``: its §14a minimum while dimmed per device."""

    def level(self, spec: DeviceSpec, cmds: Mapping[str, float]) -> float | None:
        """The switched state the timing rules watch, or None if the commands switch nothing."""
        return None

    def keep(self, spec: DeviceSpec, cmds: Cmds, level: float) -> None:
        """Undo a switch the minimum times forbid: back to ``level``."""

    def draw(
        self, spec: DeviceSpec, cmds: Mapping[str, float], snap: Reads, now_w: float, own_will: bool
    ) -> Draw:
        """W drawn now, if it follows ``cmds`` in the worst case for imports, and for exports.
        ``own_will``: it draws above what it was told (its own thermostat)."""
        return 0.0, 0.0, 0.0

    def phases(self, spec: DeviceSpec, cmds: Mapping[str, float], snap: Reads) -> tuple[int, int]:
        """How many phases it draws on now and after ``cmds``."""
        return 3, 3

    def fail_safe(self, spec: DeviceSpec, cmds: Cmds, ctx: FailSafe) -> bool:
        """Set the fail-safe commands; False: send it nothing at all."""
        return True


class EvRules(Rules):
    def envelope(self, spec: DeviceSpec, cmds: Cmds, dim_w: float | None) -> None:
        if Command.ENABLE in cmds:
            cmds[Command.ENABLE] = 1.0 if cmds[Command.ENABLE] >= 0.5 else 0.0
        phases = cmds.get(Command.PHASES, spec.phases)
        phases = (3 if phases >= 2 else 1) if spec.phase_switching else spec.phases
        if Command.PHASES in cmds or spec.phase_switching:
            cmds[Command.PHASES] = float(phases)
        current = cmds.get(Command.CURRENT_LIMIT, spec.max_a)
        current = spec.min_a if not math.isfinite(current) else min(max(current, spec.min_a), spec.max_a)
        if dim_w is not None:
            current = min(current, max(spec.min_a, math.floor(dim_w / (phases * spec.voltage_v) * 10) / 10))
        if Command.CURRENT_LIMIT in cmds or current < spec.max_a:
            cmds[Command.CURRENT_LIMIT] = current

    def level(self, spec: DeviceSpec, cmds: Mapping[str, float]) -> float | None:
        return cmds.get(Command.ENABLE)

    def keep(self, spec: DeviceSpec, cmds: Cmds, level: float) -> None:
        cmds[Command.ENABLE] = level

    def draw(
        self, spec: DeviceSpec, cmds: Mapping[str, float], snap: Reads, now_w: float, own_will: bool
    ) -> Draw:
        # a car drawing less than the charger's minimum current is tapering off (full, or its own
        # charge end): it may stop before the next cycle, so exports do not count on its draw
        fading = now_w < spec.ev_power(spec.min_a, 1)
        told = ev_command(spec, cmds)
        if told is None:
            return now_w, now_w, 0.0 if fading else now_w  # not commanded: it goes on as it is
        plugged = snap.get(f"{spec.id}.state")
        on, current, phases = told
        new = spec.ev_power(current, phases) if on and (plugged is None or plugged >= 1) else 0.0
        return now_w, new, 0.0 if fading else min(now_w, new)

    def phases(self, spec: DeviceSpec, cmds: Mapping[str, float], snap: Reads) -> tuple[int, int]:
        told = cmds.get(Command.PHASES, spec.phases)
        return int(snap.get(f"{spec.id}.phases") or told), int(told)

    def fail_safe(self, spec: DeviceSpec, cmds: Cmds, ctx: FailSafe) -> bool:
        cmds[Command.CURRENT_LIMIT] = spec.min_a
        if ctx.limits.ev_fallback == "off":
            cmds[Command.ENABLE] = 0.0
        cmds.setdefault(Command.ENABLE, 0.0)
        return True


class BatteryRules(Rules):
    def envelope(self, spec: DeviceSpec, cmds: Cmds, dim_w: float | None) -> None:
        if Command.BATTERY_MODE in cmds and cmds[Command.BATTERY_MODE] not in (0.0, 1.0):
            cmds[Command.BATTERY_MODE] = 0.0  # anything but "follow the setpoint" (1) is its own control
        if Command.BATTERY_SETPOINT not in cmds:
            return
        w = cmds[Command.BATTERY_SETPOINT]
        w = 0.0 if not math.isfinite(w) else min(max(w, -spec.max_charge_w), spec.max_discharge_w)
        if dim_w is not None:
            w = max(w, -dim_w)
        cmds[Command.BATTERY_SETPOINT] = w

    def draw(
        self, spec: DeviceSpec, cmds: Mapping[str, float], snap: Reads, now_w: float, own_will: bool
    ) -> Draw:
        if Command.BATTERY_SETPOINT not in cmds:
            return -now_w, -now_w, -now_w
        new = cmds[Command.BATTERY_SETPOINT]
        soc = snap.get(f"{spec.id}.soc")
        if soc is not None and ((new > 0 and soc <= spec.reserve_soc + 0.5) or (new < 0 and soc >= 99.5)):
            new = 0.0
        return -now_w, -new, -new

    def fail_safe(self, spec: DeviceSpec, cmds: Cmds, ctx: FailSafe) -> bool:
        if ctx.limits.battery_fallback == "idle":
            cmds[Command.BATTERY_SETPOINT] = 0.0
        else:
            cmds.pop(Command.BATTERY_SETPOINT, None)
            cmds[Command.BATTERY_MODE] = 0.0  # the catalogue's capability: 0 = the battery's own control
        return True


class PvRules(Rules):
    def envelope(self, spec: DeviceSpec, cmds: Cmds, dim_w: float | None) -> None:
        if Command.POWER_LIMIT in cmds:
            top = spec.ac_w if spec.ac_w is not None else max(spec.rated_w, 0.0)
            w = cmds[Command.POWER_LIMIT]
            cmds[Command.POWER_LIMIT] = top if not math.isfinite(w) else min(max(w, 0.0), top or w)

    def draw(
        self, spec: DeviceSpec, cmds: Mapping[str, float], snap: Reads, now_w: float, own_will: bool
    ) -> Draw:
        limit = cmds.get(Command.POWER_LIMIT, math.inf)
        return -now_w, -min(now_w, limit), -(limit if math.isfinite(limit) else now_w)

    def fail_safe(self, spec: DeviceSpec, cmds: Cmds, ctx: FailSafe) -> bool:
        if ctx.exports and ctx.pv_rated_w:  # generation <= feed-in limit
            cmds[Command.POWER_LIMIT] = min(ctx.exports) * spec.rated_w / ctx.pv_rated_w
        return True


class HeatPumpRules(Rules):
    def envelope(self, spec: DeviceSpec, cmds: Cmds, dim_w: float | None) -> None:
        if Command.SGREADY in cmds:
            sg = cmds[Command.SGREADY]
            cmds[Command.SGREADY] = float(min(max(round(sg), 1), 4)) if math.isfinite(sg) else 2.0

    def level(self, spec: DeviceSpec, cmds: Mapping[str, float]) -> float | None:
        return cmds.get(Command.SGREADY)

    def keep(self, spec: DeviceSpec, cmds: Cmds, level: float) -> None:
        cmds[Command.SGREADY] = level

    def draw(
        self, spec: DeviceSpec, cmds: Mapping[str, float], snap: Reads, now_w: float, own_will: bool
    ) -> Draw:
        sg = cmds.get(Command.SGREADY, 2.0)
        hi = max(now_w, spec.max_w) if sg >= 3 else now_w
        # its own thermostat may stop it before the next cycle, whatever SG-Ready says: for an
        # export limit its draw does not count (else its stop would export for one cycle)
        return now_w, hi, 0.0

    def fail_safe(self, spec: DeviceSpec, cmds: Cmds, ctx: FailSafe) -> bool:
        cmds[Command.SGREADY] = min(cmds.get(Command.SGREADY, 2.0), 2.0)
        return True


def _follows(now_w: float, new: float, own_will: bool) -> Draw:
    """A consumer told ``new`` W: it follows, unless its own thermostat holds it higher."""
    return now_w, max(new, now_w) if own_will else new, min(now_w, new)


class RodRules(Rules):
    def envelope(self, spec: DeviceSpec, cmds: Cmds, dim_w: float | None) -> None:
        if Command.POWER in cmds:
            w = cmds[Command.POWER]
            w = 0.0 if not math.isfinite(w) else min(max(w, 0.0), spec.max_w)
            cmds[Command.POWER] = _stage(spec, w)

    def level(self, spec: DeviceSpec, cmds: Mapping[str, float]) -> float | None:
        w = cmds.get(Command.POWER)
        if w is None:
            return None
        return w if spec.stages_w else float(w > 0)

    def keep(self, spec: DeviceSpec, cmds: Cmds, level: float) -> None:
        cmds[Command.POWER] = level if spec.stages_w else (cmds[Command.POWER] if level else 0.0)

    def draw(
        self, spec: DeviceSpec, cmds: Mapping[str, float], snap: Reads, now_w: float, own_will: bool
    ) -> Draw:
        return _follows(now_w, cmds.get(Command.POWER, now_w), own_will)

    def fail_safe(self, spec: DeviceSpec, cmds: Cmds, ctx: FailSafe) -> bool:
        cmds[Command.POWER] = 0.0
        return True


class SwitchedRules(Rules):
    """Loads and generators: a relay, or a power setpoint (``spec.command``)."""

    def envelope(self, spec: DeviceSpec, cmds: Cmds, dim_w: float | None) -> None:
        for cmd in list(cmds):
            w = _finite(cmds[cmd])
            cmds[cmd] = (1.0 if w >= 0.5 else 0.0) if cmd == Command.RELAY else min(max(w, 0.0), spec.max_w)

    def level(self, spec: DeviceSpec, cmds: Mapping[str, float]) -> float | None:
        w = cmds.get(Command.RELAY, cmds.get(Command.POWER))
        return None if w is None else float(w > 0)

    def keep(self, spec: DeviceSpec, cmds: Cmds, level: float) -> None:
        cmd = Command.RELAY if Command.RELAY in cmds else Command.POWER
        cmds[cmd] = level if cmd == Command.RELAY else (cmds[cmd] if level else 0.0)

    @staticmethod
    def told_w(spec: DeviceSpec, cmds: Mapping[str, float]) -> float:
        if spec.command == Command.POWER:
            return cmds.get(Command.POWER, 0.0)
        return spec.max_w * cmds.get(Command.RELAY, 0.0)


class LoadRules(SwitchedRules):
    def draw(
        self, spec: DeviceSpec, cmds: Mapping[str, float], snap: Reads, now_w: float, own_will: bool
    ) -> Draw:
        return _follows(now_w, self.told_w(spec, cmds), own_will)

    def fail_safe(self, spec: DeviceSpec, cmds: Cmds, ctx: FailSafe) -> bool:
        cmds[Command.POWER if spec.command == Command.POWER else Command.RELAY] = 0.0
        return True


class GeneratorRules(SwitchedRules):
    def draw(
        self, spec: DeviceSpec, cmds: Mapping[str, float], snap: Reads, now_w: float, own_will: bool
    ) -> Draw:
        new = self.told_w(spec, cmds)
        return -now_w, -min(now_w, new), -max(now_w, new)

    def fail_safe(self, spec: DeviceSpec, cmds: Cmds, ctx: FailSafe) -> bool:
        return False  # left to itself


RULES: Mapping[str, Rules] = {
    Kind.EV: EvRules(),
    Kind.BATTERY: BatteryRules(),
    Kind.PV: PvRules(),
    Kind.HEAT_PUMP: HeatPumpRules(),
    Kind.ROD: RodRules(),
    Kind.LOAD: LoadRules(),
    Kind.GENERATOR: GeneratorRules(),
}
NO_RULES = Rules()


def rules_of(spec: DeviceSpec) -> Rules:
    return RULES.get(spec.kind, NO_RULES)
