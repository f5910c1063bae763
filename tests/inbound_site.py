"""A running edge for the inbound-control tests: the real ``assemble`` and ``Edge.run`` (runtime,
controllers, the one limiter, writes) with a P1 grid meter and a SunSpec PV inverter (8 kWp)
emulated on loopback over a simulated sunny June noon, and the site file's ``control.inbound``
interfaces started by ``Edge.run`` (``edge.inbound.start_inbound``). Each control cycle is watched:
what its snapshot saw, which limits were active, which events it logged and which setpoints it wrote."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from wattwerk.config import parse_config
from wattwerk.control.limiter import Event
from wattwerk.devices.catalog import find
from wattwerk.edge.assembly import Edge, EdgeOptions, assemble
from wattwerk.edge.control_step import CycleStep
from wattwerk.model import Setpoint
from wattwerk.sim.emulators.modbus import CatalogEmulator, EmulatorServer
from wattwerk.sim.emulators.p1 import P1Emulator
from wattwerk.sim.emulators.sunspec import SunSpecEmulator
from wattwerk.sim.params import SiteParams
from wattwerk.sim.site import SiteSim
from wattwerk.snapshot import Snapshot

WAIT_S = 20.0  # wall seconds any awaited condition may take at most (a loaded machine), never asserted

SITE = """\
site:
  name: Inbound test
  location: {latitude: 48.0, longitude: 7.8}
  timezone: Europe/Berlin
  grid: {fuse_a: 35}
devices:
  - id: grid
    role: grid_meter
    connection: {type: tcp, host: 127.0.0.1, port: P1PORT, format: dsmr}
  - id: pv1
    role: pv
    kwp: 8
    catalog: sunspec-inverter-int
    interval_s: 0.2
    connection: {type: modbus_tcp, host: 127.0.0.1, port: MBPORT, unit: 1}
store:
  data_dir: DATADIR
control:
  margin_w: 100
  ev_restart_s: 0
  inbound:
"""


EV = """\
  - id: ev1
    role: ev_charger
    catalog: keba-p30-modbus
    interval_s: 0.2
    connection: {type: modbus_tcp, host: 127.0.0.1, port: MBPORT, unit: 255}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cycle:
    seen: dict[str, float | None]
    active: dict[str, float]
    events: tuple[Event, ...]
    setpoints: tuple[Setpoint, ...]


@dataclass
class Watched:
    """The edge's control step, recording every cycle."""

    step: CycleStep
    channels: tuple[str, ...]
    cycles: list[Cycle] = field(default_factory=list)

    def __call__(self, snap: Snapshot) -> Any:
        out = self.step(snap)
        last = self.step.last
        assert last is not None
        seen = {c: snap.get(c) for c in self.channels}
        self.cycles.append(Cycle(seen, dict(last.active), last.events, out))
        return out

    def events(self, subject: str) -> list[Event]:
        return [e for c in self.cycles for e in c.events if e.subject == subject]

    def first(self, check: Callable[[Cycle], bool]) -> Cycle | None:
        return next((c for c in self.cycles if check(c)), None)


async def until(check: Callable[[], object]) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), WAIT_S)


@dataclass
class Running:
    edge: Edge
    watched: Watched
    sim: SiteSim


@contextlib.asynccontextmanager
async def running_site(
    tmp_path: Any, inbound_yaml: str, channels: tuple[str, ...], *, ev: bool = False
) -> AsyncIterator[Running]:
    """The edge running with ``inbound_yaml`` (indented under ``control.inbound``).

    Without ``ev``: PV and a house at a sunny noon (6.5 kW of PV, 0.5 kW house), the surplus exported.
    With ``ev``: the evening (no PV), a KEBA charger (Modbus TCP) charging a car at 11 kW in mode "now"."""
    params = SiteParams(battery=None, heat_pump=None, rod=None, **({} if ev else {"evs": ()}))
    sim = SiteSim(params, start=datetime(2025, 6, 14, 19 if ev else 11, tzinfo=UTC))
    sim.step(60)

    inverter = SunSpecEmulator([101, 120, 123], sim.pv[0], rated_power=8000)
    charger = CatalogEmulator(find("keba-p30-modbus").entry, sim.evs[0]) if ev else None
    async with (
        P1Emulator(sim.meter_state_now, interval=0.1) as p1,
        EmulatorServer([inverter.bank]) as modbus,
        EmulatorServer([charger.bank] if charger else []) as wallbox,
    ):
        text = (
            SITE.replace("P1PORT", str(p1.port))
            .replace("MBPORT", str(modbus.port))
            .replace("DATADIR", str(tmp_path / "var"))
            + inbound_yaml
        )
        if ev:
            text = text.replace("store:\n", EV.replace("MBPORT", str(wallbox.port)) + "store:\n")
        edge = assemble(parse_config(text), EdgeOptions(store_every_s=0.0))
        assert edge.control is not None
        if ev:
            assert edge.control.set_ev_mode("ev1", "now")
        watched = Watched(edge.control, channels)
        edge.runtime.control = watched
        edge.runtime.cycle_s = 0.2
        stop = asyncio.Event()

        async def physics() -> None:  # the simulated site follows the inverter's limit
            while not stop.is_set():
                await asyncio.sleep(0.1)
                sim.step(0.1)

        task = asyncio.create_task(edge.run(stop, [physics()]))  # with the control.inbound interfaces
        try:
            yield Running(edge, watched, sim)
        finally:
            stop.set()
            await task
            edge.close()
