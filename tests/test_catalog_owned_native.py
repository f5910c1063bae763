"""The owned devices with a JSON interface of their own (issue 17), read and commanded through their
catalogue entries against peers that do NOT come from the entries: each peer answers with a
hand-written copy of the answer the vendor (or a public capture) documents, and records the
requests as the device would receive them. A wrong JSON path, scale or command encoding in an entry
fails here. HTTP peers are starlette apps on loopback; openWB talks over the real Mosquitto.

These packaged template entries (``native: http_json`` / ``mqtt_json``) are what make them
``tested``; ``test_devices_native.py`` covers the other native protocols.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import math
import uuid
from typing import Any
from urllib.parse import parse_qs

import pytest
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from test_catalog_owned_chargers_heat import TEMPLATED as CHARGER_HEAT_TEMPLATED
from test_catalog_owned_meters_pv import TEMPLATED as METER_PV_TEMPLATED
from test_catalog_owned_storage import JSON_CASES as STORAGE_JSON_CASES
from wattwerk.devices.catalog import find, load_catalog
from wattwerk.devices.custom import HttpJsonDevice, MqttJsonDevice
from wattwerk.devices.factory import create_for
from wattwerk.devices.status import native
from wattwerk.errors import InputLedger, PermanentError
from wattwerk.protocols.mqtt import MqttPublisher, MqttSettings, MqttSource
from wattwerk.sim.emulators.http_server import HttpServerEmulator

TEMPLATED = ("http_json", "mqtt_json", "wattpilot_ws")
# the entries read below from their vendors' documented answers (owned_harness.py's guard counts them)
PACKAGED = {
    "go-e-http-v2",
    "tesla-wall-connector-3",
    "openwb-1-9-isss",
    "easee-cloud",
    "zaptec-cloud",
    "sma-ev-charger",
    "fronius-wattpilot",
}

# go-eCharger API v2, GET /api/status (keys as documented; nrg: U L1-L3, N in V, I L1-L3 in A, P L1-L3, N,
# total in W, power factors in %)
GO_E_STATUS: dict[str, Any] = {
    "car": 2,
    "amp": 16,
    "alw": True,
    "frc": 0,
    "psm": 2,
    "eto": 1_988_123,
    "nrg": [231, 229, 232, 0, 16.0, 15.9, 16.1, 3690, 3640, 3740, 0, 11070, 99, 99, 99, 0],
}
GO_E_READINGS = {
    "power": 11070.0,
    "voltage_l1": 231.0,
    "voltage_l2": 229.0,
    "voltage_l3": 232.0,
    "current_l1": 16.0,
    "current_l2": 15.9,
    "current_l3": 16.1,
    "energy": 1_988_123.0,
    "state": 2.0,
    "current_limit": 16.0,
}

# Tesla Wall Connector Gen 3, GET /api/1/vitals and /api/1/lifetime (fields as in the public captures)
TESLA_VITALS: dict[str, Any] = {
    "contactor_closed": True,
    "vehicle_connected": True,
    "session_s": 5123,
    "grid_v": 232.0,
    "grid_hz": 50.02,
    "vehicle_current_a": 15.9,
    "currentA_a": 15.9,
    "currentB_a": 16.0,
    "currentC_a": 15.8,
    "currentN_a": 0.3,
    "voltageA_v": 231.2,
    "voltageB_v": 232.4,
    "voltageC_v": 230.9,
    "relay_coil_v": 11.9,
    "pcba_temp_c": 39.2,
    "handle_temp_c": 28.1,
    "mcu_temp_c": 44.0,
    "uptime_s": 831580,
    "input_thermopile_uv": -233,
    "prox_v": 0.0,
    "pilot_high_v": 8.9,
    "pilot_low_v": -11.9,
    "session_energy_wh": 22864.699,
    "config_status": 5,
    "evse_state": 11,
    "current_alerts": [],
}
TESLA_LIFETIME: dict[str, Any] = {
    "contactor_cycles": 1042,
    "contactor_cycles_loaded": 3,
    "alert_count": 17,
    "thermal_foldbacks": 0,
    "avg_startup_temp": 26.5,
    "charge_starts": 1042,
    "energy_wh": 3_456_789,
    "connector_cycles": 512,
    "uptime_s": 9_812_345,
    "charging_time_s": 2_345_678,
}
TESLA_READINGS = {
    "voltage": 232.0,
    "frequency": 50.02,
    "current_l1": 15.9,
    "current_l2": 16.0,
    "current_l3": 15.8,
    "energy": 3_456_789.0,
}


# Easee cloud, GET /api/chargers/{id}/state (field names and units as the API reference documents them)
EASEE_STATE: dict[str, Any] = {
    "smartCharging": False,
    "cableLocked": True,
    "chargerOpMode": 3,
    "totalPower": 11.04,
    "sessionEnergy": 4.2,
    "energyPerHour": 0.0,
    "wiFiRSSI": -61,
    "cellRSSI": None,
    "localRSSI": None,
    "outputPhase": 30,
    "dynamicCircuitCurrentP1": 32.0,
    "dynamicCircuitCurrentP2": 32.0,
    "dynamicCircuitCurrentP3": 32.0,
    "latestPulse": "2026-01-05T11:59:00Z",
    "chargerFirmware": 302,
    "voltage": 231.4,
    "chargerRAT": 1,
    "lockCablePermanently": False,
    "inCurrentT2": 0.0,
    "inCurrentT3": 16.02,
    "inCurrentT4": 15.98,
    "inCurrentT5": 16.1,
    "outputCurrent": 16.0,
    "isOnline": True,
    "inVoltageT1T2": 0.0,
    "inVoltageT1T3": 231.4,
    "ledMode": 18,
    "cableRating": 32.0,
    "dynamicChargerCurrent": 16.0,
    "reasonForNoCurrent": 0,
    "lifetimeEnergy": 4321.654,
    "phaseMode": 2,
}
EASEE_READINGS = {
    "power": 11_040.0,
    "energy": 4_321_654.0,
    "current_limit": 16.0,
    "state": 3.0,
    "voltage": 231.4,
    "current_l1": 16.02,
    "current_l2": 15.98,
    "current_l3": 16.1,
}


class Easee(HttpServerEmulator):
    """The Easee cloud for one charger: login hands out tokens, the API wants the latest one."""

    def __init__(self, charger: str = "EH123456") -> None:
        self.charger = charger
        self.state = dict(EASEE_STATE)
        self.logins: list[dict[str, Any]] = []
        self.settings: list[dict[str, Any]] = []
        self.token = ""

    def _authorized(self, request: Request) -> bool:
        return bool(self.token) and request.headers.get("authorization") == f"Bearer {self.token}"

    def app(self) -> Starlette:
        async def login(request: Request) -> JSONResponse:
            body = await request.json()
            self.logins.append(body)
            if body != {"userName": "owner", "password": "s3cret"}:
                return JSONResponse({"title": "invalid credentials"}, status_code=401)
            self.token = f"token-{len(self.logins)}"
            return JSONResponse(
                {"accessToken": self.token, "expiresIn": 86400, "tokenType": "Bearer", "refreshToken": "r"}
            )

        async def state(request: Request) -> JSONResponse:
            if not self._authorized(request):
                return JSONResponse({}, status_code=401)
            return JSONResponse(self.state)

        async def settings(request: Request) -> JSONResponse:
            if not self._authorized(request):
                return JSONResponse({}, status_code=401)
            body = await request.json()
            self.settings.append(body)
            self.state |= body
            return JSONResponse([{"commandId": 48, "ticks": 1}], status_code=202)

        base = f"/api/chargers/{self.charger}"
        return Starlette(
            routes=[
                Route("/api/accounts/login", login, methods=["POST"]),
                Route(f"{base}/state", state),
                Route(f"{base}/settings", settings, methods=["POST"]),
            ]
        )


# Zaptec cloud, GET /api/chargers/{id}/state: observations with the value as a string
ZAPTEC_STATE: list[dict[str, Any]] = [
    {
        "ChargerId": "c0ffee00-0000-4000-8000-000000000001",
        "StateId": sid,
        "Timestamp": "2026-01-05T11:59:30.01",
        "ValueAsString": value,
    }
    for sid, value in [
        (-2, "1"),
        (150, "1"),
        (270, "33.5"),
        (501, "230.91"),
        (502, "231.40"),
        (503, "229.87"),
        (507, "15.894"),
        (508, "16.012"),
        (509, "15.977"),
        (510, "16"),
        (512, "3"),
        (513, "11031.62"),
        (553, "7.412"),
        (708, "16"),
        (710, "3"),
        (711, "1"),
        (554, 'OCMF|{"FV":"1.0"}'),
    ]
]
ZAPTEC_READINGS = {
    "power": 11031.62,
    "voltage_l1": 230.91,
    "voltage_l2": 231.40,
    "voltage_l3": 229.87,
    "current_l1": 15.894,
    "current_l2": 16.012,
    "current_l3": 15.977,
    "state": 3.0,
}


class Zaptec(HttpServerEmulator):
    """The Zaptec cloud for one charger: an OAuth2 password grant, then the charger's routes."""

    charger = "c0ffee00-0000-4000-8000-000000000001"

    def __init__(self) -> None:
        self.forms: list[dict[str, str]] = []
        self.updates: list[dict[str, Any]] = []
        self.commands: list[int] = []

    def app(self) -> Starlette:
        def authorized(request: Request) -> bool:
            return request.headers.get("authorization") == "Bearer zap-token"

        async def token(request: Request) -> JSONResponse:
            form = parse_qs((await request.body()).decode(), strict_parsing=True)
            self.forms.append({k: v[0] for k, v in form.items()})
            return JSONResponse({"access_token": "zap-token", "token_type": "bearer", "expires_in": 86399})

        async def state(request: Request) -> JSONResponse:
            return JSONResponse(
                ZAPTEC_STATE if authorized(request) else {}, status_code=200 if authorized(request) else 401
            )

        async def update(request: Request) -> JSONResponse:
            self.updates.append(await request.json())
            return JSONResponse({}, status_code=200 if authorized(request) else 401)

        async def command(request: Request) -> JSONResponse:
            self.commands.append(int(request.path_params["cmd"]))
            return JSONResponse({}, status_code=200 if authorized(request) else 401)

        base = f"/api/chargers/{self.charger}"
        return Starlette(
            routes=[
                Route("/oauth/token", token, methods=["POST"]),
                Route(f"{base}/state", state),
                Route(f"{base}/update", update, methods=["POST"]),
                Route(base + "/sendCommand/{cmd:int}", command, methods=["POST"]),
            ]
        )


