"""Meters and PV inverters people own (issue 17), read through their catalogue entries from peers that do
NOT come from the entries: each device is a hand-written table of the raw words (Modbus) or the JSON
answer (HTTP) its documentation describes, with example values, and the readings those stand for,
worked out by hand in our units and signs (W, + import / + producing; Wh). Float32 words are the
IEEE-754 encodings of the example values, high word first unless the device says otherwise.
A wrong address, type, word order, scale or sign in an entry fails here; ``test_catalog_entries.py``
(which builds its emulator from the entry) would agree with itself. The Modbus harness is the one of
``test_catalog_owned.py`` (chargers and batteries).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from owned_harness import Example, check_modbus_example, check_sunspec
from owned_meter_tables import METER_EXAMPLES, METER_SUNSPEC_EXAMPLES, SERIAL_DEFAULTS, SunSpecExample
from owned_pv_tables import PV_EXAMPLES, PV_SUNSPEC_EXAMPLES
from wattwerk.devices.catalog import find, load_catalog
from wattwerk.devices.custom import HttpJsonDevice, MqttJsonDevice
from wattwerk.devices.factory import create_for
from wattwerk.devices.status import emulated, native
from wattwerk.errors import InputLedger
from wattwerk.protocols.mqtt import MqttPublisher, MqttSettings, MqttSource
from wattwerk.sim.emulators.http_server import HttpServerEmulator

# the catalogue files of these meters and PV inverters: each entry needs an example (owned_meter_tables.py,
# owned_pv_tables.py, or a JSON/MQTT case below)
FILES = {
    *(
        f"electricity_meter/{v}.yaml"
        for v in (
            "orno",
            "inepro",
            "wago",
            "saia_burgess",
            "finder",
            "chint",
            "bg_etech",
            "kostal",
            "eastron",
            "abb",
            "janitza",
            "carlo_gavazzi",
            "siemens",
            "huawei",
        )
    ),
    *(
        f"pv_inverter/{v}.yaml"
        for v in (
            "growatt",
            "solis",
            "deye",
            "apsystems",
            "hoymiles",
            "kaco",
            "solax",
            "goodwe",
            "sungrow",
            "huawei",
        )
    ),
}
SHARED_FILES = {"electricity_meter/schneider_electric.yaml": {"schneider-iem3000"}}

EXAMPLES = [*METER_EXAMPLES, *PV_EXAMPLES]
SUNSPEC_EXAMPLES = [*METER_SUNSPEC_EXAMPLES, *PV_SUNSPEC_EXAMPLES]


def _key(item: Any) -> str:
    return f"{item.path.parent.name}/{item.path.name}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.entry for e in EXAMPLES])
async def test_entry_reads_the_documented_example(example: Example) -> None:
    await check_modbus_example(example)


@pytest.mark.parametrize("entry_id", sorted(SERIAL_DEFAULTS))
def test_serial_defaults_are_the_manuals(entry_id: str) -> None:
    entry = find(entry_id).entry
    assert (entry.connection.baudrate, entry.connection.parity) == SERIAL_DEFAULTS[entry_id]


@dataclass
class JsonCase:
    """A device's documented JSON answers by path, the readings they stand for, and each command with
    the request (path, query) the device must receive."""

    entry: str
    answers: dict[str, Any]
    readings: dict[str, float]
    writes: list[tuple[str, float, tuple[str, dict[str, str]]]] = field(default_factory=list)


# APsystems EZ1 local API, GET :8050/getOutputData (p in W, e today and te lifetime in kWh, per input)
EZ1_OUTPUT = {
    "data": {"p1": 139.5, "e1": 0.48, "te1": 101.25, "p2": 65.0, "e2": 0.21, "te2": 87.5},
    "message": "SUCCESS",
    "deviceId": "E07000000001",
}
# OpenDTU /api/livedata/status (trimmed to one inverter; totals over all inverters)
OPENDTU_STATUS = {
    "inverters": [{"serial": "114190641177", "name": "HM-800", "reachable": True, "producing": True}],
    "total": {
        "Power": {"v": 612.3, "u": "W", "d": 1},
        "YieldDay": {"v": 2160, "u": "Wh", "d": 0},
        "YieldTotal": {"v": 1338.215, "u": "kWh", "d": 3},
    },
    "hints": {"time_sync": False, "radio_problem": False, "default_password": False},
}
# AhoyDTU /api/inverter/id/0: ch[0] = [U_AC, I_AC, P_AC, F_AC, PF_AC, Temp, YieldTotal kWh, YieldDay Wh, ...]
AHOY_INVERTER = {
    "id": 0,
    "name": "HM-600",
    "ch": [
        [231.4, 1.62, 374.8, 50.01, 1.0, 38.2, 812.764, 1934, 392.1, 95.58, 0.0, 600],
        [31.2, 6.3, 196.6, 412.0, 601.2, 41.0],
        [30.9, 6.3, 195.5, 400.7, 609.0, 40.8],
    ],
}

JSON_CASES = [
    JsonCase(
        "apsystems-ez1",
        {"/getOutputData": EZ1_OUTPUT, "/setMaxPower": {"data": {"maxPower": "600"}, "message": "SUCCESS"}},
        {"power": 204.5, "energy": 188_750.0, "power_pv1": 139.5, "power_pv2": 65.0},
        [("power_limit", 600.0, ("/setMaxPower", {"p": "600"}))],
    ),
    JsonCase(
        "hoymiles-opendtu", {"/api/livedata/status": OPENDTU_STATUS}, {"power": 612.3, "energy": 1_338_215.0}
    ),
    JsonCase(
        "hoymiles-ahoydtu",
        {"/api/inverter/id/0": AHOY_INVERTER},
        {"power": 374.8, "energy": 812_764.0, "temperature": 38.2},
    ),
]


class JsonPeer(HttpServerEmulator):
    """A device answering its documented JSON on GET and recording each request's path and query."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, dict[str, str]]] = []

    def app(self) -> Starlette:
        async def answer(request: Request) -> JSONResponse:
            self.requests.append((request.url.path, dict(request.query_params)))
            return JSONResponse(self.answers[request.url.path])

        return Starlette(routes=[Route(path, answer) for path in self.answers])


