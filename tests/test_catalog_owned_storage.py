"""Batteries and hybrid systems people own (issue 17), and heat meters, read through their catalogue
entries from peers that do NOT come from the entries: each device is a hand-written table of the raw
words (Modbus, ``owned_storage_tables.py``) or the JSON answers (HTTP, below) its documentation
describes, with example values, and the readings those stand for, worked out by hand in our units and
signs (W, battery + discharging, grid + import; Wh). Writes are checked as the raw words or the
requests the device receives. The Modbus harness is the one of ``test_catalog_owned.py``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from owned_harness import Example, check_modbus_example, check_sunspec
from owned_storage_tables import GEN24_NIGHT, GEN24_STORAGE, HEAT_METER_EXAMPLES, STORAGE_EXAMPLES
from wattwerk.devices.catalog import find, load_catalog
from wattwerk.devices.custom import HttpJsonDevice
from wattwerk.devices.factory import create_for
from wattwerk.devices.status import emulated, native
from wattwerk.sim.emulators.http_server import HttpServerEmulator

# every entry of these catalogue files needs an example below or in owned_storage_tables.py
FILES = {
    *(
        f"hybrid_battery_inverter/{v}.yaml"
        for v in (
            *("varta", "sonnen", "fenecon", "sofar", "mtec", "marstek", "sigenergy", "huawei", "foxess"),
            *("zendure", "sessy", "solinteg"),
        )
    ),
    "heat_meter/kamstrup.yaml",
}
EXAMPLES = [*STORAGE_EXAMPLES, *HEAT_METER_EXAMPLES]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.entry for e in EXAMPLES])
async def test_entry_reads_the_documented_example(example: Example) -> None:
    await check_modbus_example(example)


async def test_fronius_gen24_storage_reads_its_documented_chain_and_takes_a_setpoint() -> None:
    """The GEN24 Plus's float chain with storage (model 124): SoC by its scale factor, the battery
    setpoint as OutWRte/InWRte in % of WChaMax with both limits switched on."""
    await check_sunspec(GEN24_STORAGE, rel_tol=1e-6)  # float32 carries 7 digits


async def test_fronius_gen24_reads_no_pv_while_its_battery_discharges_at_night() -> None:
    """The GEN24's PV power is its two PV modules of model 160, not the AC power: at night the battery's
    1500 W (module 4) leave the AC side as 1450 W and the PV power stays 0."""
    await check_sunspec(GEN24_NIGHT, rel_tol=1e-6)


@dataclass
class JsonCase:
    """A device's documented JSON answers by path, the readings they stand for, and each command with
    the request (method, path, JSON body) the device must receive."""

    entry: str
    answers: dict[str, Any]
    readings: dict[str, float]
    writes: list[tuple[str, float, tuple[str, str, Any]]] = field(default_factory=list)


# sonnenBatterie GET :8080/api/v1/status while discharging into the house (consumption 1840 W =
# PV 320 W + battery 1200 W + grid 320 W); GridFeedIn_W is + feed-in, Pac_total_W + discharge
SONNEN_STATUS = {
    "Apparent_output": 1220,
    "BackupBuffer": "0",
    "BatteryCharging": False,
    "BatteryDischarging": True,
    "Consumption_W": 1840,
    "Fac": 50.01,
    "FlowConsumptionBattery": True,
    "GridFeedIn_W": -320,
    "IsSystemInstalled": 1,
    "OperatingMode": "2",
    "Pac_total_W": 1200,
    "Production_W": 320,
    "RSOC": 66,
    "RemainingCapacity_Wh": 6600,
    "SystemStatus": "OnGrid",
    "Timestamp": "2026-12-06 12:00:00",
    "USOC": 64,
    "Uac": 231,
    "Ubat": 209,
}


# Zendure SolarFlow 800 Pro GET /properties/report at noon: PV 812 W charges the pack with 640 W and
# feeds 150 W to the house (the rest is conversion loss)
ZENDURE_REPORT = {
    "timestamp": 1765022400,
    "messageId": 1093,
    "sn": "HOA1NAN9N000000",
    "version": 2,
    "product": "solarFlow800Pro",
    "properties": {
        "heatState": 0,
        "packInputPower": 0,
        "outputPackPower": 640,
        "outputHomePower": 150,
        "remainOutTime": 59940,
        "packState": 1,
        "packNum": 1,
        "electricLevel": 47,
        "gridInputPower": 0,
        "solarInputPower": 812,
        "solarPower1": 420,
        "solarPower2": 392,
        "acMode": 1,
        "inputLimit": 0,
        "outputLimit": 800,
        "socSet": 1000,
        "minSoc": 100,
    },
    "packData": [{"sn": "CO4HNMMEM000000", "packType": 300, "socLevel": 47, "state": 1, "power": 640}],
}
# Sessy GET /api/v1/power/status while charging 1200 W; state_of_charge is a fraction
SESSY_STATUS = {
    "status": "ok",
    "sessy": {
        "state_of_charge": 0.512,
        "power": -1200,
        "power_setpoint": -1200,
        "system_state": "SYSTEM_STATE_RUNNING_SAFE",
        "system_state_details": "",
        "frequency": 50012,
        "inverter_current_ma": 5210,
        "pack_voltage": 51200,
    },
    "renewable_energy_phase1": {"voltage_rms": 231000, "current_rms": 5200, "power": -1200},
    "renewable_energy_phase2": {"voltage_rms": 230000, "current_rms": 0, "power": 0},
    "renewable_energy_phase3": {"voltage_rms": 232000, "current_rms": 0, "power": 0},
}


def openems_channel(address: str, kind: str, unit: str, value: float) -> dict[str, Any]:
    """An OpenEMS REST answer for one channel (GET /rest/channel/<component>/<channel>)."""
    return {"address": address, "type": kind, "accessMode": "RO", "text": "", "unit": unit, "value": value}


FEMS = "/rest/channel/_sum/"
FEMS_ANSWERS = {
    f"{FEMS}EssSoc": openems_channel("_sum/EssSoc", "INTEGER", "%", 71),
    f"{FEMS}EssDischargePower": openems_channel("_sum/EssDischargePower", "INTEGER", "W", -1800),  # charging
    f"{FEMS}GridActivePower": openems_channel("_sum/GridActivePower", "INTEGER", "W", -1250),  # selling
    f"{FEMS}ProductionActivePower": openems_channel("_sum/ProductionActivePower", "INTEGER", "W", 4200),
    f"{FEMS}GridBuyActiveEnergy": openems_channel("_sum/GridBuyActiveEnergy", "LONG", "Wh", 1234567),
    f"{FEMS}GridSellActiveEnergy": openems_channel("_sum/GridSellActiveEnergy", "LONG", "Wh", 7654321),
}
SETPOINT = "/rest/channel/ess0/SetActivePowerEquals"

JSON_CASES = [
    JsonCase(
        "sonnen-batterie",
        {"/api/v1/status": SONNEN_STATUS},
        {"power": 1200.0, "soc": 64.0, "power_grid": 320.0, "power_pv": 320.0, "power_load": 1840.0},
    ),
    JsonCase(
        "zendure-solarflow",
        {"/properties/report": ZENDURE_REPORT},
        {"soc": 47.0, "power": -640.0, "power_pv": 812.0, "power_ac": 150.0},
    ),
    JsonCase("sessy-battery", {"/api/v1/power/status": SESSY_STATUS}, {"power": -1200.0, "soc": 51.2}),
    JsonCase(
        "fenecon-home-rest",
        FEMS_ANSWERS,
        {
            "soc": 71.0,
            "power": -1800.0,
            "power_grid": -1250.0,
            "power_pv": 4200.0,
            "energy_import": 1_234_567.0,
            "energy_export": 7_654_321.0,
        },
        [
            ("battery_setpoint", 2000.0, ("POST", SETPOINT, {"value": 2000})),  # discharge 2 kW
            ("battery_setpoint", -3500.0, ("POST", SETPOINT, {"value": -3500})),  # charge 3.5 kW
            ("battery_setpoint", 25000.0, ("POST", SETPOINT, {"value": 10000})),  # held at the maximum
        ],
    ),
]


class JsonPeer(HttpServerEmulator):
    """A device answering its documented JSON on GET and taking POSTed JSON, recording each request."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, str, Any]] = []
        self.content_types: list[str] = []  # of each request with a body

    def app(self) -> Starlette:
        async def answer(request: Request) -> JSONResponse:
            body = await request.body()
            self.requests.append((request.method, request.url.path, json.loads(body) if body else None))
            if body:
                self.content_types.append(request.headers.get("content-type", ""))
            if request.method == "GET":
                return JSONResponse(self.answers[request.url.path])
            return JSONResponse({"jsonrpc": "2.0", "result": {}})

        async def written(request: Request) -> JSONResponse:
            return await answer(request)

        routes = [Route(path, answer) for path in self.answers]
        routes.append(Route("/{rest:path}", written, methods=["POST", "PUT"]))
        return Starlette(routes=routes)


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
            assert {(m, p) for m, p, _ in peer.requests} == {("GET", p) for p in case.answers}
            for command, value, want in case.writes:
                peer.requests.clear()
                await device.command(command, value)
                assert peer.requests == [want], (command, value, peer.requests)
            assert peer.content_types == ["application/json"] * len(case.writes)  # a JSON body says so
        finally:
            await device.aclose()


def _key(item: Any) -> str:
    return f"{item.path.parent.name}/{item.path.name}"


def test_every_entry_of_these_files_has_an_example() -> None:
    mine = [i for i in load_catalog() if _key(i) in FILES or i.entry.id == GEN24_STORAGE.entry]
    modbus = {e.entry for e in EXAMPLES} | {GEN24_STORAGE.entry}
    assert {i.entry.id for i in emulated(mine)} == modbus
    assert {i.entry.id for i in native(mine)} == {c.entry for c in JSON_CASES}
    assert {i.entry.id for i in mine} == modbus | {c.entry for c in JSON_CASES}
