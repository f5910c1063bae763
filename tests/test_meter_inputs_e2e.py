"""Meters as messages, end to end (issue 17): a site file through the real ``assemble()`` and
``edge.run()``, the values from the real Mosquitto broker (127.0.0.1:1883) or an HTTP emulator on
loopback (Shelly Gen1/Gen2, a JSON document), into the edge's state."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from wattwerk.config import parse_config
from wattwerk.edge.assembly import EdgeOptions, assemble
from wattwerk.edge.drivers import SiteProblems, build_devices
from wattwerk.errors import InputLedger
from wattwerk.model import utcnow
from wattwerk.protocols.mqtt import MqttPublisher
from wattwerk.sim.emulators import MeterState, PhaseState
from wattwerk.sim.emulators.http_server import HttpServerEmulator
from wattwerk.sim.emulators.shelly import ShellyEmulator

SITE = """\
site:
  name: Meter inputs
  location: {latitude: 48.0, longitude: 7.8}
  timezone: Europe/Berlin
  grid: {fuse_a: 35}
devices:
  - id: grid
    role: grid_meter
    interval_s: 0.2
    connection: CONNECTION
store:
  data_dir: DATADIR
"""

Feed = Callable[[], Awaitable[None]]


def site(connection: str, data_dir: Path) -> str:
    return SITE.replace("CONNECTION", connection).replace("DATADIR", str(data_dir))


async def run_edge(
    text: str,
    channels: list[str],
    feed: Feed | None = None,
    errors: dict[str, int] | None = None,
    until_error: str | None = None,
) -> dict[str, float]:
    """Run the assembled edge until every channel has a value (and, with ``until_error``, that kind
    of bad input was counted), feeding the broker meanwhile; ``errors`` receives the grid meter's
    counted bad input by kind."""
    edge = assemble(parse_config(text), EdgeOptions(read_only=True, store_every_s=0.0))
    stop = asyncio.Event()
    task = asyncio.create_task(edge.run(stop))
    got: dict[str, float] = {}
    try:
        for _ in range(150):
            if feed is not None:
                await feed()
            snap = edge.runtime.state.snapshot(utcnow())
            got = {c: snap.get(c) for c in channels if snap.get(c) is not None}
            counted = until_error is None or edge.ledger.by_kind("grid").get(until_error)
            if len(got) == len(channels) and counted:
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        edge.close()
        if errors is not None:
            errors.update(edge.ledger.by_kind("grid"))
    return got


def topic() -> str:
    return f"wattwerk-test/meter-{uuid.uuid4().hex[:10]}"


def publisher(messages: list[tuple[str, str]]) -> Feed:
    async def feed() -> None:
        async with MqttPublisher() as pub:
            for t, payload in messages:
                await pub.publish(t, payload)

    return feed


# ---------------------------------------------------------------- MQTT


@pytest.mark.mqtt
async def test_mqtt_plain_numbers_per_topic(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = topic()
    conn = (
        f"{{type: mqtt, topic: '{root}/#', format: plain, fields: ["
        f"{{topic: {root}/power, quantity: power}}, "
        f"{{topic: {root}/import_kwh, quantity: energy_import, scale: 1000}}]}}"
    )
    feed = publisher([(f"{root}/power", "-612.5"), (f"{root}/import_kwh", "1234.567")])
    got = await run_edge(site(conn, tmp_path), ["grid.power", "grid.energy_import"], feed)
    assert got == {"grid.power": -612.5, "grid.energy_import": 1_234_567.0}


@pytest.mark.mqtt
async def test_power_beyond_the_fuse_is_a_counted_range_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # site.grid.fuse_a 35 A x 230 V x 3 = 24,150 W: a 30 kW reading is not published
    root = topic()
    conn = (
        f"{{type: mqtt, topic: '{root}/#', format: plain, fields: ["
        f"{{topic: {root}/power, quantity: power}}, {{topic: {root}/e, quantity: energy_import}}]}}"
    )
    feed = publisher([(f"{root}/power", "30000"), (f"{root}/e", "5")])
    errors: dict[str, int] = {}
    got = await run_edge(site(conn, tmp_path), ["grid.energy_import"], feed, errors, until_error="range")
    assert got == {"grid.energy_import": 5.0}
    assert errors.get("range", 0) >= 1


@pytest.mark.mqtt
async def test_mqtt_generic_json_fields(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = topic()
    conn = (
        f"{{type: mqtt, topic: '{t}', format: json, fields: ["
        "{path: 'meters[0].p', quantity: power, scale: -1}, "
        "{path: total.in, quantity: energy_import, scale: 1000}]}"
    )
    doc = json.dumps({"meters": [{"p": 250}], "total": {"in": 1.25}})
    got = await run_edge(site(conn, tmp_path), ["grid.power", "grid.energy_import"], publisher([(t, doc)]))
    assert got == {"grid.power": -250.0, "grid.energy_import": 1250.0}


@pytest.mark.mqtt
async def test_mqtt_tasmota_preset_labels_and_hint(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    # a gPlug-style script: kW and kWh under its own labels; "Q5" is a field no label names
    t = topic()
    conn = (
        f"{{type: mqtt, topic: '{t}', format: tasmota, preset: gplug, "
        "labels: {Pwr_L1: {quantity: power_l1, scale: 1000}}}"
    )
    doc = json.dumps(
        {
            "Time": "2026-05-01T12:00:00",
            "z": {"Pi": 0.0, "Po": 1.234, "Ei": 4321.5, "Eo": 99.25, "Pwr_L1": -0.4, "Q5": 12},
        }
    )
    with caplog.at_level(logging.WARNING, logger="wattwerk.meter"):
        got = await run_edge(
            site(conn, tmp_path), ["grid.power", "grid.energy_export", "grid.power_l1"], publisher([(t, doc)])
        )
    assert got == {"grid.power": -1234.0, "grid.energy_export": 99_250.0, "grid.power_l1": -400.0}
    hints = [r.getMessage() for r in caplog.records if "not mapped" in r.getMessage()]
    assert len(hints) == 1 and "z.Q5" in hints[0] and "{format: tasmota, labels: {Q5: {quantity:" in hints[0]


@pytest.mark.mqtt
async def test_mqtt_json_without_fields_still_reads_tasmota_by_shape(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = topic()
    sml = {"Total_in": 1.5, "Power_curr": 321, "Volt_p1": 230.5}
    doc = json.dumps({"Time": "2026-05-01T12:00:00", "SML": sml})
    text = site(f"{{type: mqtt, topic: '{t}'}}", tmp_path)
    got = await run_edge(text, ["grid.power", "grid.energy_import", "grid.voltage_l1"], publisher([(t, doc)]))
    assert got == {"grid.power": 321.0, "grid.energy_import": 1500.0, "grid.voltage_l1": 230.5}


@pytest.mark.mqtt
async def test_mqtt_dsmr_telegrams(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # a P1 reader publishing each DSMR 5 telegram as one message (the meter's clock is now)
    from wattwerk.sim.emulators.p1 import telegram

    t = topic()

    async def feed() -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        async with MqttPublisher() as pub:
            await pub.publish(t, telegram(MeterState(now, -750.0, 4_000_000.0, 1_234_000.0, PHASES)))

    got = await run_edge(
        site(f"{{type: mqtt, topic: '{t}', format: dsmr}}", tmp_path),
        ["grid.energy_export", "grid.power"],
        feed,
    )
    assert got == {"grid.energy_export": 1_234_000.0, "grid.power": -750.0}


# ---------------------------------------------------------------- HTTP

PHASES = (PhaseState(230.0, 4.0, -800.0), PhaseState(231.0, 2.0, -400.0), PhaseState(229.0, 1.0, 150.0))


def state() -> MeterState:
    return MeterState(datetime.now(UTC), -1050.0, 3_000_000.0, 1_500_000.0, PHASES)


@pytest.mark.parametrize(("model", "profile"), [("pro3em", "pro3em"), ("3em", "3em"), ("em", "em")])
async def test_shelly_as_grid_meter(tmp_path, model: str, profile: str) -> None:  # type: ignore[no-untyped-def]
    async with ShellyEmulator(state, model) as emu:
        conn = f"{{type: http, url: '{emu.url}', format: shelly, profile: {profile}}}"
        got = await run_edge(site(conn, tmp_path), ["grid.power", "grid.energy_export"])
    assert got["grid.power"] == -1050.0  # the EM's first CT clamps the whole connection here
    assert got["grid.energy_export"] == pytest.approx(1_500_000.0, abs=1.0)


class JsonDevice(HttpServerEmulator):
    """A device answering GET /api/data with a fixed JSON document."""

    def app(self):  # type: ignore[no-untyped-def]
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def data(request):  # type: ignore[no-untyped-def]
            return JSONResponse({"grid": {"watts": 480, "kwh_in": 77.5}})

        return Starlette(routes=[Route("/api/data", data)])


async def test_http_json_meter(tmp_path) -> None:  # type: ignore[no-untyped-def]
    async with JsonDevice() as dev:
        conn = (
            f"{{type: http, url: 'http://127.0.0.1:{dev.port}/api/data', format: json, fields: ["
            "{path: grid.watts, quantity: power}, "
            "{path: grid.kwh_in, quantity: energy_import, scale: 1000}]}"
        )
        got = await run_edge(site(conn, tmp_path), ["grid.power", "grid.energy_import"])
    assert got == {"grid.power": 480.0, "grid.energy_import": 77_500.0}


# ---------------------------------------------------------------- what the edge refuses, at the field


@pytest.mark.parametrize(
    ("connection", "where", "says"),
    [
        (
            "{type: mqtt, topic: t, format: tasmota, preset: gplugg}",
            ("connection", "preset"),
            "unknown preset",
        ),
        (
            "{type: mqtt, topic: t, format: plain, fields: [{quantity: powr}]}",
            ("connection", "fields"),
            "unknown quantity",
        ),
        (
            "{type: http, url: 'http://10.0.0.9', format: shelly, profile: pro4em}",
            ("connection", "profile"),
            "unknown Shelly profile",
        ),
        (
            "{type: http, url: 'http://10.0.0.9', format: json, fields: [{path: a, quantity: x}]}",
            ("connection", "fields", 0, "quantity"),
            "unknown quantity",
        ),
    ],
)
def test_bad_settings_are_found_by_the_dry_build(tmp_path, connection: str, where: tuple, says: str) -> None:  # type: ignore[no-untyped-def]
    cfg = parse_config(site(connection, tmp_path))
    with pytest.raises(SiteProblems) as err:
        build_devices(cfg, InputLedger(), dry=True)
    [(loc, message)] = err.value.problems
    assert loc == ("devices", 0, *where) and says in message