@pytest.mark.parametrize("case", JSON_CASES, ids=[c.entry for c in JSON_CASES])
async def test_json_entry_reads_the_documented_answer_and_sends_its_commands(case: JsonCase) -> None:
    entry = find(case.entry).entry
    async with JsonPeer(case.answers) as peer:
        device = create_for(entry, host="127.0.0.1", port=peer.port, device_id="dev", timeout=2.0)
        assert isinstance(device, HttpJsonDevice)
        try:
            readings = {r.channel.split(".", 1)[1]: r.value for r in await device.read()}
            assert device.ledger.total() == 0, device.ledger.counts
            assert set(readings) == set(case.readings), readings
            for name, want in case.readings.items():
                assert math.isclose(readings[name], want, rel_tol=1e-9, abs_tol=1e-9), (name, readings[name])
            assert {p for p, _ in peer.requests} <= {p for p in case.answers}
            for command, value, want in case.writes:
                peer.requests.clear()
                await device.command(command, value)
                assert peer.requests == [want], (command, value, peer.requests)
        finally:
            await device.aclose()


async def test_ez1_with_one_input_missing_publishes_no_partial_sum() -> None:
    """power = p1 + p2: when the answer lacks p2 the sum is dropped (a field error), never p1 alone."""
    entry = find("apsystems-ez1").entry
    answer = {"data": {k: v for k, v in EZ1_OUTPUT["data"].items() if k != "p2"}, "message": "SUCCESS"}
    async with JsonPeer({"/getOutputData": answer}) as peer:
        device = create_for(entry, host="127.0.0.1", port=peer.port, device_id="dev", timeout=2.0)
        try:
            readings = {r.channel.split(".", 1)[1]: r.value for r in await device.read()}
        finally:
            await device.aclose()
    assert "power" not in readings and "power_pv2" not in readings
    assert readings["power_pv1"] == 139.5 and readings["energy"] == 188_750.0
    assert device.ledger.total() == 2, device.ledger.counts  # p2 missing, once for each value naming it


