"""The one limiter, after every controller: whatever the controllers ask, the setpoints that
leave here keep every active limit.

Limits: the connection point's import and export limits; per-phase fuse limits; circuits of
chargers; the ripple-control receiver and a direct marketer's signal (feed-in and consumption
limits, every restriction episode logged with start, end and energy curtailed); §14a EnWG
dimming; a fixed feed-in limit by PV curtailment (battery charging first); peak shaving (battery
first, then flexible loads); device envelopes and minimum on/off times; and a fail-safe when the
grid meter or a device goes stale.

How it holds a limit: it predicts the grid power after the new setpoints twice, once assuming
the worst for imports (consumers take all they are allowed, PV does not rise, batteries only do
what their SoC permits) and once the worst for exports (consumers do not rise, PV produces up to
its limit). Import-side violations are removed by shedding in a fixed order (battery discharge,
heating rod, relay loads, chargers fairly then by priority, heat pump's SG-Ready, then relay loads
regardless of their minimum run time), each by the least amount that suffices (bisection).
Export-side: more battery charging, then a PV limit at today's output plus the remaining headroom,
so PV can never rise past the limit between two cycles. ``margin_w`` keeps a distance from each limit.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType

from wattwerk.config import SiteConfig
from wattwerk.config.limits import ControlLimits
from wattwerk.control.devices import DeviceSpec, from_site
from wattwerk.control.inbound import inbound_limits
from wattwerk.control.para14a import aggregate_minimum_w, device_minimum_w
from wattwerk.control.sharing import water_fill
from wattwerk.control.timing import SwitchHistory, SwitchRules
from wattwerk.model import Setpoint
from wattwerk.snapshot import Snapshot

log = logging.getLogger("wattwerk.control.limiter")

Plan = dict[str, dict[str, float]]  # device -> command -> value


@dataclass(frozen=True, slots=True)
class GridSpec:
    """The connection point: limits in W (None = none), phases and voltage."""

    meter: str = "grid"
    import_w: float | None = None
    export_w: float | None = None
    phase_import_w: float | None = None  # per phase (fuse x voltage)
    phases: int = 3
    voltage_v: float = 230.0

    @classmethod
    def from_site(cfg: type[GridSpec], site: SiteConfig) -> GridSpec:
        g = site.site.grid
        meter = site.grid_meter
        return cfg(
            meter.id if meter else "grid",
            g.import_limit_w,
            g.max_export_w,
            g.phase_import_limit_w,
            g.phases,
            g.voltage_v,
        )


@dataclass(frozen=True, slots=True)
class Event:
    ts: datetime
    kind: str  # fallback_start, fallback_end, restriction_start, restriction_end, min_time_override, dropped
    subject: str
    message: str
    data: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Episode:
    start: float
    level: str
    curtailed_wh: float = 0.0


@dataclass(frozen=True, slots=True)
class LimiterState:
    last_t: float | None = None
    switches: Mapping[str, SwitchHistory] = field(default_factory=lambda: MappingProxyType({}))
    fallback: frozenset[str] = frozenset()
    episodes: Mapping[str, Episode] = field(default_factory=lambda: MappingProxyType({}))
    ripple_pattern: str | None = None
    pv_limited: bool = False
    fallbacks: int = 0
    pv_sent: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    ev_seen: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))  # measured W
    ev_sent: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))  # A, while enabled
    para14a_on: bool = False  # the §14a signal as last seen (or as its fail-safe says)
    ev_forced_off: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))  # charger -> t
    power_seen: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))  # rods, loads: W
    power_sent: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))  # their setpoints
    signals_stale: frozenset[str] = frozenset()  # "ripple", "para14a": their contacts went silent


@dataclass(frozen=True, slots=True)
class LimiterOutput:
    setpoints: tuple[Setpoint, ...]
    state: LimiterState
    events: tuple[Event, ...]
    active: Mapping[str, float]  # limit name -> W in force this cycle


class Limiter:
    def __init__(
        self,
        grid: GridSpec,
        devices: Iterable[DeviceSpec],
        limits: ControlLimits | None = None,
        name: str = "limiter",
    ) -> None:
        self.grid = grid
        self.devices = {d.id: d for d in devices}
        self.limits = limits or ControlLimits()
        self.name = name
        self.pv_rated = sum(d.rated_w for d in self.devices.values() if d.kind == "pv")
        p14 = self.limits.para14a
        self.p14_ids: tuple[str, ...] = ()
        if p14 is not None:
            ids = (
                p14.devices
                if p14.devices is not None
                else [d.id for d in self.devices.values() if d.kind in ("ev", "heat_pump", "battery")]
            )
            self.p14_ids = tuple(i for i in ids if i in self.devices)
            self.p14_min = {
                i: device_minimum_w(self.devices[i].kind, p14.rated_w.get(i)) for i in self.p14_ids
            }
            self.p14_total = aggregate_minimum_w(
                (self.devices[i].kind, p14.rated_w.get(i)) for i in self.p14_ids
            )
        if (
            self.limits.ripple
            and any(lv.consumption_pct < 100 for lv in self.limits.ripple.levels)
            and grid.import_w is None
        ):
            raise ValueError(
                "ripple-control consumption levels need a grid import limit (site.grid fuse_a or "
                "max_import_w) to take a percentage of"
            )

    @classmethod
    def from_site(cls, cfg: SiteConfig, limits: ControlLimits | None = None) -> Limiter:
        return cls(GridSpec.from_site(cfg), from_site(cfg), limits)

    def initial(self) -> LimiterState:
        return LimiterState()

    # ------------------------------------------------------------ active limits

    def _silent(self, snap: Snapshot, channels: Iterable[str]) -> bool:
        """A signal's channels are missing or older than ``fallback_after_s``."""
        limit = self.limits.fallback_after_s
        for ch in channels:
            age = snap.age(ch)
            if snap.get(ch) is None or age is None or age > limit:
                return True
        return False

    def _stale_signals(self, snap: Snapshot) -> frozenset[str]:
        lim = self.limits
        out = set()
        if lim.ripple is not None and self._silent(snap, lim.ripple.contacts):
            out.add("ripple")
        if lim.para14a is not None and self._silent(snap, [lim.para14a.signal]):
            out.add("para14a")
        return frozenset(out)

    def _ripple_pattern(self, snap: Snapshot, state: LimiterState) -> str | None:
        r = self.limits.ripple
        if r is None:
            return None
        if self._silent(snap, r.contacts):  # receiver silent: its fail-safe, or the last level it signalled
            return state.ripple_pattern if r.on_stale == "keep" else r.on_stale
        return "".join("1" if snap.get(c) else "0" for c in r.contacts)

    def _para14a_on(self, snap: Snapshot, state: LimiterState) -> bool:
        p14 = self.limits.para14a
        if p14 is None:
            return False
        if self._silent(snap, [p14.signal]):
            return state.para14a_on if p14.on_stale == "keep" else p14.on_stale == "on"
        return (snap.get(p14.signal) or 0.0) != 0.0

    def active_limits(self, snap: Snapshot, state: LimiterState) -> tuple[dict[str, float], dict[str, str]]:
        """Import limits (``import:*``) and export limits (``export:*``) in force, W; and the
        restriction sources active now with their level, for the episode log."""
        lim = self.limits
        out: dict[str, float] = {}
        sources: dict[str, str] = {}
        if self.grid.import_w is not None:
            out["import:grid"] = self.grid.import_w
        if self.grid.export_w is not None:
            out["export:grid"] = self.grid.export_w
        if lim.feed_in_limit_pct is not None and self.pv_rated:
            out["export:feed_in"] = lim.feed_in_limit_pct / 100.0 * self.pv_rated
        if lim.peak_shaving_w is not None:
            out["import:peak_shaving"] = lim.peak_shaving_w
        pattern = self._ripple_pattern(snap, state)
        if lim.ripple is not None and pattern is not None:
            for level in lim.ripple.levels:
                if level.pattern == pattern:
                    if level.feed_in_pct < 100:
                        out["export:ripple"] = level.feed_in_pct / 100.0 * self.pv_rated
                    if level.consumption_pct < 100 and self.grid.import_w is not None:
                        out["import:ripple"] = level.consumption_pct / 100.0 * self.grid.import_w
                    if level.feed_in_pct < 100 or level.consumption_pct < 100:
                        sources["ripple"] = f"{pattern}:{level.feed_in_pct:g}%/{level.consumption_pct:g}%"
        dm = lim.direct_marketer
        if dm is not None:
            value = snap.get(dm.signal)
            if value is not None:
                watts = value / 100.0 * self.pv_rated if dm.unit == "pct" else value
                if watts < self.pv_rated or dm.unit == "w":
                    out["export:direct_marketer"] = max(watts, 0.0)
                    sources["direct_marketer"] = f"{value:g}{'%' if dm.unit == 'pct' else ' W'}"
        if lim.inbound is not None:  # control.inbound: limits over 104, the Modbus server, OpenADR
            more, why = inbound_limits(snap, lim.inbound.names(), self.pv_rated)
            out.update(more)
            sources.update(why)
        if lim.para14a is not None and self._para14a_on(snap, state):
            sources["para14a"] = lim.para14a.mode
            if lim.para14a.mode == "aggregate":
                out["para14a"] = self.p14_total
        return out, sources

    # ------------------------------------------------------------ prediction

    def _now_w(self, snap: Snapshot, dev: str) -> float | None:
        return snap.get(f"{dev}.power")

    def _phase_vec(self, spec: DeviceSpec, watts: float, phases: int) -> tuple[float, float, float]:
        if phases == 1:
            v = [0.0, 0.0, 0.0]
            v[spec.phase - 1] = watts
            return v[0], v[1], v[2]
        return watts / 3, watts / 3, watts / 3

    def _consumption(
        self, spec: DeviceSpec, cmds: Mapping[str, float], snap: Snapshot, now_w: float
    ) -> tuple[float, float, float]:
        """(now, worst for import, worst for export) consumption of one device in W (+ draws)."""
        k = spec.kind
        if k == "ev":
            told = ev_command(spec, cmds)
            if told is None:
                return now_w, now_w, now_w  # not commanded: it goes on as it is
            plugged = snap.get(f"{spec.id}.state")
            on, current, phases = told
            new = spec.ev_power(current, phases) if on and (plugged is None or plugged >= 1) else 0.0
            return now_w, new, min(now_w, new)
        if k == "rod":
            new = cmds.get("power", now_w)
            if spec.id in getattr(snap, "own_will", ()):  # its own thermostat: a lower setpoint is no help
                return now_w, max(new, now_w), min(now_w, new)
            return now_w, new, min(now_w, new)
        if k == "load":
            new = cmds.get("power", 0.0) if spec.command == "power" else spec.max_w * cmds.get("relay", 0.0)
            if spec.id in getattr(snap, "own_will", ()):
                return now_w, max(new, now_w), min(now_w, new)
            return now_w, new, min(now_w, new)
        if k == "heat_pump":
            sg = cmds.get("sgready", 2.0)
            hi = max(now_w, spec.max_w) if sg >= 3 else now_w
            # its own thermostat may stop it before the next cycle, whatever SG-Ready says: for an
            # export limit its draw does not count (else its stop would export for one cycle)
            return now_w, hi, 0.0
        if k == "generator":
            new = cmds.get("power", 0.0) if spec.command == "power" else spec.max_w * cmds.get("relay", 0.0)
            return -now_w, -min(now_w, new), -max(now_w, new)
        if k == "battery":
            if "battery_setpoint" not in cmds:
                return -now_w, -now_w, -now_w
            new = cmds["battery_setpoint"]
            soc = snap.get(f"{spec.id}.soc")
            if soc is not None and ((new > 0 and soc <= spec.reserve_soc + 0.5) or (new < 0 and soc >= 99.5)):
                new = 0.0
            return -now_w, -new, -new
        if k == "pv":
            limit = cmds.get("power_limit", math.inf)
            return -now_w, -min(now_w, limit), -(limit if math.isfinite(limit) else now_w)
        return 0.0, 0.0, 0.0

    def _predict(self, plan: Plan, snap: Snapshot, skip: frozenset[str]) -> dict[str, float]:
        g0 = snap.get(f"{self.grid.meter}.power") or 0.0
        hi = lo = g0
        ph = [snap.get(f"{self.grid.meter}.power_l{i}") for i in (1, 2, 3)]
        phases = [p if p is not None else g0 / 3 for p in ph]
        c14 = 0.0
        memo: dict = getattr(snap, "contributions", {})  # per cycle: (device, commands) -> effect
        for dev, cmds in plan.items():
            if dev in skip:
                continue
            key = (dev, *sorted(cmds.items()))
            effect = memo.get(key)
            if effect is None:
                effect = memo[key] = self._effect(dev, cmds, snap)
            d_hi, d_lo, d1, d2, d3, c = effect
            hi += d_hi
            lo += d_lo
            phases[0] += d1
            phases[1] += d2
            phases[2] += d3
            c14 += c
        return {"hi": hi, "lo": lo, "l1": phases[0], "l2": phases[1], "l3": phases[2], "c14": c14}

    def _effect(self, dev: str, cmds: Mapping[str, float], snap: Snapshot) -> tuple[float, ...]:
        """One device's change of grid power (worst for imports, for exports), per phase, and its
        §14a draw, if it follows ``cmds``."""
        spec = self.devices[dev]
        now_w = self._now_w(snap, dev) or 0.0
        now, h, lw = self._consumption(spec, cmds, snap, now_w)
        if spec.kind == "ev":
            now_ph = int(snap.get(f"{dev}.phases") or cmds.get("phases", spec.phases))
            a = self._phase_vec(spec, now, now_ph)
            b = self._phase_vec(spec, h, int(cmds.get("phases", spec.phases)))
        else:
            a, b = self._phase_vec(spec, now, 3), self._phase_vec(spec, h, 3)
        c14 = max(h, 0.0) if dev in self.p14_ids else 0.0
        return (h - now, lw - now, b[0] - a[0], b[1] - a[1], b[2] - a[2], c14)

    def _excess(self, plan: Plan, snap: Snapshot, active: Mapping[str, float], skip: frozenset[str]) -> float:
        """How far (W) the worst import-side limit would be exceeded; <= 0 when all hold."""
        p = self._predict(plan, snap, skip)
        m = self.limits.margin_w
        worst = -math.inf
        imports = [w for k, w in active.items() if k.startswith("import:")]
        if imports:
            worst = max(worst, p["hi"] - (min(imports) - m))
        if self.grid.phase_import_w is not None:
            for k in ("l1", "l2", "l3"):
                worst = max(worst, p[k] - (self.grid.phase_import_w - m / 3))
        if "para14a" in active:
            worst = max(worst, min(p["c14"], p["hi"]) - (active["para14a"] - m))
        for c in self.limits.circuits:
            amps = [0.0, 0.0, 0.0]
            for dev in c.devices:
                spec = self.devices.get(dev)
                cmds = plan.get(dev)
                told = None if spec is None or spec.kind != "ev" or cmds is None else ev_command(spec, cmds)
                if told is None or not told[0]:
                    continue
                for i in range(3):
                    if told[2] == 3 or i == spec.phase - 1:  # type: ignore[union-attr]
                        amps[i] += told[1]
            worst = max(worst, (max(amps) - c.max_current_a) * self.grid.voltage_v)
        return worst

    # ------------------------------------------------------------ the cycle

    def apply(self, requested: Iterable[Setpoint], snap: Snapshot, state: LimiterState) -> LimiterOutput:
        snap = _Memo(snap)  # type: ignore[assignment]  # the same channels are read many times per cycle
        now = snap.now
        t = now.timestamp()
        events: list[Event] = []
        plan: Plan = {}
        origin: dict[str, str] = {}
        for s in requested:
            dev, _, cmd = s.channel.partition(".")
            origin[s.channel] = s.source
            if dev not in self.devices:
                events.append(
                    Event(
                        now,
                        "dropped",
                        dev,
                        f"setpoint {s.channel} for a device the limiter does not know: dropped",
                    )
                )
                continue
            plan.setdefault(dev, {})[cmd] = s.value
        requested_plan = {d: dict(c) for d, c in plan.items()}
        snap.own_will = self._own_will(snap, state)  # type: ignore[attr-defined]
        active, sources = self.active_limits(snap, state)
        p14 = self.limits.para14a
        self._envelope(plan, p14 is not None and p14.mode == "per_device" and "para14a" in sources)
        enveloped = _copy(plan)  # what the laws asked, within the devices' envelopes
        switches = dict(state.switches)
        self._timing(plan, switches, t)
        self._hold_off(plan, state, t)
        self._hold_ramping(plan, snap, state)
        self._hold_ramping_power(plan, snap, state)

        stale = self._stale(snap)
        grid_lost = self.grid.meter in stale
        for dev in sorted(stale - state.fallback):
            events.append(
                Event(
                    now,
                    "fallback_start",
                    dev,
                    f"{dev}: no data for {self.limits.fallback_after_s:g} s or more, fail-safe setpoints",
                )
            )
        for dev in sorted(state.fallback - stale):
            events.append(Event(now, "fallback_end", dev, f"{dev}: data again, normal control"))
        silent = self._stale_signals(snap)
        for name in sorted(silent - state.signals_stale):
            fail_safe = getattr(self.limits, name).on_stale
            events.append(
                Event(now, "fallback_start", name,
                      f"{name}: contacts silent for {self.limits.fallback_after_s:g} s or more, "
                      f"on_stale: {fail_safe}")
            )
        for name in sorted(state.signals_stale - silent):
            events.append(Event(now, "fallback_end", name, f"{name}: contacts answer again"))
        fallback_count = state.fallbacks + len(stale - state.fallback) + len(silent - state.signals_stale)
        targets = set(self.devices) if grid_lost else stale
        for dev in targets:
            if dev in self.devices:
                self._fail_safe(plan, dev, active)
        if not grid_lost:
            skip = frozenset(stale)
            pvs = [d for d, s in self.devices.items() if s.kind == "pv"]
            asked = {d: plan.get(d, {}).pop("power_limit", math.inf) for d in pvs}
            exporting = any(k.startswith("export:") for k in active)
            for d, w in asked.items():
                if math.isfinite(w) and not exporting:
                    plan[d]["power_limit"] = w
            # storage and PV limit for exports, then shedding for imports; shedding may lower loads
            # (more export) and a PV limit may raise imports, so a few rounds settle both
            for _ in range(4):
                self._export(plan, snap, active, skip, asked)
                self._shed(plan, snap, active, skip, switches, t, events)
                if self._export_need(plan, snap, active, skip) <= 1e-6:
                    break
        if not grid_lost:
            self._pv_deadband(plan, snap, state, frozenset(stale))
        self._lift_pv(plan, state, active)
        self._envelope(
            plan, p14 is not None and p14.mode == "per_device" and "para14a" in sources
        )  # rounding

        # histories follow what is actually sent
        for dev, cmds in plan.items():
            level = self._level(self.devices[dev], cmds)
            if level is not None:
                # first sight: count it as switched now, so the minimum times hold from the start
                switches[dev] = (
                    switches[dev].switched(level, t) if dev in switches else SwitchHistory(level, t)
                )
        episodes = self._episodes(state, sources, snap, plan, enveloped, t, events)
        setpoints = tuple(
            Setpoint(
                f"{dev}.{cmd}",
                value,
                now,
                self.name
                if requested_plan.get(dev, {}).get(cmd) != value
                else origin.get(f"{dev}.{cmd}", ""),
            )
            for dev, cmds in sorted(plan.items())
            for cmd, value in sorted(cmds.items())
        )
        for e in events:
            log.info("%s %s: %s", e.kind, e.subject, e.message)
        pv_limited = any("power_limit" in c for d, c in plan.items() if self.devices[d].kind == "pv") and any(
            k.startswith("export:") for k in active
        )
        new_state = LimiterState(
            t,
            MappingProxyType(switches),
            frozenset(stale),
            MappingProxyType(episodes),
            self._ripple_pattern(snap, state),
            pv_limited or grid_lost,
            fallback_count,
            MappingProxyType({d: c["power_limit"] for d, c in plan.items() if "power_limit" in c}),
            MappingProxyType(self._ev_seen(snap)),
            MappingProxyType(self._ev_sent(plan)),
            para14a_on=self._para14a_on(snap, state),
            signals_stale=silent,
            ev_forced_off=MappingProxyType(self._forced_off(plan, requested_plan, state, t)),
            power_seen=MappingProxyType(
                {d: w for d in self._continuous() if (w := self._now_w(snap, d)) is not None}
            ),
            power_sent=MappingProxyType(
                {d: plan[d]["power"] for d in self._continuous() if "power" in plan.get(d, {})}
            ),
        )
        return LimiterOutput(setpoints, new_state, tuple(events), MappingProxyType(active))

    # ------------------------------------------------------------ steps

    def _envelope(self, plan: Plan, p14_per_device: bool) -> None:
        """Clamp every command to what the device can take; §14a caps per device while dimmed."""
        for dev, cmds in plan.items():
            s = self.devices[dev]
            if s.kind == "ev":
                if "enable" in cmds:
                    cmds["enable"] = 1.0 if cmds["enable"] >= 0.5 else 0.0
                phases = cmds.get("phases", s.phases)
                phases = (3 if phases >= 2 else 1) if s.phase_switching else s.phases
                if "phases" in cmds or s.phase_switching:
                    cmds["phases"] = float(phases)
                current = cmds.get("current_limit", s.max_a)
                current = s.min_a if not math.isfinite(current) else min(max(current, s.min_a), s.max_a)
                if p14_per_device and dev in self.p14_ids:
                    current = min(
                        current,
                        max(s.min_a, math.floor(self.p14_min[dev] / (phases * s.voltage_v) * 10) / 10),
                    )
                if "current_limit" in cmds or current < s.max_a:
                    cmds["current_limit"] = current
            elif s.kind == "battery" and "battery_setpoint" in cmds:
                w = cmds["battery_setpoint"]
                w = 0.0 if not math.isfinite(w) else min(max(w, -s.max_charge_w), s.max_discharge_w)
                if p14_per_device and dev in self.p14_ids:
                    w = max(w, -self.p14_min[dev])
                cmds["battery_setpoint"] = w
            elif s.kind == "pv" and "power_limit" in cmds:
                top = s.ac_w if s.ac_w is not None else max(s.rated_w, 0.0)
                w = cmds["power_limit"]
                cmds["power_limit"] = top if not math.isfinite(w) else min(max(w, 0.0), top or w)
            elif s.kind == "heat_pump" and "sgready" in cmds:
                sg = cmds["sgready"]
                cmds["sgready"] = float(min(max(round(sg), 1), 4)) if math.isfinite(sg) else 2.0
            elif s.kind == "rod" and "power" in cmds:
                w = cmds["power"]
                w = 0.0 if not math.isfinite(w) else min(max(w, 0.0), s.max_w)
                if s.stages_w:
                    w = max((st for st in (0.0, *s.stages_w) if st <= w + 1e-9), default=0.0)
                cmds["power"] = w
            elif s.kind in ("load", "generator"):
                for cmd in list(cmds):
                    w = cmds[cmd]
                    w = 0.0 if not math.isfinite(w) else w
                    cmds[cmd] = (1.0 if w >= 0.5 else 0.0) if cmd == "relay" else min(max(w, 0.0), s.max_w)

    def _level(self, s: DeviceSpec, cmds: Mapping[str, float]) -> float | None:
        """The switched state the timing rules watch, or None if the device has none."""
        if s.kind == "ev" and "enable" in cmds:
            return cmds["enable"]
        if s.kind == "heat_pump" and "sgready" in cmds:
            return cmds["sgready"]
        if s.kind == "rod" and "power" in cmds:
            return cmds["power"] if s.stages_w else float(cmds["power"] > 0)
        if s.kind in ("load", "generator"):
            w = cmds.get("relay", cmds.get("power"))
            return None if w is None else float(w > 0)
        return None

    def _timing(self, plan: Plan, switches: dict[str, SwitchHistory], t: float) -> None:
        """Undo switches that break a device's minimum on/off time or its hourly cap."""
        for dev, cmds in plan.items():
            s = self.devices[dev]
            rules = SwitchRules(s.min_on_s, s.min_off_s, s.max_switches_per_hour)
            level = self._level(s, cmds)
            hist = switches.get(dev)
            if level is None or hist is None or hist.may_switch(level, t, rules):
                continue
            keep = hist.state
            if s.kind == "ev":
                cmds["enable"] = keep
            elif s.kind == "heat_pump":
                cmds["sgready"] = keep
            elif s.kind == "rod":
                cmds["power"] = keep if s.stages_w else (cmds["power"] if keep else 0.0)
            else:
                cmd = "relay" if "relay" in cmds else "power"
                cmds[cmd] = keep if cmd == "relay" else (cmds[cmd] if keep else 0.0)

    def _hold_off(self, plan: Plan, state: LimiterState, t: float) -> None:
        """A charger the limiter switched off is not switched on again for ``ev_restart_s``: when the
        meter and the charger's poll disagree during its ramp, shedding may switch it off for a
        prediction that the next cycle no longer makes; without this hold it would chatter."""
        for dev, since in state.ev_forced_off.items():
            cmds = plan.get(dev)
            if cmds is not None and t - since < self.limits.ev_restart_s and cmds.get("enable", 0.0) >= 0.5:
                cmds["enable"] = 0.0

    def _forced_off(self, plan: Plan, requested: Plan, state: LimiterState, t: float) -> dict[str, float]:
        """Chargers switched off this cycle against their law's request, and those still held."""
        out = {d: s for d, s in state.ev_forced_off.items() if t - s < self.limits.ev_restart_s}
        for dev, cmds in plan.items():
            was_on = dev in state.switches and state.switches[dev].state >= 0.5
            asked_on = requested.get(dev, {}).get("enable", 0.0) >= 0.5
            if self.devices[dev].kind == "ev" and was_on and asked_on and cmds.get("enable", 1.0) < 0.5:
                out[dev] = t
        return out

    def _ev_seen(self, snap: Snapshot) -> dict[str, float]:
        out = {}
        for d, s in self.devices.items():
            w = self._now_w(snap, d) if s.kind == "ev" else None
            if w is not None:
                out[d] = w
        return out

    def _ev_sent(self, plan: Plan) -> dict[str, float]:
        out = {}
        for d, cmds in plan.items():
            s = self.devices[d]
            told = ev_command(s, cmds) if s.kind == "ev" else None
            if told is not None and told[0]:
                out[d] = told[1]
        return out

    def _continuous(self) -> list[str]:
        """Consumers with a continuous power setpoint (not chargers): heating rods without stages,
        loads commanded in W (an electrolyser)."""
        return [d for d, s in self.devices.items()
                if (s.kind == "rod" and not s.stages_w) or (s.kind == "load" and s.command == "power")]

    def _own_will(self, snap: Snapshot, state: LimiterState) -> frozenset[str]:
        """Continuous consumers drawing a step (5 % of their maximum, at least 100 W) above the
        setpoint they were sent last cycle: a heating rod's own thermostat keeping the water warm.
        Until they follow again, a lower setpoint is not counted on to lower the import."""
        out = set()
        for d in self._continuous():
            now_w, sent = self._now_w(snap, d), state.power_sent.get(d)
            step = max(100.0, 0.05 * self.devices[d].max_w)
            if now_w is not None and sent is not None and now_w >= sent + step:
                out.add(d)
        return frozenset(out)

    def _hold_ramping_power(self, plan: Plan, snap: Snapshot, state: LimiterState) -> None:
        """The charger rule below for continuous consumers: one whose measured power moved by a step
        (5 % of its maximum, at least 100 W) since the last cycle, or still draws a step above the
        last setpoint, is ramping; its setpoint is not raised until meter and poll agree again."""
        for d in self._continuous():
            cmds = plan.get(d)
            now_w, before, sent = self._now_w(snap, d), state.power_seen.get(d), state.power_sent.get(d)
            if cmds is None or "power" not in cmds or now_w is None or before is None or sent is None:
                continue
            step = max(100.0, 0.05 * self.devices[d].max_w)
            if (abs(now_w - before) >= step or now_w >= sent + step) and cmds["power"] > sent:
                cmds["power"] = sent

    def _hold_ramping(self, plan: Plan, snap: Snapshot, state: LimiterState) -> None:
        """A charger whose measured power moved by 1 A or more since the last cycle, or still
        draws 1 A or more above the last current sent, is ramping, and the pushed grid meter and
        the polled charger may have seen that ramp at different instants: a prediction from the
        two would be off by the ramp. Lowering is always safe; a raise waits until both settled."""
        for d, cmds in plan.items():
            s = self.devices[d]
            if s.kind != "ev" or d not in state.ev_sent or "current_limit" not in cmds:
                continue
            now_w, before = self._now_w(snap, d), state.ev_seen.get(d)
            told = ev_command(s, cmds)
            if now_w is None or before is None or told is None or not told[0]:
                continue
            sent = state.ev_sent[d]
            one_amp = s.ev_power(1.0, told[2])
            ramping = abs(now_w - before) >= one_amp or now_w >= s.ev_power(sent, told[2]) + one_amp
            if ramping and told[1] > sent:
                cmds["current_limit"] = state.ev_sent[d]

    def _stale(self, snap: Snapshot) -> set[str]:
        limit = self.limits.fallback_after_s
        out = set()
        for dev in (self.grid.meter, *self.devices):
            ch = f"{dev}.power"
            age = snap.age(ch)
            if snap.get(ch) is None or age is None or age > limit:
                out.add(dev)
        return out

    def _fail_safe(self, plan: Plan, dev: str, active: Mapping[str, float]) -> None:
        s = self.devices[dev]
        cmds = plan.setdefault(dev, {})
        if s.kind == "ev":
            cmds["current_limit"] = s.min_a
            if self.limits.ev_fallback == "off":
                cmds["enable"] = 0.0
            cmds.setdefault("enable", 0.0)
        elif s.kind == "battery":
            if self.limits.battery_fallback == "idle":
                cmds["battery_setpoint"] = 0.0
            else:
                cmds.pop("battery_setpoint", None)
                cmds["mode"] = 0.0
        elif s.kind == "rod":
            cmds["power"] = 0.0
        elif s.kind == "load":
            cmds["power" if s.command == "power" else "relay"] = 0.0
        elif s.kind == "heat_pump":
            cmds["sgready"] = min(cmds.get("sgready", 2.0), 2.0)
        elif s.kind == "pv":
            exports = [w for k, w in active.items() if k.startswith("export:")]
            if exports and self.pv_rated:
                cmds["power_limit"] = min(exports) * s.rated_w / self.pv_rated  # generation <= feed-in limit
        elif s.kind == "generator":
            plan.pop(dev, None)

    def _shed(
        self,
        plan: Plan,
        snap: Snapshot,
        active: Mapping[str, float],
        skip: frozenset[str],
        switches: dict[str, SwitchHistory],
        t: float,
        events: list[Event],
    ) -> None:
        """Remove import-side excess in a fixed order, each step by the least that suffices."""
        if self._excess(plan, snap, active, skip) <= 0:
            return
        exports = [w for k, w in active.items() if k.startswith("export:")]
        Step = tuple[str, Callable[[Plan], float], Callable[[Plan, float], None]]
        steps: list[Step] = []
        bats = [d for d, s in self.devices.items() if s.kind == "battery" and d not in skip]

        def bat_room(dev: str, capped: bool) -> Callable[[Plan], float]:
            def room(p: Plan) -> float:
                s = self.devices[dev]
                soc = snap.get(f"{dev}.soc")
                top = s.max_discharge_w if soc is not None and soc > s.reserve_soc + 0.5 else 0.0
                r = max(top - self._bat_cmd(p, snap, dev), 0.0)
                if capped and exports:  # discharging must not export if the loads do not draw
                    lo = self._predict(p, snap, skip)["lo"]
                    r = min(r, max(lo - (-min(exports) + self.limits.margin_w), 0.0))
                return r

            return room

        def bat_up(dev: str) -> Callable[[Plan, float], None]:
            def act(p: Plan, r: float) -> None:
                top = self.devices[dev].max_discharge_w
                p.setdefault(dev, {})["battery_setpoint"] = min(self._bat_cmd(p, snap, dev) + r, top)

            return act

        for dev in bats:
            steps.append((dev, bat_room(dev, True), bat_up(dev)))
        for dev, s in self.devices.items():
            if s.kind == "rod" and dev in plan and dev not in skip:
                steps.append((dev, lambda p, d=dev: p[d].get("power", 0.0), _rod_down(dev, s)))
        rules_ok = {
            dev: switches.get(dev, SwitchHistory()).may_switch(
                0.0, t, SwitchRules(s.min_on_s, s.min_off_s, s.max_switches_per_hour)
            )
            for dev, s in self.devices.items()
        }
        loads = [d for d, s in self.devices.items() if s.kind == "load" and d in plan and d not in skip]
        for dev in sorted(loads, key=lambda d: self.devices[d].priority):
            if rules_ok[dev]:
                steps.append((dev, lambda p: 1.0, _off(dev)))
        evs = [
            self.devices[d]
            for d, s in self.devices.items()
            if s.kind == "ev" and d in plan and d not in skip and ev_command(s, plan[d]) is not None
        ]
        if evs:
            steps.append(("ev", lambda p: _ev_total(evs, p), _ev_down(evs)))
        for dev, s in self.devices.items():
            if s.kind == "heat_pump" and dev in plan and dev not in skip:
                steps.append(
                    (dev, lambda p: 1.0, _set(dev, "sgready", min(plan[dev].get("sgready", 2.0), 2.0)))
                )
        for dev in loads:
            if not rules_ok[dev]:
                steps.append((dev, lambda p: 1.0, _off(dev)))
        if exports:  # last resort: the battery regardless of exports (an import limit protects the fuse)
            for dev in bats:
                steps.append((dev, bat_room(dev, False), bat_up(dev)))
        for name, room, act in steps:
            top = room(plan)
            if top <= 0:
                continue

            def excess(r: float, act: Callable[[Plan, float], None] = act) -> float:
                trial = _copy(plan)
                act(trial, r)
                return self._excess(trial, snap, active, skip)

            e_top = excess(top)
            if e_top > 0:
                act(plan, top)  # not enough: take all of it and go on
                _note_override(name, self.devices, rules_ok, events, snap.now)
                continue
            hi = _least(excess, top, self._excess(plan, snap, active, skip), e_top)
            act(plan, hi)
            _note_override(name, self.devices, rules_ok, events, snap.now)
            return

    def _bat_cmd(self, plan: Plan, snap: Snapshot, dev: str) -> float:
        """The battery's setpoint in the plan, or what it does now (a discharge its SoC forbids is 0)."""
        cur = plan.get(dev, {}).get("battery_setpoint")
        if cur is None:
            cur = self._now_w(snap, dev) or 0.0
        soc = snap.get(f"{dev}.soc")
        if cur > 0 and soc is not None and soc <= self.devices[dev].reserve_soc + 0.5:
            cur = 0.0
        return cur

    def _export_need(
        self, plan: Plan, snap: Snapshot, active: Mapping[str, float], skip: frozenset[str]
    ) -> float:
        """W of worst-case export above the export limit (with margin); <= 0 when it holds."""
        exports = [w for k, w in active.items() if k.startswith("export:")]
        if not exports:
            return 0.0
        return (-min(exports) + self.limits.margin_w) - self._predict(plan, snap, skip)["lo"]

    def _export(
        self,
        plan: Plan,
        snap: Snapshot,
        active: Mapping[str, float],
        skip: frozenset[str],
        asked: Mapping[str, float],
    ) -> None:
        exports = [w for k, w in active.items() if k.startswith("export:")]
        if not exports:
            return
        limit = min(exports)
        m = self.limits.margin_w
        pvs = [d for d, s in self.devices.items() if s.kind == "pv"]
        for d in pvs:
            plan.setdefault(d, {}).pop("power_limit", None)
        p = self._predict(plan, snap, skip)
        need = (-limit + m) - p["lo"]  # W of export to remove, > 0 when over
        for dev, s in self.devices.items():
            if need <= 0 or s.kind != "battery" or dev in skip:
                continue
            soc = snap.get(f"{dev}.soc")
            before = plan.get(dev)
            cur = (before or {}).get("battery_setpoint", self._now_w(snap, dev) or 0.0)
            if cur > 0 and soc is not None and soc <= s.reserve_soc + 0.5:
                cur = 0.0  # it cannot discharge anyway
            # a full battery (or one of unknown SoC) cannot take charge, but its discharge can
            # always be lowered: at once, to what keeps the export within the limit
            charge_room = 0.0 if soc is None or soc >= 99.5 else s.max_charge_w
            top = min(need, max(cur + charge_room, 0.0))
            if top <= 0:
                if charge_room > 0 and cur <= -s.max_charge_w + 1e-6:
                    # already absorbing all it can: pin it there, so the export it holds back stays held
                    plan.setdefault(dev, {})["battery_setpoint"] = -s.max_charge_w
                continue
            plan.setdefault(dev, {})["battery_setpoint"] = cur - top  # imports are checked by shedding after
            p = self._predict(plan, snap, skip)
            need = (-limit + m) - p["lo"]
        # PV may produce what it does now plus the headroom left, split by installed power
        live = [d for d in pvs if d not in skip]
        now_pv = sum(self._now_w(snap, d) or 0.0 for d in live)
        allowed = max(now_pv - need, 0.0)
        rated = sum(self.devices[d].rated_w for d in live) or 1.0
        for d in live:
            spec = self.devices[d]
            top = spec.ac_w if spec.ac_w is not None else spec.rated_w
            plan[d]["power_limit"] = min(allowed * spec.rated_w / rated, asked[d], top)
        for d in pvs:
            if d in skip:
                self._fail_safe(plan, d, active)

    def _pv_deadband(self, plan: Plan, snap: Snapshot, state: LimiterState, skip: frozenset[str]) -> None:
        """Keep last cycle's PV limit while the new one is only a little higher and the old one does
        not hold the inverter below its output: fewer writes, and lower is always safe for exports."""
        band = self.limits.pv_deadband_w
        for d, cmds in plan.items():
            new, prev = cmds.get("power_limit"), state.pv_sent.get(d)
            if new is None or prev is None or d in skip or self.devices[d].kind != "pv":
                continue
            if prev <= new <= prev + band and prev >= (self._now_w(snap, d) or 0.0):
                cmds["power_limit"] = prev

    def _lift_pv(self, plan: Plan, state: LimiterState, active: Mapping[str, float]) -> None:
        """When no export limit is left, lift an earlier PV limit once."""
        if any(k.startswith("export:") for k in active) or not state.pv_limited:
            return
        for d, s in self.devices.items():
            if s.kind == "pv":
                plan.setdefault(d, {}).setdefault("power_limit", s.ac_w if s.ac_w is not None else s.rated_w)

    def _episodes(
        self,
        state: LimiterState,
        sources: Mapping[str, str],
        snap: Snapshot,
        plan: Plan,
        requested: Plan,
        t: float,
        events: list[Event],
    ) -> dict[str, Episode]:
        dt = min(t - state.last_t, 60.0) if state.last_t is not None else 0.0
        # PV held back (needs the inverter's ``power_available``), and consumption held back
        pv_w = load_w = 0.0
        for d, s in self.devices.items():
            if s.kind == "pv":
                avail = snap.get(f"{d}.power_available")
                now_w = self._now_w(snap, d)
                if avail is not None and now_w is not None:
                    pv_w += max(avail - now_w, 0.0)
            elif d in plan and d in requested and s.kind in ("ev", "rod", "load"):
                a = self._consumption(s, requested[d], snap, 0.0)[1]
                b = self._consumption(s, plan[d], snap, 0.0)[1]
                load_w += max(a - b, 0.0)
        by_source = {"ripple": pv_w + load_w, "direct_marketer": pv_w, "para14a": load_w}
        out: dict[str, Episode] = {}
        now = snap.now
        for src, ep in state.episodes.items():
            ep = replace(ep, curtailed_wh=ep.curtailed_wh + by_source.get(src, pv_w + load_w) * dt / 3600.0)
            if sources.get(src) == ep.level:
                out[src] = ep
            else:
                events.append(
                    Event(
                        now,
                        "restriction_end",
                        src,
                        f"{src} {ep.level}: {t - ep.start:.0f} s, {ep.curtailed_wh:.0f} Wh curtailed",
                        {"start": ep.start, "end": t, "curtailed_wh": ep.curtailed_wh},
                    )
                )
        for src, level in sources.items():
            if src not in out:
                out[src] = Episode(t, level)
                events.append(Event(now, "restriction_start", src, f"{src} {level}", {"start": t}))
        return out


