"""The limiter's battery fail-safe "internal" reaches a catalogue battery over Modbus: it sends the
catalogue capability's command (``battery_mode`` 0), which the vendor's register map grants, and the
simulated battery behind the emulator hands control back to its own self-consumption mode."""

from __future__ import annotations

from test_control_helpers import snap
from wattwerk.config.limits import ControlLimits
from wattwerk.control.devices import DeviceSpec
from wattwerk.control.limiter import GridSpec, Limiter
from wattwerk.devices.catalog import find
from wattwerk.devices.device import create
from wattwerk.model import Setpoint
from wattwerk.protocols.modbus import LinkConfig, ModbusLink
from wattwerk.sim.battery import Battery
from wattwerk.sim.emulators.modbus import CatalogEmulator, EmulatorServer
from wattwerk.sim.params import BatteryParams
from wattwerk.vocabulary import KINDS, Command, Kind

BAT = DeviceSpec("bat", "battery", max_charge_w=5000.0, max_discharge_w=5000.0, reserve_soc=10.0)
FRESH = {"grid.power": 0.0, "bat.power": 0.0, "bat.soc": 50.0}


def test_the_battery_commands_are_ones_a_catalogue_capability_grants() -> None:
    assert KINDS[Kind.BATTERY].capabilities == {"battery_setpoint", "battery_mode"}
    assert Command.BATTERY_MODE in KINDS[Kind.BATTERY].commands


async def test_internal_fail_safe_reaches_a_goodwe_battery_emulator_over_modbus() -> None:
    limiter = Limiter(
        GridSpec(import_w=24_000.0), [BAT], ControlLimits(battery_fallback="internal", fallback_after_s=10.0)
    )
    asked = [Setpoint("bat.battery_setpoint", -3000.0, snap(0).now)]
    fresh = {k.replace(".", "__"): v for k, v in FRESH.items()}
    out = limiter.apply(asked, snap(0, **fresh), limiter.initial())
    first = {sp.channel: sp.value for sp in out.setpoints}
    assert first == {"bat.battery_setpoint": -3000.0}
    # the battery stops answering: after 10 s the limiter falls back to its own control
    stale = limiter.apply(asked, snap(20, ages={"bat.power": 15.0, "bat.soc": 15.0}, **fresh), out.state)
    sent = {sp.channel: sp.value for sp in stale.setpoints}
    assert sent == {"bat.battery_mode": 0.0}, sent
    assert "bat" in stale.state.fallback

    entry = find("goodwe-et-bt").entry
    battery = Battery("bat", BatteryParams(capacity_wh=10_000.0, soc_initial=50.0))
    emulator = CatalogEmulator(entry, battery)
    async with EmulatorServer([emulator.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        try:
            device = create(entry, link, device_id="bat")
            for channel, value in first.items():  # the normal cycle: a charge setpoint
                await device.command(channel.split(".", 1)[1], value)
            assert battery.mode == 1 and battery.setpoint_w == -3000.0
            for channel, value in sent.items():  # the fail-safe, written as the edge writes any setpoint
                await device.command(channel.split(".", 1)[1], value)
            battery.update(residual_w=-800.0, dt_s=60.0)  # 800 W of PV surplus
        finally:
            link.close()
    assert emulator.bank.stored["ems_mode"] == 1.0  # GoodWe's "self-use" register value
    assert battery.mode == 0 and battery.power == -800.0  # its own control: charges the surplus
    assert not [k for _, k in device.ledger.counts if k != "absent"]
