"""Build the simulated site that a site file describes (for ``wattwerk demo`` and tests).

Devices whose connection is ``{type: sim}`` become simulated devices; the simulator names its
devices ``grid``, ``house``, ``pv1``…, ``bat``, ``ev1``…, ``hp`` and ``rod``, and the returned
map renames them to the ids of the site file.
"""

from __future__ import annotations

from dataclasses import replace

from wattwerk.config import SiteConfig
from wattwerk.sim.params import (
    BatteryParams,
    EVParams,
    HeatPumpParams,
    Location,
    PVParams,
    RodParams,
    SiteParams,
)
from wattwerk.sim.weather import nearest_try_region
from wattwerk.vocabulary import EV_DEFAULTS


def site_params(cfg: SiteConfig, seed: int = 1) -> tuple[SiteParams, dict[str, str]]:
    """Simulator parameters and the map simulator device name -> configured device id."""
    sim_devices = [d for d in cfg.devices if d.connection.type == "sim"]
    names: dict[str, str] = {}
    pv: list[PVParams] = []
    evs: list[EVParams] = []
    battery = heat_pump = rod = None
    for dev in sim_devices:
        if dev.role == "grid_meter":
            names["grid"] = dev.id
        elif dev.role == "submeter":
            names.setdefault("house", dev.id)
        elif dev.role == "pv":
            pv.append(PVParams(kwp=dev.kwp, tilt=dev.tilt, azimuth=dev.azimuth))
            names[f"pv{len(pv)}"] = dev.id
        elif dev.role == "battery" and battery is None:
            battery = BatteryParams(
                capacity_wh=dev.capacity_wh,
                max_charge_w=dev.max_charge_w,
                max_discharge_w=dev.max_discharge_w,
                soc_min=dev.reserve_soc,
            )
            names["bat"] = dev.id
        elif dev.role == "ev_charger":
            lim = dev.limits
            evs.append(
                EVParams(
                    phases=lim.phases or EV_DEFAULTS.phases,
                    phase_switching=dev.phase_switching,
                    min_current_a=lim.min_current_a or EV_DEFAULTS.min_a,
                    max_current_a=lim.max_current_a or EV_DEFAULTS.max_a,
                    voltage_v=cfg.site.grid.voltage_v,
                )
            )
            names[f"ev{len(evs)}"] = dev.id
        elif dev.role == "heat_pump" and heat_pump is None:
            heat_pump = HeatPumpParams()
            if dev.limits.max_power_w:
                # a heat pump's electrical rating times a winter COP of about 3 gives its heat output
                heat_pump = replace(heat_pump, thermal_w=3.0 * dev.limits.max_power_w)
            names["hp"] = dev.id
        elif dev.role == "heating_rod" and rod is None:
            stages = tuple(dev.stages or ())
            max_w = max(stages) if stages else (dev.limits.max_power_w or 3000.0)
            rod = RodParams(max_w=max_w, stages_w=stages)
            names["rod"] = dev.id
    loc = cfg.site.location
    location = Location(
        latitude=loc.latitude,
        longitude=loc.longitude,
        altitude_m=loc.altitude_m,
        timezone=cfg.site.timezone,
        try_region=nearest_try_region(loc.latitude, loc.longitude),
    )
    params = SiteParams(
        location=location,
        pv=tuple(pv),
        battery=battery,
        evs=tuple(evs),
        heat_pump=heat_pump,
        rod=rod,
        grid_voltage_v=cfg.site.grid.voltage_v,
        seed=seed,
    )
    names.setdefault("grid", "grid")
    names.setdefault("house", "house")
    return params, names
