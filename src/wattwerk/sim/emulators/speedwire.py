"""An SMA Energy Meter on loopback: one Speedwire datagram per interval to the multicast group
(or to a unicast address), built from a ``MeterSource``."""

from __future__ import annotations

import asyncio
import math
import socket
import time

from wattwerk.protocols.speedwire import (
    MULTICAST_GROUP,
    VERSION_CHANNEL,
    EmeterDatagram,
    ObisKey,
    build_datagram,
)
from wattwerk.sim.emulators import MeterSource, MeterState, PeriodicEmulator

SUSY_EM20 = 349  # SMA Energy Meter 2.0
FIRMWARE = 0x02001252  # 2.0.18.R


def _split(value: float) -> tuple[float, float]:
    """A signed quantity as the meter's separate import (+) and export (-) magnitudes."""
    return (value, 0.0) if value >= 0 else (0.0, -value)


def datagram_values(state: MeterState, frequency_hz: float | None = 50.0) -> dict[ObisKey, int]:
    """The raw channel values an EM 2.0 sends for a state, in the order it sends them."""
    v: dict[ObisKey, int] = {}

    def power_block(
        offset: int, power_w: float, e_in: float | None, e_out: float | None, apparent_va: float
    ) -> None:
        imp, exp = _split(power_w)
        reactive = math.sqrt(max(apparent_va**2 - power_w**2, 0.0))
        for index, present, counter in (
            (1, imp, e_in),
            (2, exp, e_out),
            (3, reactive, None),
            (4, 0.0, None),
            (9, apparent_va if power_w >= 0 else 0.0, None),
            (10, apparent_va if power_w < 0 else 0.0, None),
        ):
            v[(0, index + offset, 4, 0)] = round(present * 10)
            v[(0, index + offset, 8, 0)] = round((counter or 0.0) * 3600)
        pf = abs(power_w) / apparent_va if apparent_va > 0 else 1.0
        v[(0, 13 + offset, 4, 0)] = round(min(pf, 1.0) * 1000)

    total_s = sum(p.voltage_v * p.current_a for p in state.phases) or abs(state.power_w)
    total_s = max(total_s, abs(state.power_w))
    power_block(0, state.power_w, state.energy_import_wh, state.energy_export_wh, total_s)
    if frequency_hz is not None:
        v[(0, 14, 4, 0)] = round(frequency_hz * 1000)
    for i, phase in enumerate(state.phases[:3], start=1):
        offset = 20 * i
        s = max(phase.voltage_v * phase.current_a, abs(phase.power_w))
        power_block(offset, phase.power_w, None, None, s)
        v[(0, 11 + offset, 4, 0)] = round(phase.current_a * 1000)
        v[(0, 12 + offset, 4, 0)] = round(phase.voltage_v * 1000)
    v[(VERSION_CHANNEL, 0, 0, 0)] = FIRMWARE
    return v


class SpeedwireSender(PeriodicEmulator):
    """Sends one datagram per ``interval`` to ``(host, port)``; ``host`` may be the multicast
    group (sent out of ``interface``, loopback by default) or a unicast address."""

    def __init__(
        self,
        source: MeterSource,
        port: int,
        host: str = MULTICAST_GROUP,
        interface: str = "127.0.0.1",
        serial: int = 3_001_234_567,
        susy_id: int = SUSY_EM20,
        interval: float = 1.0,
    ) -> None:
        self.source = source
        self.port = port
        self.host = host
        self.interface = interface
        self.serial = serial
        self.susy_id = susy_id
        self.interval = interval
        self.sent = 0
        self._t0 = time.monotonic()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
        self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)

    def datagram(self) -> bytes:
        ticker = int((time.monotonic() - self._t0) * 1000) & 0xFFFFFFFF
        d = EmeterDatagram(self.susy_id, self.serial, ticker, datagram_values(self.source()))
        return build_datagram(d)

    def send_once(self) -> None:
        self._sock.sendto(self.datagram(), (self.host, self.port))
        self.sent += 1

    async def _run(self) -> None:
        while True:
            self.send_once()
            await asyncio.sleep(self.interval)

    def _closed(self) -> None:
        self._sock.close()
