"""Honest status on the edge's page: a device's cause in plain words and what to check, from the real
runtime and real drivers (a serial path that does not exist, a Modbus TCP port nobody listens on), the
header's level, and the port a KEBA UDP row shows."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest

from edge_login import signed_in_async, test_auth
from wattwerk.config import parse_config
from wattwerk.edge.drivers import build_devices
from wattwerk.edge.live import NotingLedger, RuntimeView
from wattwerk.edge.runtime import EdgeRuntime
from wattwerk.edge.status import explain, site_health
from wattwerk.edge.web import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("kind", "message", "key", "words"),
    [
        (
            "RetryableError",
            "unit 1 read holding 40000+2: no answer (No response received after 0 retries)",
            "timeout",
            "no answer from 192.168.1.50:502",
        ),
        ("ConnectionRefusedError", "[Errno 111] Connect call failed", "refused", "refuses the connection"),
        (
            "SerialException",
            "[Errno 2] could not open port /dev/ttyUSB9: No such file or directory",
            "no_such_file",
            "no serial port",
        ),
        ("SerialException", "[Errno 13] Permission denied: '/dev/ttyUSB0'", "permission", "no permission"),
        ("BadInput", "CRC mismatch", "crc", "garbled"),
        (
            "ModbusException",
            "Exception Response(131, 3, IllegalAddress) exception code 2",
            "modbus_2",
            "no register",
        ),
        ("ModbusException", "exception code 11", "modbus_gateway", "behind it"),
    ],
)
def test_error_kinds_read_as_plain_words(kind: str, message: str, key: str, words: str) -> None:
    out = explain(kind, message, "192.168.1.50:502", 502, "inverter/sma/sunny-tripower")
    assert out["kind"] == key and words in out["cause"]
    if key == "timeout":  # the vendor's usual unit, as the issue asks
        assert "SMA uses unit 3" in out["check"]


def test_health_levels() -> None:
    ok = {"id": "pv", "name": "PV", "role": "pv", "status": "ok"}
    stale = {"id": "bat", "name": "Battery", "role": "battery", "status": "stale", "cause": "x"}
    grid = {"id": "grid", "name": "Meter", "role": "grid_meter", "status": "error", "cause": "no answer"}
    assert site_health([ok])["level"] == "ok"
    assert site_health([ok, stale])["level"] == "warn"
    out = site_health([ok, stale, grid])
    assert out["level"] == "bad" and "no answer" in out["text"] and out["devices"] == ["bat", "grid"]


async def test_real_drivers_say_why(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    cfg = parse_config(f"""
site: {{name: Broken, location: {{latitude: 50, longitude: 8}}, timezone: Europe/Berlin}}
devices:
  - {{id: grid, role: grid_meter, catalog: eastron-sdm630, interval_s: 0.1,
     connection: {{type: modbus_rtu, device: {tmp_path}/ttyUSB-missing}}}}
  - {{id: inv, role: pv, kwp: 5, catalog: sma-tripower, interval_s: 0.1,
     connection: {{type: modbus_tcp, host: 127.0.0.1, port: {port}, timeout_s: 0.3}}}}
  - {{id: wb, role: ev_charger, catalog: keba-p30-udp, connection: {{type: udp, host: 192.0.2.1}}}}
""")
    ledger = NotingLedger()
    devices = build_devices(cfg, ledger, dry=False)
    runtime = EdgeRuntime(
        [p for p in devices.polled if p.device_id != "wb"], ledger=ledger, max_backoff_s=0.1
    )
    app = create_app(RuntimeView(runtime, cfg), auth=test_auth(tmp_path))
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.run(stop))
    await asyncio.sleep(1.5)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as client:
        live = (await (await signed_in_async(client)).get("/api/live")).json()
    stop.set()
    await task
    rows = {r["id"]: r for r in live["devices"]}
    assert rows["grid"]["status"] == "error" and rows["grid"]["kind"] == "no_such_file", rows["grid"]
    assert "ttyUSB-missing" in rows["grid"]["cause"] and "/dev/serial/by-id" in rows["grid"]["check"]
    assert rows["grid"]["last_error"]["message"]  # the raw error, for the click
    assert rows["inv"]["status"] == "error" and rows["inv"]["kind"] in ("refused", "timeout"), rows["inv"]
    assert f"127.0.0.1:{port}" in rows["inv"]["cause"]
    assert rows["wb"]["connection"] == "udp 192.0.2.1:7090"  # the port the KEBA driver uses
    assert live["health"]["level"] == "bad" and "grid meter" in live["health"]["text"]