# SMA EV Charger, POST /api/v1/measurements/live: a list of channels, each with its latest value
SMA_LIVE: list[dict[str, Any]] = [
    {
        "channelId": cid,
        "componentId": "IGULD:SELF",
        "values": [{"time": "2026-01-05T12:00:00.000Z", "value": v}],
    }
    for cid, v in [
        ("Measurement.ChaSess.WhIn", 5120.0),
        ("Measurement.GridMs.A.phsA", 10.02),
        ("Measurement.GridMs.A.phsB", 9.98),
        ("Measurement.GridMs.A.phsC", 10.05),
        ("Measurement.GridMs.PhV.phsA", 231.2),
        ("Measurement.Metering.GridMs.TotWIn.ChaSta", 6912.0),
        ("Measurement.Metering.GridMs.TotWhIn.ChaSta", 2_345_678.0),
        ("Measurement.Operation.EVeh.ChaStt", 200113.0),
        ("Measurement.Chrg.ModSw", 4950.0),
    ]
]
SMA_READINGS = {
    "power": 6912.0,
    "energy": 2_345_678.0,
    "current_l1": 10.02,
    "current_l2": 9.98,
    "current_l3": 10.05,
}


class SmaEvCharger(HttpServerEmulator):
    def __init__(self) -> None:
        self.forms: list[dict[str, str]] = []
        self.reads: list[Any] = []
        self.values: list[dict[str, str]] = []

    def app(self) -> Starlette:
        def authorized(request: Request) -> bool:
            return request.headers.get("authorization") == "Bearer sma-token"

        async def token(request: Request) -> JSONResponse:
            form = parse_qs((await request.body()).decode(), strict_parsing=True)
            self.forms.append({k: v[0] for k, v in form.items()})
            return JSONResponse(
                {
                    "access_token": "sma-token",
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "refresh_token": "r",
                }
            )

        async def live(request: Request) -> JSONResponse:
            if not authorized(request):
                return JSONResponse({}, status_code=401)
            self.reads.append(await request.json())
            return JSONResponse(SMA_LIVE)

        async def parameters(request: Request) -> JSONResponse:
            if not authorized(request):
                return JSONResponse({}, status_code=401)
            self.values += (await request.json())["values"]
            return JSONResponse({}, status_code=204)

        return Starlette(
            routes=[
                Route("/api/v1/token", token, methods=["POST"]),
                Route("/api/v1/measurements/live", live, methods=["POST"]),
                Route("/api/v1/parameters/IGULD:SELF/", parameters, methods=["PUT"]),
            ]
        )


