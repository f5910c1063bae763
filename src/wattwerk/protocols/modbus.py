"""Modbus on pymodbus: one link (TCP, RTU over serial, RTU over a TCP gateway) shared by devices.

Layers:

* ``ModbusLink`` owns one connection. Every request takes the link's lock, waits out the
  configured pause since the previous request (some devices drop fast requests), and is retried
  with exponential backoff only when the error is retryable (timeout, lost connection, exception
  5/6 "acknowledge/busy"). The backoff sleep happens outside the lock, so the other devices on the
  bus keep being served. Other exception responses (1, 2, 3, 4 ...) raise ``ModbusDeviceError``.
* ``RegisterReader`` reads one device (unit id) on a link: block reads planned from its register
  table, decoding, sentinels, ``_SF`` scale factors, range checks. Bad values and exception
  responses are counted in an ``InputLedger`` and dropped; a device that times out is backed off
  (exponentially, up to a ceiling) so it costs the bus nothing until its next try. That back-off
  runs on the link's ``clock`` (monotonic seconds; a lock-stepped edge gives its simulated clock,
  so a device that answers again is retried after simulated, not wall, seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from wattwerk.errors import BadInput, InputLedger, PermanentError, RetryableError
from wattwerk.protocols.modbus_blocks import Block, plan
from wattwerk.protocols.modbus_codec import Register, Table, decode_raw, encode_raw, scaled

log = logging.getLogger("wattwerk.modbus")

RETRYABLE_CODES = frozenset({5, 6, 0x0B})  # acknowledge, busy, gateway target did not respond
EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    5: "acknowledge",
    6: "device busy",
    0x0A: "gateway path unavailable",
    0x0B: "gateway target failed to respond",
}


class ModbusDeviceError(BadInput):
    """The device answered with a Modbus exception response."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"exception_{code}", message)
        self.code = code

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE_CODES


class ModbusTimeout(RetryableError):
    """No (valid) answer within the timeout, or the connection was lost; retries exhausted."""


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """Where and how to talk. ``kind``: ``tcp`` (Modbus TCP), ``rtu`` (serial RS485) or
    ``rtu_tcp`` (RTU frames through a transparent TCP gateway)."""

    kind: Literal["tcp", "rtu", "rtu_tcp"] = "tcp"
    host: str = "127.0.0.1"
    port: int = 502
    serial: str | None = None
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: int = 1
    bytesize: int = 8
    timeout: float = 1.0  # s per attempt
    retries: int = 2  # extra attempts for retryable errors
    backoff: float = 0.05  # s before the first retry, doubled each time
    pause: float = 0.0  # s between the end of one request and the start of the next

    @property
    def label(self) -> str:
        return self.serial if self.kind == "rtu" else f"{self.host}:{self.port}"


def make_client(cfg: LinkConfig) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
    """The pymodbus client for ``cfg``; pymodbus' own retries are off, ``ModbusLink`` retries."""
    if cfg.kind == "rtu":
        if not cfg.serial:
            raise PermanentError("Modbus RTU needs a serial device (e.g. /dev/ttyUSB0)")
        return AsyncModbusSerialClient(
            cfg.serial,
            framer=FramerType.RTU,
            baudrate=cfg.baudrate,
            parity=cfg.parity,
            stopbits=cfg.stopbits,
            bytesize=cfg.bytesize,
            timeout=cfg.timeout,
            retries=0,
            reconnect_delay=0,
        )
    framer = FramerType.RTU if cfg.kind == "rtu_tcp" else FramerType.SOCKET
    return AsyncModbusTcpClient(
        cfg.host, port=cfg.port, framer=framer, timeout=cfg.timeout, retries=0, reconnect_delay=0
    )


@dataclass
class LinkStats:
    requests: int = 0
    registers: int = 0
    retries: int = 0
    failures: int = 0


