"""SunSpec: model definitions from pysunspec2, chain discovery on real pymodbus servers, repeating
groups, scale factors, signs and controls."""

from __future__ import annotations

import math

import pytest

from wattwerk.devices.device import SunSpecDevice
from wattwerk.errors import BadInput, PermanentError
from wattwerk.protocols import sunspec
from wattwerk.protocols.modbus import LinkConfig, ModbusLink
from wattwerk.sim.emulators.modbus import EmulatorServer
from wattwerk.sim.emulators.sunspec import SunSpecEmulator


class Sim:
    def __init__(self, **values: float) -> None:
        self.v = dict(values)
        self.applied: list[tuple[str, float]] = []

    def values(self) -> dict[str, float]:
        return self.v

    def apply(self, command: str, value: float) -> None:
        self.applied.append((command, value))


@pytest.mark.parametrize("mid", sunspec.SUPPORTED)
def test_supported_models_lay_out_to_their_length(mid: int) -> None:
    length = sunspec.model_length(mid)
    points = sunspec.layout(mid, 40002, length)
    assert points[0].path == "ID" and points[1].path == "L"
    assert max(p.register.end for p in points) <= 40002 + 2 + length
    names = [p.register.name for p in points]
    assert len(names) == len(set(names))
    for p in points:  # every scale-factor reference resolves to a point of the model
        if p.register.sf:
            assert p.register.sf in names, (mid, p.path, p.register.sf)


def test_repeating_groups_follow_the_count_point() -> None:
    length = sunspec.model_length(160, repeats=2)
    raw = [160, length] + [0] * length
    n_offset = next(p.register.address for p in sunspec.layout(160, 0, length) if p.path == "N")
    raw[n_offset] = 2
    points = sunspec.layout(160, 0, length, raw)
    paths = [p.path for p in points]
    assert "module[0].DCW" in paths and "module[1].DCW" in paths and "module[2].DCW" not in paths
    dcw1 = next(p for p in points if p.path == "module[1].DCW")
    assert dcw1.register.sf == "160.DCW_SF"  # a group point scales with the model's top-level factor


def test_unknown_model_has_no_definition() -> None:
    with pytest.raises(BadInput):
        sunspec.model_definition(64999)