class GoE(HttpServerEmulator):
    """A go-eCharger's API v2: the documented status, and /api/set changing it as the charger does."""

    def __init__(self) -> None:
        self.status = {k: (list(v) if isinstance(v, list) else v) for k, v in GO_E_STATUS.items()}
        self.sets: list[dict[str, str]] = []

    def app(self) -> Starlette:
        async def status(request: Request) -> JSONResponse:
            return JSONResponse(self.status)

        async def set_(request: Request) -> JSONResponse:
            query = dict(request.query_params)
            self.sets.append(query)
            self.status |= {k: int(v) for k, v in query.items()}
            return JSONResponse({k: True for k in query})

        return Starlette(routes=[Route("/api/status", status), Route("/api/set", set_)])


class TeslaWallConnector(HttpServerEmulator):
    def __init__(self) -> None:
        self.requests: list[str] = []

    def app(self) -> Starlette:
        async def answer(request: Request) -> JSONResponse:
            self.requests.append(request.url.path)
            return JSONResponse(TESLA_VITALS if request.url.path.endswith("vitals") else TESLA_LIFETIME)

        return Starlette(routes=[Route("/api/1/vitals", answer), Route("/api/1/lifetime", answer)])


def _close(got: dict[str, float], want: dict[str, float]) -> None:
    assert set(got) == set(want), got
    for name, value in want.items():
        assert math.isclose(got[name], value, abs_tol=1e-9), (name, got[name], value)


