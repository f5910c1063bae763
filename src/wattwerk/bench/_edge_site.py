"""The emulated site of ``wattwerk bench edge``: ten Modbus devices on loopback and its site file.

A simulated house (``SiteSim``, stepped in wall-clock time) stands behind pymodbus servers built
from catalogue entries: three Eastron SDM630 meters on one Modbus RTU line (the grid meter, the
house's and the heat pump's submeters; a pty pair stands in for the RS-485 adapter) and, on Modbus
TCP, two SunSpec PV inverters, a GoodWe battery inverter, two KEBA chargers, an SG-Ready relay
board and a my-PV heating rod. ``site_yaml`` writes the
site file a user would write for these devices (every one polled every ``interval_s``), so the
edge under test is ``wattwerk run`` itself; the simulator only stands at the devices' far end.
Setpoints the edge writes reach the simulated devices (``CatalogEmulator.on_write``).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wattwerk.devices.catalog import find
from wattwerk.model import utcnow
from wattwerk.sim.emulators.electrical import Electrical
from wattwerk.sim.emulators.modbus import CatalogEmulator, EmulatorServer, RegisterBank, null_modem
from wattwerk.sim.emulators.sunspec import SunSpecEmulator
from wattwerk.sim.params import EVParams, PVParams, SiteParams
from wattwerk.sim.site import SiteSim

ENERGY_BASE_WH = 4_200_000.0  # the devices' counters have a history (0 is a sentinel on SunSpec)
BAUD = 38400  # the RS-485 line of the meters (SDM630: up to 38400 baud)


@dataclass
class Unit:
    """One device of the site file: its catalogue entry, role, extra YAML and the bank serving it."""

    device_id: str
    role: str
    catalog: str
    bank: RegisterBank
    extra: str = ""  # role parameters, one YAML flow mapping body (``kwp: 8, tilt: 30``)
    polled: bool = True  # False: nothing to read (a relay board is only written)
    port: int = 0  # Modbus TCP port, once served
    tty: str = ""  # the RS-485 bus (a pty) for the meters on it, once served


@dataclass
class BenchSite:
    """The simulated house behind its emulators; ``async with`` serves them on loopback."""

    interval_s: float = 1.0
    sim: SiteSim = field(init=False)
    bus: list[Unit] = field(default_factory=list)  # the Modbus RTU meters on one RS-485 line
    groups: list[list[Unit]] = field(default_factory=list)  # the units each Modbus TCP server serves
    servers: list[EmulatorServer] = field(default_factory=list)
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    def __post_init__(self) -> None:
        params = SiteParams(
            pv=(PVParams(kwp=6.0), PVParams(kwp=3.0, azimuth=90.0)),
            evs=(EVParams(), EVParams(phases=1, phase_switching=False)),
        )
        self.sim = SiteSim(params, start=utcnow())
        sim = self.sim
        bat, hp, rod = sim.battery, sim.heat_pump, sim.rod
        assert bat is not None and hp is not None and rod is not None

        def unit(device_id: str, role: str, entry_id: str, dev: Any, extra: str = "", **kw: Any) -> Unit:
            entry = find(entry_id).entry
            bank = CatalogEmulator(entry, Electrical(dev, energy_base_wh=ENERGY_BASE_WH), **kw).bank
            polled = any(r.channel for r in entry.registers)
            return Unit(device_id, role, entry_id, bank, extra, polled=polled)

        def sunspec(device_id: str, index: int) -> Unit:
            pv = sim.pv[index]
            bank = SunSpecEmulator(
                [101, 120, 121, 123], Electrical(pv, energy_base_wh=ENERGY_BASE_WH), rated_power=pv.rating_w
            ).bank
            kwp = params.pv[index]
            return Unit(
                device_id,
                "pv",
                "sunspec-inverter-int",
                bank,
                f"kwp: {kwp.kwp:g}, tilt: {kwp.tilt:g}, azimuth: {kwp.azimuth:g}",
            )

        # three Eastron meters on one RS-485 line (units 1-3), as on a USB-RS485 adapter
        self.bus = [
            unit("grid", "grid_meter", "eastron-sdm630", sim.grid, unit=1),
            unit("house", "submeter", "eastron-sdm630", sim.house, unit=2),
            unit("hp_meter", "submeter", "eastron-sdm630", hp, unit=3),
        ]
        self.groups = [
            [sunspec("pv1", 0)],
            [sunspec("pv2", 1)],
            [
                unit(
                    "bat",
                    "battery",
                    "goodwe-et-bt",
                    bat,
                    "capacity_wh: 10000, max_charge_w: 5000, max_discharge_w: 5000",
                )
            ],
            [
                unit(
                    "ev1",
                    "ev_charger",
                    "keba-p30-modbus",
                    sim.evs[0],
                    "limits: {max_current_a: 16, phases: 3}",
                )
            ],
            [
                unit(
                    "ev2",
                    "ev_charger",
                    "keba-p30-modbus",
                    sim.evs[1],
                    "limits: {max_current_a: 16, phases: 1}",
                )
            ],
            [
                unit(
                    "hp",
                    "heat_pump",
                    "sgready-modbus-relay",
                    hp,
                    "sg_ready: true, limits: {max_power_w: 3000}",
                )
            ],
            [unit("rod", "heating_rod", "mypv-ac-thor", rod, "limits: {max_power_w: 3000}")],
        ]

    @property
    def units(self) -> list[Unit]:
        return [*self.bus, *(u for group in self.groups for u in group)]

    def reads(self) -> dict[str, int]:
        """Modbus requests each device's emulator answered so far (proof the edge read it)."""
        return {u.device_id: u.bank.reads for u in self.units}

    async def _step(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(1.0)
            now = loop.time()
            self.sim.step(now - last)
            last = now

    async def __aenter__(self) -> BenchSite:
        ours, theirs = await self._stack.enter_async_context(null_modem())
        rtu = await EmulatorServer([u.bank for u in self.bus], serial=ours, baudrate=BAUD).start()
        self.servers.append(rtu)
        for u in self.bus:
            u.tty = theirs
        for group in self.groups:  # pymodbus servers are made inside the running loop
            server = await EmulatorServer([u.bank for u in group]).start()
            self.servers.append(server)
            for u in group:
                u.port = server.port
        self._stepper = asyncio.create_task(self._step())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stepper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._stepper
        for server in self.servers:
            await server.close()
        self.servers.clear()
        await self._stack.aclose()

    def site_yaml(self, data_dir: Path, *, planner: bool = False, mqtt: dict[str, Any] | None = None) -> str:
        """The site file for these devices (served ports must be known: inside ``async with``)."""
        lines = [
            "version: 1",
            "site:",
            "  name: Bench house",
            "  location: {latitude: 47.99, longitude: 7.85, altitude_m: 278}",
            "  timezone: Europe/Berlin",
            "  grid: {phases: 3, voltage_v: 230, fuse_a: 35, max_export_w: 4800}",
            "devices:",
        ]
        for u in self.units:
            extra = f", {u.extra}" if u.extra else ""
            link = (
                f"type: modbus_rtu, device: {u.tty}, baudrate: {BAUD}"
                if u.tty
                else f"type: modbus_tcp, host: 127.0.0.1, port: {u.port}"
            )
            lines.append(
                f"  - {{id: {u.device_id}, role: {u.role}, catalog: {u.catalog}, "
                f"interval_s: {self.interval_s:g}, "
                f"connection: {{{link}, unit: {u.bank.unit}, timeout_s: 2}}{extra}}}"
            )
        mode = "planner" if planner else "self_consumption"
        lines += [
            f"strategy: {{mode: {mode}, ev_default_mode: pv}}",
            # a fixed tariff: the planner needs no price server (the bench runs offline)
            "tariff: {provider: fixed, fixed_eur_per_kwh: 0.15}",
            f"store: {{data_dir: '{data_dir}'}}",
        ]
        if mqtt is not None:
            lines.append("mqtt: {" + ", ".join(f"{k}: {v}" for k, v in mqtt.items()) + "}")
        return "\n".join(lines) + "\n"