@pytest.mark.parametrize("base", [0, 40000, 50000])
async def test_discovery_at_each_base_address(base: int) -> None:
    emu = SunSpecEmulator([1, 11, 103, 160], Sim(power=1500.0), base=base)
    async with EmulatorServer([emu.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        models = await sunspec.discover(link, 1)
        link.close()
    assert [m.mid for m in models] == [1, 11, 103, 160]
    assert models[0].address == base + 2
    assert not models[1].supported and models[1].raw == []  # listed, not read
    assert models[2].raw[:2] == [103, models[2].length]


async def test_no_sunspec_marker_is_permanent() -> None:
    emu = SunSpecEmulator([1, 103], Sim(), base=50000)
    async with EmulatorServer([emu.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        with pytest.raises(PermanentError, match="no SunSpec marker"):
            await sunspec.discover(link, 1, bases=(0, 40000))
        link.close()


async def test_meter_signs_scale_factors_and_phase_values() -> None:
    sim = Sim(
        power=-4321.0,
        power_l1=-1500.0,
        energy_import=12_345_000.0,
        energy_export=987_600.0,
        voltage_l1=229.7,
        frequency=49.98,
    )
    emu = SunSpecEmulator([1, 203], sim)
    async with EmulatorServer([emu.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        device = SunSpecDevice(link, device_id="grid")
        await device.setup()
        readings = {r.channel: r.value for r in await device.read()}
        link.close()
    assert readings["grid.power"] == -4321.0  # exporting stays negative: SunSpec meters are + import
    assert readings["grid.power_l1"] == -1500.0
    assert math.isclose(readings["grid.energy_import"], 12_345_000.0, rel_tol=1e-4)
    assert math.isclose(readings["grid.voltage_l1"], 229.7, abs_tol=0.05)
    assert device.capabilities == frozenset({"read_power", "read_energy"})


async def test_inverter_with_meter_in_chain_names_the_meter_apart() -> None:
    emu = SunSpecEmulator([1, 101, 120, 203], Sim(power=2000.0, energy=1_000_000.0))
    async with EmulatorServer([emu.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        device = SunSpecDevice(link, device_id="pv")
        await device.setup()
        channels = {r.channel for r in await device.read()}
        link.close()
    assert {"pv.power", "pv.energy", "pv_meter.power"} <= channels


async def test_power_limit_through_model_704_and_without_rating() -> None:
    sim = Sim(power=8000.0)
    emu = SunSpecEmulator([1, 701, 702, 704], sim, rated_power=10000.0)
    async with EmulatorServer([emu.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        device = SunSpecDevice(link, device_id="pv")
        await device.setup()
        await device.set_power_limit(2500.0)
        after_first = [v for c, v in sim.applied if c == "power_limit"][-1]
        await device.set_power_limit(20000.0)  # above the rating: capped at 100 %
        after_second = [v for c, v in sim.applied if c == "power_limit"][-1]
        link.close()
    assert math.isclose(after_first, 2500.0, rel_tol=1e-3)
    assert after_second == 10000.0


async def test_device_without_controls_refuses_commands() -> None:
    emu = SunSpecEmulator([1, 103], Sim(power=1.0))
    async with EmulatorServer([emu.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        device = SunSpecDevice(link, device_id="pv")
        await device.setup()
        with pytest.raises(PermanentError, match="no power_limit"):
            await device.set_power_limit(1000.0)
        link.close()


@pytest.mark.parametrize("mid", [101, 102, 103, 111, 112, 113, 701, 201, 202, 203, 204, 211, 212, 213, 214])
async def test_every_inverter_and_meter_model_reads_power_and_energy(mid: int) -> None:
    meter = mid >= 200 and mid < 300
    sim = Sim(
        power=-2345.0 if meter else 2345.0,
        energy=4_567_800.0,
        energy_import=4_567_800.0,
        energy_export=123_400.0,
    )
    emu = SunSpecEmulator([1, mid], sim)
    async with EmulatorServer([emu.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        device = SunSpecDevice(link, device_id="d")
        await device.setup()
        readings = {r.channel: r.value for r in await device.read()}
        link.close()
    assert math.isclose(readings["d.power"], sim.v["power"], abs_tol=1.0)
    energy = readings["d.energy_import"] if meter else readings["d.energy"]
    assert math.isclose(energy, 4_567_800.0, rel_tol=1e-5)


@pytest.mark.parametrize("models", [[1, 103, 124], [1, 103, 802]])
async def test_storage_models_report_soc(models: list[int]) -> None:
    emu = SunSpecEmulator(models, Sim(power=100.0, soc=73.5))
    async with EmulatorServer([emu.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        device = SunSpecDevice(link, device_id="b")
        await device.setup()
        readings = {r.channel: r.value for r in await device.read()}
        link.close()
    soc = readings.get("b.soc", readings.get("b_battery.soc"))
    assert soc is not None and math.isclose(soc, 73.5, abs_tol=0.01)


async def test_a_device_that_is_not_sunspec_yields_nothing_and_is_backed_off() -> None:
    emu = SunSpecEmulator([1, 103], Sim(power=1.0), base=50000)
    async with EmulatorServer([emu.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        device = SunSpecDevice(link, device_id="pv", bases=(40000,))
        assert await device.read() == []
        requests = link.stats.requests
        assert await device.read() == []  # backed off: no request at all
        assert link.stats.requests == requests
        link.close()
    assert device.ledger.by_kind("pv") == {"sunspec": 1}


async def test_a_sunspec_device_that_does_not_answer_yields_nothing() -> None:
    async with EmulatorServer([SunSpecEmulator([1, 103], Sim()).bank]) as server:
        port = server.port
    link = ModbusLink(LinkConfig(port=port, timeout=0.2, retries=0))
    device = SunSpecDevice(link, device_id="pv")
    assert await device.read() == []
    link.close()
    assert device.ledger.by_kind("pv") == {"timeout": 1}


def test_a_count_beyond_the_model_is_cut_to_what_it_holds() -> None:
    """A chain's N that is absent (0xFFFF) or wrong lays out no more modules than model 160's L holds."""
    length = sunspec.model_length(160, repeats=2)
    raw = [160, length] + [0] * length
    n_offset = next(p.register.address for p in sunspec.layout(160, 0, length) if p.path == "N")
    raw[n_offset] = 0xFFFF
    paths = [p.path for p in sunspec.layout(160, 0, length, raw)]
    assert "module[1].DCW" in paths and "module[2].DCW" not in paths


def test_pv_power_from_mppt_modules_needs_model_160_and_its_modules() -> None:
    from pydantic import ValidationError

    from wattwerk.devices.profile import SunSpecSpec

    assert SunSpecSpec(models=[1, 113, 160], pv_power="mppt", pv_modules=[1, 2]).pv_modules == [1, 2]
    for bad in (
        {"models": [1, 113], "pv_power": "mppt", "pv_modules": [1]},
        {"models": [1, 113, 160], "pv_power": "mppt"},
        {"models": [1, 113, 160], "pv_modules": [1]},
        {"models": [1, 113, 160], "pv_power": "mppt", "pv_modules": [0]},
    ):
        with pytest.raises(ValidationError):
            SunSpecSpec(**bad)


def test_battery_power_names_its_source_and_leaves_power_to_one_option() -> None:
    from pydantic import ValidationError

    from wattwerk.devices.profile import SunSpecSpec

    assert SunSpecSpec(models=[1, 103, 802], battery_power=802).battery_power == "802"  # YAML's bare 802
    spec = SunSpecSpec(models=[1, 113, 124, 160], battery_power="mppt", battery_modules=[3, 4])
    assert spec.battery_modules == [3, 4]
    for bad in (
        {"models": [1, 103], "battery_power": "802"},
        {"models": [1, 113, 160], "battery_power": "mppt", "battery_modules": [3]},
        {"models": [1, 113, 160], "battery_modules": [3, 4]},
        {"models": [1, 113, 160], "battery_power": "mppt", "battery_modules": [0, 4]},
        {"models": [1, 113, 160, 802], "battery_power": "802", "pv_power": "mppt", "pv_modules": [1]},
    ):
        with pytest.raises(ValidationError):
            SunSpecSpec(**bad)


@pytest.mark.parametrize("flow", [-2200.0, 1800.0])
async def test_a_gen24_read_as_a_battery_shows_its_flow_on_the_storage_modules(flow: float) -> None:
    """The emulator puts a charging battery on module 3 and a discharging one on module 4; the entry reads
    the flow back (+ discharging), the inverter's W as power_ac."""
    from wattwerk.devices.catalog import find
    from wattwerk.devices.device import create

    entry = find("fronius-gen24-battery").entry
    assert entry.sunspec is not None
    emu = SunSpecEmulator(entry.sunspec.models, Sim(power=flow, soc=40.0, energy=1e6), vendor=entry)
    async with EmulatorServer([emu.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        device = create(entry, link, device_id="b")
        readings = {r.channel: r.value for r in await device.read()}
        link.close()
    assert math.isclose(readings["b.power"], flow, abs_tol=1.0)
    assert math.isclose(readings["b.power_ac"], flow, abs_tol=1.0) and "b.energy" not in readings
