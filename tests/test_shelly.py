"""Shelly Gen1/Gen2 profiles against the HTTP emulator on loopback, through poller and reader."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattwerk.model import Channel, Reading
from wattwerk.protocols.meter import MeterReader
from wattwerk.protocols.shelly import PROFILES, decoder_for, detect, poller_for, profile
from wattwerk.sim.emulators import MeterState, PhaseState
from wattwerk.sim.emulators.shelly import ShellyEmulator, gen1_status

PHASES = (PhaseState(230.0, 4.0, -800.0), PhaseState(231.0, 2.0, -400.0), PhaseState(229.0, 1.0, 150.0))


def state() -> MeterState:
    return MeterState(datetime.now(UTC), -1050.0, 3_000_000.0, 1_500_000.0, PHASES)


async def read_one(emu: ShellyEmulator, name: str, **kwargs: object) -> dict[str, float]:
    prof = profile(name)
    poller = poller_for(prof, emu.url, interval=0.05, **kwargs)
    reader = MeterReader("grid", decoder_for(prof), poller)
    try:
        async for readings in reader:
            return {r.channel: r.value for r in readings}
    finally:
        poller.close()
    raise AssertionError("no readings")


async def test_gen2_pro3em() -> None:
    async with ShellyEmulator(state, "pro3em") as emu:
        v = await asyncio.wait_for(read_one(emu, "gen2_em"), 10)
        assert await detect(emu.url) == "gen2_em"
    assert v["grid.power"] == -1050.0
    assert (v["grid.power_l1"], v["grid.power_l3"]) == (-800.0, 150.0)
    assert v["grid.energy_import"] == 3_000_000.0 and v["grid.energy_export"] == 1_500_000.0
    assert v["grid.voltage_l2"] == 231.0 and v["grid.current_l1"] == 4.0
    assert v["grid.frequency"] == 50.0
    assert "grid.current_n" not in v  # the device sends null when it has no neutral CT


async def test_gen1_3em_sums_phase_counters() -> None:
    async with ShellyEmulator(state, "3em") as emu:
        v = await asyncio.wait_for(read_one(emu, "gen1_3em"), 10)
        assert await detect(emu.url) == "gen1_3em"
    assert v["grid.power"] == -1050.0
    assert v["grid.energy_import"] == pytest.approx(3_000_000.0, abs=0.2)
    assert v["grid.energy_export_l2"] == 500_000.0


async def test_gen1_em_and_plug_units() -> None:
    async with ShellyEmulator(state, "em") as emu:
        v = await asyncio.wait_for(read_one(emu, "gen1_em"), 10)
    assert v["grid.power"] == -1050.0 and v["grid.energy_export"] == 1_500_000.0
    plug = lambda: MeterState(datetime.now(UTC), 60.5, 1234.5, 0.0)  # noqa: E731
    async with ShellyEmulator(plug, "plug") as emu:
        v = await asyncio.wait_for(read_one(emu, "gen1_plug"), 10)
    assert v["grid.power"] == 60.5
    assert v["grid.energy_import"] == pytest.approx(1234.5, abs=1 / 60)  # sent as watt-minutes


async def test_gen2_plug() -> None:
    plug = lambda: MeterState(datetime.now(UTC), 9.8, 777.125, 1.5, (PhaseState(232.1, 0.05, 9.8),))  # noqa: E731
    async with ShellyEmulator(plug, "plusplugs") as emu:
        v = await asyncio.wait_for(read_one(emu, "gen2_switch"), 10)
    assert v == pytest.approx(
        {
            "grid.power": 9.8,
            "grid.energy_import": 777.125,
            "grid.energy_export": 1.5,
            "grid.voltage": 232.1,
            "grid.current": 0.05,
            "grid.frequency": 50.0,
        }
    )


async def test_errors_are_counted_and_polling_recovers() -> None:
    async with ShellyEmulator(state, "pro3em") as emu:
        emu.fail_next = 3
        prof = profile("gen2_em")
        poller = poller_for(prof, emu.url, interval=0.01, timeout=0.3)
        poller.backoff.maximum = 0.05
        reader = MeterReader("grid", decoder_for(prof), poller)
        got: list[list[Reading]] = []

        async def first() -> None:
            async for readings in reader:
                got.append(readings)
                return

        await asyncio.wait_for(first(), 10)
        assert poller.errors["http_status"] >= 2  # EM ok/EMData failed rounds count per request
        emu.delay = 0.5  # slower than the timeout
        async with poller.client() as client:
            body = await asyncio.wait_for(poller.poll_once(client), 5)
        assert body is None and poller.errors["timeout"] == 1
        poller.close()
    assert got and {r.channel for r in got[0]} >= {"grid.power", "grid.energy_import"}


async def test_wrong_generation_is_permanent() -> None:
    from wattwerk.errors import PermanentError

    async with ShellyEmulator(state, "3em") as emu:
        poller = poller_for(profile("gen2_em"), emu.url, interval=0.01)
        with pytest.raises(PermanentError, match="404"):
            async for _ in poller:
                pass


async def test_nothing_listening_is_counted() -> None:
    emu = ShellyEmulator(state, "pro3em")
    await emu.start()
    url = emu.url
    await emu.stop()
    poller = poller_for(profile("gen2_em"), url, timeout=0.5)
    async with poller.client() as client:
        assert await poller.poll_once(client) is None
    assert poller.errors["connect"] == 1


def test_invalid_gen1_channel_is_dropped() -> None:
    status = gen1_status(state(), "3em")
    status["emeters"][1]["is_valid"] = False
    frame = decoder_for(profile("gen1_3em")).feed(json.dumps({"status": status}).encode())[0]
    quantities = {v.quantity for v in frame.values}
    assert "power_l1" in quantities and "power_l2" not in quantities
    assert "power" not in quantities and "energy_import" not in quantities
    assert [k for k, _ in frame.notes] == ["invalid"]


def test_profiles_name_valid_channels() -> None:
    for name in PROFILES:
        for f in profile(name).fields:
            assert Channel.of(f"grid.{f.quantity}").unit == f.unit
    with pytest.raises(ValueError):
        profile("gen9")


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(sorted(PROFILES)),
    doc=st.recursive(
        json_scalars,
        lambda k: (
            st.lists(k, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "status",
                        "emeters",
                        "em",
                        "emdata",
                        "switch",
                        "power",
                        "total",
                        "is_valid",
                        "total_act",
                        "aenergy",
                    ]
                ),
                k,
                max_size=5,
            )
        ),
        max_leaves=25,
    ),
)
def test_fuzz_profiles(name: str, doc: object) -> None:
    for frame in decoder_for(profile(name)).feed(json.dumps(doc).encode()):
        for v in frame.values:
            assert math.isfinite(v.value)
            assert Channel.of(f"grid.{v.quantity}").unit == v.unit
