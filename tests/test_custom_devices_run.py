"""Custom devices end to end (issue 17): a Modbus meter, an HTTP/JSON PV inverter and an MQTT charger,
each defined only in user catalogue files beside the site file, run by ``wattwerk run`` (the real
CLI, a subprocess) against emulators on loopback: a pymodbus server, an HTTP server and the real
Mosquitto at 127.0.0.1:1883. Readings reach the edge's /api/live (signed in), and the current the
control sets for the charger arrives on the charger's command topic.

The emulators hold the devices' raw values written out by hand (register words, JSON documents), not
values derived from the user entries, so a wrong template fails here instead of agreeing with itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from edge_login import PASSWORD
from wattwerk.edge.auth import EdgeAuth
from wattwerk.protocols.modbus_codec import Register
from wattwerk.protocols.mqtt import MqttPublisher, MqttSource
from wattwerk.sim.emulators.http_server import HttpServerEmulator
from wattwerk.sim.emulators.modbus import EmulatorServer, RegisterBank

pytestmark = pytest.mark.mqtt

METER = """\
category: electricity_meter
vendor: Acme
entries:
  - id: acme-em100
    models: [EM100]
    protocols: [modbus_tcp]
    connection: {port: 502, unit: 3, word_order: little}
    registers:
      - {name: power, address: 0, type: s32, scale: 0.1}       # 0.1 W, low word first
      - {name: energy_import, address: 2, type: u32, scale: 10}  # 0.01 kWh
    capabilities: [read_power, read_energy]
"""
PV = """\
category: pv_inverter
vendor: Homebrew
entries:
  - id: homebrew-pv
    models: [Roof inverter with a JSON API]
    protocols: [http]
    native: http_json
    http:
      headers: {Authorization: Bearer s3cret}
      reads:
        - path: /api/status
          values:
            - {json: ac.p_w, quantity: power}
            - {json: "meters[0].total_kwh", quantity: energy, scale: 1000}
      writes:
        - {command: power_limit, path: /api/limit, method: PUT, body: '{"watts": {value}}'}
    capabilities: [read_power, read_energy, pv_power_limit]
"""
CHARGER = """\
category: ev_charger
vendor: Garage
entries:
  - id: garage-box
    models: [Box]
    protocols: [mqtt]
    native: mqtt_json
    mqtt:
      reads:
        - topic: "{topic}/status"
          values:
            - {json: p, quantity: power}
            - {json: e_kwh, quantity: energy, scale: 1000}
            - {json: car, quantity: state}
      writes:
        - {command: current_limit, topic: "{topic}/set/amps", payload: '{"amps": {value}}'}
        - {command: enable, topic: "{topic}/set/on", payload: "{value}"}
    capabilities: [read_power, read_energy, charge_current, enable]
"""
SITE = """\
site: {{name: Custom house, location: {{latitude: 48, longitude: 8}}, timezone: Europe/Berlin}}
catalog_dirs: [devices]
strategy: {{ev_default_mode: now}}
devices:
  - id: grid
    role: grid_meter
    catalog: acme-em100
    interval_s: 0.5
    connection: {{type: modbus_tcp, host: 127.0.0.1, port: {modbus}}}
  - id: pv2
    role: pv
    kwp: 6
    catalog: homebrew-pv
    interval_s: 0.5
    connection: {{type: http, url: "http://127.0.0.1:{http}"}}
  - id: ev1
    role: ev_charger
    catalog: garage-box
    interval_s: 0.5
    connection: {{type: mqtt, host: 127.0.0.1, port: 1883, topic: {topic}}}
store:
  data_dir: var
