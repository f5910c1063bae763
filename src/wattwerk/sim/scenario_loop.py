"""A closed loop over real protocols: the site simulator behind its device emulators on loopback, the
edge's drivers reading them, the control cycle deciding and the setpoints written back.

Clocking (lock-step, so that any time compression works): each control interval the loop

1. advances the simulator by ``step_s`` simulated seconds (the emulators serve its values at once),
2. lets the ``LimitChecker`` judge the simulator's own values (never the edge's),
3. runs one read round: every Modbus driver reads its emulator, and the P1 emulator sends one telegram
   that the edge's ``MeterReader`` decodes from the TCP stream,
4. runs one control cycle of the ``EdgeRuntime`` (controllers, limiter, writes over Modbus).

The edge's clock is the simulator's clock, so staleness and fail-safe run in simulated time.
A device that stops answering is an emulator that was stopped: its reads fail and its values
go stale, exactly as on a real site.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wattwerk.control.checker import LimitChecker, Limits
from wattwerk.control.cycle import ControlCycle
from wattwerk.devices.catalog import find
from wattwerk.devices.device import create
from wattwerk.edge.control_step import CycleStep
from wattwerk.edge.runtime import EdgeRuntime, Polled
from wattwerk.errors import InputLedger
from wattwerk.model import Reading
from wattwerk.protocols.dsmr import decoder as dsmr_decoder
from wattwerk.protocols.meter import MeterReader
from wattwerk.protocols.modbus import LinkConfig, ModbusLink
from wattwerk.protocols.transport import Backoff, TcpSource
from wattwerk.sim.emulators.electrical import Electrical
from wattwerk.sim.emulators.modbus import CatalogEmulator, EmulatorServer
from wattwerk.sim.emulators.p1 import P1Emulator
from wattwerk.sim.emulators.sunspec import SunSpecEmulator
from wattwerk.sim.site import SiteSim
from wattwerk.vocabulary import SWITCHING

log = logging.getLogger("wattwerk.scenario")

# simulator device kind -> catalogue entry the emulator serves and the edge's driver reads
ENTRIES = {"pv": "sunspec-inverter-int", "battery": "goodwe-et-bt", "ev": "keba-p30-modbus",
           "heat_pump": "sgready-modbus-relay", "rod": "mypv-ac-thor"}
SUBMETER = "eastron-sdm630"  # measures the feed of a device that reports no power itself
IO_MODULE = "waveshare-modbus-rtu-io-8ch"  # serves contact signals (``<io>.state_N``) over Modbus
RELAY_COMMANDS = SWITCHING  # a change of these moves a relay or contactor
P1_WAIT_S = 2.0  # wall seconds to wait for a telegram the emulator was asked to send


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
    """``async with ClosedLoop(sim, cycle, checker) as loop: await loop.run_until(t)``."""

    def __init__(
        self,
        sim: SiteSim,
        cycle: ControlCycle,
        checker: LimitChecker,
        *,
        step_s: float = 5.0,
        signals: Callable[[float], Mapping[str, float]] = lambda t: {},
        stale_after_s: float = 15.0,
        speed: float | None = None,
        io_devices: Sequence[str] = (),
    ) -> None:
        self.speed = speed  # simulated s per wall s at most (None: as fast as it goes)
        # signals on these devices' ``state_N`` channels come from an emulated Modbus I/O module
        self.terminals = {dev: Terminals() for dev in io_devices}
        self.sim = sim
        self.checker = checker
        self.step_s = step_s
        self.signals = signals
        self.ledger = InputLedger()
        self.result = LoopResult()
        self.control = CycleStep(cycle)
        self.devices = self._emulators()
        self.p1 = SteppedP1(sim.meter_state)
        self._p1_up = False
        self._telegram = asyncio.Event()
        self._links: dict[str, ModbusLink] = {}
        self.runtime = EdgeRuntime([], control=self.control, stale_after_s=stale_after_s,
                                   clock=lambda: sim.now, ledger=self.ledger)
        self._reader_task: asyncio.Task[None] | None = None
        self._sent: dict[str, float] = {}

    def _emulators(self) -> dict[str, Emulated]:
        sim = self.sim
        out: dict[str, Emulated] = {}

        def add(dev: Any, kind: str, metered: bool = False) -> None:
            entry = find(ENTRIES[kind]).entry
            # each device shows what its real counterpart shows (voltages, currents ...), not sentinels
            units: list[tuple[str, Any]] = [(ENTRIES[kind], CatalogEmulator(entry, Electrical(dev)).bank)]
            if metered:
                units.append((SUBMETER, CatalogEmulator(find(SUBMETER).entry, Electrical(dev), unit=2).bank))
            out[dev.name] = Emulated(dev.name, units)

        for pv in sim.pv:
            out[pv.name] = Emulated(pv.name, [(ENTRIES["pv"], SunSpecEmulator([101, 120, 123], Electrical(pv),
                                                                               rated_power=pv.rating_w).bank)])
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

    async def __aenter__(self) -> ClosedLoop:
        await self.p1.start()
        self.p1._port = self.p1.port  # a restart serves the same port
        self._p1_up = True
        for dev in self.devices.values():
            await dev.start()
            self._connect(dev)
        reader = MeterReader(
            "grid", dsmr_decoder(), TcpSource("127.0.0.1", self.p1.port, backoff=Backoff(0.02, 0.2)),
            ledger=self.ledger, use_receive_time=True, clock=lambda: self.sim.now,
            stale_after=10**9,  # staleness is the edge state's job, in simulated time
            on_readings=self._meter_readings,
        )
        self._reader_task = asyncio.create_task(reader.run())
        await self._await_telegram()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)
        await self.p1.stop()
        for dev in self.devices.values():
            await dev.stop()
        for link in self._links.values():
            link.close()

    def _connect(self, dev: Emulated) -> None:
        """The edge's link and drivers for one emulated device (anew after a restart: the link's
        reconnect backoff runs in wall time, which means nothing in compressed simulated time)."""
        old = self._links.pop(dev.device_id, None)
        if old is not None:
            old.close()
        self.runtime.polled = [p for p in self.runtime.polled if p.device_id != dev.device_id]
        link = ModbusLink(LinkConfig(port=dev.port, timeout=0.5, pause=0.0))
        self._links[dev.device_id] = link
        for k, (entry_id, bank) in enumerate(dev.units):
            rated = next((pv.rating_w for pv in self.sim.pv if pv.name == dev.device_id), None)
            driver = create(find(entry_id).entry, link, device_id=dev.device_id, unit=bank.unit,
                            ledger=self.ledger, rated_power=rated)
            self.runtime.polled.append(Polled(dev.device_id, driver, self.step_s, timeout_s=1.0))
            if k == 0:  # setpoints go to the device, not to its sub-meter
                self.runtime._drivers[dev.device_id] = driver

    # ------------------------------------------------------------ faults

    async def stop_device(self, device_id: str) -> None:
        """The device stops answering: its emulator goes away (``grid``: the P1 emulator)."""
        if device_id == "grid":
            self._p1_up = False
            await self.p1.stop()
        else:
            await self.devices[device_id].stop()

    async def start_device(self, device_id: str) -> None:
        if device_id == "grid":
            await self.p1.start()
            self._p1_up = True
            with contextlib.suppress(TimeoutError):
                await self._await_telegram()
        else:
            await self.devices[device_id].start()
            self._connect(self.devices[device_id])

    # ------------------------------------------------------------ one cycle

    def _meter_readings(self, readings: list[Reading]) -> None:
        self.runtime.accept(readings)
        self._telegram.set()

    async def _await_telegram(self) -> None:
        self._telegram.clear()
        self.p1.send()
        await asyncio.wait_for(self._telegram.wait(), P1_WAIT_S)

    async def _read(self, dev: Polled) -> None:
        try:
            readings = await asyncio.wait_for(dev.driver.read(self.sim.now), dev.timeout_s)
        except Exception as exc:  # a device that does not answer: counted, its values go stale
            dev.failures += 1
            self.ledger.record(dev.device_id, type(exc).__name__, f"read failed: {exc}")
        else:
            dev.failures = 0
            self.runtime.accept(readings)

    async def read_round(self) -> None:
        signals = dict(self.signals(self.sim.t))
        for ch in list(signals):
            dev, _, quantity = ch.partition(".")
            if dev in self.terminals:  # wired to the I/O module: the edge reads it over Modbus
                self.terminals[dev].v[quantity] = signals.pop(ch)
        polled = [p for p in self.runtime.polled
                  if p.failures == 0 or self.devices[p.device_id].server is not None]
        await asyncio.gather(*(self._read(p) for p in polled))
        if self._p1_up:
            try:
                await self._await_telegram()
            except TimeoutError:
                self.ledger.record("grid", "timeout", "no telegram")
        if signals:
            self.runtime.accept([Reading(ch, self.sim.now, v) for ch, v in signals.items()])

    async def cycle(self) -> None:
        """Step the simulator, judge it, read, control."""
        sim = self.sim
        sim.step(self.step_s)
        values = sim.channels()
        self.checker.observe(sim.t, values)
        h = self.step_s / 3600.0
        grid_import = max(values["grid.power"], 0.0)
        for ev in sim.evs:
            self.result.ev_wh += ev.power * h
            self.result.ev_grid_wh += min(ev.power, grid_import) * h
        await self.read_round()
        setpoints = await self.runtime.control_cycle()
        self.result.cycles += 1
        out = self.control.last
        if out is not None:
            self.result.events.extend(out.events)
            self.result.fallbacks += sum(1 for e in out.events if e.kind == "fallback_start")
        for sp in setpoints:
            dev, _, command = sp.channel.partition(".")
            if command in RELAY_COMMANDS or (command == "power" and sim.rod and dev == sim.rod.name
                                             and sim.rod.params.stages_w):
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
