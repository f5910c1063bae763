"""Modbus RTU on a serial line: a pymodbus serial server and our client on the two ends of a
virtual null-modem cable (two pty pairs bridged in the event loop)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import tty
from collections.abc import AsyncIterator

from wattwerk.protocols.modbus import LinkConfig, ModbusLink, RegisterReader
from wattwerk.protocols.modbus_codec import Register
from wattwerk.sim.emulators.modbus import EmulatorServer, RegisterBank


@contextlib.asynccontextmanager
async def null_modem() -> AsyncIterator[tuple[str, str]]:
    """Two tty paths whose bytes cross over, like an RS485 pair with two nodes."""
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


TABLE = [Register("power", 52, "f32", "input"), Register("energy_import", 72, "f32", "input", scale=1000)]


async def test_rtu_over_serial_reads_two_units_on_one_bus() -> None:
    banks = [RegisterBank(u, TABLE, values=lambda u=u: {"power": 100.0 * u, "energy_import": 1000.0 * u})
             for u in (1, 2)]
    async with null_modem() as (server_tty, client_tty), EmulatorServer(banks, serial=server_tty):
        link = ModbusLink(LinkConfig(kind="rtu", serial=client_tty, baudrate=9600, timeout=1.0))
        try:
            one = await RegisterReader(link, 1, TABLE, name="m1").read()
            two = await RegisterReader(link, 2, TABLE, name="m2").read()
        finally:
            link.close()
    assert one == {"power": 100.0, "energy_import": 1000.0}
    assert two == {"power": 200.0, "energy_import": 2000.0}