def test_every_packaged_template_entry_is_covered_here() -> None:
    items = [i for i in native(load_catalog()) if i.entry.native in TEMPLATED and i.origin == "packaged"]
    # the meters' and PV inverters' JSON entries: test_catalog_owned_meters_pv.py; the chargers' of
    # test_catalog_owned_chargers_heat.py and the batteries' of test_catalog_owned_storage.py there
    elsewhere = METER_PV_TEMPLATED | CHARGER_HEAT_TEMPLATED | {c.entry for c in STORAGE_JSON_CASES}
    templated = {i.entry.id for i in items if i.entry.id not in elsewhere}
    assert templated == PACKAGED


async def test_go_e_http_v2_reads_the_documented_status_and_sets_amp_frc_psm() -> None:
    entry = find("go-e-http-v2").entry
    async with GoE() as charger:
        device = create_for(entry, host="127.0.0.1", port=charger.port, device_id="dev", timeout=2.0)
        assert isinstance(device, HttpJsonDevice)
        try:
            _close({r.channel.split(".", 1)[1]: r.value for r in await device.read()}, GO_E_READINGS)
            assert device.ledger.total() == 0, device.ledger.counts
            await device.set_current_limit(10.0)
            await device.enable(False)
            await device.enable(True)
            await device.command("phases", 1.0)
            await device.command("phases", 3.0)
            assert charger.sets == [{"amp": "10"}, {"frc": "1"}, {"frc": "2"}, {"psm": "1"}, {"psm": "2"}]
            readings = {r.channel: r.value for r in await device.read()}
            assert readings["dev.current_limit"] == 10.0  # the charger took it
            with pytest.raises(PermanentError, match=r"phases 2 not one of \[1, 3\]"):
                await device.command("phases", 2.0)
            assert len(charger.sets) == 5  # nothing sent
        finally:
            await device.aclose()


