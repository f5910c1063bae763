"""Build a site's control cycle from its site file: one law per controllable device (chargers
together), the battery last, and the one limiter over them all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wattwerk.config import SiteConfig
from wattwerk.config.devices import DeviceBase
from wattwerk.config.limits import ControlLimits
from wattwerk.control.base import Law
from wattwerk.control.battery import BatteryConfig, BatteryControl
from wattwerk.control.cycle import ControlCycle
from wattwerk.control.ev import ChargePoint, EvCharging, EvConfig
from wattwerk.control.heating_rod import HeatingRodConfig, HeatingRodControl
from wattwerk.control.limiter import Limiter
from wattwerk.control.sgready import SgReadyConfig, SgReadyControl
from wattwerk.control.switch import SwitchConfig, SwitchControl
from wattwerk.vocabulary import EV_DEFAULTS, Command, Kind, Role, kind_of


def _chargers(cfg: SiteConfig, limits: ControlLimits) -> list[Law]:
    """All charge points under one law, with the circuits they are on."""
    points = tuple(
        ChargePoint(
            d.id,
            mode=cfg.strategy.ev_default_mode,
            min_current_a=d.limits.min_current_a or EV_DEFAULTS.min_a,
            max_current_a=d.limits.max_current_a or EV_DEFAULTS.max_a,
            phases=d.limits.phases or EV_DEFAULTS.phases,
            phase_switching=getattr(d, "phase_switching", False),
            voltage_v=cfg.site.grid.voltage_v,
        )
        for d in cfg.by_role(Role.EV_CHARGER)
    )
    if not points:
        return []
    ids = {p.id for p in points}
    circuits = tuple((tuple(c.devices), c.max_current_a) for c in limits.circuits if ids & set(c.devices))
    return [EvCharging(EvConfig(points, circuits=circuits))]


def _heat_pump(cfg: SiteConfig, d: DeviceBase) -> Law | None:
    if not getattr(d, "sg_ready", False):
        return None
    lim = d.limits
    return SgReadyControl(
        SgReadyConfig(
            d.id,
            nominal_w=lim.max_power_w or 2500.0,
            min_dwell_s=lim.min_on_s or 600.0,
            max_switches_per_hour=lim.max_switches_per_hour or 3,
            name=f"sgready:{d.id}",
        )
    )


def _heating_rod(cfg: SiteConfig, d: DeviceBase) -> Law:
    return HeatingRodControl(
        HeatingRodConfig(
            d.id,
            max_w=d.max_power_w,  # type: ignore[attr-defined]
            stages_w=tuple(getattr(d, "stages", None) or ()),
            timezone=cfg.site.timezone,
            name=f"heating_rod:{d.id}",
        )
    )


def _switched(cfg: SiteConfig, d: DeviceBase) -> Law:
    """Switches (relay), electrolysers (W setpoint) and generators (CHP, fuel cell)."""
    lim = d.limits
    kw: dict[str, Any] = dict(
        power_w=lim.max_power_w or 0.0,
        min_on_s=lim.min_on_s or 0.0,
        min_off_s=lim.min_off_s or 0.0,
        max_switches_per_hour=lim.max_switches_per_hour,
        timezone=cfg.site.timezone,
    )
    if d.role == Role.ELECTROLYSER:
        kw.update(command=Command.POWER, min_w=lim.min_power_w or 0.0)
    elif kind_of(d.role) == Kind.GENERATOR:
        kw.update(kind="generator")
    return SwitchControl(SwitchConfig(d.id, **kw))


# the law of each role that has one of its own (chargers share one law; the battery runs last)
LAWS: dict[Role, Callable[[SiteConfig, DeviceBase], Law | None]] = {
    Role.HEAT_PUMP: _heat_pump,
    Role.HEATING_ROD: _heating_rod,
    Role.SWITCH: _switched,
    Role.ELECTROLYSER: _switched,
    Role.CHP: _switched,
    Role.FUEL_CELL: _switched,
}
ORDER = (Role.HEAT_PUMP, Role.HEATING_ROD)  # then switched devices in site-file order


def _battery(cfg: SiteConfig) -> BatteryControl | None:
    bats = cfg.by_role(Role.BATTERY)
    if not bats:
        return None
    b = bats[0]
    return BatteryControl(
        BatteryConfig(
            b.id,
            mode="planner" if cfg.strategy.mode == "planner" else "self_consumption",
            max_charge_w=b.max_charge_w,  # type: ignore[attr-defined]
            max_discharge_w=b.max_discharge_w,  # type: ignore[attr-defined]
            reserve_soc=cfg.reserve_soc(b),  # type: ignore[arg-type]
            hold_while_ev_from_grid=tuple(d.id for d in cfg.by_role(Role.EV_CHARGER)),
        )
    )


def build_cycle(cfg: SiteConfig, limits: ControlLimits | None = None) -> ControlCycle:
    """Laws in priority order: chargers, heat pump, heating rods, switched devices; then the
    battery. With ``strategy.mode: off`` no law runs, but the limiter still does. ``limits``: the
    site file's control section unless given."""
    limits = limits if limits is not None else cfg.control
    laws: list[Law] = []
    battery: BatteryControl | None = None
    if cfg.strategy.mode != "off":
        laws += _chargers(cfg, limits)
        for role in ORDER:
            laws += [law for d in cfg.by_role(role) if (law := LAWS[role](cfg, d)) is not None]
        laws += [
            LAWS[Role(d.role)](cfg, d)
            for d in cfg.devices  # type: ignore[misc]
            if d.role in LAWS and d.role not in ORDER
        ]
        battery = _battery(cfg)
    meter = cfg.grid_meter
    return ControlCycle(
        laws, Limiter.from_site(cfg, limits), grid_meter=meter.id if meter else "grid", battery=battery
    )
