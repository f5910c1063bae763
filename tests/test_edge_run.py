"""``wattwerk run``: a site file with a P1 meter and a SunSpec inverter, both emulated on loopback."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from edge_login import signed_in, test_auth
from wattwerk.config import DEMO_SITE, parse_config
from wattwerk.edge.assembly import EdgeOptions, assemble
from wattwerk.errors import PermanentError
from wattwerk.model import utcnow
from wattwerk.sim.emulators.modbus import EmulatorServer
from wattwerk.sim.emulators.p1 import P1Emulator
from wattwerk.sim.emulators.sunspec import SunSpecEmulator
from wattwerk.sim.site import SiteSim
from wattwerk.store.sqlite import SqliteStore

SITE = """\
site:
  name: Test house
  location: {latitude: 48.0, longitude: 7.8}
  timezone: Europe/Berlin
devices:
  - id: grid
    role: grid_meter
    connection: {type: tcp, host: 127.0.0.1, port: P1PORT, format: dsmr}
  - id: pv1
    role: pv
    kwp: 8
    catalog: sunspec-inverter-int
    interval_s: 0.2
    connection: {type: modbus_tcp, host: 127.0.0.1, port: MBPORT, unit: 1}
store:
  data_dir: DATADIR
"""


def site_text(p1: int, modbus: int, data_dir: object) -> str:
    return SITE.replace("P1PORT", str(p1)).replace("MBPORT", str(modbus)).replace("DATADIR", str(data_dir))


@pytest.fixture
def sim() -> SiteSim:
    sim = SiteSim(start=datetime(2025, 6, 21, 10, tzinfo=UTC))
    sim.step(60)
    return sim


async def test_run_reads_meter_and_inverter_into_the_store(tmp_path, sim):

    inverter = SunSpecEmulator([101, 123], sim.pv[0], rated_power=8000)
    async with P1Emulator(sim.meter_state_now, interval=0.1) as p1, EmulatorServer([inverter.bank]) as modbus:
        cfg = parse_config(site_text(p1.port, modbus.port, tmp_path / "var"))
        edge = assemble(cfg, EdgeOptions(store_every_s=0.0))
        stop = asyncio.Event()
        task = asyncio.create_task(edge.run(stop))
        await asyncio.sleep(2.0)
        stop.set()
        await task
        snap = edge.runtime.state.snapshot(utcnow())
        live = edge.view.live()
        edge.close()
    assert snap.get("grid.power") == pytest.approx(sim.channels()["grid.power"], abs=1.0)  # W resolution
    assert snap.get("pv1.power") == pytest.approx(sim.pv[0].power, rel=0.01)
    assert live["flows"]["pv"] == pytest.approx(sim.pv[0].power, rel=0.01)
    store = SqliteStore.open_existing(tmp_path / "var" / "store.sqlite")
    latest = store.latest(["grid.energy_import", "pv1.power"])
    store.close()
    assert latest["grid.energy_import"].value == pytest.approx(sim.grid.energy_import, abs=1.0)
    assert latest["pv1.power"].value > 0


def test_a_wrong_catalogue_name_says_what_exists(tmp_path):
    text = site_text(1, 2, tmp_path).replace("sunspec-inverter-int", "sunspec-inverter-itn")
    hint = r'no catalogue entry .* \(did you mean "sunspec-inverter-int"\?\)'
    with pytest.raises(PermanentError, match=hint):
        assemble(parse_config(text))


def test_run_refuses_simulated_devices_with_a_clear_message(tmp_path):
    text = DEMO_SITE.read_text().replace("./var/demo", str(tmp_path))
    (tmp_path / "site.yaml").write_text(text)
    out = subprocess.run(
        [sys.executable, "-m", "wattwerk", "run", str(tmp_path / "site.yaml"), "--no-web"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 78  # EX_CONFIG: the systemd unit does not restart on it
    assert "connection type sim runs only in `wattwerk demo`" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.mqtt
async def test_run_publishes_to_mqtt_with_discovery_and_serves_metrics(tmp_path, sim):
    import uuid

    import aiomqtt
    import httpx

    root = f"wwtest/{uuid.uuid4().hex[:8]}"
    prefix = f"hatest{uuid.uuid4().hex[:8]}"
    inverter = SunSpecEmulator([101], sim.pv[0], rated_power=8000)
    seen: dict[str, bytes] = {}
    async with (
        P1Emulator(sim.meter_state_now, interval=0.1) as p1,
        EmulatorServer([inverter.bank]) as modbus,
        aiomqtt.Client("127.0.0.1", 1883) as client,
    ):
        await client.subscribe(f"{root}/#")
        await client.subscribe(f"{prefix}/#")
        text = site_text(p1.port, modbus.port, tmp_path / "var") + (
            f"mqtt:\n  root: {root}\n  discovery_prefix: {prefix}\n"
        )
        edge = assemble(parse_config(text), EdgeOptions(store_every_s=0.0))
        stop = asyncio.Event()
        task = asyncio.create_task(edge.run(stop))

        async def collect() -> None:
            async for message in client.messages:
                seen[str(message.topic)] = bytes(message.payload)
                if f"{root}/grid/power" in seen and any(t.endswith("/config") for t in seen):
                    return

        await asyncio.wait_for(collect(), 20)
        transport = httpx.ASGITransport(app=edge.web_app())
        token = (tmp_path / "var" / "metrics.token").read_text().strip()  # as Prometheus reads it
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            assert (await http.get("/metrics")).status_code == 503  # no token; no admin password yet
            metrics = (await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})).text
        stop.set()
        await task
        edge.close()
    assert float(seen[f"{root}/grid/power"]) == pytest.approx(sim.channels()["grid.power"], abs=1.0)
    configs = [t for t in seen if t.startswith(prefix) and t.endswith("/config")]
    assert configs
    from prometheus_client.parser import text_string_to_metric_families

    samples = {s.name: s.value for f in text_string_to_metric_families(metrics) for s in f.samples}
    assert samples["wattwerk_edge_readings_accepted_total"] > 0
    assert samples["wattwerk_edge_cycles_total"] > 0


async def test_run_drives_an_http_heating_rod_from_the_catalogue(tmp_path, sim):
    """A my-PV heating rod over HTTP, named by its catalogue entry, read and commanded."""
    from wattwerk.sim.emulators.http_devices import MyPvEmulator

    rod = sim.rod
    async with MyPvEmulator(rod, max_w=3000.0) as emulator:
        text = (
            "site:\n  name: Rod test\n  location: {latitude: 48.0, longitude: 7.8}\n"
            "  timezone: Europe/Berlin\n"
            "devices:\n  - id: rod\n    role: heating_rod\n    catalog: mypv-http\n"
            f"    connection: {{type: http, url: '{emulator.url}'}}\n    limits: {{max_power_w: 3000}}\n"
            f"store:\n  data_dir: {tmp_path}\n"
        )
        edge = assemble(parse_config(text), EdgeOptions(read_only=True))
        driver = edge.devices.polled[0].driver
        readings = await driver.read(utcnow())
        await driver.command("power", 1500.0)
        edge.close()
    assert any(r.channel == "rod.power" for r in readings)
    assert any(r.channel == "rod.temperature" for r in readings)
    assert any(r.startswith("GET /control.html?power=1500") for r in emulator.requests)


def test_run_builds_an_ocpp_charger_on_the_site_central_system(tmp_path):
    from wattwerk.devices.ocpp_charger import OcppCharger

    text = (
        "site:\n  name: OCPP test\n  location: {latitude: 48.0, longitude: 7.8}\n  timezone: Europe/Berlin\n"
        "devices:\n  - id: wb\n    role: ev_charger\n"
        "    connection: {type: ocpp, charge_point_id: CP-42, port: 9901}\n"
        "    limits: {max_current_a: 32, phases: 1}\n"
        f"store:\n  data_dir: {tmp_path}\n"
    )
    edge = assemble(parse_config(text))
    try:
        (polled,) = edge.devices.polled
        assert isinstance(polled.driver, OcppCharger)
        assert polled.device_id == "wb"
        assert edge.devices.ocpp is not None
    finally:
        edge.close()


def test_a_user_mode_reaches_the_charging_law_and_keeps_its_state(tmp_path):
    from wattwerk.control.ev import EvCharging

    text = (
        "site:\n  name: Mode test\n  location: {latitude: 48.0, longitude: 7.8}\n  timezone: Europe/Berlin\n"
        "devices:\n  - id: wb\n    role: ev_charger\n"
        "    connection: {type: ocpp, charge_point_id: CP-1, port: 9902}\n"
        f"store:\n  data_dir: {tmp_path}\n"
    )
    edge = assemble(parse_config(text))
    try:
        step = edge.control
        assert step is not None
        before = step.state
        assert step.set_ev_mode("wb", "now")
        (law,) = [law for law in step.cycle.laws if isinstance(law, EvCharging)]
        assert [p.mode for p in law.config.points] == ["now"]
        assert step.state is before
        assert not step.set_ev_mode("nobody", "pv")
        with pytest.raises(ValueError, match="unknown charging mode"):
            step.set_ev_mode("wb", "turbo")
    finally:
        edge.close()


def test_user_commands_reach_control_and_others_are_refused(tmp_path):
    from datetime import timedelta

    from wattwerk.control.ev import EvCharging
    from wattwerk.edge.mqtt_bridge import Command

    text = (
        "site:\n  name: Cmd test\n  location: {latitude: 48.0, longitude: 7.8}\n  timezone: Europe/Berlin\n"
        "devices:\n  - id: wb\n    role: ev_charger\n"
        "    connection: {type: ocpp, charge_point_id: CP-2, port: 9903}\n"
        "    limits: {max_current_a: 16}\n"
        "  - id: pv1\n    role: pv\n    kwp: 5\n    catalog: sunspec-inverter-int\n"
        "    connection: {type: modbus_tcp, host: 127.0.0.1, port: 1502}\n"
        f"store:\n  data_dir: {tmp_path}\nmqtt:\n  root: wwtest/cmd\n"
    )
    edge = assemble(parse_config(text), EdgeOptions(auth=test_auth(tmp_path)))
    try:
        handle = edge.mqtt_bridge().on_command
        now = utcnow()
        handle(Command("wb", "current_limit", 40.0, now))  # above the configured 16 A: capped there
        handle(Command("wb", "mode", "minpv", now + timedelta(seconds=1)))
        (law,) = [law for law in edge.control.cycle.laws if isinstance(law, EvCharging)]
        assert [(p.mode, p.max_current_a) for p in law.config.points] == [("minpv", 16.0)]
        handle(Command("wb", "current_limit", 10.0, now))
        (law,) = [law for law in edge.control.cycle.laws if isinstance(law, EvCharging)]
        assert law.config.points[0].max_current_a == 10.0
        with pytest.raises(ValueError, match="not settable"):
            handle(Command("pv1", "power_limit", 1000.0, now))
        with pytest.raises(ValueError, match="does not take battery_setpoint"):
            handle(Command("wb", "battery_setpoint", 1000.0, now))
        assert edge.overrides["wb"] == {"current_limit": 10.0, "mode": "minpv"}
        from fastapi.testclient import TestClient

        live = signed_in(TestClient(edge.web_app())).get("/api/live").json()
        assert [(c["id"], c["mode"]) for c in live["chargers"]] == [("wb", "minpv")]  # the page shows it
    finally:
        edge.close()


def test_the_owners_battery_setpoint_is_followed_like_the_planners():
    from wattwerk.control.base import Signals
    from wattwerk.edge.control_step import CycleStep
    from wattwerk.snapshot import SiteState

    seen: list[Signals] = []

    class Cycle:
        def __init__(self) -> None:
            self.laws: list = []

        def initial(self):
            return None

        def run(self, snap, state, signals):
            seen.append(signals)
            from wattwerk.control.cycle import CycleOutput

            return CycleOutput((), (), state, (), None)

    step = CycleStep(Cycle(), signals=lambda: Signals(price=0.3, hold_battery=True))  # type: ignore[arg-type]
    snap = SiteState().snapshot(utcnow())
    step(snap)
    step.set_battery(-2500.0)
    step(snap)
    step.set_battery(None)
    step(snap)
    assert [(s.battery_w, s.hold_battery, s.price) for s in seen] == [
        (None, True, 0.3),
        (-2500.0, False, 0.3),
        (None, True, 0.3),
    ]


def test_the_site_files_control_section_reaches_the_limiter(tmp_path):
    text = (
        "site:\n  name: Limits\n  location: {latitude: 48.0, longitude: 7.8}\n  timezone: Europe/Berlin\n"
        "devices:\n  - id: wb\n    role: ev_charger\n"
        "    connection: {type: ocpp, charge_point_id: CP-3, port: 9904}\n"
        f"store:\n  data_dir: {tmp_path}\n"
        "control:\n  peak_shaving_w: 7000\n  feed_in_limit_pct: 60\n"
        "  ripple:\n    contacts: [io.k1]\n    levels:\n      - {pattern: '0', feed_in_pct: 100}\n"
        "      - {pattern: '1', feed_in_pct: 0}\n"
    )
    edge = assemble(parse_config(text))
    try:
        limits = edge.control.cycle.limiter.limits
        assert limits.peak_shaving_w == 7000
        assert limits.feed_in_limit_pct == 60
        assert limits.ripple is not None and limits.ripple.contacts == ["io.k1"]
    finally:
        edge.close()