async def test_tesla_wall_connector_reads_vitals_and_lifetime_and_takes_no_command() -> None:
    entry = find("tesla-wall-connector-3").entry
    async with TeslaWallConnector() as box:
        device = create_for(entry, host="127.0.0.1", port=box.port, device_id="dev", timeout=2.0)
        try:
            _close({r.channel.split(".", 1)[1]: r.value for r in await device.read()}, TESLA_READINGS)
            assert device.ledger.total() == 0, device.ledger.counts
            with pytest.raises(PermanentError, match="has no current_limit write"):
                await device.set_current_limit(10.0)
            assert set(box.requests) == {"/api/1/vitals", "/api/1/lifetime"}  # GETs only
        finally:
            await device.aclose()


async def _collect(source: MqttSource, into: list[tuple[str, str]]) -> None:
    async for payload in source:
        topic, _, value = payload.partition(b"\0")
        into.append((topic.decode(), value.decode()))


async def test_easee_cloud_logs_in_reads_the_state_and_sends_settings() -> None:
    entry = find("easee-cloud").entry
    async with Easee() as cloud:
        url = f"http://owner:s3cret@127.0.0.1:{cloud.port}/api/chargers/EH123456"
        device = create_for(entry, host=url, device_id="dev", timeout=2.0)
        try:
            _close({r.channel.split(".", 1)[1]: r.value for r in await device.read()}, EASEE_READINGS)
            assert device.ledger.total() == 0, device.ledger.counts
            assert cloud.logins == [{"userName": "owner", "password": "s3cret"}]
            await device.set_current_limit(10.0)
            cloud.token = "revoked"  # the token expired: 401, one new login, the command goes through
            await device.enable(False)
            await device.enable(True)
            await device.command("phases", 1.0)
            assert cloud.settings == [
                {"dynamicChargerCurrent": 10},
                {"dynamicChargerCurrent": 0},
                {"dynamicChargerCurrent": 6},
                {"phaseMode": 1},
            ]
            assert len(cloud.logins) == 2
            readings = {r.channel: r.value for r in await device.read()}
            assert readings["dev.current_limit"] == 6.0
        finally:
            await device.aclose()


async def test_easee_cloud_needs_credentials_and_says_so() -> None:
    entry = find("easee-cloud").entry
    with pytest.raises(PermanentError, match="put user:password in the url"):
        create_for(entry, host="https://api.easee.com/api/chargers/EH1", device_id="dev")
    async with Easee() as cloud:
        url = f"http://owner:wrong@127.0.0.1:{cloud.port}/api/chargers/EH123456"
        device = create_for(entry, host=url, device_id="dev", timeout=2.0)
        try:
            with pytest.raises(PermanentError, match="accounts/login: HTTP 401"):
                await device.fetch()
            assert len(cloud.logins) == 2 and not cloud.settings  # tried once more, then gave up
        finally:
            await device.aclose()


async def test_zaptec_cloud_reads_the_observations_and_sends_update_and_commands() -> None:
    entry = find("zaptec-cloud").entry
    async with Zaptec() as cloud:
        url = f"http://owner%40example.com:p%26ss@127.0.0.1:{cloud.port}/api/chargers/{cloud.charger}"
        device = create_for(entry, host=url, device_id="dev", timeout=2.0)
        try:
            _close({r.channel.split(".", 1)[1]: r.value for r in await device.read()}, ZAPTEC_READINGS)
            assert device.ledger.total() == 0, device.ledger.counts
            assert cloud.forms == [
                {"grant_type": "password", "username": "owner@example.com", "password": "p&ss"}
            ]  # decoded from the url, encoded in the form
            await device.set_current_limit(10.0)
            await device.enable(False)
            await device.enable(True)
            assert cloud.updates == [{"maxChargeCurrent": 10}]
            assert cloud.commands == [506, 507]
        finally:
            await device.aclose()


async def test_sma_ev_charger_reads_live_channels_and_writes_parameters() -> None:
    entry = find("sma-ev-charger").entry
    async with SmaEvCharger() as charger:
        device = create_for(
            entry, host=f"http://admin:pw@127.0.0.1:{charger.port}/api/v1", device_id="dev", timeout=2.0
        )
        try:
            _close({r.channel.split(".", 1)[1]: r.value for r in await device.read()}, SMA_READINGS)
            assert device.ledger.total() == 0, device.ledger.counts
            assert charger.forms == [{"grant_type": "password", "username": "admin", "password": "pw"}]
            assert charger.reads == [[{"componentId": "IGULD:SELF"}]]
            await device.set_current_limit(16.0)
            await device.enable(False)
            await device.enable(True)
            assert [(v["channelId"], v["value"]) for v in charger.values] == [
                ("Parameter.Inverter.AcALim", "16"),
                ("Parameter.Chrg.ActChaMod", "4721"),
                ("Parameter.Chrg.ActChaMod", "4718"),
            ]
            assert all(v["timestamp"].endswith(".000Z") for v in charger.values)
        finally:
            await device.aclose()


