"""Every emulated catalogue entry, read from and controlled through an emulator built from itself.

This module is what makes an entry's status ``tested`` (see ``wattwerk.devices.status``): it is
parametrised over exactly ``status.emulated(load_catalog())``. For each entry a pymodbus server on
loopback serves the entry's registers (or SunSpec model chain) with values from a test double of
the simulator's ``SimDevice``; the entry's own driver reads them back (units, signs, scale factors)
and sends each of its commands, which the emulated device must receive with the right value.
"""

from __future__ import annotations

import math

import pytest

from wattwerk.devices.catalog import Item, load_catalog
from wattwerk.devices.device import ModbusDevice, SunSpecDevice, create
from wattwerk.devices.profile import CAPABILITIES, RegisterSpec, WriteSpec
from wattwerk.devices.status import emulated
from wattwerk.protocols.modbus import LinkConfig, ModbusLink
from wattwerk.protocols.modbus_codec import RANGES
from wattwerk.sim.emulators.modbus import SIM_COMMANDS, CatalogEmulator, EmulatorServer
from wattwerk.sim.emulators.sunspec import SunSpecEmulator

ITEMS = emulated(load_catalog())
REGISTER_ITEMS = [i for i in ITEMS if i.entry.sunspec is None]  # native entries: test_devices_native.py
# every charge point of multi-point stations: (item, connector)
REGISTER_CASES = [
    (i, n)
    for i in REGISTER_ITEMS
    for n in range(1, (i.entry.connectors.count if i.entry.connectors else 1) + 1)
]
SUNSPEC_ITEMS = [i for i in ITEMS if i.entry.sunspec is not None]

# a value per quantity prefix, chosen off round numbers so scale and word-order errors show
BASE = {
    "power": -1834.0,
    "energy": 12_345_678.0,
    "soc": 57.0,
    "temperature": 41.5,
    "voltage": 231.4,
    "current": 7.3,
    "frequency": 50.02,
    "power_factor": 0.97,
    "state": 3.0,
    "limit": 4100.0,
    "relay": 1.0,
    "sgready": 2.0,
    "phases": 3.0,
    "heat_energy": 7_654_321.0,
    "gas_volume": 1234.5,
    "water_volume": 4321.25,
}


class FakeSim:
    """A ``SimDevice`` test double: fixed values, records the commands it receives."""

    def __init__(self, values: dict[str, float]) -> None:
        self.v = values
        self.applied: list[tuple[str, float]] = []

    def values(self) -> dict[str, float]:
        return self.v

    def apply(self, command: str, value: float) -> None:
        self.applied.append((command, value))


def _base(name: str) -> float:
    best = max((k for k in BASE if name == k or name.startswith(k + "_")), key=len)
    return BASE[best]


def sample(reg: RegisterSpec) -> float:
    """A value the register can carry exactly, inside its physical range."""
    v = _base(reg.name)
    unsigned = reg.type.startswith(("u", "acc")) or reg.type == "bool"
    if unsigned and not reg.offset and (v < 0) == (reg.scale > 0):
        v = -v
    lo, hi = reg.min, reg.max
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        lo = lo if lo is not None else 0.0
        hi = hi if hi is not None else lo + 1000.0
        v = lo + 0.37 * (hi - lo)
    if reg.type in ("f32", "f64"):
        return v
    rlo, rhi = RANGES[reg.type]
    raw = max(rlo + 1, min(rhi - 1, round((v - reg.offset) / reg.scale)))
    return raw * reg.scale + reg.offset


def command_value(spec: WriteSpec, item: Item) -> list[float]:
    if spec.map is not None:
        return [float(k) for k in spec.map]
    regs = {r.name: r for r in item.entry.registers}
    reg = regs[spec.registers[0]]
    lo = spec.min if spec.min is not None else (reg.min if reg.min is not None else None)
    hi = spec.max if spec.max is not None else (reg.max if reg.max is not None else None)
    default = {
        "power_limit": 3300.0,
        "battery_setpoint": -1500.0,
        "current_limit": 10.0,
        "power": 1800.0,
        "phases": 1.0,
    }.get(spec.command, 1.0)
    if lo is not None and hi is not None:
        default = lo + 0.6 * (hi - lo)
    if spec.direction is not None:  # the sign goes to a command register: test both directions
        return [-abs(default), abs(default)]
    if reg.type.startswith("u") and default < 0 < reg.scale:
        default = -default
    if spec.percent_of is not None:
        return [default]
    return [round(default / reg.scale) * reg.scale]