"""

# the meter's registers as it sends them: -2500.0 W as s32 in 0.1 W, low word first (-25000 =
# 0xFFFF9E58), and 12345.67 kWh as u32 in 0.01 kWh, low word first (1234567 = 0x0012D687)
METER_WORDS = {0: 0x9E58, 1: 0xFFFF, 2: 0xD687, 3: 0x0012}
PV_DOC = {"ac": {"p_w": 3210.5}, "meters": [{"total_kwh": 4567.8}]}


class PvApi(HttpServerEmulator):
    """The inverter's JSON API, refusing requests without the bearer token."""

    def __init__(self) -> None:
        self.limits: list[Any] = []

    def app(self) -> Starlette:
        def authorised(request: Request) -> bool:
            return request.headers.get("authorization") == "Bearer s3cret"

        async def status(request: Request) -> JSONResponse:
            return JSONResponse(PV_DOC if authorised(request) else {}, 200 if authorised(request) else 401)

        async def limit(request: Request) -> JSONResponse:
            self.limits.append(json.loads(await request.body()))
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/api/status", status), Route("/api/limit", limit, methods=["PUT"])])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _charger(topic: str, commands: list[tuple[str, str]], stop: asyncio.Event) -> None:
    """The charger: a car plugged in, 0 W, 12.5 kWh; it records what arrives on its command topics."""
    source = MqttSource(f"{topic}/set/#")

    async def listen() -> None:
        async for t, payload in source.messages():
            commands.append((t, payload.decode()))

    task = asyncio.create_task(listen())
    try:
        async with MqttPublisher() as pub:
            while not stop.is_set():
                await pub.publish(f"{topic}/status", {"p": 0, "e_kwh": 12.5, "car": 1})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.3)
    finally:
        source.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _live(port: int, proc: subprocess.Popen[bytes], want: Any) -> dict[str, Any]:
    """/api/live, signed in, polled until ``want(live)`` holds (or 60 s)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        live: dict[str, Any] = {}
        for _ in range(600):
            assert proc.poll() is None, "wattwerk run ended"
            with contextlib.suppress(httpx.TransportError):
                if "X-CSRF-Token" not in client.headers:
                    res = await client.post("/api/auth/login", json={"password": PASSWORD})
                    client.headers["X-CSRF-Token"] = res.json()["csrf"]
                live = (await client.get("/api/live")).json()
                if want(live):
                    return live
            await asyncio.sleep(0.1)
    return live


async def test_custom_meter_pv_and_charger_run_end_to_end(tmp_path: Path):
    devices = tmp_path / "devices"
    (devices / "chargers").mkdir(parents=True)
    (devices / "meter.yaml").write_text(METER)
    (devices / "pv.yaml").write_text(PV)
    (devices / "chargers" / "garage.yaml").write_text(CHARGER)
    meter = RegisterBank(
        3,
        [Register(f"w{a}", a) for a in METER_WORDS],
        values=lambda: {f"w{a}": v for a, v in METER_WORDS.items()},
    )
    topic = f"wattwerk-test/custom-{uuid.uuid4().hex[:10]}"
    commands: list[tuple[str, str]] = []
    stop = asyncio.Event()
    async with EmulatorServer([meter]) as modbus, PvApi() as pv:
        site = tmp_path / "site.yaml"
        site.write_text(SITE.format(modbus=modbus.port, http=pv.port, topic=topic))
        argv = [sys.executable, "-m", "wattwerk", "check", str(site)]
        check = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=120)
        assert check.returncode == 0, check.stderr
        EdgeAuth(tmp_path / "var", default_names=False).set_password(PASSWORD)
        port = _free_port()
        log = (tmp_path / "edge.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "wattwerk", "run", "site.yaml", "--port", str(port)],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        charger = asyncio.create_task(_charger(topic, commands, stop))
        try:

            def ready(live: dict[str, Any]) -> bool:
                flows = live.get("flows", {})
                points = live.get("chargers") or []
                return (
                    flows.get("grid") is not None
                    and flows.get("pv") is not None
                    and any(p.get("power_w") is not None for p in points)
                    and any(t.endswith("/set/amps") for t, _ in commands)
                )

            live = await _live(port, proc, ready)
            await asyncio.sleep(0)
        finally:
            stop.set()
            await charger
            proc.terminate()
            await asyncio.to_thread(proc.wait, 30)
            log.close()
    text = (tmp_path / "edge.log").read_text()
    assert live.get("flows", {}).get("grid") == pytest.approx(-2500.0), (live, text[-3000:])
    assert live["flows"]["pv"] == pytest.approx(3210.5)
    points = live.get("chargers") or []
    assert [p["power_w"] for p in points if p["id"] == "ev1"] == [0.0]
    amps = [json.loads(p)["amps"] for t, p in commands if t == f"{topic}/set/amps"]
    assert amps and all(6 <= a <= 16 for a in amps), (commands, text[-3000:])
    assert "Traceback" not in text