@pytest.mark.mqtt
async def test_openwb_reads_its_topics_and_gets_setpoints_and_heartbeat() -> None:
    """openWB 1.9 publishes plain numbers (W, kWh, A) on openWB/lp/1/...; an external controller sends
    openWB/set/isss/Current, U1p3p and a heartbeat."""
    entry = find("openwb-1-9-isss").entry
    root = f"wattwerk-test/openwb-{uuid.uuid4().hex[:10]}"
    sent: list[tuple[str, str]] = []
    setters = MqttSource(f"{root}/set/isss/#", with_topic=True)
    task = asyncio.create_task(_collect(setters, sent))
    device = MqttJsonDevice(entry, MqttSettings(), base_topic=root, device_id="dev", ledger=InputLedger())
    try:
        await asyncio.wait_for(setters.subscribed.wait(), 10)
        published = {
            "lp/1/W": "11040",
            "lp/1/kWhCounter": "1234.567",
            "lp/1/APhase1": "16.02",
            "lp/1/APhase2": "15.98",
            "lp/1/APhase3": "16.05",
        }
        want = {
            "power": 11040.0,
            "energy": 1_234_567.0,
            "current_l1": 16.02,
            "current_l2": 15.98,
            "current_l3": 16.05,
        }
        got: dict[str, float] = {}
        async with MqttPublisher() as pub:
            for _ in range(100):
                for sub, payload in published.items():
                    await pub.publish(f"{root}/{sub}", payload)
                await asyncio.sleep(0.1)
                got = await device.values()
                if len(got) == len(want):
                    break
        assert set(got) == set(want), got
        for name, value in want.items():
            assert math.isclose(got[name], value, rel_tol=1e-12), (name, got[name], value)
        await device.set_current_limit(10.0)
        await device.enable(False)
        await device.enable(True)
        await device.command("phases", 1.0)
        await device.command("phases", 3.0)
        expected = [
            (f"{root}/set/isss/heartbeat", "1"),
            (f"{root}/set/isss/Current", "10"),
            (f"{root}/set/isss/Current", "0"),
            (f"{root}/set/isss/Current", "6"),
            (f"{root}/set/isss/U1p3p", "1"),
            (f"{root}/set/isss/U1p3p", "3"),
        ]
        for _ in range(50):
            if len(sent) >= len(expected):
                break
            await asyncio.sleep(0.1)
        assert sent == expected
    finally:
        setters.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await device.aclose()
        async with MqttPublisher() as pub:  # no retained heartbeat left behind on the shared broker
            await pub.publish(f"{root}/set/isss/heartbeat", "", retain=True)


# Fronius Wattpilot: the websocket conversation as the charger holds it (hello, authRequired, then the
# status); the expected hash and HMAC are computed here from the protocol, not by the driver's code
WATTPILOT_SERIAL = "91234567"
WATTPILOT_PASSWORD = "wattpilot-pw"
WATTPILOT_STATUS: dict[str, Any] = {
    "car": 2,
    "alw": True,
    "amp": 16,
    "frc": 0,
    "psm": 2,
    "eto": 2_345_678,
    "wh": 4321.5,
    "nrg": [231, 230, 229, 0, 15.9, 16.0, 16.1, 3670, 3680, 3690, 0, 11040, 99, 99, 99, 0],
}
WATTPILOT_READINGS = {
    "power": 11040.0,
    "voltage_l1": 231.0,
    "voltage_l2": 230.0,
    "voltage_l3": 229.0,
    "current_l1": 15.9,
    "current_l2": 16.0,
    "current_l3": 16.1,
    "energy": 2_345_678.0,
    "current_limit": 16.0,
    "state": 2.0,
}


