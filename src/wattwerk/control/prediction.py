"""The grid after a plan, predicted twice: once the worst for imports (consumers take all they are
allowed, PV does not rise, batteries only do what their SoC permits) and once the worst for exports
(consumers do not rise, PV produces up to its limit); per phase too, and the §14a consumers' draw.

``CycleView`` is one cycle's snapshot: each channel read once, each device's effect under given
commands computed once (the enforcer tries many plans per cycle)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from wattwerk.config.limits import ControlLimits
from wattwerk.control.devices import DeviceSpec
from wattwerk.control.kinds import rules_of
from wattwerk.control.limit_types import GridSpec, Plan, ev_command
from wattwerk.snapshot import Snapshot
from wattwerk.vocabulary import Command, Kind


class CycleView:
    """A snapshot that remembers what it was asked, and this cycle's predictions."""

    __slots__ = ("_got", "_snap", "effects", "now", "own_will")

    def __init__(self, snap: Snapshot, own_will: frozenset[str] = frozenset()) -> None:
        self._snap = snap
        self._got: dict[str, float | None] = {}
        self.effects: dict[tuple, tuple[float, ...]] = {}  # (device, *commands) -> effect
        self.now = snap.now
        self.own_will = own_will  # consumers drawing above what they were told

    def get(self, channel: str) -> float | None:
        try:
            return self._got[channel]
        except KeyError:
            value = self._got[channel] = self._snap.get(channel)
            return value

    def age(self, channel: str) -> float | None:
        return self._snap.age(channel)

    def power(self, dev: str) -> float | None:
        return self.get(f"{dev}.power")


def _phase_vec(spec: DeviceSpec, watts: float, phases: int) -> tuple[float, float, float]:
    if phases == 1:
        v = [0.0, 0.0, 0.0]
        v[spec.phase - 1] = watts
        return v[0], v[1], v[2]
    return watts / 3, watts / 3, watts / 3


@dataclass(frozen=True, slots=True)
class Grid:
    """Predicted grid power after a plan (W): worst for imports, for exports, per phase; and the
    §14a consumers' draw."""

    hi: float
    lo: float
    l1: float
    l2: float
    l3: float
    c14: float


@dataclass(frozen=True, slots=True)
class Predictor:
    grid: GridSpec
    devices: Mapping[str, DeviceSpec]
    limits: ControlLimits
    p14_ids: frozenset[str]

    def predict(self, plan: Plan, view: CycleView, skip: frozenset[str]) -> Grid:
        g0 = view.get(f"{self.grid.meter}.power") or 0.0
        hi = lo = g0
        ph = [view.get(f"{self.grid.meter}.power_l{i}") for i in (1, 2, 3)]
        phases = [p if p is not None else g0 / 3 for p in ph]
        c14 = 0.0
        memo = view.effects
        for dev, cmds in plan.items():
            if dev in skip:
                continue
            key = (dev, *sorted(cmds.items()))
            effect = memo.get(key)
            if effect is None:
                effect = memo[key] = self._effect(dev, cmds, view)
            d_hi, d_lo, d1, d2, d3, c = effect
            hi += d_hi
            lo += d_lo
            phases[0] += d1
            phases[1] += d2
            phases[2] += d3
            c14 += c
        return Grid(hi, lo, phases[0], phases[1], phases[2], c14)

    def draw(
        self, spec: DeviceSpec, cmds: Mapping[str, float], view: CycleView, now_w: float
    ) -> tuple[float, float, float]:
        """(now, worst for import, worst for export) consumption of one device in W (+ draws)."""
        return rules_of(spec).draw(spec, cmds, view, now_w, spec.id in view.own_will)

    def _effect(self, dev: str, cmds: Mapping[str, float], view: CycleView) -> tuple[float, ...]:
        """One device's change of grid power (worst for imports, for exports), per phase, and its
        §14a draw, if it follows ``cmds``."""
        spec = self.devices[dev]
        now, h, lw = self.draw(spec, cmds, view, view.power(dev) or 0.0)
        now_ph, new_ph = rules_of(spec).phases(spec, cmds, view)
        a, b = _phase_vec(spec, now, now_ph), _phase_vec(spec, h, new_ph)
        c14 = max(h, 0.0) if dev in self.p14_ids else 0.0
        return (h - now, lw - now, b[0] - a[0], b[1] - a[1], b[2] - a[2], c14)

    def excess(self, plan: Plan, view: CycleView, active: Mapping[str, float], skip: frozenset[str]) -> float:
        """How far (W) the worst import-side limit would be exceeded; <= 0 when all hold."""
        p = self.predict(plan, view, skip)
        m = self.limits.margin_w
        worst = -math.inf
        imports = [w for k, w in active.items() if k.startswith("import:")]
        if imports:
            worst = max(worst, p.hi - (min(imports) - m))
        if self.grid.phase_import_w is not None:
            for w in (p.l1, p.l2, p.l3):
                worst = max(worst, w - (self.grid.phase_import_w - m / 3))
        if "para14a" in active:
            worst = max(worst, min(p.c14, p.hi) - (active["para14a"] - m))
        for c in self.limits.circuits:
            worst = max(
                worst, (max(self._circuit_amps(plan, c.devices)) - c.max_current_a) * self.grid.voltage_v
            )
        return worst

    def _circuit_amps(self, plan: Plan, ids: list[str]) -> list[float]:
        """A circuit's current per phase (A) if its chargers follow the plan."""
        amps = [0.0, 0.0, 0.0]
        for dev in ids:
            spec = self.devices.get(dev)
            cmds = plan.get(dev)
            told = None if spec is None or spec.kind != Kind.EV or cmds is None else ev_command(spec, cmds)
            if told is None or not told[0]:
                continue
            for i in range(3):
                if told[2] == 3 or i == spec.phase - 1:  # type: ignore[union-attr]
                    amps[i] += told[1]
        return amps

    def export_need(self, plan: Plan, view: CycleView, exports: list[float], skip: frozenset[str]) -> float:
        """W of worst-case export above the export limit (with margin); <= 0 when it holds."""
        if not exports:
            return 0.0
        return (-min(exports) + self.limits.margin_w) - self.predict(plan, view, skip).lo

    def battery_cmd(self, plan: Plan, view: CycleView, dev: str) -> float:
        """The battery's setpoint in the plan, or what it does now (a discharge its SoC forbids is 0)."""
        cur = plan.get(dev, {}).get(Command.BATTERY_SETPOINT)
        if cur is None:
            cur = view.power(dev) or 0.0
        soc = view.get(f"{dev}.soc")
        if cur > 0 and soc is not None and soc <= self.devices[dev].reserve_soc + 0.5:
            cur = 0.0
        return cur
