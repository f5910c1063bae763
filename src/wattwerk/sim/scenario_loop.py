"""A closed loop over real protocols: the site simulator behind its device emulators on loopback and
the product's own edge, built by ``edge.assembly.assemble`` from the site file of those emulators
(``sim.site_file``), reading them, deciding and writing its setpoints back.

Clocking (lock-step, so that any time compression works): each control interval the loop

1. advances the simulator by ``step_s`` simulated seconds (the emulators serve its values at once),
2. lets the ``LimitChecker`` judge the simulator's own values (never the edge's),
3. runs one ``Edge.step()`` on the simulator's clock: a read round (every Modbus driver reads its
   emulator), then, through ``EdgeOptions.before_control``, the P1 emulator sends one telegram and
   the step waits until the edge's push reader has taken it, then one control cycle (controllers,
   limiter, writes over Modbus).

The edge's clock is the simulator's clock, so staleness, fail-safe and the devices' back-off run in
simulated time. A device that stops answering is an emulator that was stopped: its reads fail and
its values go stale, exactly as on a real site.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from wattwerk.config import SiteConfig
from wattwerk.control.checker import LimitChecker, Limits
from wattwerk.control.cycle import ControlCycle
from wattwerk.devices.catalog import find
from wattwerk.edge.assembly import Edge, EdgeOptions, assemble
from wattwerk.errors import InputLedger
from wattwerk.model import Reading
from wattwerk.sim.emulators.electrical import Electrical
from wattwerk.sim.emulators.modbus import CatalogEmulator, EmulatorServer
from wattwerk.sim.emulators.p1 import P1Emulator
from wattwerk.sim.emulators.sunspec import SunSpecEmulator
from wattwerk.sim.site import SiteSim
from wattwerk.sim.site_file import ENTRIES, IO_MODULE, SUBMETER, SUBMETER_UNIT, site_document
from wattwerk.vocabulary import SWITCHING

log = logging.getLogger("wattwerk.scenario")

RELAY_COMMANDS = SWITCHING  # a change of these moves a relay or contactor
P1_WAIT_S = 2.0  # wall seconds to wait for a telegram the emulator was asked to send
P1_RECONNECT_S = 35.0  # after a restart: the edge's reader reconnects with its own back-off (<= 30 s)


class SteppedP1(P1Emulator):
    """The P1 emulator, sending one telegram per ``send()`` instead of on a wall-clock interval."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._tick = asyncio.Event()

    def send(self) -> None:
        self._tick.set()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients += 1
        try:
            while not self._stopping.is_set():
                await self._tick.wait()
                self._tick.clear()
                writer.write(self.next_bytes())
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._stopping.set()
            self._tick.set()
            self._server.close()
            self._server = None


class Terminals:
    """The input terminals of an emulated I/O module: the scenario sets them, the edge reads them."""

    def __init__(self) -> None:
        self.v: dict[str, float] = {}

    def values(self) -> dict[str, float]:
        return self.v

    def apply(self, command: str, value: float) -> None:
        log.warning("an input module takes no commands (%s=%g)", command, value)


@dataclass
class Emulated:
    """One simulated device behind its own Modbus server (so it can stop answering on its own).

    ``units`` are (catalogue entry id, register bank): the device itself, and for devices whose
    interface has no power register (an SG-Ready relay board, a heating rod controller) a
    sub-meter on unit 2 that measures its feed, as an installer would fit."""

    device_id: str
    units: list[tuple[str, Any]]
    server: EmulatorServer | None = None
    port: int = 0

    async def start(self) -> None:
        self.server = await EmulatorServer([bank for _, bank in self.units], port=self.port).start()
        self.port = self.server.port

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None


@dataclass
class LoopResult:
    cycles: int = 0
    relay_switches: Counter[str] = field(default_factory=Counter)
    ev_wh: float = 0.0
    ev_grid_wh: float = 0.0
    fallbacks: int = 0
    events: list[Any] = field(default_factory=list)

    @property
    def ev_grid_share_pct(self) -> float:
        return 100.0 * self.ev_grid_wh / self.ev_wh if self.ev_wh else 0.0


