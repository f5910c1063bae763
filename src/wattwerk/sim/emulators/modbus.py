"""The emulated register space of one Modbus unit, served by a real pymodbus server on loopback.

A ``RegisterBank`` is built from the same ``Register`` table the driver reads. On every read it
encodes the current values (asked from ``values()``, in our units) into the registers, honouring
type, word order, scale and ``_SF`` registers; on every write it decodes the written registers
back into our units and hands them to ``on_write``. Addresses the table does not cover between its
first and last register read as 0, except declared gaps, which answer exception 2 like real devices.

Faults for tests: ``fault`` makes the unit answer a Modbus exception code, ``delay`` makes it
answer late (a timeout for the client). A write the simulated device refuses (``apply`` raises
``BadInput``, e.g. the simulator's ``BadCommand``) is answered with exception 3 and not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import pty
import tty
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData
from pymodbus.simulator import SimDevice as PyModbusDevice

from wattwerk.devices.profile import Entry
from wattwerk.errors import BadInput
from wattwerk.protocols.modbus_codec import Register, decode_raw, encode_raw
from wattwerk.sim.emulators import SimDevice

Values = Mapping[str, float | str | None]
_FC_TABLE = {
    3: "holding",
    6: "holding",
    16: "holding",
    4: "input",
    1: "coil",
    5: "coil",
    15: "coil",
    2: "discrete",
}
_SLOT = {"coil": 0, "discrete": 1, "holding": 2, "input": 3}


@dataclass
class RegisterBank:
    unit: int
    registers: Sequence[Register]
    values: Callable[[], Values] = dict
    on_write: Callable[[dict[str, float | str]], None] = lambda written: None
    gaps: Sequence[tuple[int, int]] = ()
    fault: int | None = None
    delay: float = 0.0
    reads: int = 0
    writes: list[dict[str, float | str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_table: dict[str, list[Register]] = {}
        for reg in self.registers:
            self.by_table.setdefault(reg.table, []).append(reg)
        self.stored: dict[str, float | str | None] = {}  # last written values (our units)

    # ------------------------------------------------------------ encode / decode

    def _sf(self, reg: Register, current: Values) -> int:
        if reg.sf is None:
            return 0
        value = current.get(reg.sf)
        return int(value) if isinstance(value, int | float) and math.isfinite(value) else 0

    def current(self) -> dict[str, float | str | None]:
        merged: dict[str, float | str | None] = dict(self.stored)
        merged.update(self.values())
        return merged

    def encode(self, reg: Register, current: Values) -> list[int]:
        value = current.get(reg.name)
        if value is None or isinstance(value, str) or reg.type in ("sf", "string"):
            return encode_raw(value, reg.type, reg.words, reg.word_order)
        raw = (value - reg.offset) / (reg.scale * 10.0 ** self._sf(reg, current))
        return encode_raw(raw, reg.type, reg.words, reg.word_order)

    def decode(self, reg: Register, regs: list[int], current: Values) -> float | str | None:
        raw = decode_raw(regs, reg.type, reg.word_order)
        if raw is None or isinstance(raw, str) or reg.type == "sf":
            return raw
        return raw * reg.scale * 10.0 ** self._sf(reg, current) + reg.offset

    # ------------------------------------------------------------ pymodbus glue

    def _blocks(self) -> tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
        out: tuple[list[SimData], ...] = ([], [], [], [])
        for table, regs in self.by_table.items():
            first = min(r.address for r in regs)
            last = max(r.end for r in regs)
            slot = out[_SLOT[table]]
            if table in ("coil", "discrete"):
                slot.append(SimData(first, values=[False] * (last - first), datatype=DataType.BITS))
                continue
            addr = first
            for gap_first, gap_last in sorted(self.gaps):
                if gap_last < first or gap_first >= last:
                    continue
                if gap_first > addr:
                    slot.append(SimData(addr, count=gap_first - addr, values=0, datatype=DataType.REGISTERS))
                addr = max(addr, gap_last + 1)
            if addr < last:
                slot.append(SimData(addr, count=last - addr, values=0, datatype=DataType.REGISTERS))
        for i, slot in enumerate(out):
            if not slot:  # pymodbus wants every table defined: a lone register far away
                kind = DataType.BITS if i < 2 else DataType.REGISTERS
                slot.append(SimData(65000, values=[False] * 16 if i < 2 else 0, datatype=kind))
        return out  # type: ignore[return-value]

    async def _action(
        self,
        fc: int,
        start: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fault is not None:
            return ExcCodes(self.fault)
        table = _FC_TABLE.get(fc)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        if table in ("coil", "discrete"):
            if set_values is not None:
                written = {}
                for reg in self.by_table.get(table, []):
                    if address <= reg.address < address + count:
                        written[reg.name] = float(bool(set_values[reg.address - address]))
                return self._written(written)
            current = self.current()
            for reg in self.by_table.get(table, []):  # bit a lives in word a // 16, bit a % 16
                value = current.get(reg.name)
                word = reg.address // 16 - start
                if isinstance(value, int | float) and 0 <= word < len(registers):
                    mask = 1 << (reg.address % 16)
                    registers[word] = registers[word] | mask if value else registers[word] & ~mask
            self.reads += 1
            return None
        current = self.current()
        image = list(registers)
        for reg in self.by_table.get(table, []):
            if reg.address >= start and reg.end - start <= len(image):
                image[reg.address - start : reg.end - start] = self.encode(reg, current)
        if set_values is None:
            self.reads += 1
            registers[:] = image
            return None
        image[address - start : address - start + count] = [int(v) for v in set_values]
        written = {}
        for reg in self.by_table.get(table, []):
            if reg.address < address + count and reg.end > address:
                value = self.decode(reg, image[reg.address - start : reg.end - start], current)
                if value is not None:
                    written[reg.name] = value
        error = self._written(written)
        if error is None:
            registers[:] = image
        return error

    def _written(self, written: dict[str, float | str]) -> ExcCodes | None:
        """Hand a write to the device; a value it refuses answers exception 3 and changes nothing."""
        before = dict(self.stored)
        self.stored.update(written)
        try:
            self.on_write(written)
        except BadInput:
            self.stored = before
            return ExcCodes.ILLEGAL_VALUE
        self.writes.append(written)
        return None

    def simdevice(self) -> PyModbusDevice:
        return PyModbusDevice(self.unit, simdata=self._blocks(), action=self._action)


class EmulatorServer:
    """A pymodbus TCP server on loopback (port 0 = a free port) serving one or more banks.

    ``framer="rtu"`` serves RTU frames over TCP, as a serial-to-Ethernet gateway does; ``serial``
    (a tty path, e.g. one end of a pty pair) serves Modbus RTU on a serial line instead.
    """

    def __init__(
        self,
        banks: Sequence[RegisterBank],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        framer: Literal["socket", "rtu"] = "socket",
        serial: str | None = None,
        baudrate: int = 9600,
    ) -> None:
        self.banks = list(banks)
        self.host = host
        devices = [b.simdevice() for b in self.banks]
        self._server: ModbusTcpServer | ModbusSerialServer
        if serial is not None:
            self._server = ModbusSerialServer(devices, framer=FramerType.RTU, port=serial, baudrate=baudrate)
        else:
            kind = FramerType.RTU if framer == "rtu" else FramerType.SOCKET
            self._server = ModbusTcpServer(devices, address=(host, port), framer=kind)
        self.port = port

    async def start(self) -> EmulatorServer:
        await self._server.serve_forever(background=True)
        sockets = getattr(self._server.transport, "sockets", None)
        if sockets:
            self.port = sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        await self._server.shutdown()

    async def __aenter__(self) -> EmulatorServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# catalogue command -> the simulator's command where the names differ
SIM_COMMANDS = {"battery_mode": "mode"}  # 0 = the device's own control, 1 = follow the setpoint


class CatalogEmulator:
    """A unit emulating one catalogue entry's register map, driven by a ``SimDevice``.

    Channel registers show the simulator's value of the same quantity; helper registers show their
    ``emulate`` value from the entry; written registers are turned back into the entry's commands
    (``WriteSpec``) and forwarded with ``sim.apply(command, value)``.
    """

    def __init__(
        self,
        entry: Entry,
        sim: SimDevice,
        *,
        unit: int | None = None,
        rated_power: float | None = None,
        connector: int = 1,
    ) -> None:
        self.entry = entry
        self.sim = sim
        self.rated_power = rated_power
        self.fixed = {r.name: r.emulate for r in entry.registers if r.emulate is not None}
        self.channels = {r.name for r in entry.registers if r.channel}
        self.minus = {r.name: r.minus for r in entry.registers if r.channel and r.minus}
        shift = entry.shift(connector)
        gaps = [(a + shift, b + shift) for a, b in entry.gaps]
        self.bank = RegisterBank(
            entry.unit_for(connector) if unit is None else unit,
            entry.register_table(connector),
            values=self.values,
            on_write=self.on_write,
            gaps=gaps,
        )

    def _rating(self, source: float | str) -> float:
        if source == "rated":
            if self.rated_power is None:
                raise ValueError(f"{self.entry.id}: a write in % of the rating needs rated_power")
            return self.rated_power
        if isinstance(source, str):
            value = self.fixed.get(source)
            if not isinstance(value, int | float):
                raise ValueError(f"{self.entry.id}: rating register {source} needs an 'emulate' value")
            return float(value)
        return float(source)

    def values(self) -> dict[str, float | str | None]:
        out: dict[str, float | str | None] = dict(self.fixed)
        sim = self.sim.values()
        for name in self.channels:
            if name in sim:
                out[name] = sim[name]
        for name, other in self.minus.items():  # a signed flow shown as its two unsigned halves
            value = out.get(name)
            if isinstance(value, int | float):
                out[name], out[other] = max(float(value), 0.0), max(-float(value), 0.0)
        return out

    def on_write(
        self, written: dict[str, float | str], stored: dict[str, float | str | None] | None = None
    ) -> None:
        """Turn written registers into the entry's commands; ``stored`` is the bank's register state
        (this emulator's own bank unless it shares a bank with another, as SunSpec entries do)."""
        stored = self.bank.stored if stored is None else stored
        for spec in self.entry.writes:
            command = SIM_COMMANDS.get(spec.command, spec.command)
            last = spec.direction is not None and spec.direction.last  # the code register comes last
            trigger = [*spec.registers, *([spec.direction.via] if last else [])]  # type: ignore[union-attr]
            if not any(name in written for name in trigger):
                continue
            if spec.direction is not None:
                d = spec.direction
                code, magnitude = stored.get(d.via), stored.get(spec.registers[0])
                if isinstance(magnitude, int | float) and code in (d.positive, d.negative, d.zero):
                    sign = 1.0 if code == d.positive else -1.0 if code == d.negative else 0.0
                    self.sim.apply(command, sign * float(magnitude))
                continue
            if spec.map is None:
                value = written.get(spec.registers[0])
                if isinstance(value, int | float):
                    if spec.percent_of is not None:
                        value = float(value) * self._rating(spec.percent_of) / 100.0
                    self.sim.apply(command, float(value))
                continue
            state = [stored.get(name) for name in spec.registers]
            for command_value, raw in spec.map.items():
                if all(s is not None and float(s) == float(r) for s, r in zip(state, raw, strict=True)):
                    self.sim.apply(command, float(command_value))
                    break


@contextlib.asynccontextmanager
async def null_modem() -> AsyncIterator[tuple[str, str]]:
    """Two tty paths whose bytes cross over (two pty pairs bridged in the event loop): a serial
    emulator on one end, a Modbus RTU client on the other, like two nodes on an RS485 pair."""
    loop = asyncio.get_running_loop()
    (m1, s1), (m2, s2) = pty.openpty(), pty.openpty()
    for fd in (s1, s2):
        tty.setraw(fd)

    def pump(src: int, dst: int) -> None:
        with contextlib.suppress(OSError):
            os.write(dst, os.read(src, 4096))

    loop.add_reader(m1, pump, m1, m2)
    loop.add_reader(m2, pump, m2, m1)
    try:
        yield os.ttyname(s1), os.ttyname(s2)
    finally:
        loop.remove_reader(m1)
        loop.remove_reader(m2)
        for fd in (m1, s1, m2, s2):
            os.close(fd)