def rating(spec: WriteSpec, item: Item) -> float:
    """The rating a percent write refers to (a number, or the emulated value of a register)."""
    if isinstance(spec.percent_of, str):
        return float(next(r.emulate for r in item.entry.registers if r.name == spec.percent_of))  # type: ignore[arg-type]
    return float(spec.percent_of or 0.0)


def close(a: float, b: float, resolution: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=resolution * 0.51 + 1e-9)


@pytest.mark.parametrize(
    ("item", "connector"),
    REGISTER_CASES,
    ids=[f"{i.entry.id}-{n}" if n > 1 else i.entry.id for i, n in REGISTER_CASES],
)
async def test_register_entry_reads_and_follows(item: Item, connector: int) -> None:
    entry = item.entry
    channel_regs = [r for r in entry.registers if r.channel]
    values = {r.name: sample(r) for r in channel_regs}
    for r in channel_regs:
        if r.minus:  # a signed flow sent as two unsigned halves: the other half carries it (charging)
            values[r.name], values[r.minus] = -values[r.name], values[r.name]
    sim = FakeSim(values)
    emulator = CatalogEmulator(entry, sim, connector=connector)
    async with EmulatorServer([emulator.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0, pause=entry.connection.pause))
        try:
            device = create(entry, link, device_id="dev", connector=connector)
            assert isinstance(device, ModbusDevice)
            assert device.unit == emulator.bank.unit
            readings = {r.channel: r.value for r in await device.read()}
            assert device.ledger.total() == 0, device.ledger.counts
            for reg in channel_regs:
                got = readings[f"dev.{reg.name}"]
                assert close(got, values[reg.name], abs(reg.scale)), (reg.name, got, values[reg.name])
            for cap in entry.capabilities:
                quantities = {
                    "read_power": ("power",),
                    "read_energy": ("energy", "heat_energy"),
                    "read_soc": ("soc",),
                    "read_temperature": ("temperature",),
                }.get(cap, ())
                assert not quantities or any(c.split(".")[1].startswith(quantities) for c in readings), (
                    cap,
                    readings,
                )
            for spec in entry.writes:
                for value in command_value(spec, item):
                    sim.applied.clear()
                    await device.command(spec.command, value)
                    sim_command = SIM_COMMANDS.get(spec.command, spec.command)
                    got = [v for c, v in sim.applied if c == sim_command]
                    resolution = 1e-6 if spec.percent_of is None else 0.001 * rating(spec, item)
                    assert got and close(got[-1], value, resolution), (spec.command, value, sim.applied)
            declared = {CAPABILITIES[c] for c in entry.capabilities} - {None}
            assert declared <= {w.command for w in entry.writes}
        finally:
            link.close()


