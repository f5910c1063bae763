"""Battery and PV controls added to existing register-map entries, with the real site-simulator devices
behind their emulators: the driver's setpoint reaches the simulated battery through the vendor's
registers, the battery follows, and the driver reads the result back (power, SoC)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from wattwerk.devices.catalog import find
from wattwerk.devices.device import create
from wattwerk.protocols.modbus import LinkConfig, ModbusLink
from wattwerk.sim.battery import Battery
from wattwerk.sim.emulators.modbus import CatalogEmulator, EmulatorServer
from wattwerk.sim.params import BatteryParams, Location, PVParams
from wattwerk.sim.pv import PVArray

BATTERIES = ["huawei-luna2000", "goodwe-et-bt", "victron-ess-vebus", "sungrow-sh"]


@pytest.mark.parametrize("entry_id", BATTERIES)
async def test_simulated_battery_follows_setpoints_in_both_directions(entry_id: str) -> None:
    entry = find(entry_id).entry
    battery = Battery("bat", BatteryParams(capacity_wh=10_000.0, soc_initial=50.0))
    emulator = CatalogEmulator(entry, battery)
    async with EmulatorServer([emulator.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0, pause=entry.connection.pause))
        try:
            device = create(entry, link, device_id="bat")
            await device.set_battery_setpoint(-2000.0)  # charge at 2 kW
            assert battery.setpoint_w == -2000.0
            battery.update(residual_w=500.0, dt_s=900.0)
            charged = {r.channel: r.value for r in await device.read()}
            await device.set_battery_setpoint(1500.0)  # discharge at 1.5 kW
            assert battery.setpoint_w == 1500.0
            battery.update(residual_w=-300.0, dt_s=900.0)
            discharged = {r.channel: r.value for r in await device.read()}
        finally:
            link.close()
    # registers the simulated battery has no value for (PV strings, grid) read as absent; nothing else
    assert {kind for _, kind in device.ledger.counts} <= {"absent"}, device.ledger.counts
    assert charged["bat.soc"] > 50.0 > discharged["bat.soc"] - 2.0  # charged by 5 %, then down again
    assert discharged["bat.soc"] < charged["bat.soc"]
    if "bat.power" in charged:  # Victron's VE.Bus unit has no battery power register here
        assert charged["bat.power"] == -2000.0 and discharged["bat.power"] == 1500.0


async def test_goodwe_battery_mode_hands_control_back() -> None:
    entry = find("goodwe-et-bt").entry
    battery = Battery("bat", BatteryParams(capacity_wh=10_000.0, soc_initial=50.0))
    emulator = CatalogEmulator(entry, battery)
    async with EmulatorServer([emulator.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        try:
            device = create(entry, link, device_id="bat")
            await device.set_battery_setpoint(-1000.0)
            assert battery.mode == 1
            await device.command("battery_mode", 0)
            battery.update(residual_w=700.0, dt_s=60.0)
            readings = {r.channel: r.value for r in await device.read()}
        finally:
            link.close()
    assert emulator.bank.stored["ems_mode"] == 1.0  # self-use
    assert battery.mode == 0 and readings["bat.power"] == 700.0


async def test_huawei_pv_produces_less_when_curtailed() -> None:
    entry = find("huawei-sun2000").entry
    pv = PVArray("pv", PVParams(kwp=10.0, inverter_kw=10.0), Location())
    noon = datetime(2026, 6, 21, 11, 0, tzinfo=UTC).timestamp()
    available = pv.update(noon)
    emulator = CatalogEmulator(entry, pv)
    async with EmulatorServer([emulator.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        try:
            device = create(entry, link, device_id="pv")
            before = {r.channel: r.value for r in await device.read()}
            await device.set_power_limit(round(available / 3))
            pv.update(noon)
            after = {r.channel: r.value for r in await device.read()}
        finally:
            link.close()
    assert math.isclose(before["pv.power"], available, abs_tol=1.0)
    assert math.isclose(after["pv.power"], round(available / 3), abs_tol=1.0)


@pytest.mark.parametrize("entry_id", ["sax-power-home", "sma-tripower-smart-energy"])
async def test_hold_blocks_discharge_and_release_restores_it(entry_id: str) -> None:
    entry = find(entry_id).entry
    battery = Battery("bat", BatteryParams(capacity_wh=10_000.0, soc_initial=60.0))
    emulator = CatalogEmulator(entry, battery)
    async with EmulatorServer([emulator.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        try:
            device = create(entry, link, device_id="bat")
            await device.command("battery_mode", 1)  # hold
            battery.update(residual_w=800.0, dt_s=60.0)  # the house would take 800 W from it
            held = {r.channel: r.value for r in await device.read()}
            await device.command("battery_mode", 0)
            battery.update(residual_w=800.0, dt_s=60.0)
            released = {r.channel: r.value for r in await device.read()}
        finally:
            link.close()
    register, normal = {
        "sax-power-home": ("discharge_limit", 4600.0),
        "sma-tripower-smart-energy": ("discharge_max", 4200.0),
    }[entry_id]
    assert emulator.bank.stored[register] == normal  # released: the normal discharge power again
    assert held["bat.power"] == 0.0 and released["bat.power"] == 800.0


@pytest.mark.parametrize(
    ("entry_id", "register", "token"),
    [
        ("vestel-evc04", "alive", 1.0),
        ("webasto-tq", "life_bit", 1.0),
        ("mennekes-amtron-compact", "heartbeat", 21930.0),
    ],
)
async def test_a_charger_s_heartbeat_is_written_with_the_polls_within_its_timeout(
    entry_id: str, register: str, token: float
) -> None:
    """The charger clears its alive register and falls back to its safe current unless the energy
    manager writes it again in time: the polls write it at most 5 s apart, with or without commands."""
    from test_catalog_entries import FakeSim

    entry = find(entry_id).entry
    emulator = CatalogEmulator(entry, FakeSim({"power": 0.0, "energy": 0.0}))
    t0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    seen = []
    async with EmulatorServer([emulator.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0, pause=entry.connection.pause))
        try:
            device = create(entry, link, device_id="ev1")
            for s in (0, 2, 4, 6, 9, 12):
                emulator.bank.stored[register] = 0  # the charger clears it
                await device.read(t0 + timedelta(seconds=s))
                seen.append(emulator.bank.stored[register])
        finally:
            link.close()
    assert seen == [token, 0, 0, token, 0, token]