# ------------------------------------------------------------ shedding actions


class _Memo:
    """A snapshot that remembers what it was asked (the limiter reads channels many times)."""

    __slots__ = ("_got", "_snap", "contributions", "now", "own_will")

    def __init__(self, snap: Snapshot) -> None:
        self._snap = snap
        self._got: dict[str, float | None] = {}
        self.contributions: dict = {}
        self.now = snap.now
        self.own_will: frozenset[str] = frozenset()  # consumers drawing above what they were told

    def get(self, channel: str) -> float | None:
        try:
            return self._got[channel]
        except KeyError:
            value = self._got[channel] = self._snap.get(channel)
            return value

    def age(self, channel: str) -> float | None:
        return self._snap.age(channel)


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


def ev_command(spec: DeviceSpec, cmds: Mapping[str, float]) -> tuple[bool, float, int] | None:
    """(enabled, A per phase, phases) a charger is told, or None when it is not commanded.
    A current without ``enable`` means enabled; ``enable`` without a current means its maximum."""
    if "enable" not in cmds and "current_limit" not in cmds:
        return None
    return (
        cmds.get("enable", 1.0) >= 0.5,
        cmds.get("current_limit", spec.max_a),
        int(cmds.get("phases", spec.phases)),
    )


def _copy(plan: Plan) -> Plan:
    return {d: dict(c) for d, c in plan.items()}