class ClosedLoop:
    """``async with ClosedLoop(sim, checker, control=..., grid=...) as loop: await loop.run_until(t)``.

    ``checker`` makes the ``LimitChecker`` from the assembled edge's control cycle (the §14a rule
    it judges by is the limiter's); ``grid``: the site file's ``site.grid`` limits; ``control``: its
    control section; ``io_devices``: devices whose ``state_N`` signals come from an emulated Modbus
    I/O module (``control.inputs``)."""

    edge: Edge  # built on entry, when the emulators' ports are known
    checker: LimitChecker
    ledger: InputLedger

    def __init__(
        self,
        sim: SiteSim,
        checker: Callable[[ControlCycle], LimitChecker],
        *,
        control: Mapping[str, Any] | None = None,
        grid: Mapping[str, float] | None = None,
        ev_mode: str = "pv",
        step_s: float = 5.0,
        signals: Callable[[float], Mapping[str, float]] = lambda t: {},
        speed: float | None = None,
        io_devices: Sequence[str] = (),
    ) -> None:
        self.speed = speed  # simulated s per wall s at most (None: as fast as it goes)
        # signals on these devices' ``state_N`` channels come from an emulated Modbus I/O module
        self.terminals = {dev: Terminals() for dev in io_devices}
        self.sim = sim
        self.make_checker = checker
        self.settings = {"control": dict(control or {}), "grid": dict(grid or {}), "ev_mode": ev_mode}
        self.step_s = step_s
        self.signals = signals
        self.result = LoopResult()
        self.devices = self._emulators()
        self.p1 = SteppedP1(sim.meter_state)
        self._p1_up = False
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._stop = asyncio.Event()
        self._sent: dict[str, float] = {}
        self.read_done = 0.0  # perf_counter when the last step's read round (with its telegram) ended

    def _emulators(self) -> dict[str, Emulated]:
        sim = self.sim
        out: dict[str, Emulated] = {}

        def add(dev: Any, kind: str, metered: bool = False) -> None:
            entry = find(ENTRIES[kind]).entry
            # each device shows what its real counterpart shows (voltages, currents ...), not sentinels
            units: list[tuple[str, Any]] = [(ENTRIES[kind], CatalogEmulator(entry, Electrical(dev)).bank)]
            if metered:
                bank = CatalogEmulator(find(SUBMETER).entry, Electrical(dev), unit=SUBMETER_UNIT).bank
                units.append((SUBMETER, bank))
            out[dev.name] = Emulated(dev.name, units)

        for pv in sim.pv:
            out[pv.name] = Emulated(
                pv.name,
                [
                    (
                        ENTRIES["pv"],
                        SunSpecEmulator([101, 120, 123], Electrical(pv), rated_power=pv.rating_w).bank,
                    )
                ],
            )
        if sim.battery:
            add(sim.battery, "battery")
        for ev in sim.evs:
            add(ev, "ev")
        if sim.heat_pump:
            add(sim.heat_pump, "heat_pump", metered=True)
        if sim.rod:
            add(sim.rod, "rod", metered=True)
        for dev, terminals in self.terminals.items():
            out[dev] = Emulated(dev, [(IO_MODULE, CatalogEmulator(find(IO_MODULE).entry, terminals).bank)])
        return out

    # ------------------------------------------------------------ lifecycle

    def site_config(self, data_dir: Path) -> SiteConfig:
        """The site file of the emulators as served now (ports are known once they run)."""
        ports = {d.device_id: d.port for d in self.devices.values()}
        units = {d.device_id: d.units[0][1].unit for d in self.devices.values()}
        io = {dev: ports[dev] for dev in self.terminals}
        s = self.settings
        doc = site_document(
            self.sim,
            p1_port=self.p1.port,
            ports=ports,
            units=units,
            step_s=self.step_s,
            data_dir=data_dir,
            grid=s["grid"],
            control=s["control"],
            ev_mode=s["ev_mode"],
            io_modules=io,
        )
        return SiteConfig.model_validate(doc)

    async def __aenter__(self) -> ClosedLoop:
        await self.p1.start()
        self.p1._port = self.p1.port  # a restart serves the same port
        self._p1_up = True
        for dev in self.devices.values():
            await dev.start()
        self._folder = tempfile.TemporaryDirectory(prefix="wattwerk-scenario-")
        options = EdgeOptions(clock=lambda: self.sim.now, before_control=self._telegram)
        self.edge = assemble(self.site_config(Path(self._folder.name)), options)
        assert self.edge.control is not None
        self.checker = self.make_checker(self.edge.control.cycle)
        self.ledger = self.edge.ledger
        self.edge.start_push(self._stop)
        await self._first_telegram()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        self.edge.close()
        await asyncio.sleep(0)  # the push readers' tasks end
        await self.p1.stop()
        for dev in self.devices.values():
            await dev.stop()
        if self._folder is not None:
            self._folder.cleanup()

    # ------------------------------------------------------------ faults

    async def stop_device(self, device_id: str) -> None:
        """The device stops answering: its emulator goes away (``grid``: the P1 emulator)."""
        if device_id == "grid":
            self._p1_up = False
            await self.p1.stop()
        else:
            await self.devices[device_id].stop()

    async def start_device(self, device_id: str) -> None:
        """The device answers again; the edge finds it by itself (its link reconnects, the back-off
        runs on the simulated clock; the P1 reader reconnects on its own)."""
        if device_id == "grid":
            await self.p1.start()
            self._p1_up = True
            await self._first_telegram()
        else:
            await self.devices[device_id].start()

    # ------------------------------------------------------------ one cycle

    def _taken(self) -> bool:
        """The edge's state holds the telegram of this step."""
        age = self.edge.snapshot().age("grid.power")
        return age is not None and age < self.step_s / 2

    async def _telegram(self, now: datetime) -> None:
        """``Edge.step``'s hook: one telegram, taken by the push reader before the control cycle."""
        if self._p1_up:
            self.p1.send()
            try:
                await asyncio.wait_for(self._wait_taken(), P1_WAIT_S)
            except TimeoutError:
                self.ledger.record("grid", "timeout", "no telegram")
        self.read_done = time.perf_counter()

    async def _first_telegram(self) -> None:
        """Until the edge's reader is connected (again): telegrams until one is taken."""
        deadline = time.monotonic() + P1_RECONNECT_S
        while not self._taken() and time.monotonic() < deadline:
            self.p1.send()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_taken(), 0.2)

    async def _wait_taken(self) -> None:
        """Until the edge's push reader has put this step's telegram into its state."""
        while not self._taken():
            self.edge.pushed.clear()
            await self.edge.pushed.wait()

    def _set_signals(self) -> None:
        """Contacts wired to an I/O module are set on its terminals (the edge reads them over Modbus);
        any other signal enters the edge as a reading."""
        signals = dict(self.signals(self.sim.t))
        for ch in list(signals):
            dev, _, quantity = ch.partition(".")
            if dev in self.terminals:
                self.terminals[dev].v[quantity] = signals.pop(ch)
        if signals:
            self.edge.runtime.accept([Reading(ch, self.sim.now, v) for ch, v in signals.items()])

    async def cycle(self) -> None:
        """Step the simulator, judge it, one edge step (read, telegram, control)."""
        sim = self.sim
        sim.step(self.step_s)
        values = sim.channels()
        self.checker.observe(sim.t, values)
        h = self.step_s / 3600.0
        grid_import = max(values["grid.power"], 0.0)
        for ev in sim.evs:
            self.result.ev_wh += ev.power * h
            self.result.ev_grid_wh += min(ev.power, grid_import) * h
        self._set_signals()
        setpoints = await self.edge.step()
        self.result.cycles += 1
        assert self.edge.control is not None
        out = self.edge.control.last
        if out is not None:
            self.result.events.extend(out.events)
            self.result.fallbacks += sum(1 for e in out.events if e.kind == "fallback_start")
        for sp in setpoints:
            dev, _, command = sp.channel.partition(".")
            if command in RELAY_COMMANDS or (
                command == "power" and sim.rod and dev == sim.rod.name and sim.rod.params.stages_w
            ):
                if self._sent.get(sp.channel, sp.value) != sp.value:
                    self.result.relay_switches[dev] += 1
                self._sent[sp.channel] = sp.value

    async def run_until(self, t: float) -> None:
        if self.speed is None:
            while self.sim.t < t - 1e-9:
                await self.cycle()
            return
        wall0, sim0 = time.monotonic(), self.sim.t
        while self.sim.t < t - 1e-9:
            await self.cycle()
            ahead = (self.sim.t - sim0) / self.speed - (time.monotonic() - wall0)
            if ahead > 0:
                await asyncio.sleep(ahead)


def no_limits(t: float) -> Limits:
    return Limits()
