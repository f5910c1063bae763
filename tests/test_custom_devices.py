"""Custom devices (issue 17): user catalogue files (line-exact errors, id clashes, origin in
``wattwerk devices``), the generic HTTP/JSON and MQTT drivers read and write against loopback peers
(an HTTP server, the real Mosquitto), ``wattwerk probe --draft`` proposes entries that load as they are,
and every example of docs/custom-devices.md is a valid user file."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from wattwerk.config.loader import ConfigError
from wattwerk.devices import listing
from wattwerk.devices import probe as probe_cmd
from wattwerk.devices.catalog import Item
from wattwerk.devices.custom import HttpJsonDevice, MqttJsonDevice
from wattwerk.devices.user_catalog import load_user_catalog, load_user_file
from wattwerk.errors import InputLedger, PermanentError
from wattwerk.protocols.http_device import JsonHttp
from wattwerk.protocols.modbus_codec import Register
from wattwerk.protocols.mqtt import MqttPublisher, MqttSettings, MqttSource
from wattwerk.sim.emulators.http_server import HttpServerEmulator
from wattwerk.sim.emulators.modbus import EmulatorServer, RegisterBank
from wattwerk.sim.emulators.sunspec import SunSpecEmulator

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "custom-devices.md"

BATTERY = """\
category: hybrid_battery_inverter
vendor: Basement
entries:
  - id: basement-battery
    models: [DIY battery with a JSON API]
    protocols: [http]
    native: http_json
    http:
      reads:
        - path: /state
          values:
            - {json: bat.w, quantity: power, scale: -1}   # + charging on this device
            - {json: bat.soc, quantity: soc}
            - {json: bat.temp, quantity: temperature, optional: true}
      writes:
        - {command: battery_setpoint, path: /set, method: GET, query: {w: "{value}"}, scale: -1,
           min: -3000, max: 3000}
    capabilities: [read_power, read_soc, battery_setpoint]
"""


def _entry(text: str, tmp_path: Path, name: str = "x.yaml") -> Item:
    path = tmp_path / name
    path.write_text(text)
    return load_user_file(path, name)[0]


class BatteryApi(HttpServerEmulator):
    def __init__(self) -> None:
        self.doc: dict[str, Any] = {"bat": {"w": 1200, "soc": 55.5}}
        self.requests: list[str] = []

    def app(self) -> Starlette:
        async def state(request: Request) -> JSONResponse:
            return JSONResponse(self.doc)

        async def set_(request: Request) -> PlainTextResponse:
            self.requests.append(str(request.url.query))
            return PlainTextResponse("ok")

        return Starlette(routes=[Route("/state", state), Route("/set", set_)])


async def test_http_template_reads_scaled_values_and_writes_clamped_setpoints(tmp_path: Path):
    item = _entry(BATTERY, tmp_path)
    ledger = InputLedger()
    async with BatteryApi() as api:
        dev = HttpJsonDevice(
            item.entry, JsonHttp(f"http://127.0.0.1:{api.port}"), device_id="bat", ledger=ledger
        )
        first = await dev.values()
        await dev.set_battery_setpoint(-2000.0)  # charge 2 kW: the device counts charging +
        await dev.set_battery_setpoint(5000.0)  # beyond max: clamped to 3000 W
        api.doc = {"bat": {"w": "n/a", "soc": 56}}
        second = await dev.values()
        with pytest.raises(PermanentError, match="has no current_limit write"):
            await dev.set_current_limit(10)
        await dev.aclose()
    assert first == {"power": -1200.0, "soc": 55.5}  # temperature is optional: absent, no note
    assert api.requests == ["w=2000", "w=-3000"]
    assert second == {"soc": 56.0}
    assert ledger.by_kind("bat") == {"field": 1}  # bat.w = 'n/a': counted, dropped


CHARGER = """\
category: ev_charger
vendor: Garage
entries:
  - id: garage-box
    models: [Box]
    protocols: [mqtt]
    native: mqtt_json
    mqtt:
      stale_s: 30
      reads:
        - topic: "{topic}/power"
          values: [{quantity: power}]          # the payload is the number
        - topic: "{topic}/state"
          values: [{json: car, quantity: state}, {json: amps, quantity: current_limit}]
      writes:
        - {command: current_limit, topic: "{topic}/cmd", payload: '{"amps": {value}}', min: 6, max: 16}
    capabilities: [read_power, charge_current]
