"""Devices as capabilities: controllers ask for an interface, never for a vendor."""

from __future__ import annotations

import pytest

from wattwerk.devices.capabilities import (
    BatteryControl,
    Charger,
    Meter,
    NotCapable,
    PhaseSwitchable,
    PowerLimitable,
    Relay,
    SgReady,
    capability,
    send,
)
from wattwerk.devices.catalog import find, load_catalog
from wattwerk.devices.device import ModbusDevice, create, link_config
from wattwerk.errors import PermanentError
from wattwerk.protocols.modbus import LinkConfig, ModbusLink
from wattwerk.sim.emulators.modbus import CatalogEmulator, EmulatorServer


def device_for(entry_id: str) -> ModbusDevice:
    entry = find(entry_id).entry
    device = create(entry, ModbusLink(LinkConfig(port=1)), device_id="d")
    assert isinstance(device, ModbusDevice)
    return device


@pytest.mark.parametrize(
    ("entry_id", "has", "lacks"),
    [
        ("alfen-eve", {Meter, Charger, PhaseSwitchable}, {PowerLimitable, BatteryControl, SgReady, Relay}),
        ("sma-sunny-island", {Meter, BatteryControl}, {Charger, PowerLimitable, SgReady}),
        ("sgready-modbus-relay", {SgReady}, {Meter, Charger, Relay}),
        ("relay-modbus-board", {Relay}, {SgReady, Meter}),
        ("eastron-sdm630", {Meter}, {Charger, BatteryControl, PowerLimitable}),
        ("sungrow-sg", {Meter, PowerLimitable}, {BatteryControl, Charger}),
    ],
)
def test_capabilities_follow_the_catalogue_entry(entry_id: str, has: set[type], lacks: set[type]) -> None:
    device = device_for(entry_id)
    for interface in has:
        assert capability(device, interface) is device, interface
    for interface in lacks:
        assert capability(device, interface) is None, interface


def test_link_config_takes_the_entry_defaults() -> None:
    kostal = find("kostal-plenticore").entry
    cfg = link_config(kostal, host="192.0.2.7")
    assert (cfg.kind, cfg.port, cfg.pause) == ("tcp", 1502, 0.05)
    heidelberg = find("heidelberg-energy-control").entry
    cfg = link_config(heidelberg, serial="/dev/ttyUSB0")
    assert (cfg.kind, cfg.baudrate, cfg.parity) == ("rtu", 19200, "E")
    assert link_config(heidelberg, host="192.0.2.8", port=8899, gateway=True).kind == "rtu_tcp"
    with pytest.raises(PermanentError):
        link_config(heidelberg)


@pytest.mark.parametrize(
    ("serial", "want"),
    [
        ("", (19200, "E")),  # the catalogue entry's serial settings
        ("baudrate: 9600, ", (9600, "E")),  # the site file overrides what it names
        ("baudrate: 38400, parity: N, ", (38400, "N")),
    ],
)
def test_a_site_files_rtu_connection_defaults_to_the_entrys_serial_settings(
    serial: str, want: tuple[int, str]
) -> None:
    from wattwerk.config import parse_config
    from wattwerk.edge.modbus_link import site_link

    site = (
        "site: {name: T, location: {latitude: 47.99, longitude: 7.85}, timezone: Europe/Berlin}\n"
        "devices:\n"
        "  - {id: ev1, role: ev_charger, catalog: heidelberg-energy-control,\n"
        f"     connection: {{type: modbus_rtu, {serial}device: /dev/ttyUSB0}}}}\n"
    )
    dev = parse_config(site).devices[0]
    cfg = site_link(dev.connection, find("heidelberg-energy-control").entry)  # 19200 8E1 in its entry
    assert (cfg.kind, cfg.baudrate, cfg.parity) == ("rtu", *want)


def test_untested_entries_cannot_be_opened() -> None:
    entry = next(i.entry for i in load_catalog() if i.entry.untested)
    with pytest.raises(PermanentError, match="not supported yet"):
        create(entry, ModbusLink(LinkConfig(port=1)), device_id="x")


async def test_commands_outside_the_entry_are_refused() -> None:
    device = device_for("eastron-sdm630")
    with pytest.raises(PermanentError, match="no current_limit"):
        await device.set_current_limit(10.0)


class Charging:
    def __init__(self) -> None:
        self.amps = 0.0

    def values(self) -> dict[str, float]:
        return {"power": 230.0 * 3 * self.amps, "energy": 1000.0}

    def apply(self, command: str, value: float) -> None:
        if command == "current_limit":
            self.amps = value


async def test_a_charger_draws_the_current_it_was_given() -> None:
    entry = find("keba-p30-modbus").entry
    car = Charging()
    emulator = CatalogEmulator(entry, car)
    async with EmulatorServer([emulator.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=1.0))
        try:
            charger = capability(create(entry, link, device_id="ev1"), Charger)
            assert charger is not None
            await charger.set_current_limit(40.0)  # above the entry's maximum: capped at 32 A
            await charger.set_current_limit(13.0)
            meter = capability(charger, Meter)
            assert meter is not None
            readings = {r.channel: r.value for r in await meter.read()}
        finally:
            link.close()
    assert car.amps == 13.0
    assert readings["ev1.power"] == 230.0 * 3 * 13.0


async def test_setpoints_go_through_the_capability_that_grants_them() -> None:
    """The edge writes every setpoint with ``send``: a charger's current through ``Charger``; a
    command no declared capability grants is refused before anything goes on the wire."""
    entry = find("keba-p30-modbus").entry
    car = Charging()
    async with EmulatorServer([CatalogEmulator(entry, car).bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=1.0))
        try:
            charger = create(entry, link, device_id="ev1")
            await send(charger, "current_limit", 11.0)
            assert car.amps == 11.0
            with pytest.raises(NotCapable, match=r"'sgready'.*charge_current"):
                await send(charger, "sgready", 3.0)
            with pytest.raises(NotCapable, match="'warp'"):
                await send(charger, "warp", 1.0)
        finally:
            link.close()
    assert car.amps == 11.0


async def test_a_device_without_declared_capabilities_takes_the_command_as_it_is() -> None:
    class Simulated:  # like a simulator's driver: no catalogue entry behind it
        def __init__(self) -> None:
            self.got: list[tuple[str, float]] = []

        async def command(self, command: str, value: float) -> None:
            self.got.append((command, value))

    dev = Simulated()
    await send(dev, "mode", 0.0)
    assert dev.got == [("mode", 0.0)]


def test_connectors_shift_registers_or_units() -> None:
    abl = find("abl-em4").entry
    one, two = abl.register_table(1), abl.register_table(2)
    assert [b.address - a.address for a, b in zip(one, two, strict=True)] == [0x100] * len(one)
    alfen = find("alfen-eve").entry
    assert (alfen.unit_for(1), alfen.unit_for(2)) == (1, 2)
    assert alfen.register_table(2) == alfen.register_table(1)
    pracht = {r.name: r.address for r in find("pracht-alpha-xt").entry.register_table(2)}
    assert pracht == {"total_amps": 2, "amps": 4, "temperature": 103}  # shared registers stay
    with pytest.raises(ValueError, match="connector 3 of 2"):
        abl.register_table(3)
    with pytest.raises(ValueError, match="connector 2 of 1"):
        find("keba-p30-modbus").entry.register_table(2)