def _set(dev: str, cmd: str, value: float) -> Callable[[Plan, float], None]:
    def act(plan: Plan, r: float) -> None:
        if r > 0:
            plan.setdefault(dev, {})[cmd] = value

    return act


def _off(dev: str) -> Callable[[Plan, float], None]:
    def act(plan: Plan, r: float) -> None:
        if r > 0:
            cmds = plan[dev]
            for cmd in ("relay", "power"):
                if cmd in cmds:
                    cmds[cmd] = 0.0

    return act


def _rod_down(dev: str, s: DeviceSpec) -> Callable[[Plan, float], None]:
    def act(plan: Plan, r: float) -> None:
        w = max(plan[dev].get("power", 0.0) - r, 0.0)
        if s.stages_w:
            w = max((st for st in (0.0, *s.stages_w) if st <= w + 1e-9), default=0.0)
        plan[dev]["power"] = w

    return act


def _ev_total(specs: list[DeviceSpec], plan: Plan) -> float:
    total = 0.0
    for s in specs:
        told = ev_command(s, plan[s.id])
        if told is not None and told[0]:
            total += s.ev_power(told[1], told[2])
    return total


def _ev_down(specs: list[DeviceSpec]) -> Callable[[Plan, float], None]:
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
            plan[gone.id]["enable"] = 0.0
        got = water_fill(max(target, 0.0), [(s.ev_power(s.min_a, ph[s.id]), power[s.id]) for s in keep])
        for s, w in zip(keep, got, strict=True):
            amps = math.floor(w / (ph[s.id] * s.voltage_v) * 10 + 1e-9) / 10
            plan[s.id]["current_limit"] = max(min(amps, s.max_a), s.min_a)

    return act


def _note_override(
    name: str,
    devices: Mapping[str, DeviceSpec],
    rules_ok: Mapping[str, bool],
    events: list[Event],
    now: datetime,
) -> None:
    if name in devices and devices[name].kind == "load" and not rules_ok.get(name, True):
        events.append(
            Event(
                now,
                "min_time_override",
                name,
                f"{name}: switched off before its minimum run time to keep a grid limit",
            )
        )
