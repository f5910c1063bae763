"""MQTT end to end with the real Mosquitto on 127.0.0.1:1883 (unique topics per test)."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from wattwerk.errors import RetryableError
from wattwerk.model import Reading
from wattwerk.protocols.meter import MeterReader
from wattwerk.protocols.mqtt import MqttPublisher, MqttSettings, MqttSource, publish_once
from wattwerk.protocols.tasmota import dsmr_over_mqtt, energy_decoder, sml_decoder
from wattwerk.sim.emulators import MeterState, PhaseState
from wattwerk.sim.emulators.tasmota import TasmotaEmulator

pytestmark = pytest.mark.mqtt


def unique(name: str) -> str:
    return f"wattwerk-test/{name}-{uuid.uuid4().hex[:10]}"


class Meter:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> MeterState:
        self.n += 1
        return MeterState(
            datetime.now(UTC),
            -1234.0,  # exporting: the export counter rises (counters never contradict the power)
            5_000_000.0,
            42_000.0 + 100 * self.n,
            (PhaseState(230.0, 5.4, -1234.0),),
        )


async def collect(reader: MeterReader, n: int) -> list[list[Reading]]:
    out = []
    async for readings in reader:
        out.append(readings)
        if len(out) == n:
            break
    return out


async def run_reader(source: MqttSource, reader: MeterReader, n: int, publish) -> list[list[Reading]]:
    task = asyncio.create_task(collect(reader, n))
    try:
        await asyncio.wait_for(source.subscribed.wait(), 10)
        await publish()
        return await asyncio.wait_for(task, 15)
    finally:
        source.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_tasmota_emulator_broker_source_reader() -> None:
    name = unique("gplug")
    source = MqttSource(f"tele/{name}/SENSOR")
    reader = MeterReader("grid", sml_decoder(), source)
    emu = TasmotaEmulator(Meter(), name, interval=0.05)

    async def publish() -> None:
        await emu.start()

    try:
        got = await run_reader(source, reader, 3, publish)
    finally:
        await emu.stop()
    last = {r.channel: r.value for r in got[-1]}
    assert last["grid.power"] == -1234.0
    assert last["grid.energy_import"] == 5_000_000.0
    assert last["grid.power_l1"] == -1234.0
    exports = [next(r.value for r in rs if r.channel == "grid.energy_export") for rs in got]
    assert exports == sorted(exports) and len(set(exports)) == 3
    assert reader.ledger.total() == 0


async def test_tasmota_plug_energy_monitor() -> None:
    name = unique("plug")
    source = MqttSource(f"tele/{name}/SENSOR")
    reader = MeterReader("plug1", energy_decoder(), source)
    plug = (PhaseState(229.0, 0.33, 75.0),)
    emu = TasmotaEmulator(
        lambda: MeterState(datetime.now(UTC), 75.0, 1500.0, 0.0, plug), name, style="energy", interval=0.05
    )

    async def publish() -> None:
        await emu.start()

    try:
        got = await run_reader(source, reader, 1, publish)
    finally:
        await emu.stop()
    values = {r.channel: r.value for r in got[0]}
    assert values["plug1.power"] == 75.0 and values["plug1.energy_import"] == 1500.0


async def test_raw_dsmr_telegrams_over_mqtt(shared_data: Path) -> None:
    topic = unique("dsmr")
    telegram = (shared_data / "dsmr" / "v5.txt").read_bytes()
    source = MqttSource(topic)
    reader = MeterReader("grid", dsmr_over_mqtt(), source)

    async def publish() -> None:
        async with MqttPublisher() as pub:
            await pub.publish(topic, telegram, qos=1)
            await pub.publish(topic, telegram[:40], qos=1)  # a cut telegram between good ones
            await pub.publish(topic, telegram, qos=1)

    got = await run_reader(source, reader, 2, publish)
    values = {r.channel: r.value for r in got[0]}
    assert values["grid.energy_import_t1"] == 4426.0  # 1-0:1.8.1(000004.426*kWh)
    assert values["grid.power_import"] == 244.0  # 1-0:1.7.0(00.244*kW)


async def test_generic_json_and_publisher_helpers() -> None:
    topic = unique("json")
    source = MqttSource(topic)
    got: list[tuple[str, bytes]] = []

    async def consume() -> None:
        async for item in source.messages():
            got.append(item)
            if len(got) == 2:
                return

    task = asyncio.create_task(consume())
    await asyncio.wait_for(source.subscribed.wait(), 10)
    await publish_once(topic, {"power": 12.5, "name": "zähler"})
    await publish_once(topic, "plain")
    await asyncio.wait_for(task, 10)
    source.close()
    assert got[0] == (
        topic,
        json.dumps({"power": 12.5, "name": "zähler"}, separators=(",", ":"), ensure_ascii=False).encode(),
    )
    assert got[1] == (topic, b"plain")
    assert source.messages_received == 2


async def test_close_ends_a_quiet_subscription() -> None:
    source = MqttSource(unique("quiet"))
    reader = MeterReader("grid", sml_decoder(), source)
    task = asyncio.create_task(reader.run())
    await asyncio.wait_for(source.subscribed.wait(), 10)
    source.close()
    await asyncio.wait_for(task, 5)
    assert reader.stats.frames == 0 and not source.subscribed.is_set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_no_broker_is_a_retryable_error() -> None:
    settings = MqttSettings(port=free_port(), timeout=2)
    source = MqttSource("x", settings, reconnect=False)
    with pytest.raises(RetryableError):
        async for _ in source:
            pass
    with pytest.raises(RetryableError):
        await publish_once("x", "y", settings)
