"""The types the limiter's stages share: the plan being enforced, the connection point, events,
restriction episodes, the state carried from cycle to cycle and the output of one cycle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from wattwerk.config import SiteConfig
from wattwerk.control.devices import DeviceSpec
from wattwerk.control.timing import SwitchHistory
from wattwerk.model import Setpoint
from wattwerk.vocabulary import Command

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


def _empty() -> Mapping:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class LimiterState:
    last_t: float | None = None
    switches: Mapping[str, SwitchHistory] = field(default_factory=_empty)
    fallback: frozenset[str] = frozenset()
    episodes: Mapping[str, Episode] = field(default_factory=_empty)
    ripple_pattern: str | None = None
    pv_limited: bool = False
    fallbacks: int = 0
    pv_sent: Mapping[str, float] = field(default_factory=_empty)
    ev_seen: Mapping[str, float] = field(default_factory=_empty)  # measured W
    ev_sent: Mapping[str, float] = field(default_factory=_empty)  # A, while enabled
    para14a_on: bool = False  # the §14a signal as last seen (or as its fail-safe says)
    ev_forced_off: Mapping[str, float] = field(default_factory=_empty)  # charger -> t
    power_seen: Mapping[str, float] = field(default_factory=_empty)  # rods, loads: W
    power_sent: Mapping[str, float] = field(default_factory=_empty)  # their setpoints
    signals_stale: frozenset[str] = frozenset()  # "ripple", "para14a": their contacts went silent


@dataclass(frozen=True, slots=True)
class LimiterOutput:
    setpoints: tuple[Setpoint, ...]
    state: LimiterState
    events: tuple[Event, ...]
    active: Mapping[str, float]  # limit name -> W in force this cycle


def ev_command(spec: DeviceSpec, cmds: Mapping[str, float]) -> tuple[bool, float, int] | None:
    """(enabled, A per phase, phases) a charger is told, or None when it is not commanded.
    A current without ``enable`` means enabled; ``enable`` without a current means its maximum."""
    if Command.ENABLE not in cmds and Command.CURRENT_LIMIT not in cmds:
        return None
    return (
        cmds.get(Command.ENABLE, 1.0) >= 0.5,
        cmds.get(Command.CURRENT_LIMIT, spec.max_a),
        int(cmds.get(Command.PHASES, spec.phases)),
    )


def copy_plan(plan: Plan) -> Plan:
    return {d: dict(c) for d, c in plan.items()}


def exports_of(active: Mapping[str, float]) -> list[float]:
    """The export limits in force (W), from the active limits by name."""
    return [w for k, w in active.items() if k.startswith("export:")]