@dataclass
class MqttCase:
    """A device's documented MQTT messages (topic under its base, payload), the readings they stand for,
    and each command with the message (topic under the base, payload) the device must receive."""

    entry: str
    published: dict[str, str]
    readings: dict[str, float]
    writes: list[tuple[str, float, tuple[str, str]]] = field(default_factory=list)


MQTT_CASES = [
    MqttCase(
        "hoymiles-opendtu-mqtt",
        {  # as OpenDTU publishes them for an HM-800 (plain text numbers)
            "0/power": "612.3",
            "0/yieldtotal": "13.338",
            "0/temperature": "38.9",
            "0/voltage": "231.20",
            "0/frequency": "50.01",
            "status/limit_absolute": "600.00",
            "0/yieldday": "216",
            "1/power": "301.2",
        },
        {
            "power": 612.3,
            "energy": 13_338.0,
            "temperature": 38.9,
            "voltage": 231.2,
            "frequency": 50.01,
            "limit": 600.0,
        },
        [
            ("power_limit", 350.0, ("cmd/limit_nonpersistent_absolute", "350")),
            ("power_limit", 2500.0, ("cmd/limit_nonpersistent_absolute", "2000")),
        ],
    )
]
TEMPLATED = {c.entry for c in JSON_CASES} | {c.entry for c in MQTT_CASES}


async def _collect(source: MqttSource, into: list[tuple[str, str]]) -> None:
    async for payload in source:
        topic, _, value = payload.partition(b"\0")
        into.append((topic.decode(), value.decode()))


@pytest.mark.mqtt
@pytest.mark.parametrize("case", MQTT_CASES, ids=[c.entry for c in MQTT_CASES])
async def test_mqtt_entry_reads_the_documented_messages_and_publishes_its_commands(case: MqttCase) -> None:
    entry = find(case.entry).entry
    root = f"wattwerk-test/{case.entry}-{uuid.uuid4().hex[:10]}"
    sent: list[tuple[str, str]] = []
    commands = MqttSource(f"{root}/cmd/#", with_topic=True)
    task = asyncio.create_task(_collect(commands, sent))
    device = MqttJsonDevice(entry, MqttSettings(), base_topic=root, device_id="dev", ledger=InputLedger())
    try:
        await asyncio.wait_for(commands.subscribed.wait(), 10)
        got: dict[str, float] = {}
        async with MqttPublisher() as pub:
            for _ in range(100):  # until the device's subscriptions have taken every message
                for sub, payload in case.published.items():
                    await pub.publish(f"{root}/{sub}", payload)
                await asyncio.sleep(0.1)
                got = await device.values()
                if len(got) == len(case.readings):
                    break
        assert device.ledger.total() == 0, device.ledger.counts
        assert set(got) == set(case.readings), got
        for name, want in case.readings.items():
            assert math.isclose(got[name], want, rel_tol=1e-12), (name, got[name], want)
        for command, value, _ in case.writes:
            await device.command(command, value)
        expected = [(f"{root}/{sub}", payload) for _, _, (sub, payload) in case.writes]
        for _ in range(50):
            if len(sent) >= len(expected):
                break
            await asyncio.sleep(0.1)
        assert sent == expected
    finally:
        commands.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await device.aclose()


@pytest.mark.parametrize("example", SUNSPEC_EXAMPLES, ids=[e.entry for e in SUNSPEC_EXAMPLES])
async def test_sunspec_entry_reads_its_documented_chain(example: SunSpecExample) -> None:
    await check_sunspec(example)


def test_every_entry_of_these_files_has_an_example() -> None:
    items = load_catalog()
    mine = [i for i in items if _key(i) in FILES]
    mine += [i for i in items if i.entry.id in SHARED_FILES.get(_key(i), set())]
    modbus = {i.entry.id for i in emulated(mine)}
    templated = {i.entry.id for i in native(mine)}
    assert modbus == {e.entry for e in EXAMPLES} | {e.entry for e in SUNSPEC_EXAMPLES}
    assert templated == TEMPLATED
    assert {i.entry.id for i in mine} == modbus | templated  # nothing untested hides in these files
