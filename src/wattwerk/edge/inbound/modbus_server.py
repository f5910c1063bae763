"""The edge as a Modbus TCP server: a marketer's or grid operator's RTU, or a building controller, writes
limits and reads measurements as a Modbus master (pymodbus server).

``REGISTER_MAP`` is the one table (address, type, scale, unit, access): it builds the server's blocks,
encodes and decodes every access, and docs/signals.md prints it. Holding registers 0-5 are written by
the master (limits, watchdog); 100-114 are read-only (a write there answers exception 2). The same
addresses answer function codes 3 and 4. A written limit becomes ``modbus_server.limit_*``, which the
one limiter holds. No write for ``fallback_after_s``: the contract's fallback. Clients outside
``allow`` (loopback when empty) are disconnected at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from wattwerk.config.inbound import ModbusServer, allowed
from wattwerk.control.inbound import FEED_IN_PCT, FEED_IN_W, IMPORT_W, NONE
from wattwerk.edge.inbound.common import EdgeLink, Told
from wattwerk.protocols.modbus_codec import Register, decode_raw, encode_raw

log = logging.getLogger("wattwerk.edge.inbound")


@dataclass(frozen=True, slots=True)
class MapEntry:
    register: Register
    access: Literal["rw", "r"]
    unit: str
    meaning: str


def _e(
    name: str, address: int, type_: str, scale: float, access: Literal["rw", "r"], unit: str, meaning: str
) -> MapEntry:
    return MapEntry(
        Register(name, address, type_, scale=scale, sentinel=name != "watchdog"), access, unit, meaning
    )


# "none" is the type's "not available" value: 0xFFFF (u16), 0xFFFFFFFF (u32), 0x80000000 (s32)
REGISTER_MAP: tuple[MapEntry, ...] = (
    _e(
        "feed_in_limit_pct",
        0,
        "u16",
        0.1,
        "rw",
        "0.1 %",
        "Feed-in limit, % of the installed PV power; 1000 or none = no limit",
    ),
    _e("feed_in_limit_w", 1, "u32", 1.0, "rw", "W", "Feed-in limit in W; none = no limit"),
    _e("import_limit_w", 3, "u32", 1.0, "rw", "W", "Grid import limit in W; none = no limit"),
    _e("watchdog", 5, "u16", 1.0, "rw", "", "Any write (e.g. a counter) tells the edge the master is alive"),
    _e("grid_power_w", 100, "s32", 1.0, "r", "W", "Grid power, + import, - export"),
    _e("pv_power_w", 102, "s32", 1.0, "r", "W", "PV power"),
    _e("battery_power_w", 104, "s32", 1.0, "r", "W", "Battery power, + discharge, - charge"),
    _e("battery_soc", 106, "u16", 0.1, "r", "0.1 %", "Battery state of charge"),
    _e("in_force_export_w", 107, "u32", 1.0, "r", "W", "The tightest feed-in limit in force (any source)"),
    _e("in_force_import_w", 109, "u32", 1.0, "r", "W", "The tightest import limit in force (any source)"),
    _e("pv_rated_w", 111, "u32", 1.0, "r", "W", "Installed PV power (what 100 % means)"),
    _e(
        "status",
        113,
        "u16",
        1.0,
        "r",
        "bits",
        "Bit 0: feed-in limited; bit 1: import limited; bit 2: fallback applies",
    ),
    _e("heartbeat", 114, "u16", 1.0, "r", "", "Counts up every second while the edge runs"),
)
_BY_NAME = {e.register.name: e for e in REGISTER_MAP}
# written register -> (channel quantity, its value for "no limit")
_WRITES = {
    "feed_in_limit_pct": (FEED_IN_PCT, 100.0),
    "feed_in_limit_w": (FEED_IN_W, NONE),
    "import_limit_w": (IMPORT_W, NONE),
}


def _blocks() -> list[SimData]:
    """One block per access run: written 0-5, read-only 100-114; everything else answers exception 2."""
    out = []
    for access in ("rw", "r"):
        regs = [e.register for e in REGISTER_MAP if e.access == access]
        first, last = min(r.address for r in regs), max(r.end for r in regs)
        out.append(
            SimData(first, count=last - first, values=0, datatype=DataType.REGISTERS, readonly=access == "r")
        )
    return out


class LimitServer:
    """The Modbus TCP server of ``control.inbound.modbus_server``."""

    def __init__(self, cfg: ModbusServer, edge: EdgeLink, told: Told | None = None) -> None:
        self.cfg = cfg
        self.edge = edge
        self.told = told or Told(
            "modbus_server",
            edge.accept,
            fallback=cfg.fallback,
            fallback_after_s=cfg.fallback_after_s,
            quantities=(FEED_IN_PCT, FEED_IN_W, IMPORT_W),
            state_file=edge.state_file("modbus_server"),
        )
        self.heartbeat = 0
        self.refused = 0
        device = SimDevice(cfg.unit, simdata=_blocks(), action=self._action)
        self.server = _GuardedServer(device, address=(cfg.host, cfg.port), framer=FramerType.SOCKET)
        self.server.allow = tuple(cfg.allow)
        self.server.on_refused = self._refused

    def _refused(self, ip: str) -> None:
        self.refused += 1
        log.warning("modbus_server: connection from %s refused (not in allow)", ip)

    def values(self) -> dict[str, float | None]:
        """Every register's value now (before scaling): the limits as this interface applies them
        (after a fallback too), the site's measurements, the limits in force from any source."""
        told = self.told.values
        pct, watts, imp = told[FEED_IN_PCT], told[FEED_IN_W], told[IMPORT_W]
        m = self.edge.measurements()
        export, imp = self.edge.limit_w("export"), self.edge.limit_w("import")
        status = (export is not None) | (imp is not None) << 1 | self.told.in_fallback << 2
        return {
            "feed_in_limit_pct": pct,
            "feed_in_limit_w": None if watts < 0 else watts,
            "import_limit_w": None if imp < 0 else imp,
            "grid_power_w": m["grid_w"],
            "pv_power_w": m["pv_w"],
            "battery_power_w": m["battery_w"],
            "battery_soc": m["soc_pct"],
            "in_force_export_w": export,
            "in_force_import_w": imp,
            "pv_rated_w": self.edge.pv_rated_w,
            "status": float(status),
            "heartbeat": float(self.heartbeat),
        }

    async def _action(
        self,
        fc: int,
        start: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if set_values is None:  # a read: the read-only registers from the site now
            for name, value in self.values().items():
                reg = _BY_NAME[name].register
                if start <= reg.address and reg.end - start <= len(registers):
                    raw = None if value is None else value / reg.scale
                    registers[reg.address - start : reg.end - start] = encode_raw(raw, reg.type)
            return None
        written = [int(v) for v in set_values]
        told: dict[str, float] = {}
        for e in REGISTER_MAP:
            reg = e.register
            if reg.end <= address or reg.address >= address + count:
                continue
            if reg.address < address or reg.end > address + count:  # half of a 32-bit register
                return ExcCodes.ILLEGAL_ADDRESS
            raw = decode_raw(written[reg.address - address : reg.end - address], reg.type)
            if reg.name in _WRITES:
                value = _written(reg.name, raw)
                if value is None:
                    return ExcCodes.ILLEGAL_VALUE
                told[reg.name] = value
        for name, value in told.items():
            self.told.set(_WRITES[name][0], value)
        self.told.heard()  # any write, the watchdog's too, is contact
        return None

    def tick(self) -> None:
        self.heartbeat = (self.heartbeat + 1) & 0xFFFF

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self.server.serve_forever(background=True)
        except (OSError, RuntimeError) as exc:
            log.error("modbus_server: cannot listen on %s:%d: %s", self.cfg.host, self.cfg.port, exc)
            return
        log.info("modbus server for limits on %s:%d, unit %d", self.cfg.host, self.cfg.port, self.cfg.unit)
        try:
            await self.told.run(stop, self.tick)
        finally:
            await self.server.shutdown()


def _written(name: str, raw: int | float | str | None) -> float | None:
    """A written limit in the channel's units, its "no limit" value for none; None when out of range."""
    if raw is None:
        return _WRITES[name][1]
    assert isinstance(raw, int | float)
    if name == "feed_in_limit_pct":
        return None if raw > 1000 else raw / 10.0
    return float(raw)


class _GuardedServer(ModbusTcpServer):
    """A pymodbus TCP server that drops connections from outside ``allow`` (loopback when empty)."""

    allow: tuple[str, ...] = ()
    on_refused: Any = None

    def callback_new_connection(self) -> ServerRequestHandler:
        return _GuardedHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)


class _GuardedHandler(ServerRequestHandler):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        server: Any = self.server
        if not peer or not allowed(peer[0], server.allow):
            if server.on_refused is not None:
                server.on_refused(peer[0] if peer else "?")
            transport.close()
            server.active_connections.pop(self.unique_id, None)
            return
        super().connection_made(transport)


def register_rows() -> list[Mapping[str, Any]]:
    """The register map as rows (docs, tests)."""
    return [
        {
            "address": e.register.address,
            "name": e.register.name,
            "type": e.register.type,
            "unit": e.unit,
            "access": e.access,
            "meaning": e.meaning,
        }
        for e in REGISTER_MAP
    ]
