"""A DSMR 5 P1 port on TCP (like a gPlug or ser2net adapter): a telegram every ``interval`` s.

Each telegram shows the ``MeterSource``'s state with a correct CRC (dsmr_parser's CRC16).
For tests of the reader's error handling, ``inject_bad_crc()`` corrupts the CRC of the
next telegram(s) and ``inject_garbage()`` sends bytes between telegrams.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from zoneinfo import ZoneInfo

from wattwerk.protocols.crc import crc16_arc
from wattwerk.sim.emulators import MeterSource, MeterState

HEADER = "/WWK5\\2WATTWERK-SIM"


def _dsmr_time(ts: datetime, tz: ZoneInfo) -> str:
    local = ts.astimezone(tz)
    return local.strftime("%y%m%d%H%M%S") + ("S" if local.dst() else "W")


def _kwh(wh: float) -> str:
    return f"{round(wh) / 1000:010.3f}*kWh"


def _kw(w: float) -> str:
    return f"{round(w) / 1000:06.3f}*kW"


def telegram(
    state: MeterState,
    *,
    meter_id: str = "WWK0000000001",
    timezone: str = "Europe/Amsterdam",
    gas_m3: float | None = None,
    bad_crc: bool = False,
) -> bytes:
    """One DSMR 5.0.2 telegram for ``state`` (energy split over tariffs 1 and 2)."""
    tz = ZoneInfo(timezone)
    imp, exp = round(state.energy_import_wh), round(state.energy_export_wh)
    imp_t1, exp_t1 = imp * 6 // 10, exp * 6 // 10
    lines = [
        HEADER,
        "",
        "1-3:0.2.8(50)",
        f"0-0:1.0.0({_dsmr_time(state.ts, tz)})",
        f"0-0:96.1.1({meter_id.encode('ascii').hex().upper()})",
        f"1-0:1.8.1({_kwh(imp_t1)})",
        f"1-0:1.8.2({_kwh(imp - imp_t1)})",
        f"1-0:2.8.1({_kwh(exp_t1)})",
        f"1-0:2.8.2({_kwh(exp - exp_t1)})",
        "0-0:96.14.0(0001)",
        f"1-0:1.7.0({_kw(max(state.power_w, 0.0))})",
        f"1-0:2.7.0({_kw(max(-state.power_w, 0.0))})",
        "0-0:96.7.21(00000)",
        "0-0:96.7.9(00000)",
        "1-0:99.97.0(0)(0-0:96.7.19)",
        "0-0:96.13.0()",
    ]
    for n, phase in zip((1, 2, 3), state.phases, strict=False):
        c = 12 + 20 * n  # 32, 52, 72
        lines.append(f"1-0:{c}.7.0({phase.voltage_v:05.1f}*V)")
    for n, phase in zip((1, 2, 3), state.phases, strict=False):
        lines.append(f"1-0:{11 + 20 * n}.7.0({round(abs(phase.current_a)):03d}*A)")
    for n, phase in zip((1, 2, 3), state.phases, strict=False):
        lines.append(f"1-0:{1 + 20 * n}.7.0({_kw(max(phase.power_w, 0.0))})")
    for n, phase in zip((1, 2, 3), state.phases, strict=False):
        lines.append(f"1-0:{2 + 20 * n}.7.0({_kw(max(-phase.power_w, 0.0))})")
    if gas_m3 is not None:
        lines += [
            "0-1:24.1.0(003)",
            "0-1:96.1.0(4757415353494D30303031)",
            f"0-1:24.2.1({_dsmr_time(state.ts, tz)})({gas_m3:09.3f}*m3)",
        ]
    body = "\r\n".join(lines) + "\r\n!"
    crc = crc16_arc(body.encode("ascii"))
    if bad_crc:
        crc ^= 0x0001
    return f"{body}{crc:04X}\r\n".encode("ascii")


class P1Emulator:
    """TCP server on loopback streaming telegrams to every client that connects."""

    def __init__(
        self,
        source: MeterSource,
        *,
        interval: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        meter_id: str = "WWK0000000001",
        timezone: str = "Europe/Amsterdam",
    ) -> None:
        self.source = source
        self.interval = interval
        self.host = host
        self.meter_id = meter_id
        self.timezone = timezone
        self._port = port
        self._server: asyncio.Server | None = None
        self._bad_crc = 0
        self._garbage: list[bytes] = []
        self.sent = 0  # telegrams sent, over all clients
        self.clients = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return self._server.sockets[0].getsockname()[1]

    def inject_bad_crc(self, count: int = 1) -> None:
        """Corrupt the CRC of the next ``count`` telegrams."""
        self._bad_crc += count

    def inject_garbage(self, data: bytes = b"\x00\xffNOISE\xfe\r\n") -> None:
        """Send ``data`` before the next telegram."""
        self._garbage.append(data)

    def next_bytes(self) -> bytes:
        """What goes on the wire next: pending garbage, then a telegram of the current state."""
        out = b"".join(self._garbage)
        self._garbage.clear()
        bad = self._bad_crc > 0
        if bad:
            self._bad_crc -= 1
        out += telegram(self.source(), meter_id=self.meter_id, timezone=self.timezone, bad_crc=bad)
        self.sent += 1
        return out

    async def start(self) -> P1Emulator:
        self._stopping.clear()
        self._server = await asyncio.start_server(self._client, self.host, self._port)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._stopping.set()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def __aenter__(self) -> P1Emulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while not self._stopping.is_set():
                writer.write(self.next_bytes())
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.interval)
        except (ConnectionError, OSError):
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()
