"""Modbus RTU on a serial line: a pymodbus serial server and our client on the two ends of a
virtual null-modem cable (two pty pairs bridged in the event loop)."""

from __future__ import annotations

from wattwerk.protocols.modbus import LinkConfig, ModbusLink, RegisterReader
from wattwerk.protocols.modbus_codec import Register
from wattwerk.sim.emulators.modbus import EmulatorServer, RegisterBank, null_modem

TABLE = [Register("power", 52, "f32", "input"), Register("energy_import", 72, "f32", "input", scale=1000)]


async def test_rtu_over_serial_reads_two_units_on_one_bus() -> None:
    banks = [
        RegisterBank(u, TABLE, values=lambda u=u: {"power": 100.0 * u, "energy_import": 1000.0 * u})
        for u in (1, 2)
    ]
    async with null_modem() as (server_tty, client_tty), EmulatorServer(banks, serial=server_tty):
        link = ModbusLink(LinkConfig(kind="rtu", serial=client_tty, baudrate=9600, timeout=1.0))
        try:
            one = await RegisterReader(link, 1, TABLE, name="m1").read()
            two = await RegisterReader(link, 2, TABLE, name="m2").read()
        finally:
            link.close()
    assert one == {"power": 100.0, "energy_import": 1000.0}
    assert two == {"power": 200.0, "energy_import": 2000.0}
