"""Generic JSON over HTTP polling: field mapping, combined paths, errors counted, backoff."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from loopback_http import serving
from wattwerk.errors import InputLedger, PermanentError
from wattwerk.protocols.http import HttpPoller
from wattwerk.protocols.jsonmap import FieldMap, JsonDecoder
from wattwerk.protocols.meter import MeterReader
from wattwerk.protocols.transport import Backoff


class Device:
    """A JSON device whose answers a test can change."""

    def __init__(self) -> None:
        self.power = 1200.0
        self.broken = 0  # next answers that are not JSON
        self.user = None

    async def data(self, request: Request) -> Response:
        if self.broken:
            self.broken -= 1
            return PlainTextResponse("<html>busy</html>")
        return JSONResponse({"sensors": [{"id": "grid", "p_kw": self.power / 1000, "e_kwh": 42.5}]})

    async def info(self, request: Request) -> Response:
        return JSONResponse({"serial": "XY-1", "fw": "1.2"})

    async def secret(self, request: Request) -> Response:
        return Response(status_code=401)


@pytest.fixture
async def device() -> AsyncIterator[tuple[Device, str]]:
    dev = Device()
    app = Starlette(
        routes=[Route("/api/data", dev.data), Route("/api/info", dev.info), Route("/secret", dev.secret)]
    )
    async with serving(app) as url:
        yield dev, url


FIELDS = [
    FieldMap("sensors[0].p_kw", "power", scale=1000.0),
    FieldMap("sensors[0].e_kwh", "energy_import", scale=1000.0, obis="1-0:1.8.0"),
]


async def test_single_path_mapping(device: tuple[Device, str]) -> None:
    dev, url = device
    poller = HttpPoller(url, "/api/data", interval=0.02)
    reader = MeterReader("meter", JsonDecoder(FIELDS, messages=True), poller)
    seen = []
    async for readings in reader:
        seen.append({r.channel: r.value for r in readings})
        dev.power = -300.0
        if len(seen) == 2:
            break
    poller.close()
    assert seen[0] == {"meter.power": 1200.0, "meter.energy_import": 42500.0}
    assert seen[1]["meter.power"] == -300.0


async def test_combined_paths_and_meter_id(device: tuple[Device, str]) -> None:
    _, url = device
    poller = HttpPoller(url, {"data": "/api/data", "info": "/api/info"})
    fields = [FieldMap("data.sensors[0].p_kw", "power", scale=1000.0)]
    async with poller.client() as client:
        body = await poller.poll_once(client)
    assert body is not None
    frame = JsonDecoder(fields, messages=True, meter_id_path="info.serial").feed(body)[0]
    assert frame.meter_id == "XY-1" and frame.values[0].value == 1200.0


async def test_not_json_counted_then_recovers(device: tuple[Device, str]) -> None:
    dev, url = device
    dev.broken = 2
    ledger = InputLedger()
    poller = HttpPoller(
        url, "/api/data", interval=0.01, backoff=Backoff(0.01, 0.02), ledger=ledger, device="m"
    )
    reader = MeterReader("m", JsonDecoder(FIELDS, messages=True), poller, ledger=ledger)
    async for _ in reader:
        break
    poller.close()
    assert poller.errors == {"parse": 2}
    assert ledger.by_kind("m") == {"parse": 2}


async def test_credentials_refused_is_permanent(device: tuple[Device, str]) -> None:
    _, url = device
    with pytest.raises(PermanentError, match="401"):
        async for _ in HttpPoller(url, "/secret", auth=("admin", "wrong")):
            pass


async def test_connection_refused_counted() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    poller = HttpPoller(f"http://127.0.0.1:{port}", "/x", timeout=0.5)
    async with poller.client() as client:
        assert await poller.poll_once(client) is None
        assert await poller.poll_once(client) is None
    assert poller.errors == {"connect": 2}
