"""The one limiter, after every controller: whatever the controllers ask, the setpoints that
leave here keep every active limit.

Limits: the connection point's import and export limits; per-phase fuse limits; circuits of
chargers; the ripple-control receiver and a direct marketer's signal (feed-in and consumption
limits, every restriction episode logged with start, end and energy curtailed); limits from outside
(``control.inbound``); §14a EnWG dimming; a fixed feed-in limit by PV curtailment (battery charging
first); peak shaving (battery first, then flexible loads); device envelopes and minimum on/off times;
and a fail-safe when the grid meter or a device goes stale.

A pipeline that reads each input once per cycle:

1. limit sources (``limit_sources``): the limits in force and the restriction sources;
2. per-kind envelopes and timing holds (``holds``, with the per-kind rules of ``kinds``);
3. one enforcer (``enforcer``): fail-safe setpoints for stale devices, then battery and PV limit for
   exports and shedding for imports against the predicted grid (``prediction``: worst case for
   imports and for exports), each by the least that suffices; ``margin_w`` keeps a distance;
4. episodes and logging (``episodes``).

The types the stages share are in ``limit_types``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType

from wattwerk.config import SiteConfig
from wattwerk.config.limits import ControlLimits
from wattwerk.control.devices import DeviceSpec, from_site
from wattwerk.control.enforcer import Enforcer, Round
from wattwerk.control.episodes import EpisodeLog, log_events
from wattwerk.control.holds import Holds
from wattwerk.control.limit_sources import Limits, LimitSources
from wattwerk.control.limit_types import (
    Episode,
    Event,
    GridSpec,
    LimiterOutput,
    LimiterState,
    Plan,
    copy_plan,
    ev_command,
)
from wattwerk.control.para14a import aggregate_minimum_w, device_minimum_w
from wattwerk.control.prediction import CycleView, Predictor
from wattwerk.model import Setpoint
from wattwerk.snapshot import Snapshot
from wattwerk.vocabulary import KINDS, Command, Kind

__all__ = ["Episode", "Event", "GridSpec", "Limiter", "LimiterOutput", "LimiterState", "Plan", "ev_command"]


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
        by_kind = {k: tuple(d for d, s in self.devices.items() if s.kind == k) for k in Kind}
        self.pv_rated = sum(self.devices[d].rated_w for d in by_kind[Kind.PV])
        p14 = self.limits.para14a
        self.p14_ids: tuple[str, ...] = ()
        p14_min: dict[str, float] = {}
        if p14 is not None:
            default = [d.id for d in self.devices.values() if KINDS[Kind(d.kind)].para14a]
            ids = p14.devices if p14.devices is not None else default
            self.p14_ids = tuple(i for i in ids if i in self.devices)
            p14_min = {i: device_minimum_w(self.devices[i].kind, p14.rated_w.get(i)) for i in self.p14_ids}
            self.p14_min = p14_min
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
        self.sources = LimitSources(grid, self.limits, self.pv_rated, getattr(self, "p14_total", 0.0))
        self.holds = Holds(self.devices, self.limits, p14_min, by_kind[Kind.EV])
        self.predictor = Predictor(grid, self.devices, self.limits, frozenset(self.p14_ids))
        self.enforcer = Enforcer(self.predictor, self.limits, self.pv_rated, by_kind)
        self.log = EpisodeLog(self.predictor, self.limits)

    @classmethod
    def from_site(cls, cfg: SiteConfig, limits: ControlLimits | None = None) -> Limiter:
        """The limiter of a site file; ``limits``: its control section unless given."""
        return cls(GridSpec.from_site(cfg), from_site(cfg), limits if limits is not None else cfg.control)

    def initial(self) -> LimiterState:
        return LimiterState()

    def active_limits(self, snap: Snapshot, state: LimiterState) -> tuple[dict[str, float], dict[str, str]]:
        """Import limits (``import:*``) and export limits (``export:*``) in force, W; and the
        restriction sources active now with their level, for the episode log."""
        limits = self.sources.read(snap, state)
        return limits.active, limits.sources

    def _dimmed(self, limits: Limits) -> bool:
        """§14a per device in force: each device capped to its own minimum."""
        p14 = self.limits.para14a
        return p14 is not None and p14.mode == "per_device" and "para14a" in limits.sources

    def _plan(
        self, requested: Iterable[Setpoint], now: datetime, events: list[Event]
    ) -> tuple[Plan, dict[str, str]]:
        """The laws' setpoints as device -> command -> value, and who asked for each."""
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
        return plan, origin

    def apply(self, requested: Iterable[Setpoint], snap: Snapshot, state: LimiterState) -> LimiterOutput:
        view = CycleView(snap)  # the same channels are read many times per cycle
        view.own_will = self.holds.own_will(view, state)
        now = view.now
        t = now.timestamp()
        events: list[Event] = []
        plan, origin = self._plan(requested, now, events)
        requested_plan = copy_plan(plan)
        # 1. limit sources
        limits = self.sources.read(view, state)
        # 2. envelopes and holds
        self.holds.envelope(plan, self._dimmed(limits))
        enveloped = copy_plan(plan)  # what the laws asked, within the devices' envelopes
        switches = dict(state.switches)
        self.holds.timing(plan, switches, t)
        self.holds.hold_off(plan, state, t)
        self.holds.hold_ramping(plan, view, state)
        self.holds.hold_ramping_power(plan, view, state)
        # 3. the enforcer: fail-safe for what went stale, then the limits
        stale = self.holds.stale(view, self.grid.meter)
        grid_lost = self.grid.meter in stale
        fallbacks = self.log.fallbacks(now, state, stale, limits.silent, events)
        for dev in set(self.devices) if grid_lost else stale:
            if dev in self.devices:
                self.enforcer.fail_safe(plan, dev, limits.active)
        if not grid_lost:
            self.enforcer.enforce(plan, Round(view, limits.active, frozenset(stale), switches, t, events))
            self.enforcer.pv_deadband(plan, view, state, frozenset(stale))
        self.enforcer.lift_pv(plan, state, limits.active)
        self.holds.envelope(plan, self._dimmed(limits))  # rounding
        # 4. episodes, logging, and what the next cycle needs
        self.holds.switched(plan, switches, t)
        episodes = self.log.episodes(state, limits.sources, view, plan, enveloped, t, events)
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
        log_events(events)
        new_state = self._next_state(state, view, plan, requested_plan, limits, t)
        new_state = replace(
            new_state,
            switches=MappingProxyType(switches),
            fallback=frozenset(stale),
            episodes=MappingProxyType(episodes),
            pv_limited=new_state.pv_limited or grid_lost,
            fallbacks=fallbacks,
        )
        return LimiterOutput(setpoints, new_state, tuple(events), MappingProxyType(limits.active))

    def _next_state(
        self, state: LimiterState, view: CycleView, plan: Plan, requested: Plan, limits: Limits, t: float
    ) -> LimiterState:
        """What the next cycle needs of this one (switches, stale devices, episodes, the fallback
        count and whether the grid was lost are set by ``apply``)."""
        pvs = self.enforcer.of(Kind.PV)
        pv_limited = any(Command.POWER_LIMIT in plan.get(d, {}) for d in pvs) and bool(limits.exports)
        h = self.holds
        return LimiterState(
            t,
            ripple_pattern=limits.ripple_pattern,
            pv_limited=pv_limited,
            pv_sent=MappingProxyType(
                {d: c[Command.POWER_LIMIT] for d, c in plan.items() if Command.POWER_LIMIT in c}
            ),
            ev_seen=MappingProxyType(h.ev_seen(view)),
            ev_sent=MappingProxyType(h.ev_sent(plan)),
            para14a_on=limits.para14a_on,
            signals_stale=limits.silent,
            ev_forced_off=MappingProxyType(h.forced_off(plan, requested, state, t)),
            power_seen=MappingProxyType(h.power_seen(view)),
            power_sent=MappingProxyType(h.power_sent(plan)),
        )