class ModbusLink:
    """One connection or bus, shared by every device (unit id) on it."""

    def __init__(
        self,
        cfg: LinkConfig,
        *,
        sleep: Callable[[float], object] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.clock = clock  # the devices' back-off (Health) runs on it
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self.lock = asyncio.Lock()
        self.stats = LinkStats()
        self._last = 0.0
        self._sleep = sleep

    async def __aenter__(self) -> ModbusLink:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    @property
    def client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        """The pymodbus client, made on first use (it needs a running event loop)."""
        if self._client is None:
            self._client = make_client(self.cfg)
        return self._client

    def close(self) -> None:
        """Close the connection; after the event loop has ended (``wattwerk run`` closing its
        devices on SIGTERM) the socket is closed with the loop and nothing is left to do."""
        if self._client is not None:
            with contextlib.suppress(RuntimeError):  # "Event loop is closed"
                self._client.close()

    async def _ensure_connected(self) -> None:
        if not self.client.connected and not await self.client.connect():
            raise ModbusTimeout(f"{self.cfg.label}: cannot connect")

    async def _pause(self) -> None:
        wait = self.cfg.pause - (time.monotonic() - self._last)
        if wait > 0:
            await asyncio.sleep(wait)

    async def _call(self, what: str, request: Callable[[], object]) -> object:
        """Run one request with lock, pause and retries; return the pymodbus response."""
        delay = self.cfg.backoff
        for attempt in range(self.cfg.retries + 1):
            if attempt:
                self.stats.retries += 1
                await self._sleep(delay)  # outside the lock: others use the bus meanwhile
                delay *= 2
            async with self.lock:
                await self._pause()
                try:
                    await self._ensure_connected()
                    self.stats.requests += 1
                    response = await request()  # type: ignore[misc]
                except (ModbusIOException, ConnectionException, ModbusTimeout, TimeoutError, OSError) as exc:
                    error: Exception = ModbusTimeout(f"{self.cfg.label}: {what}: no answer ({exc})")
                    if self.cfg.kind != "rtu":
                        self.client.close()  # a TCP stream may hold a late answer: start afresh
                    continue
                except ModbusException as exc:
                    raise PermanentError(f"{self.cfg.label}: {what}: {exc}") from exc
                finally:
                    self._last = time.monotonic()
            if response.isError():  # type: ignore[attr-defined]
                code = int(getattr(response, "exception_code", 0))
                name = EXCEPTION_NAMES.get(code, "unknown")
                error = ModbusDeviceError(code, f"{what}: exception {code} ({name})")
                if code in RETRYABLE_CODES:
                    continue
                raise error
            return response
        self.stats.failures += 1
        raise error

    async def read(self, unit: int, table: Table, address: int, count: int) -> list[int]:
        """``count`` registers (or bits, as 0/1) of ``table`` from ``address`` of device ``unit``."""
        c = self.client
        fn = {
            "holding": c.read_holding_registers,
            "input": c.read_input_registers,
            "coil": c.read_coils,
            "discrete": c.read_discrete_inputs,
        }[table]
        what = f"unit {unit} read {table} {address}+{count}"
        response = await self._call(what, lambda: fn(address, count=count, device_id=unit))
        if table in ("coil", "discrete"):
            bits = list(response.bits)[:count]  # type: ignore[attr-defined]
            self.stats.registers += count
            return [int(b) for b in bits]
        regs = list(response.registers)  # type: ignore[attr-defined]
        if len(regs) != count:
            raise BadInput("short", f"{what}: got {len(regs)} registers")
        self.stats.registers += count
        return regs

    async def write(
        self, unit: int, table: Table, address: int, values: Sequence[int], *, single: bool = False
    ) -> None:
        """Write registers (FC16, or FC6 when ``single``) or coils (FC5/FC15)."""
        c = self.client
        what = f"unit {unit} write {table} {address}={list(values)}"
        if table == "holding":
            if single and len(values) == 1:
                await self._call(what, lambda: c.write_register(address, values[0], device_id=unit))
            else:
                await self._call(what, lambda: c.write_registers(address, list(values), device_id=unit))
        elif table == "coil":
            if len(values) == 1:
                await self._call(what, lambda: c.write_coil(address, bool(values[0]), device_id=unit))
            else:
                bits = [bool(v) for v in values]
                await self._call(what, lambda: c.write_coils(address, bits, device_id=unit))
        else:
            raise PermanentError(f"{what}: {table} is read-only")


@dataclass
class Health:
    """A device's back-off state: after a failed round it is skipped until ``next_try``."""

    base: float = 1.0
    ceiling: float = 60.0
    failures: int = 0
    next_try: float = 0.0

    def ready(self, now: float) -> bool:
        return now >= self.next_try

    def failed(self, now: float) -> float:
        self.failures += 1
        wait = min(self.ceiling, self.base * 2 ** (self.failures - 1))
        self.next_try = now + wait
        return wait

    def ok(self) -> None:
        self.failures = 0
        self.next_try = 0.0


@dataclass
class RegisterReader:
    """Reads and decodes one device's register table over a shared link."""

    link: ModbusLink
    unit: int
    registers: Sequence[Register]
    name: str = "device"
    ledger: InputLedger = field(default_factory=InputLedger)
    gaps: Sequence[tuple[int, int]] = ()
    max_gap: int = 16
    health: Health = field(default_factory=Health)
    clock: Callable[[], float] | None = None  # default: the link's
    sf_values: dict[str, int] = field(default_factory=dict)
    extra: Sequence[Register] = ()  # written or identified, not polled

    def __post_init__(self) -> None:
        self.clock = self.clock or self.link.clock
        self.blocks: list[Block] = plan(self.registers, max_gap=self.max_gap, gaps=self.gaps)
        self.by_name = {r.name: r for r in [*self.extra, *self.registers]}
        self.online = True

    async def _read_block(self, block: Block) -> dict[str, list[int]]:
        """Raw registers per register name; splits a block that the device refuses (exception 2)."""
        try:
            regs = await self.link.read(self.unit, block.table, block.address, block.count)
        except ModbusDeviceError as exc:
            if exc.code == 2 and len(block.registers) > 1:
                # a hole the profile did not declare: read this block register by register from now on
                index = self.blocks.index(block)
                singles = [Block(r.table, r.address, r.size, [r]) for r in block.registers]
                self.blocks[index : index + 1] = singles
                log.info(
                    "%s: block %s+%d refused, reading its registers singly",
                    self.name,
                    block.address,
                    block.count,
                )
                out: dict[str, list[int]] = {}
                for single in singles:
                    out.update(await self._read_block(single))
                return out
            self.ledger.record(self.name, exc.kind, f"{exc}")
            return {}
        except BadInput as exc:
            self.ledger.record(self.name, exc.kind, f"{exc}")
            return {}
        return {r.name: regs[r.address - block.address : r.end - block.address] for r in block.registers}

    async def read_raw(self) -> dict[str, list[int]] | None:
        """All blocks' raw registers; ``None`` when the device is backed off or stopped answering."""
        now = self.clock()
        if not self.health.ready(now):
            return None
        raw: dict[str, list[int]] = {}
        try:
            for block in list(self.blocks):
                raw.update(await self._read_block(block))
        except (RetryableError, PermanentError) as exc:
            wait = self.health.failed(self.clock())
            self.online = False
            kind = "timeout" if isinstance(exc, RetryableError) else "error"
            self.ledger.record(self.name, kind, f"{exc}; backing off {wait:.0f} s")
            return None
        self.health.ok()
        self.online = True
        return raw

    def decode(self, raw: dict[str, list[int]]) -> dict[str, float | str]:
        """Decode raw registers: sentinels -> absent, scale factors, range checks (counted)."""
        values: dict[str, float | str] = {}
        for reg in self.registers:
            if reg.type == "sf" and reg.name in raw:
                sf = decode_raw(raw[reg.name], "sf")
                if sf is None or not -10 <= int(sf) <= 10:
                    self.sf_values.pop(reg.name, None)
                else:
                    self.sf_values[reg.name] = int(sf)
        for reg in self.registers:
            if reg.name not in raw or reg.type == "sf":
                continue
            value = (
                decode_raw(raw[reg.name], reg.type, reg.word_order)
                if reg.sentinel
                else (decode_raw(raw[reg.name], reg.type.replace("acc", "u"), reg.word_order))
            )
            if value is None:
                self.ledger.record(self.name, "absent", f"{reg.name}: not available (sentinel or NaN)")
                continue
            if isinstance(value, str):
                values[reg.name] = value
                continue
            sf = 0
            if reg.sf is not None:
                if reg.sf not in self.sf_values:
                    self.ledger.record(self.name, "absent", f"{reg.name}: scale factor {reg.sf} unavailable")
                    continue
                sf = self.sf_values[reg.sf]
            number = scaled(value, reg.scale, sf) + reg.offset
            if (reg.min is not None and number < reg.min) or (reg.max is not None and number > reg.max):
                self.ledger.record(self.name, "range", f"{reg.name}={number} outside [{reg.min}, {reg.max}]")
                continue
            values[reg.name] = number
        return values

    async def read(self) -> dict[str, float | str]:
        """One poll: decoded values by register name (absent, refused and bad values left out)."""
        raw = await self.read_raw()
        return {} if raw is None else self.decode(raw)

    def encode(self, name: str, value: float) -> list[int]:
        """Registers to write ``value`` (in our unit) to register ``name``."""
        reg = self.by_name[name]
        sf = 0
        if reg.sf is not None:
            if reg.sf not in self.sf_values:
                raise RetryableError(f"{self.name}: scale factor {reg.sf} of {name} not read yet")
            sf = self.sf_values[reg.sf]
        raw = (value - reg.offset) / (reg.scale * 10.0**sf)
        return encode_raw(raw, reg.type, reg.words, reg.word_order)

    async def write(self, name: str, value: float, *, single: bool = False) -> None:
        reg = self.by_name[name]
        if reg.sf is not None and reg.sf not in self.sf_values:
            sf_reg = self.by_name[reg.sf]
            raw = await self.link.read(self.unit, sf_reg.table, sf_reg.address, 1)
            sf = decode_raw(raw, "sf")
            if sf is not None:
                self.sf_values[reg.sf] = int(sf)
        await self.link.write(self.unit, reg.table, reg.address, self.encode(name, value), single=single)


class LinkPool:
    """One ``ModbusLink`` per connection or bus: devices on the same host:port or serial line share
    it (and its lock). The longest pause and timeout asked for by any of them wins, since the
    slowest device sets the pace of a shared RS485 bus."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], object] = asyncio.sleep
    ) -> None:
        self._links: dict[tuple, ModbusLink] = {}
        self.clock = clock  # every link's (see ModbusLink)
        self.sleep = sleep  # every link's retry back-off (a lock-stepped edge: no wall time)

    @staticmethod
    def key(cfg: LinkConfig) -> tuple:
        return (cfg.kind, cfg.serial) if cfg.kind == "rtu" else (cfg.kind, cfg.host, cfg.port)

    def get(self, cfg: LinkConfig) -> ModbusLink:
        key = self.key(cfg)
        link = self._links.get(key)
        if link is None:
            link = self._links[key] = ModbusLink(cfg, clock=self.clock, sleep=self.sleep)
            return link
        if cfg.kind == "rtu" and (cfg.baudrate, cfg.parity) != (link.cfg.baudrate, link.cfg.parity):
            raise PermanentError(f"{cfg.label}: devices on one bus need one baud rate and parity")
        # before the first request (the client is made then), so the timeout applies too
        link.cfg = replace(
            link.cfg, pause=max(cfg.pause, link.cfg.pause), timeout=max(cfg.timeout, link.cfg.timeout)
        )
        return link

    def close(self) -> None:
        for link in self._links.values():
            link.close()
        self._links.clear()

    def __len__(self) -> int:
        return len(self._links)
