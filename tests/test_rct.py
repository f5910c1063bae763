"""RCT Power over its serial protocol on TCP: frames, the driver against the emulator (other clients'
answers, broken frames, silence), the safety rules of battery control and the simulated battery."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rctclient.frame import make_frame
from rctclient.types import Command

from wattwerk.devices.catalog import find
from wattwerk.devices.factory import create_for
from wattwerk.devices.rct import SETPOINT, STRATEGY, RctDevice
from wattwerk.errors import BadInput, PermanentError, RetryableError
from wattwerk.protocols.rct import RctFrames, RctTcp, encode_number, object_id
from wattwerk.sim.emulators.rct import RctEmulator

ENTRY = find("rct-power-storage").entry


class FakeBattery:
    def __init__(self) -> None:
        self.v = {
            "power": 1234.5,
            "soc": 61.0,
            "power_grid": -250.0,
            "power_pv": 3100.0,
            "energy_import": 1_111_000.0,
            "energy_export": 2_222_000.0,
            "energy_pv": 9_876_000.0,
        }
        self.applied: list[tuple[str, float]] = []

    def values(self) -> dict[str, float]:
        return self.v

    def apply(self, command: str, value: float) -> None:
        self.applied.append((command, value))


def _device(port: int, timeout: float = 1.0) -> RctDevice:
    device = create_for(ENTRY, host="127.0.0.1", port=port, device_id="bat", timeout=timeout)
    assert isinstance(device, RctDevice)
    return device


def test_frames_split_anywhere_and_bad_crc_is_dropped() -> None:
    soc = object_id("battery.soc")
    frame = make_frame(Command.RESPONSE, soc, encode_number(soc, 0.5))
    frames = RctFrames()
    got = [f for i in range(len(frame)) for f in frames.feed(frame[i : i + 1])]
    assert got == [(Command.RESPONSE, soc, encode_number(soc, 0.5))]
    broken = bytearray(frame)
    broken[-1] ^= 0xFF
    with pytest.raises(BadInput) as err:
        frames.feed(bytes(broken))
    assert err.value.kind == "crc"
    assert frames.feed(frame) == got  # the stream goes on after the broken frame


_SOC = object_id("battery.soc")
_GOOD = make_frame(Command.RESPONSE, _SOC, encode_number(_SOC, 0.25))
_PIECES = [_GOOD, _GOOD[:6], _GOOD[6:], _GOOD[:-1] + bytes([_GOOD[-1] ^ 1]), b"+", b"-", b"+\x06\xff\xff"]


@settings(max_examples=300, deadline=None)
@given(
    chunks=st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(_PIECES)), max_size=12),
    split=st.integers(min_value=1, max_value=7),
)
def test_any_bytes_give_frames_or_bad_input_never_a_crash(chunks: list[bytes], split: int) -> None:
    """Garbage, cut frames and frames with wrong lengths, split anywhere: the decoder returns frames or
    raises BadInput (counted by the driver), nothing else."""
    frames = RctFrames()
    for chunk in chunks:
        for i in range(0, len(chunk), split):
            try:
                got = frames.feed(chunk[i : i + split])
            except BadInput:
                continue
            assert all(isinstance(oid, int) and isinstance(payload, bytes) for _, oid, payload in got)


async def test_reads_every_channel_in_our_units_and_signs() -> None:
    sim = FakeBattery()
    async with RctEmulator(sim) as emulator:
        device = _device(emulator.port)
        try:
            readings = {r.channel: r.value for r in await device.read()}
        finally:
            await device.aclose()
    expected = {f"bat.{q}": v for q, v in sim.v.items()}
    assert readings.keys() == expected.keys()
    for channel, value in expected.items():  # float32 on the wire
        assert math.isclose(readings[channel], value, rel_tol=1e-6), (channel, readings[channel])


async def test_other_clients_answers_and_broken_frames_are_skipped_or_counted() -> None:
    async with RctEmulator(FakeBattery()) as emulator:
        device = _device(emulator.port)
        try:
            emulator.chatter = True
            assert len(await device.read()) == 7 and device.ledger.total() == 0
            emulator.garbage = True
            assert await device.read() == []
            assert device.ledger.by_kind("bat") == {"crc": 1}
            device.health.ok()  # skip the back-off
            assert len(await device.read()) == 7
        finally:
            await device.aclose()


async def test_a_model_without_solar_generators_is_read_without_them() -> None:
    """The AC model: the PV objects get no answer; they are dropped once, counted, and not asked again."""
    async with RctEmulator(FakeBattery()) as emulator:
        emulator.lacking = {"dc_conv.dc_conv_struct[0].p_dc_lp", "energy.e_dc_total[0]"}
        device = _device(emulator.port, timeout=0.3)
        try:
            first = {r.channel for r in await device.read()}
            second = {r.channel for r in await device.read()}
        finally:
            await device.aclose()
    assert (
        first
        == second
        == {"bat.power", "bat.soc", "bat.power_grid", "bat.energy_import", "bat.energy_export"}
    )
    assert device.ledger.by_kind("bat") == {"absent": 2}


async def test_silence_and_a_vanished_device_are_retryable_and_backed_off() -> None:
    async with RctEmulator(FakeBattery()) as emulator:
        client = RctTcp("127.0.0.1", emulator.port, timeout=0.3)
        with pytest.raises(RetryableError, match="no answer"):
            await client.read("battery.temperature")  # the emulator does not answer this object
        assert math.isclose(await client.read("battery.soc"), 0.61, rel_tol=1e-6)  # reconnects
        await client.aclose()
        device = _device(emulator.port)
    try:
        assert await device.read() == []
        assert device.ledger.by_kind("bat") == {"timeout": 1}
        assert await device.read() == []  # backed off, not retried at once
        assert device.ledger.by_kind("bat") == {"timeout": 1}
    finally:
        await device.aclose()


async def test_setpoint_written_once_read_back_and_clamped() -> None:
    sim = FakeBattery()
    async with RctEmulator(sim) as emulator:
        device = _device(emulator.port)
        try:
            await device.set_battery_setpoint(-2500.0)
            await device.set_battery_setpoint(-2500.0)  # unchanged: nothing is written again
            await device.set_battery_setpoint(50_000.0)  # clamped to the rating
        finally:
            await device.aclose()
    setpoint, strategy = object_id(SETPOINT), object_id(STRATEGY)
    assert emulator.writes == [(setpoint, -2500.0), (strategy, 2.0), (setpoint, 6000.0)]
    assert sim.applied == [("battery_setpoint", -2500.0), ("battery_setpoint", 6000.0)]


async def test_no_setpoint_while_the_battery_is_busy() -> None:
    async with RctEmulator(FakeBattery()) as emulator:
        emulator.bat_status = 8.0
        device = _device(emulator.port)
        try:
            with pytest.raises(PermanentError, match="battery status 8"):
                await device.set_battery_setpoint(1000.0)
            with pytest.raises(PermanentError, match="no power_limit"):
                await device.set_power_limit(1000.0)
        finally:
            await device.aclose()
    assert emulator.writes == []


async def test_simulated_battery_follows_the_setpoint_and_returns_to_self_consumption() -> None:
    from wattwerk.sim import SiteSim

    site = SiteSim(start=datetime(2025, 6, 2, 12, 0, tzinfo=UTC))
    battery = site.battery
    assert battery is not None
    async with RctEmulator(battery) as emulator:
        device = _device(emulator.port)
        try:
            soc_before = {r.channel: r.value for r in await device.read()}["bat.soc"]
            await device.set_battery_setpoint(-2000.0)
            site.step(600)
            charging = {r.channel: r.value for r in await device.read()}
            await device.command("battery_mode", 0.0)
        finally:
            await device.aclose()
    assert math.isclose(charging["bat.power"], -2000.0, rel_tol=1e-4)
    assert charging["bat.soc"] > soc_before
    assert battery.mode == 0 and emulator.params[object_id(SETPOINT)] == 0.0


async def test_a_site_file_reaches_the_rct_driver(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``wattwerk run``: a battery naming the RCT entry on a plain TCP connection."""
    from wattwerk.config import parse_config
    from wattwerk.edge.assembly import EdgeOptions, assemble

    async with RctEmulator(FakeBattery()) as emulator:
        text = (
            "site:\n  name: RCT test\n  location: {latitude: 48.0, longitude: 7.8}\n"
            "  timezone: Europe/Berlin\n"
            "devices:\n  - id: bat\n    role: battery\n    catalog: rct-power-storage\n"
            f"    connection: {{type: tcp, host: 127.0.0.1, port: {emulator.port}}}\n"
            "    capacity_wh: 10000\n    max_charge_w: 5000\n    max_discharge_w: 5000\n"
            f"store:\n  data_dir: {tmp_path}\n"
        )
        edge = assemble(parse_config(text), EdgeOptions(read_only=True))
        try:
            driver = edge.devices.polled[0].driver
            assert isinstance(driver, RctDevice)
            readings = {r.channel: r.value for r in await driver.read()}
            await driver.command("battery_setpoint", 1500.0)
            await driver.aclose()
        finally:
            edge.close()
    assert math.isclose(readings["bat.soc"], 61.0, rel_tol=1e-6)
    assert emulator.params[object_id(SETPOINT)] == 1500.0
