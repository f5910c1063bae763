"""Issue 15, findings 6 and 14, with the real Mosquitto on 127.0.0.1:1883: a hostile message on a
meter's topic does not stop the meter (``wattwerk run`` as a process), and a retained ``…/set``
is never applied when the edge (re)starts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from pathlib import Path

import aiomqtt
import pytest

from security.edge_processes import RunningEdge, running_edge
from wattwerk.edge.mqtt_bridge import BridgeDevice, Command, MqttBridge, Settable
from wattwerk.model import utcnow
from wattwerk.protocols.mqtt import MqttSettings
from wattwerk.snapshot import SiteState

pytestmark = pytest.mark.mqtt


def energy(power_w: float) -> bytes:
    return json.dumps({"Time": "2026-06-01T12:00:00", "ENERGY": {"Total": 1234.5, "Power": power_w}}).encode()


async def grid_power_becomes(edge: RunningEdge, topic: str, power_w: float, timeout_s: float = 30.0) -> None:
    """Publish the meter's valid message until the edge's live view shows its grid power."""
    deadline = time.monotonic() + timeout_s
    with edge.signed_in() as owner:
        async with aiomqtt.Client("127.0.0.1", 1883) as pub:
            while time.monotonic() < deadline:
                await pub.publish(topic, energy(power_w))
                live = await asyncio.to_thread(owner.get, "/api/live")
                if live.json()["flows"]["grid"] == pytest.approx(power_w, abs=0.5):
                    return
                await asyncio.sleep(0.3)
    tail = edge.log.read_text()[-3000:]
    pytest.fail(f"the grid meter never showed {power_w} W: its stream stopped\n{tail}")


async def test_a_hostile_message_does_not_stop_the_meter(tmp_path: Path) -> None:
    topic = f"wwsec/{uuid.uuid4().hex[:8]}/tele/meter/SENSOR"
    grid = f"{{type: mqtt, host: 127.0.0.1, port: 1883, topic: {topic}}}"
    with running_edge(tmp_path, grid=grid) as edge:
        await grid_power_becomes(edge, topic, 100.0)
        async with aiomqtt.Client("127.0.0.1", 1883) as attacker:
            for _ in range(2):
                await attacker.publish(topic, b"[" * 200_000)  # deeper than Python's recursion limit
                await attacker.publish(topic, b'{"ENERGY": {"Power": 1, "pad": "' + b"x" * 400_000 + b'"}}')
                await attacker.publish(topic, b"\xff\xfe not json")
        await grid_power_becomes(edge, topic, 4321.0)
        log = edge.log.read_text()
    assert log.count("JSON nested too deeply") == 1  # logged once per kind, then counted
    assert log.count("over the limit of 262144") == 1
    assert "not JSON" in log and "Traceback" not in log


async def test_a_retained_set_is_never_applied_and_is_cleared() -> None:
    root = f"wwsec/{uuid.uuid4().hex[:8]}"
    topic = f"{root}/wb/mode/set"
    async with aiomqtt.Client("127.0.0.1", 1883) as planted:  # someone left "now" on the broker
        await planted.publish(topic, b"now", qos=1, retain=True)
    got: list[Command] = []
    device = BridgeDevice("wb", settables=(Settable("mode", "select", options=("off", "now", "pv")),))
    bridge = MqttBridge(
        "sec",
        lambda: SiteState().snapshot(utcnow()),
        got.append,
        [device],
        root=root,
        discovery_prefix=None,
        settings=MqttSettings(),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        await asyncio.wait_for(bridge.ready.wait(), 20)
        for _ in range(100):  # the broker hands the retained message over right after subscribing
            if bridge.stats.rejected["retained"]:
                break
            await asyncio.sleep(0.05)
        assert bridge.stats.rejected["retained"] == 1 and got == []
        async with aiomqtt.Client("127.0.0.1", 1883) as owner:
            await owner.subscribe(topic, qos=1)
            with contextlib.suppress(TimeoutError):  # a retained message would come at once
                async with asyncio.timeout(1.0):
                    async for message in owner.messages:
                        pytest.fail(f"still retained on the broker: {message.payload!r}")
            await owner.publish(topic, b"pv", qos=1)  # a live command still works
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.05)
        assert [(c.device, c.command, c.value) for c in got] == [("wb", "mode", "pv")]
    finally:
        stop.set()
        await task
