"""Build a site's control cycle from its site file: one law per controllable device (chargers
together), the battery last, and the one limiter over them all."""

from __future__ import annotations

from wattwerk.config import SiteConfig
from wattwerk.config.limits import ControlLimits
from wattwerk.control.base import Law
from wattwerk.control.battery import BatteryConfig, BatteryControl
from wattwerk.control.cycle import ControlCycle
from wattwerk.control.ev import ChargePoint, EvCharging, EvConfig
from wattwerk.control.heating_rod import HeatingRodConfig, HeatingRodControl
from wattwerk.control.limiter import Limiter
from wattwerk.control.sgready import SgReadyConfig, SgReadyControl
from wattwerk.control.switch import SwitchConfig, SwitchControl


def build_cycle(cfg: SiteConfig, limits: ControlLimits | None = None) -> ControlCycle:
    """Laws in priority order: chargers, heat pump, heating rods, switched devices; then the
    battery. With ``strategy.mode: off`` no law runs, but the limiter still does."""
    limits = limits or ControlLimits()
    laws: list[Law] = []
    battery: BatteryControl | None = None
    tz = cfg.site.timezone
    voltage = cfg.site.grid.voltage_v
    if cfg.strategy.mode != "off":
        points = tuple(
            ChargePoint(
                d.id,
                mode=cfg.strategy.ev_default_mode,
                min_current_a=d.limits.min_current_a or 6.0,
                max_current_a=d.limits.max_current_a or 16.0,
                phases=d.limits.phases or 3,
                phase_switching=getattr(d, "phase_switching", False),
                voltage_v=voltage,
            )
            for d in cfg.by_role("ev_charger")
        )
        if points:
            ids = {p.id for p in points}
            circuits = tuple(
                (tuple(c.devices), c.max_current_a) for c in limits.circuits if ids & set(c.devices)
            )
            laws.append(EvCharging(EvConfig(points, circuits=circuits)))
        for d in cfg.by_role("heat_pump"):
            if getattr(d, "sg_ready", False):
                lim = d.limits
                laws.append(
                    SgReadyControl(
                        SgReadyConfig(
                            d.id,
                            nominal_w=lim.max_power_w or 2500.0,
                            min_dwell_s=lim.min_on_s or 600.0,
                            max_switches_per_hour=lim.max_switches_per_hour or 3,
                            name=f"sgready:{d.id}",
                        )
                    )
                )
        for d in cfg.by_role("heating_rod"):
            laws.append(
                HeatingRodControl(
                    HeatingRodConfig(
                        d.id,
                        max_w=d.max_power_w,
                        stages_w=tuple(getattr(d, "stages", None) or ()),  # type: ignore[attr-defined]
                        timezone=tz,
                        name=f"heating_rod:{d.id}",
                    )
                )
            )
        for d in cfg.devices:
            lim = d.limits
            timing = dict(
                min_on_s=lim.min_on_s or 0.0,
                min_off_s=lim.min_off_s or 0.0,
                max_switches_per_hour=lim.max_switches_per_hour,
                timezone=tz,
            )
            if d.role == "switch":
                laws.append(SwitchControl(SwitchConfig(d.id, power_w=lim.max_power_w or 0.0, **timing)))
            elif d.role == "electrolyser":
                laws.append(
                    SwitchControl(
                        SwitchConfig(
                            d.id,
                            command="power",
                            power_w=lim.max_power_w or 0.0,
                            min_w=lim.min_power_w or 0.0,
                            **timing,
                        )
                    )
                )
            elif d.role in ("chp", "fuel_cell"):
                laws.append(
                    SwitchControl(
                        SwitchConfig(d.id, kind="generator", power_w=lim.max_power_w or 0.0, **timing)
                    )
                )
        bats = cfg.by_role("battery")
        if bats:
            b = bats[0]
            mode = "planner" if cfg.strategy.mode == "planner" else "self_consumption"
            battery = BatteryControl(
                BatteryConfig(
                    b.id,
                    mode=mode,
                    max_charge_w=b.max_charge_w,
                    max_discharge_w=b.max_discharge_w,  # type: ignore[attr-defined]
                    reserve_soc=cfg.reserve_soc(b),  # type: ignore[arg-type]
                    hold_while_ev_from_grid=tuple(d.id for d in cfg.by_role("ev_charger")),
                )
            )
    meter = cfg.grid_meter
    return ControlCycle(
        laws, Limiter.from_site(cfg, limits), grid_meter=meter.id if meter else "grid", battery=battery
    )
