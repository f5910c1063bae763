"""A starting edge polls a SunSpec inverter and sends it a power limit at the same moment: both find
the chain undiscovered. Found by ``wattwerk bench edge``: the two discoveries ran at once, the
first setpoint failed and every later poll failed with "scale factor unavailable" for good."""

from __future__ import annotations

import asyncio

from wattwerk.devices.capabilities import send
from wattwerk.devices.device import SunSpecDevice
from wattwerk.errors import InputLedger
from wattwerk.protocols.modbus import LinkConfig, ModbusLink
from wattwerk.sim.emulators.modbus import EmulatorServer
from wattwerk.sim.emulators.sunspec import SunSpecEmulator


class Inverter:
    def __init__(self) -> None:
        self.v = {
            "power": 2000.0,
            "energy": 1_000_000.0,
            "current": 8.7,
            "frequency": 50.0,
            "voltage_l1": 230.0,
            "voltage_l2": 230.0,
            "voltage_l3": 230.0,
            "temperature": 40.0,
            "power_dc": 2080.0,
            "voltage_dc": 600.0,
            "current_dc": 3.5,
        }
        self.applied: list[tuple[str, float]] = []

    def values(self) -> dict[str, float]:
        return self.v

    def apply(self, command: str, value: float) -> None:
        self.applied.append((command, value))


async def test_first_poll_and_first_setpoint_at_once_discover_the_chain_once() -> None:
    sim = Inverter()
    emu = SunSpecEmulator([101, 120, 123], sim, rated_power=8000.0)
    ledger = InputLedger()
    async with EmulatorServer([emu.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        device = SunSpecDevice(link, device_id="pv", ledger=ledger)
        # as the edge writes: through the capability that grants the command (capabilities.send)
        first, limit = await asyncio.gather(
            device.read(), send(device, "power_limit", 4000.0), return_exceptions=True
        )
        later = [await device.read() for _ in range(3)]
        link.close()
    assert limit is None, limit
    assert not isinstance(first, BaseException)
    assert all(any(r.channel == "pv.power" and r.value == 2000.0 for r in rs) for rs in later)
    assert [v for c, v in sim.applied if c == "power_limit"][-1] == 4000.0
    assert ledger.total() == 0, ledger.counts
