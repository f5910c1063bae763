"""The site file of a simulated site whose devices are emulators on loopback.

A closed-loop scenario or benchmark runs the product's own edge: this module writes the site file
(as the mapping ``SiteConfig`` validates) that an installer would write for the emulated devices,
and ``edge.assembly.assemble`` builds the edge from it. Which catalogue entry each simulated device
is served as is data (``ENTRIES``):

* PV inverters: SunSpec (``modbus_tcp``), the battery a GoodWe, chargers KEBA P30 (Modbus), the heat
  pump an SG-Ready relay board, the heating rod a my-PV AC-Thor; the grid meter is the P1 emulator
  (``tcp`` + ``format: dsmr``); contact signals come from an emulated Modbus I/O module
  (``control.inputs``).
* A device whose interface reports no power (the relay board, the rod controller) gets a Carlo
  Gavazzi EM24 Ethernet on unit 2 of its own Modbus server, measuring its feed, as an installer
  would fit: a ``submeter`` with ``measures: <device>``, so its readings are the device's
  (``hp.power``).

The scenario's control settings are the file's own sections: ``site.grid`` (connection limits),
``control`` (feed-in limit, ripple control, §14a, peak shaving, circuits, fail-safe) and
``strategy.ev_default_mode``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wattwerk.sim.site import SiteSim

# simulator device kind -> catalogue entry the emulator serves and the edge's driver reads
ENTRIES = {
    "pv": "sunspec-inverter-int",
    "battery": "goodwe-et-bt",
    "ev": "keba-p30-modbus",
    "heat_pump": "sgready-modbus-relay",
    "rod": "mypv-ac-thor",
}
SUBMETER = "carlo-gavazzi-em24"  # EM24 Ethernet: measures the feed of a device that reports no power
SUBMETER_UNIT = 2
IO_MODULE = "waveshare-modbus-rtu-io-8ch"  # serves contact signals (``<io>.state_N``) over Modbus
HEAT_PUMP_W = 2500.0  # the simulated heat pump's nominal electrical power (SG-Ready law, limiter)
TIMEOUT_S = 0.5  # loopback answers at once; a stopped emulator is refused at once


def _modbus(port: int, unit: int) -> dict[str, Any]:
    # an emulator answers at once and needs no pause between requests (a real device's is the entry's)
    return {
        "type": "modbus_tcp",
        "host": "127.0.0.1",
        "port": port,
        "unit": unit,
        "timeout_s": TIMEOUT_S,
        "pause_ms": 0,
    }


def _devices(sim: SiteSim, ports: Mapping[str, int], units: Mapping[str, int], every: float) -> list[dict]:
    """One entry per emulated device (plus the sub-meters of those that report no power)."""
    out: list[dict[str, Any]] = []

    def dev(device_id: str, role: str, kind: str, **extra: Any) -> None:
        out.append(
            {
                "id": device_id,
                "role": role,
                "catalog": ENTRIES[kind],
                "interval_s": every,
                "connection": _modbus(ports[device_id], units[device_id]),
                **extra,
            }
        )

    def submeter(device_id: str) -> None:
        out.append(
            {
                "id": f"{device_id}_meter",
                "role": "submeter",
                "catalog": SUBMETER,
                "interval_s": every,
                "measures": device_id,
                "connection": _modbus(ports[device_id], SUBMETER_UNIT),
            }
        )

    for pv in sim.pv:
        p = pv.params
        dev(
            pv.name,
            "pv",
            "pv",
            kwp=p.kwp,
            tilt=p.tilt,
            azimuth=p.azimuth,
            limits={"max_power_w": pv.rating_w},
        )
    if sim.battery:
        b = sim.battery.params
        dev(
            sim.battery.name,
            "battery",
            "battery",
            capacity_wh=b.capacity_wh,
            max_charge_w=b.max_charge_w,
            max_discharge_w=b.max_discharge_w,
            reserve_soc=b.soc_min,
        )
    for ev in sim.evs:
        e = ev.params
        dev(
            ev.name,
            "ev_charger",
            "ev",
            phase_switching=e.phase_switching and e.phases == 3,
            limits={"min_current_a": e.min_current_a, "max_current_a": e.max_current_a, "phases": e.phases},
        )
    if sim.heat_pump:
        dev(sim.heat_pump.name, "heat_pump", "heat_pump", sg_ready=True, limits={"max_power_w": HEAT_PUMP_W})
        submeter(sim.heat_pump.name)
    if sim.rod:
        r = sim.rod.params
        power = {"stages": list(r.stages_w)} if r.stages_w else {"limits": {"max_power_w": r.max_w}}
        dev(sim.rod.name, "heating_rod", "rod", **power)
        submeter(sim.rod.name)
    return out


def site_document(
    sim: SiteSim,
    *,
    p1_port: int,
    ports: Mapping[str, int],
    units: Mapping[str, int],
    step_s: float,
    data_dir: Path,
    grid: Mapping[str, float] | None = None,
    control: Mapping[str, Any] | None = None,
    ev_mode: str = "pv",
    io_modules: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The site file for ``sim`` behind its emulators: ``ports``/``units`` per device id (and per
    I/O module id in ``io_modules``: id -> port), every device read once per ``step_s``; ``grid`` is
    the ``site.grid`` section's limits, ``control`` the control section."""
    loc = sim.params.location
    inputs = [
        {
            "type": "modbus",
            "id": io,
            "catalog": IO_MODULE,
            "interval_s": step_s,
            "connection": _modbus(port, units[io]),
        }
        for io, port in (io_modules or {}).items()
    ]
    grid_meter = {
        "id": "grid",
        "role": "grid_meter",
        "interval_s": step_s,
        "connection": {"type": "tcp", "host": "127.0.0.1", "port": p1_port, "format": "dsmr"},
    }
    return {
        "version": 1,
        "site": {
            "name": "Simulated site",
            "location": {"latitude": loc.latitude, "longitude": loc.longitude, "altitude_m": loc.altitude_m},
            "timezone": loc.timezone,
            "grid": {"phases": 3, "voltage_v": sim.params.grid_voltage_v, **(grid or {})},
        },
        "devices": [grid_meter, *_devices(sim, ports, units, step_s)],
        "control": {**(control or {}), **({"inputs": inputs} if inputs else {})},
        "strategy": {"mode": "self_consumption", "ev_default_mode": ev_mode},
        "tariff": {"provider": "fixed", "fixed_eur_per_kwh": 0.30},
        "store": {"data_dir": str(data_dir)},
    }
