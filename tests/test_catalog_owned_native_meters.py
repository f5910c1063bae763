"""The meters and PV inverters with an HTTP interface of their own (issue 17): the S0 pulse meter on a
Tasmota counter, the Hardy Barth eCB1's meter, the TQ Energy Manager EM 300 and the older KOSTAL PIKOs,
read through their catalogue entries from peers answering the vendors' documented answers (keys, units,
nesting as documented; values worked out by hand into W and Wh). Nothing here comes from the entries
or the drivers; the recording peer is the one of ``test_catalog_owned_wallboxes.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from owned_harness import assert_readings
from test_catalog_owned_wallboxes import RecordingPeer
from wattwerk.devices.catalog import find
from wattwerk.devices.factory import create_for
from wattwerk.sim.emulators.http_server import HttpServerEmulator

# KOSTAL PIKO (DXS JSON API, as pykostalpiko and openHAB's kostalinverter binding document it): GET
# /api/dxs.json?dxsEntries=67109120&dxsEntries=251658753 -> AC output power (W), total yield (kWh)
DXS_ANSWER = {
    "dxsEntries": [{"dxsId": 67109120, "value": 2394.84}, {"dxsId": 251658753, "value": 23456.7}],
    "session": {"sessionId": 0, "roleId": 0},
    "status": {"code": 0},
}
# the legacy PIKO's status page (evcc template kostal-piko-legacy: the cell after "aktuell", W; and
# "Gesamtenergie", whole kWh), trimmed to its energy table
PIKO_PAGE = """<html><head><title>PV-Webserver</title></head><body>
<table cellspacing="0" cellpadding="0" width="770">
<tr><td width="100">&nbsp;</td><td width="190">aktuell</td>
<td width="70" align="right" bgcolor="#FFFFFF">  2030</td><td width="140">&nbsp; W</td>
<td width="100">&nbsp;</td><td width="190">Gesamtenergie</td>
<td width="70" align="right" bgcolor="#FFFFFF">  45678</td><td width="50">&nbsp; kWh</td></tr>
<tr><td width="100">&nbsp;</td><td width="190">&nbsp;</td><td>&nbsp;</td><td>&nbsp;</td>
<td width="100">&nbsp;</td><td width="190">Tagesenergie</td>
<td width="70" align="right" bgcolor="#FFFFFF">  12.34</td><td width="50">&nbsp; kWh</td></tr>
</table></body></html>"""
# Hardy Barth eCB1 (apidoc.ecb1.de, GET /api/v1/meters/{id}): meter.data keyed by OBIS, W and kWh
ECB1_METER = {
    "meter": {
        "id": 1,
        "name": "Grid",
        "type": "internal",
        "data": {
            "1-0:1.4.0": 1250.5,
            "1-0:2.4.0": 0.0,
            "1-0:1.8.0": 3456.789,
            "1-0:2.8.0": 1234.5,
            "1-0:32.4.0": 231.2,
            "1-0:31.4.0": 1.8,
        },
    }
}

HTTP_CASES = [
    (
        "kostal-piko-dxs",
        {"/api/dxs.json?dxsEntries=67109120&dxsEntries=251658753": DXS_ANSWER},
        {"power": 2394.84, "energy": 23_456_700.0},
    ),
    ("kostal-piko-legacy", {"/": PIKO_PAGE}, {"power": 2030.0, "energy": 45_678_000.0}),
    (
        "hardy-barth-ecb1-meter",
        {"/api/v1/meters/1": ECB1_METER},
        {"power": 1250.5, "energy_import": 3_456_789.0, "energy_export": 1_234_500.0},
    ),
]


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c[0] for c in HTTP_CASES])
async def test_http_meter_reads_the_documented_answer(
    case: tuple[str, dict[str, Any], dict[str, float]],
) -> None:
    entry_id, answers, want = case
    async with RecordingPeer(answers) as peer:
        device = create_for(
            find(entry_id).entry, host="127.0.0.1", port=peer.port, device_id="dev", timeout=2.0
        )
        try:
            readings = {r.channel.split(".", 1)[1]: r.value for r in await device.read()}
            assert device.ledger.total() == 0, device.ledger.counts
            assert_readings(readings, want, 1e-9)
            assert [(m, p) for m, p, _ in peer.requests] == [("GET", p) for p in answers]
        finally:
            await device.aclose()


async def test_pulse_meter_reads_the_tasmota_counter_as_energy_and_its_mean_power() -> None:
    """Tasmota ``Status 10`` (docs: Commands, Sensors: StatusSNS.COUNTER.C1): 1000 imp/kWh, so 123456
    pulses are 123456 Wh; 150 pulses more after 60 s are 150 Wh in a minute: 9000 W."""
    now = [datetime(2026, 12, 6, 12, 0, tzinfo=UTC)]
    key = "/cm?cmnd=Status+10"  # "Status 10", the space form-encoded (Tasmota's web server decodes + and %20)
    answers: dict[str, Any] = {key: {"StatusSNS": {"Time": "2026-12-06T13:00:00", "COUNTER": {"C1": 123456}}}}
    async with RecordingPeer(answers) as peer:
        entry = find("pulse-meter-tasmota").entry
        device = create_for(
            entry, host="127.0.0.1", port=peer.port, device_id="dev", timeout=2.0, clock=lambda: now[0]
        )
        try:
            first = {r.channel.split(".", 1)[1]: r.value for r in await device.read()}
            assert_readings(first, {"energy": 123_456.0}, 1e-9)  # no power before a second count
            answers[key] = {"StatusSNS": {"Time": "2026-12-06T13:01:00", "COUNTER": {"C1": 123606}}}
            now[0] += timedelta(seconds=60)
            second = {r.channel.split(".", 1)[1]: r.value for r in await device.read()}
            assert_readings(second, {"energy": 123_606.0, "power": 9000.0}, 1e-9)
            assert device.ledger.total() == 0, device.ledger.counts
            assert [(m, p) for m, p, _ in peer.requests] == [("GET", key)] * 2
        finally:
            await device.aclose()


class TqPeer(HttpServerEmulator):
    """The Energy Manager's web service (evcc meter/tq-em.go): ``/start.php`` names the serial; data.php
    answers without ``serial`` until ``POST /start.php`` with login = serial and the password."""

    SERIAL = "72101234567"
    PASSWORD = "Geheim-123"

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.logged_in = False
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []

    def app(self) -> Starlette:
        async def start(request: Request) -> JSONResponse:
            form = parse_qs((await request.body()).decode())
            self.requests.append((request.method, "/start.php", form))
            if request.method == "POST":
                self.logged_in = form == {"login": [self.SERIAL], "password": [self.PASSWORD]}
            return JSONResponse({"serial": self.SERIAL, "authentication": self.logged_in})

        async def data(request: Request) -> JSONResponse:
            self.requests.append(("GET", "/mum-webservice/data.php", {}))
            return JSONResponse(self.data if self.logged_in else {"serial": "", "authentication": False})

        return Starlette(
            routes=[
                Route("/start.php", start, methods=["GET", "POST"]),
                Route("/mum-webservice/data.php", data),
            ]
        )


# data.php as the EM 300 answers it once logged in: OBIS keys, powers in W, energies in Wh; the house
# exports 1500 W on L1 while L2 and L3 import
TQ_DATA = {
    "serial": TqPeer.SERIAL,
    "authentication": True,
    "1-0:1.4.0*255": 0.0,
    "1-0:2.4.0*255": 1150.0,
    "1-0:1.8.0*255": 5_432_100.0,
    "1-0:2.8.0*255": 1_234_000.0,
    "1-0:21.4.0*255": 0.0,
    "1-0:22.4.0*255": 1500.0,
    "1-0:41.4.0*255": 200.0,
    "1-0:42.4.0*255": 0.0,
    "1-0:61.4.0*255": 150.0,
    "1-0:62.4.0*255": 0.0,
    "1-0:32.4.0*255": 231.5,
    "1-0:52.4.0*255": 230.25,
    "1-0:72.4.0*255": 229.0,
    "1-0:13.4.0*255": 0.97,
}


async def test_tq_em300_logs_in_with_its_serial_and_reads_the_obis_values() -> None:
    async with TqPeer(TQ_DATA) as peer:
        entry = find("tq-em300").entry
        device = create_for(
            entry, host="127.0.0.1", port=peer.port, device_id="dev", timeout=2.0, auth=("", TqPeer.PASSWORD)
        )
        try:
            readings = {r.channel.split(".", 1)[1]: r.value for r in await device.read()}
        finally:
            await device.aclose()
    assert device.ledger.total() == 0, device.ledger.counts
    want = {
        "power": -1150.0,
        "energy_import": 5_432_100.0,
        "energy_export": 1_234_000.0,
        "power_l1": -1500.0,
        "power_l2": 200.0,
        "power_l3": 150.0,
        "voltage_l1": 231.5,
        "voltage_l2": 230.25,
        "voltage_l3": 229.0,
    }  # this firmware reports no currents (1-0:31.4.0 ...): they are optional
    assert_readings(readings, want, 1e-9)
    login = {"login": [TqPeer.SERIAL], "password": [TqPeer.PASSWORD]}
    assert peer.requests == [
        ("GET", "/mum-webservice/data.php", {}),
        ("GET", "/start.php", {}),
        ("POST", "/start.php", login),
        ("GET", "/mum-webservice/data.php", {}),
    ]


COVERED = {c[0] for c in HTTP_CASES} | {"pulse-meter-tasmota", "tq-em300"}