class Wattpilot:
    """A Wattpilot on loopback (websockets): checks the auth hash and each secured message's HMAC."""

    def __init__(self, password: str = WATTPILOT_PASSWORD) -> None:
        raw = hashlib.pbkdf2_hmac("sha512", password.encode(), WATTPILOT_SERIAL.encode(), 100_000, 256)
        self.key = base64.b64encode(raw).decode()[:32]
        self.status = dict(WATTPILOT_STATUS)
        self.set_values: list[tuple[str, Any]] = []
        self.bad: list[str] = []

    async def handler(self, ws: Any) -> None:
        await ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "serial": WATTPILOT_SERIAL,
                    "hostname": "Wattpilot_91234567",
                    "friendly_name": "Garage",
                    "manufacturer": "fronius",
                    "devicetype": "wattpilot",
                    "version": "40.7",
                    "protocol": 2,
                    "secured": True,
                }
            )
        )
        await ws.send(
            json.dumps({"type": "authRequired", "token1": "a1b2c3d4e5f60718", "token2": "0f1e2d3c4b5a6978"})
        )
        auth = json.loads(await ws.recv())
        inner = hashlib.sha256(("a1b2c3d4e5f60718" + self.key).encode()).hexdigest()
        want = hashlib.sha256((auth["token3"] + "0f1e2d3c4b5a6978" + inner).encode()).hexdigest()
        if auth.get("type") != "auth" or auth.get("hash") != want:
            await ws.send(
                json.dumps({"type": "authError", "token1": "x", "token2": "y", "message": "Wrong password"})
            )
            return
        await ws.send(json.dumps({"type": "authSuccess", "token1": "x", "token2": "y"}))
        await ws.send(json.dumps({"type": "fullStatus", "partial": False, "status": self.status}))
        async for text in ws:
            msg = json.loads(text)
            mac = hmac.new(self.key.encode(), msg.get("data", "").encode(), hashlib.sha256).hexdigest()
            if msg.get("type") != "securedMsg" or msg.get("hmac") != mac:
                self.bad.append(text)
                continue
            inner_msg = json.loads(msg["data"])
            self.set_values.append((inner_msg["key"], inner_msg["value"]))
            self.status[inner_msg["key"]] = inner_msg["value"]
            await ws.send(
                json.dumps(
                    {
                        "type": "response",
                        "requestId": msg["requestId"],
                        "success": True,
                        "status": {inner_msg["key"]: inner_msg["value"]},
                    }
                )
            )
            delta = {inner_msg["key"]: inner_msg["value"]}
            await ws.send(json.dumps({"type": "deltaStatus", "status": delta}))


async def test_wattpilot_authenticates_reads_the_status_and_sends_secured_values() -> None:
    entry = find("fronius-wattpilot").entry
    peer = Wattpilot()
    async with websockets.serve(peer.handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        device = create_for(
            entry, host=f"ws://:{WATTPILOT_PASSWORD}@127.0.0.1:{port}", device_id="dev", timeout=10.0
        )
        try:
            _close({r.channel.split(".", 1)[1]: r.value for r in await device.read()}, WATTPILOT_READINGS)
            assert device.ledger.total() == 0, device.ledger.counts
            await device.set_current_limit(10.0)
            await device.enable(False)
            await device.enable(True)
            await device.command("phases", 1.0)
            await device.command("phases", 3.0)
            for _ in range(50):
                if len(peer.set_values) >= 5:
                    break
                await asyncio.sleep(0.05)
            assert peer.bad == []
            assert peer.set_values == [("amp", 10), ("frc", 1), ("frc", 2), ("psm", 1), ("psm", 2)]
            readings = {r.channel: r.value for r in await device.read()}
            assert readings["dev.current_limit"] == 10.0  # the delta status came back
            with pytest.raises(PermanentError, match=r"phases 2 not one of \[1, 3\]"):
                await device.command("phases", 2.0)
        finally:
            await device.aclose()


async def test_wattpilot_wrong_password_is_a_permanent_error() -> None:
    entry = find("fronius-wattpilot").entry
    peer = Wattpilot(password="the-right-one")
    async with websockets.serve(peer.handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        device = create_for(entry, host=f"ws://:wrong@127.0.0.1:{port}", device_id="dev", timeout=10.0)
        try:
            with pytest.raises(PermanentError, match="password refused"):
                await device.fetch()
        finally:
            await device.aclose()
