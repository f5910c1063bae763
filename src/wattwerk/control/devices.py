"""What the limiter knows about each controllable device: its envelope and switching rules,
built from the site file (``from_site``) or directly in tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from wattwerk.config import SiteConfig
from wattwerk.config.devices import DeviceBase
from wattwerk.vocabulary import EV_DEFAULTS, Command, Kind, Role, kind_of


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """Powers in W, currents in A per phase, times in s. ``max_w`` is nominal consumption
    (loads) or generation (generators); ``rated_w`` is a PV array's installed power (kWp x 1000)."""

    id: str
    kind: Kind
    max_w: float = 0.0
    min_a: float = EV_DEFAULTS.min_a
    max_a: float = EV_DEFAULTS.max_a
    phases: int = EV_DEFAULTS.phases
    phase_switching: bool = False
    voltage_v: float = 230.0
    phase: int = 1  # the phase a one-phase load hangs on
    priority: int = 0  # higher is shed later
    min_on_s: float = 0.0
    min_off_s: float = 0.0
    max_switches_per_hour: int | None = None
    max_charge_w: float = 0.0
    max_discharge_w: float = 0.0
    reserve_soc: float = 0.0
    rated_w: float = 0.0
    ac_w: float | None = None  # PV inverter's AC rating
    command: Literal["relay", "power"] = "relay"  # loads and generators
    stages_w: tuple[float, ...] = ()  # heating rod relay stages

    def ev_power(self, current_a: float, phases: int) -> float:
        return current_a * phases * self.voltage_v


def _timing(dev: DeviceBase) -> dict[str, Any]:
    lim = dev.limits
    return dict(
        min_on_s=lim.min_on_s or 0.0,
        min_off_s=lim.min_off_s or 0.0,
        max_switches_per_hour=lim.max_switches_per_hour,
    )


def _ev(cfg: SiteConfig, dev: DeviceBase) -> DeviceSpec:
    lim = dev.limits
    return DeviceSpec(
        dev.id,
        Kind.EV,
        min_a=lim.min_current_a or EV_DEFAULTS.min_a,
        max_a=lim.max_current_a or EV_DEFAULTS.max_a,
        phases=lim.phases or EV_DEFAULTS.phases,
        phase_switching=dev.phase_switching,  # type: ignore[attr-defined]
        voltage_v=cfg.site.grid.voltage_v,
        **_timing(dev),
    )


def _battery(cfg: SiteConfig, dev: DeviceBase) -> DeviceSpec:
    return DeviceSpec(
        dev.id,
        Kind.BATTERY,
        max_charge_w=dev.max_charge_w,  # type: ignore[attr-defined]
        max_discharge_w=dev.max_discharge_w,  # type: ignore[attr-defined]
        reserve_soc=cfg.reserve_soc(dev),  # type: ignore[arg-type]
    )


def _pv(cfg: SiteConfig, dev: DeviceBase) -> DeviceSpec:
    return DeviceSpec(dev.id, Kind.PV, rated_w=dev.kwp * 1000.0, ac_w=dev.limits.max_power_w)  # type: ignore[attr-defined]


def _heat_pump(cfg: SiteConfig, dev: DeviceBase) -> DeviceSpec:
    return DeviceSpec(dev.id, Kind.HEAT_PUMP, max_w=dev.limits.max_power_w or 3000.0, **_timing(dev))


def _rod(cfg: SiteConfig, dev: DeviceBase) -> DeviceSpec:
    return DeviceSpec(
        dev.id,
        Kind.ROD,
        max_w=dev.max_power_w,  # type: ignore[attr-defined]
        stages_w=tuple(dev.stages or ()),  # type: ignore[attr-defined]
        **_timing(dev),
    )


def _switched(cfg: SiteConfig, dev: DeviceBase) -> DeviceSpec:
    """Loads (a relay; an electrolyser in W) and generators (CHP, fuel cell)."""
    kind = kind_of(dev.role)
    command = Command.POWER if dev.role == Role.ELECTROLYSER else Command.RELAY
    return DeviceSpec(
        dev.id,
        kind,
        max_w=dev.limits.max_power_w or 0.0,  # type: ignore[arg-type]
        command=command,
        **_timing(dev),
    )  # type: ignore[arg-type]


# the spec of each controllable kind, from its site-file entry (roles per kind: vocabulary.KINDS)
SPECS: dict[Kind, Callable[[SiteConfig, DeviceBase], DeviceSpec]] = {
    Kind.EV: _ev,
    Kind.BATTERY: _battery,
    Kind.PV: _pv,
    Kind.HEAT_PUMP: _heat_pump,
    Kind.ROD: _rod,
    Kind.LOAD: _switched,
    Kind.GENERATOR: _switched,
}


def from_site(cfg: SiteConfig) -> list[DeviceSpec]:
    """Specs of the controllable devices of a site file."""
    return [SPECS[kind](cfg, dev) for dev in cfg.devices if (kind := kind_of(dev.role)) is not None]