"""


@pytest.mark.mqtt
async def test_mqtt_template_reads_topics_and_publishes_commands(tmp_path: Path):
    item = _entry(CHARGER, tmp_path)
    base = f"wattwerk-test/custom-{uuid.uuid4().hex[:10]}"
    ledger = InputLedger()
    dev = MqttJsonDevice(item.entry, MqttSettings(), base_topic=base, device_id="ev1", ledger=ledger)
    assert await dev.values() == {}  # nothing heard yet; starts listening
    commands = MqttSource(f"{base}/cmd")
    got: list[bytes] = []

    async def listen() -> None:
        async for payload in commands:
            got.append(payload)

    task = asyncio.create_task(listen())
    await asyncio.wait_for(commands.subscribed.wait(), 10)
    values: dict[str, float] = {}
    async with MqttPublisher() as pub:
        for _ in range(100):
            await pub.publish(f"{base}/power", "3680.5")
            await pub.publish(f"{base}/state", {"car": 2, "amps": 16})
            await asyncio.sleep(0.1)
            values = await dev.values()
            if len(values) == 3:
                break
        await pub.publish(f"{base}/state", "{not json")
        await dev.set_current_limit(10.0)
        await dev.set_current_limit(40.0)  # clamped to the template's max
        publisher = dev._publisher
        assert publisher is not None and publisher.published == 2  # one connection for both commands
        for _ in range(50):
            if len(got) >= 2:
                break
            await asyncio.sleep(0.1)
    commands.close()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await dev.aclose()
    assert values == {"power": 3680.5, "state": 2.0, "current_limit": 16.0}
    assert [json.loads(p) for p in got] == [{"amps": 10}, {"amps": 16}]


def test_user_files_report_each_problem_with_its_line(tmp_path: Path):
    folder = tmp_path / "devices"
    folder.mkdir()
    (folder / "a.yaml").write_text(BATTERY)
    (folder / "b.yaml").write_text(BATTERY.replace("vendor: Basement", "vendor: Other"))
    (folder / "c.yaml").write_text(
        BATTERY.replace("quantity: soc", "quantity: sco").replace("method: GET", "method: FETCH")
    )
    (folder / "empty.yaml").write_text("\n")
    (folder / "list.yaml").write_text("- category: chp\n")
    items, problems = load_user_catalog([("devices", folder)])
    lines = [line for _, ls in problems for line in ls]
    assert [i.entry.id for i in items] == ["basement-battery"] and items[0].origin == "devices/a.yaml"
    assert lines[0] == 'devices/b.yaml:4: entries[0].id: "basement-battery" is defined in devices/a.yaml too'
    assert lines[1].startswith("devices/c.yaml:13: entries[0].http.reads[0].values[1].quantity: ")
    assert "unknown quantity 'sco'" in lines[1]
    assert lines[2].startswith('devices/c.yaml:16: entries[0].http.writes[0].method: expected one of "GET"')
    assert lines[3] == (
        "devices/empty.yaml: the file is empty; a catalogue file has category, vendor and entries"
    )
    assert lines[4] == (
        "devices/list.yaml:1: expected a mapping (category, vendor, entries) at the top level, got a list"
    )
    where = r"^x.yaml:16: entries\[0\].mqtt.writes\[0\]: write current_limit: put \{value\}"
    with pytest.raises(ConfigError, match=where):
        _entry(CHARGER.replace("'{\"amps\": {value}}'", "'{\"amps\": 6}'"), tmp_path)


def test_devices_lists_user_entries_with_their_origin(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "bat.yaml").write_text(BATTERY)
    (tmp_path / "site.yaml").write_text(
        "site: {name: H, location: {latitude: 48, longitude: 8}, "
        "timezone: Europe/Berlin}\ncatalog_dirs: [mine]\n"
    )
    parser = argparse.ArgumentParser()
    listing.add_arguments(parser)
    assert listing.run(parser.parse_args(["--format", "json", "--site", str(tmp_path / "site.yaml")])) == 0
    rows = json.loads(capsys.readouterr().out)
    mine = [r for r in rows if r["origin"] != "packaged"]
    assert [(r["id"], r["status"], r["origin"]) for r in mine] == [
        ("basement-battery", "user", "mine/bat.yaml")
    ]
    assert len(rows) > 100 and {r["origin"] for r in rows} == {"packaged", "mine/bat.yaml"}
    (tmp_path / "mine" / "bat.yaml").write_text(BATTERY.replace("models:", "modles:"))
    assert listing.run(parser.parse_args(["--catalog-dir", str(tmp_path / "mine")])) == 1
    err = capsys.readouterr().err
    assert re.search(
        r"mine/bat.yaml:5: entries\[0\]: unknown field \"modles\" "
        r"\(did you mean \"models\"\?\)",
        err,
    )


class Idle:
    def values(self) -> dict[str, float]:
        return {"power": 2500.0, "energy": 1_000_000.0}

    def apply(self, command: str, value: float) -> None:
        pass


async def _probe_draft(port: int, unit: int, *more: str) -> str:
    parser = argparse.ArgumentParser()
    probe_cmd.add_arguments(parser)
    args = parser.parse_args([f"127.0.0.1:{port}", "--unit", str(unit), "--timeout", "2", "--draft", *more])
    out: list[str] = []

    def run() -> int:
        import io
        import sys

        buf, old = io.StringIO(), sys.stdout
        sys.stdout = buf
        try:
            return probe_cmd.run(args)
        finally:
            sys.stdout = old
            out.append(buf.getvalue())

    assert await asyncio.to_thread(run) == 0
    return out[0]


async def test_probe_drafts_a_sunspec_entry_that_loads_as_a_user_file(tmp_path: Path):
    emu = SunSpecEmulator([1, 103, 120, 123], Idle(), unit=1, common={"Mn": "Acme Solar", "Md": "AS-5000"})
    async with EmulatorServer([emu.bank]) as server:
        text = await _probe_draft(server.port, 1)
    item = _entry(text, tmp_path, "draft.yaml")
    assert (item.category, item.vendor, item.entry.id) == (
        "pv_inverter",
        "Acme Solar",
        "my-acme-solar-as-5000",
    )
    assert item.entry.sunspec is not None and item.entry.sunspec.models == [1, 103, 120, 123]
    assert item.entry.sunspec.base == 40000 and item.entry.connection.port == server.port
    assert "pv_power_limit" in item.entry.capabilities


async def test_probe_drafts_a_register_scan_for_a_device_without_sunspec(tmp_path: Path):
    words = {10: 1234, 11: 0xFFFE, 30: 7}
    bank = RegisterBank(
        5, [Register(f"w{a}", a) for a in words], values=lambda: {f"w{a}": v for a, v in words.items()}
    )
    async with EmulatorServer([bank]) as server:
        text = await _probe_draft(server.port, 5, "--scan", "0:60")
    item = _entry(text, tmp_path, "draft.yaml")
    regs = [(r.name, r.address, r.table) for r in item.entry.registers]
    assert {("h10", 10, "holding"), ("h11", 11, "holding"), ("h30", 30, "holding")} <= set(regs)
    assert "raw 65534 (0xFFFE, s16 -2)" in text and item.entry.connection.unit == 5


def _doc_files() -> list[tuple[str, str]]:
    """(file name, text) of each example marked ``<!-- user file: NAME -->`` in docs/custom-devices.md."""
    text = DOC.read_text(encoding="utf-8")
    return re.findall(r"<!-- user file: (\S+) -->\n<!-- not a site file -->\n```yaml\n(.*?)```", text, re.S)


def test_the_documented_examples_are_valid_user_files_and_the_site_example_builds(tmp_path: Path):
    from wattwerk.config.loader import load_document, problem_lines, validate_document
    from wattwerk.edge.check import dry_check

    files = _doc_files()
    for name, body in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body)
    items, problems = load_user_catalog([("devices", tmp_path / "devices")])
    assert problems == [] and len(items) == len(files) >= 10
    # one example per category the placeholder rows need (docs/compatibility.md)
    assert {
        "chp",
        "fuel_cell",
        "electrolyser",
        "gas_meter",
        "heat_meter",
        "hybrid_battery_inverter",
        "ev_charger",
        "electricity_meter",
        "pv_inverter",
    } <= {i.category for i in items}
    text = DOC.read_text(encoding="utf-8")
    example = re.search(
        r"The site file then names these entries:\n\n<!-- fragment -->\n```yaml\n(.*?)```", text, re.S
    )
    assert example is not None
    site = tmp_path / "site.yaml"
    site.write_text(
        "site: {name: H, location: {latitude: 48, longitude: 8}, timezone: Europe/Berlin}\n"
        + example.group(1)
    )
    doc = load_document(site)
    cfg = validate_document(doc, str(site))
    assert problem_lines(doc, str(site), dry_check(cfg)) == []


def test_the_default_folder_is_read_too_and_its_problems_have_their_lines(tmp_path: Path, monkeypatch):
    from wattwerk.config.loader import load_document, problem_lines, validate_document
    from wattwerk.devices import user_catalog
    from wattwerk.edge.check import dry_check

    default = tmp_path / "etc-devices"
    default.mkdir()
    (default / "bat.yaml").write_text(BATTERY)
    monkeypatch.setattr(user_catalog, "DEFAULT_DIR", default)
    site = tmp_path / "site.yaml"
    site.write_text(
        "site: {name: H, location: {latitude: 48, longitude: 8}, timezone: Europe/Berlin}\n"
        "strategy: {mode: 'off'}\n"
        "devices:\n  - id: bat\n    role: battery\n    catalog: basement-battery\n"
        "    capacity_wh: 10000\n    max_charge_w: 3000\n    max_discharge_w: 3000\n"
        "    connection: {type: http, url: 'http://10.0.0.8'}\n"
    )
    doc = load_document(site)
    cfg = validate_document(doc, str(site))
    assert problem_lines(doc, str(site), dry_check(cfg)) == []
    (default / "bat.yaml").write_text(BATTERY.replace("path: /state", "path: state"))
    assert problem_lines(doc, str(site), dry_check(cfg)) == [
        f"{site}:1: catalog_dirs: {default}/bat.yaml:10: entries[0].http.reads[0].path: a path under the "
        "site file's url starts with /, e.g. /state"
    ]


def test_a_draft_for_a_serial_device_names_its_bus_settings(tmp_path: Path):
    from wattwerk.devices import draft

    bus = {"unit": 9, "baudrate": 19200, "parity": "E"}
    doc, raw = draft.scan_draft({("input", 7): 230}, bus, "modbus_rtu")
    item = _entry(draft.to_yaml(doc, raw), tmp_path, "rtu.yaml")
    c = item.entry.connection
    assert item.entry.protocols == ["modbus_rtu"] and (c.unit, c.baudrate, c.parity) == (9, 19200, "E")
    assert [(r.name, r.table, r.channel) for r in item.entry.registers] == [("i7", "input", False)]