@pytest.mark.parametrize("item", SUNSPEC_ITEMS, ids=[i.entry.id for i in SUNSPEC_ITEMS])
async def test_sunspec_entry_reads_and_follows(item: Item) -> None:
    entry = item.entry
    spec = entry.sunspec
    assert spec is not None
    sim = FakeSim(
        {
            "power": 3456.0,
            "energy": 9_876_543.0,
            "energy_import": 5_432_100.0,
            "energy_export": 1_234_500.0,
            "energy_charge": 2_345_600.0,
            "energy_discharge": 2_123_400.0,
            "soc": 61.5,
            "temperature": 38.5,
            "voltage_l1": 230.2,
            "frequency": 50.01,
        }
    )
    emulator = SunSpecEmulator(
        spec.models,
        sim,
        unit=entry.connection.unit,
        base=spec.base,
        rated_power=spec.rated_power,
        vendor=entry,
    )
    async with EmulatorServer([emulator.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        try:
            device = create(entry, link, device_id="dev", rated_power=spec.rated_power)
            assert isinstance(device, SunSpecDevice)
            models = await device.setup()
            assert [m.mid for m in models][1:] == [m for m in spec.models if m != 1]
            assert device.capabilities == frozenset(entry.capabilities)
            readings = {r.channel: r.value for r in await device.read()}
            if "read_power" in entry.capabilities:
                assert math.isclose(readings["dev.power"], 3456.0, abs_tol=1.0)
            if "read_energy" in entry.capabilities:  # a battery read through its hybrid: its own counters
                names = ("dev.energy", "dev.energy_import", "dev.energy_discharge")
                energy = next((readings[n] for n in names if n in readings), None)
                assert energy is not None and energy > 1e6
            if "read_soc" in entry.capabilities:
                soc = readings.get("dev.soc", readings.get("dev_battery.soc"))
                assert soc is not None and math.isclose(soc, 61.5, abs_tol=0.01)
            if "read_temperature" in entry.capabilities:
                assert math.isclose(readings["dev.temperature"], 38.5, abs_tol=0.01)
            if "pv_power_limit" in entry.capabilities:
                sim.applied.clear()
                await device.set_power_limit(0.4 * spec.rated_power)
                limits = [v for c, v in sim.applied if c == "power_limit"]
                assert limits and math.isclose(limits[-1], 0.4 * spec.rated_power, rel_tol=0.01)
            if "battery_setpoint" in entry.capabilities:
                sim.applied.clear()
                await device.set_battery_setpoint(-0.3 * spec.rated_power)
                setpoints = [v for c, v in sim.applied if c == "battery_setpoint"]
                assert setpoints and math.isclose(setpoints[-1], -0.3 * spec.rated_power, rel_tol=0.01)
            if "enable" in entry.capabilities:
                sim.applied.clear()
                await device.enable(False)
                assert ("enable", 0.0) in sim.applied
        finally:
            link.close()


def test_every_emulated_entry_is_exercised() -> None:
    assert {i.entry.id for i in ITEMS} == {i.entry.id for i in REGISTER_ITEMS + SUNSPEC_ITEMS}
    assert len(ITEMS) >= 10


async def test_simulated_battery_follows_the_setpoint_written_through_its_entry() -> None:
    """The real site-simulator battery behind the SMA Sunny Island entry: the driver's setpoint
    reaches it through Modbus, the battery follows, and the driver reads the new power and SoC."""
    from wattwerk.sim.battery import Battery
    from wattwerk.sim.params import BatteryParams

    entry = next(i.entry for i in ITEMS if i.entry.id == "sma-sunny-island")
    battery = Battery("bat", BatteryParams(capacity_wh=10_000.0, soc_initial=50.0))
    emulator = CatalogEmulator(entry, battery)
    async with EmulatorServer([emulator.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        try:
            device = create(entry, link, device_id="bat")
            await device.set_battery_setpoint(-2000.0)  # charge at 2 kW
            battery.update(residual_w=500.0, dt_s=900.0)  # a quarter hour passes in the simulator
            readings = {r.channel: r.value for r in await device.read()}
            await device.command("battery_mode", 0)  # hand control back: self-consumption
            battery.update(residual_w=800.0, dt_s=60.0)
            after = {r.channel: r.value for r in await device.read()}
        finally:
            link.close()
    assert readings["bat.power"] == -2000.0
    assert readings["bat.soc"] > 50.0  # rounded to whole % by the register, but it charged
    assert after["bat.power"] == 800.0  # follows the house again


async def test_a_value_the_device_refuses_is_a_modbus_exception_not_a_crash() -> None:
    from wattwerk.errors import BadInput
    from wattwerk.protocols.modbus import ModbusDeviceError

    class Refusing(FakeSim):
        def apply(self, command: str, value: float) -> None:
            raise BadInput("value", f"{command}: {value} refused")

    entry = next(i.entry for i in ITEMS if i.entry.id == "heidelberg-energy-control")
    emulator = CatalogEmulator(entry, Refusing({}))
    async with EmulatorServer([emulator.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        try:
            device = create(entry, link, device_id="ev")
            with pytest.raises(ModbusDeviceError) as info:
                await device.set_current_limit(10.0)
        finally:
            link.close()
    assert info.value.code == 3
    assert emulator.bank.writes == [] and "amps" not in emulator.bank.stored


async def test_simulated_pv_array_produces_less_when_curtailed_over_sunspec() -> None:
    """The real site-simulator PV array behind the SMA Tripower entry (SunSpec, model 123)."""
    from datetime import UTC, datetime

    from wattwerk.sim.params import Location, PVParams
    from wattwerk.sim.pv import PVArray

    entry = next(i.entry for i in ITEMS if i.entry.id == "sma-tripower")
    assert entry.sunspec is not None
    pv = PVArray("pv", PVParams(kwp=10.0, inverter_kw=10.0), Location())
    noon = datetime(2026, 6, 21, 11, 0, tzinfo=UTC).timestamp()
    available = pv.update(noon)
    assert available > 0
    emulator = SunSpecEmulator(
        entry.sunspec.models, pv, unit=entry.connection.unit, rated_power=pv.rating_w, vendor=entry
    )
    async with EmulatorServer([emulator.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        try:
            device = create(entry, link, device_id="pv")
            before = {r.channel: r.value for r in await device.read()}
            await device.set_power_limit(available / 2)
            pv.update(noon)  # the simulator steps with the new limit
            after = {r.channel: r.value for r in await device.read()}
        finally:
            link.close()
    assert math.isclose(before["pv.power"], available, abs_tol=1.0)
    assert math.isclose(after["pv.power"], available / 2, rel_tol=0.01, abs_tol=1.0)
