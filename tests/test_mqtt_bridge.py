"""The edge's MQTT bridge against the real Mosquitto on 127.0.0.1:1883 (a unique topic root per test):
Home Assistant discovery, values, availability, and commands through the broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from wattwerk.config import load_demo_config
from wattwerk.edge.mqtt_bridge import (
    BridgeDevice,
    Command,
    HomeAssistant,
    MqttBridge,
    Rejected,
    Settable,
    devices_from_config,
    format_value,
    parse_value,
    retained,
)
from wattwerk.errors import PermanentError
from wattwerk.model import Reading, utcnow
from wattwerk.protocols.mqtt import MqttSettings
from wattwerk.snapshot import SiteState

EV = BridgeDevice(
    "ev1",
    "Wallbox",
    manufacturer="ACME",
    model="WB-11",
    settables=(
        Settable("mode", "select", options=("off", "now", "minpv", "pv")),
        Settable("current_limit", min=6.0, max=16.0, unit="A"),
    ),
)
GRID = BridgeDevice("grid", "Grid meter")


# ---------------------------------------------------------------- pure parts


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b"ten", "not_numeric"),
        (b"nan", "not_numeric"),
        (b"inf", "not_numeric"),
        (b"", "empty"),
        (b"5.9", "range"),
        (b"16.5", "range"),
        (b"\xff\xfe", "encoding"),
        (b"{oops", "json"),
        (b'{"v": 3}', "json"),
    ],
)
def test_bad_numbers_are_rejected_with_their_kind(payload: bytes, kind: str) -> None:
    with pytest.raises(Rejected) as err:
        parse_value(EV.settables[1], payload)
    assert err.value.kind == kind


def test_numbers_and_options_are_parsed() -> None:
    assert parse_value(EV.settables[1], b" 10 ") == 10.0
    assert parse_value(EV.settables[1], b'{"value": 12.5}') == 12.5
    assert parse_value(EV.settables[0], b"PV") == "pv"
    with pytest.raises(Rejected, match="not one of off, now, minpv, pv") as err:
        parse_value(EV.settables[0], b"turbo")
    assert err.value.kind == "option"


def test_values_are_plain_numbers_and_power_is_not_retained() -> None:
    assert format_value(12_345_678.0) == "12345678"
    assert format_value(-5.25) == "-5.25"
    assert format_value(-0.0001) == "0"
    assert not retained("power") and not retained("power_l1")
    assert retained("energy_import") and retained("soc") and retained("state")


def test_commands_from_the_site_file_carry_its_limits() -> None:
    devices = {d.id: d for d in devices_from_config(load_demo_config())}
    ev = devices["ev1"]
    limit = ev.settable("current_limit")
    assert limit is not None and (limit.min, limit.max, limit.unit) == (6.0, 16.0, "A")
    mode = ev.settable("mode")
    assert mode is not None and mode.options == ("off", "now", "minpv", "pv")
    bat = devices["bat"].settable("battery_setpoint")
    assert bat is not None and (bat.min, bat.max) == (-5000.0, 5000.0)
    assert devices["grid"].settables == ()


def test_sensor_names_and_the_edge_own_channels() -> None:
    ha = HomeAssistant("My Site!", "wattwerk/my_site")
    topic, config = ha.sensor(BridgeDevice("grid"), "power_l2")
    assert topic == "homeassistant/sensor/wattwerk_my_site_grid/power_l2/config"
    assert config["name"] == "Power L2" and config["device"]["via_device"] == "wattwerk_my_site_edge"
    _, cycle = ha.sensor(BridgeDevice("edge"), "cycle_time")
    _, status = ha.edge()
    assert cycle["device"] == status["device"]  # one edge device in HA, not a second one via itself
    assert (cycle["device_class"], cycle["unit_of_measurement"]) == ("duration", "s")
    _, pf = ha.sensor(BridgeDevice("grid"), "power_factor")
    assert pf["device_class"] == "power_factor" and "unit_of_measurement" not in pf
    _, gas = ha.sensor(BridgeDevice("gas"), "gas_volume")
    assert (gas["device_class"], gas["state_class"], gas["unit_of_measurement"]) == (
        "gas",
        "total_increasing",
        "m³",
    )


def test_a_mode_is_not_a_setpoint() -> None:
    now = utcnow()
    assert Command("ev1", "current_limit", 10.0, now).setpoint().channel == "ev1.current_limit"
    with pytest.raises(ValueError):
        Command("ev1", "mode", "pv", now).setpoint()


# ---------------------------------------------------------------- through the broker

pytestmark_broker = pytest.mark.mqtt


class Listener:
    """A plain aiomqtt client that records every message under some topics."""

    def __init__(self, *topics: str) -> None:
        self.topics = topics
        self.messages: list[tuple[str, bytes, bool]] = []
        self._new = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def _run(self) -> None:
        async with MqttSettings().client() as client:
            for t in self.topics:
                await client.subscribe(t, qos=1)
            self._ready.set()
            async for m in client.messages:
                payload = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
                self.messages.append((m.topic.value, payload, bool(m.retain)))
                self._new.set()

    async def start(self) -> Listener:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def wait_for(self, topic: str, *, payload: bytes | None = None, timeout: float = 10) -> bytes:
        async def seen() -> bytes:
            while True:
                for t, p, _ in self.messages:
                    if t == topic and (payload is None or p == payload):
                        return p
                self._new.clear()
                await self._new.wait()

        return await asyncio.wait_for(seen(), timeout)

    async def wait_count(self, match, n: int, timeout: float = 10) -> list[tuple[str, bytes]]:
        async def enough() -> list[tuple[str, bytes]]:
            while True:
                hits = [(t, p) for t, p, _ in self.messages if match(t)]
                if len(hits) >= n:
                    return hits
                self._new.clear()
                await self._new.wait()

        return await asyncio.wait_for(enough(), timeout)

    def of(self, topic: str) -> list[tuple[bytes, bool]]:
        return [(p, r) for t, p, r in self.messages if t == topic]


class Handler:
    def __init__(self, fail: bool = False) -> None:
        self.got: list[Command] = []
        self.event = asyncio.Event()
        self.fail = fail

    async def __call__(self, cmd: Command) -> None:
        if self.fail and cmd.command == "current_limit":
            raise PermanentError("charger is in maintenance")
        self.got.append(cmd)
        self.event.set()


@contextlib.asynccontextmanager
async def running(handler: Handler, state: SiteState, **kw) -> AsyncIterator[tuple[MqttBridge, Listener]]:
    tag = uuid.uuid4().hex[:10]
    root, prefix = f"wattwerk-test/bridge-{tag}", f"wattwerk-test/ha-{tag}"
    listener = await Listener(f"{root}/#", f"{prefix}/#").start()
    bridge = MqttBridge(
        "Test site",
        lambda: state.snapshot(utcnow()),
        handler,
        [EV, GRID],
        root=root,
        discovery_prefix=prefix,
        interval_s=0.05,
        **kw,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        await asyncio.wait_for(bridge.ready.wait(), 10)
        yield bridge, listener
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await listener.stop()
        await _clear_retained(listener)


async def _clear_retained(listener: Listener) -> None:
    """Leave the broker as we found it: empty every retained topic this test created."""
    topics = {t for t, _, r in listener.messages if r} | {t for t, _, _ in listener.messages}
    async with MqttSettings().client() as client:
        for t in topics:
            await client.publish(t, b"", qos=1, retain=True)


async def retained_now(pattern: str) -> dict[str, bytes]:
    """The retained messages a new subscriber to ``pattern`` gets (a sentinel marks their end)."""
    sentinel = f"wattwerk-test/sentinel-{uuid.uuid4().hex[:10]}"
    kept: dict[str, bytes] = {}
    async with MqttSettings().client() as client:
        await client.subscribe(pattern, qos=1)
        await client.subscribe(sentinel, qos=1)
        await client.publish(sentinel, b"end", qos=1)
        async for m in client.messages:
            if m.topic.value == sentinel:
                return kept
            if m.retain:
                kept[m.topic.value] = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
    return kept


def site_state() -> SiteState:
    state = SiteState(stale_after_s=30.0)
    now = utcnow()
    state.update(
        [
            Reading("grid.power", now, 1234.5),
            Reading("grid.energy_import", now, 5_000_000.0),
            Reading("ev1.power", now, 0.0),
        ]
    )
    return state


@pytestmark_broker
async def test_discovery_config_values_and_availability_arrive() -> None:
    async with running(Handler(), site_state()) as (bridge, listener):
        root, ha = bridge.root, bridge.ha
        assert ha is not None
        node = ha.node("grid")
        energy = json.loads(await listener.wait_for(f"{ha.prefix}/sensor/{node}/energy_import/config"))
        assert energy["device_class"] == "energy"
        assert energy["state_class"] == "total_increasing"
        assert energy["unit_of_measurement"] == "Wh"
        assert energy["state_topic"] == f"{root}/grid/energy_import"
        assert energy["unique_id"] == f"{node}_energy_import"
        assert energy["device"]["identifiers"] == [node]
        assert {a["topic"] for a in energy["availability"]} == {f"{root}/status", f"{root}/grid/status"}
        power = json.loads(await listener.wait_for(f"{ha.prefix}/sensor/{node}/power/config"))
        assert (power["device_class"], power["state_class"], power["unit_of_measurement"]) == (
            "power",
            "measurement",
            "W",
        )
        ev_node = ha.node("ev1")
        number = json.loads(await listener.wait_for(f"{ha.prefix}/number/{ev_node}/current_limit/config"))
        assert (number["min"], number["max"], number["unit_of_measurement"]) == (6.0, 16.0, "A")
        assert number["command_topic"] == f"{root}/ev1/current_limit/set"
        select = json.loads(await listener.wait_for(f"{ha.prefix}/select/{ev_node}/mode/config"))
        assert select["options"] == ["off", "now", "minpv", "pv"]
        assert select["device"]["manufacturer"] == "ACME"

        assert await listener.wait_for(f"{root}/grid/power") == b"1234.5"
        assert await listener.wait_for(f"{root}/grid/energy_import") == b"5000000"
        assert await listener.wait_for(f"{root}/status") == b"online"
        assert await listener.wait_for(f"{root}/grid/status") == b"online"
        # the retain rule as a client connecting now sees it: energy retained, power not
        kept = await retained_now(f"{root}/grid/#")
        assert kept[f"{root}/grid/energy_import"] == b"5000000"
        assert kept[f"{root}/grid/status"] == b"online"
        assert f"{root}/grid/power" not in kept
    # a clean stop says offline
    assert listener.of(f"{root}/status")[-1][0] == b"offline"


@pytestmark_broker
async def test_a_stale_device_goes_offline_and_a_new_value_is_published() -> None:
    state = site_state()
    async with running(Handler(), state) as (bridge, listener):
        root = bridge.root
        await listener.wait_for(f"{root}/grid/power", payload=b"1234.5")
        old = utcnow() - timedelta(minutes=5)
        state._latest["ev1.power"] = (0.0, old)  # the charger stopped answering five minutes ago
        assert await listener.wait_for(f"{root}/ev1/status", payload=b"offline") == b"offline"
        state.update([Reading("grid.power", utcnow(), -800.0)])
        assert await listener.wait_for(f"{root}/grid/power", payload=b"-800") == b"-800"


@pytestmark_broker
async def test_setpoint_and_mode_round_trip_through_the_broker() -> None:
    handler = Handler()
    async with running(handler, site_state()) as (bridge, listener):
        root = bridge.root
        async with MqttSettings().client() as client:
            await client.publish(f"{root}/ev1/current_limit/set", b"10", qos=1)
            await client.publish(f"{root}/ev1/mode/set", b"pv", qos=1)
        await listener.wait_for(f"{root}/ev1/mode", payload=b"pv")
        assert [(c.device, c.command, c.value) for c in handler.got] == [
            ("ev1", "current_limit", 10.0),
            ("ev1", "mode", "pv"),
        ]
        assert handler.got[0].setpoint().value == 10.0
        # the accepted value is echoed as the entity's state, retained
        assert [p for p, _ in listener.of(f"{root}/ev1/current_limit")] == [b"10"]
        kept = await retained_now(f"{root}/ev1/#")
        assert (kept[f"{root}/ev1/current_limit"], kept[f"{root}/ev1/mode"]) == (b"10", b"pv")
        assert bridge.stats.accepted == 2 and not bridge.stats.rejected


@pytestmark_broker
async def test_bad_set_payloads_are_rejected_and_the_bridge_keeps_going(caplog) -> None:
    handler = Handler(fail=False)
    async with running(handler, site_state()) as (bridge, listener):
        root = bridge.root
        bad = [
            (f"{root}/ghost/current_limit/set", b"10", "unknown_device"),
            (f"{root}/ev1/sgready/set", b"2", "unknown_command"),
            (f"{root}/ev1/current_limit/set", b"lots", "not_numeric"),
            (f"{root}/ev1/current_limit/set", b"40", "range"),
            (f"{root}/ev1/mode/set", b"turbo", "option"),
        ]
        async with MqttSettings().client() as client:
            for topic, payload, _ in bad:
                await client.publish(topic, payload, qos=1)
            await client.publish(f"{root}/ev1/current_limit/set", b"8", qos=1)
        await asyncio.wait_for(handler.event.wait(), 10)
        errors = await listener.wait_count(lambda t: t.endswith("/set/error"), len(bad))
        got = sorted((t, json.loads(p)["kind"]) for t, p in errors)
        assert got == sorted((f"{t}/error", k) for t, _, k in bad)
        limit_errors = [json.loads(p)["error"] for t, p in errors if t.endswith("current_limit/set/error")]
        assert any("above the maximum 16 A" in e for e in limit_errors)
        assert [(c.command, c.value) for c in handler.got] == [("current_limit", 8.0)]
        assert sum(bridge.stats.rejected.values()) == len(bad)
        assert "rejected" in caplog.text and "ghost" in caplog.text


@pytestmark_broker
async def test_a_refusing_handler_becomes_an_error_message() -> None:
    handler = Handler(fail=True)
    async with running(handler, site_state()) as (bridge, listener):
        root = bridge.root
        async with MqttSettings().client() as client:
            await client.publish(f"{root}/ev1/current_limit/set", b"10", qos=1)
            await client.publish(f"{root}/ev1/mode/set", b"now", qos=1)
        body = json.loads(await listener.wait_for(f"{root}/ev1/current_limit/set/error"))
        assert body["kind"] == "refused" and "maintenance" in body["error"]
        await asyncio.wait_for(handler.event.wait(), 10)
        assert [c.value for c in handler.got] == ["now"]
        assert listener.of(f"{root}/ev1/current_limit") == []


async def test_an_unreachable_broker_is_retried_without_crashing() -> None:
    from wattwerk.protocols.transport import Backoff

    bridge = MqttBridge(
        "x",
        lambda: SiteState().snapshot(utcnow()),
        Handler(),
        [EV],
        settings=MqttSettings(port=1, timeout=1.0),
        backoff=Backoff(0.01, 0.02),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    await asyncio.sleep(0.3)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, 5)
    assert bridge.stats.last_error and not bridge.ready.is_set()


CRASHING_EDGE = """
import asyncio, sys
from wattwerk.edge.mqtt_bridge import MqttBridge
from wattwerk.snapshot import SiteState
from wattwerk.model import utcnow

async def main():
    bridge = MqttBridge("crash", lambda: SiteState().snapshot(utcnow()), lambda cmd: None,
                        root=sys.argv[1], discovery_prefix=None)
    await bridge.run(asyncio.Event())

asyncio.run(main())
"""


@pytestmark_broker
async def test_the_last_will_says_offline_when_the_edge_dies() -> None:
    root = f"wattwerk-test/crash-{uuid.uuid4().hex[:10]}"
    listener = await Listener(f"{root}/status").start()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", CRASHING_EDGE, root)
    try:
        assert await listener.wait_for(f"{root}/status", payload=b"online", timeout=30) == b"online"
        proc.send_signal(signal.SIGKILL)  # no clean shutdown: only the broker can tell
        await proc.wait()
        assert await listener.wait_for(f"{root}/status", payload=b"offline") == b"offline"
        assert (await retained_now(f"{root}/status"))[f"{root}/status"] == b"offline"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await listener.stop()
        await _clear_retained(listener)
