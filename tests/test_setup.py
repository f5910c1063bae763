"""Setup in the UI: catalogue search, testing a connection, saving into the site file, and the
running edge polling the new device — against a SunSpec emulator on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge_login import signed_in_async, test_auth
from wattwerk.config import load_config
from wattwerk.devices.catalog import find
from wattwerk.edge.live import NotingLedger, RuntimeView
from wattwerk.edge.runtime import EdgeRuntime
from wattwerk.edge.setup import Setup, search_catalog, suggest_id, try_device
from wattwerk.edge.web import create_app
from wattwerk.sim.emulators.modbus import EmulatorServer
from wattwerk.sim.emulators.sunspec import SunSpecEmulator

SITE = """\
# test site
version: 1
site:
  name: Setup house
  location: {latitude: 48.1, longitude: 11.6}
  timezone: Europe/Berlin
devices:
  - id: grid
    role: grid_meter
    connection: {type: sim}
  - id: sub
    role: submeter   # the flat's meter
    connection: {type: sim}
"""
KEY = "pv_inverter/sunspec-inverter-int"


class Sim:
    def __init__(self, power: float) -> None:
        self.v = {"power": power, "energy": 1_234_567.0, "temperature": 41.0}
        self.applied: list[tuple[str, float]] = []

    def values(self) -> dict[str, float]:
        return self.v

    def apply(self, command: str, value: float) -> None:
        self.applied.append((command, value))


@pytest.fixture
async def inverter() -> AsyncIterator[tuple[EmulatorServer, Sim]]:
    spec = find("sunspec-inverter-int").entry.sunspec
    assert spec is not None
    sim = Sim(4321.0)
    emulator = SunSpecEmulator(spec.models, sim, rated_power=spec.rated_power)
    async with EmulatorServer([emulator.bank]) as server:
        yield server, sim


@pytest.fixture
def site(tmp_path: Path) -> Path:
    p = tmp_path / "site.yaml"
    p.write_text(SITE)
    return p


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_search_by_vendor_or_model() -> None:
    found = search_catalog("sunspec inverter")
    assert KEY in [e["key"] for e in found]
    entry = next(e for e in found if e["key"] == KEY)
    assert entry["role"] == "pv" and entry["can_add"] and entry["fields"][0]["name"] == "kwp"
    fronius = search_catalog("FRONIUS")
    assert fronius and all("fronius" in (e["vendor"] + " ".join(e["models"])).lower() for e in fronius)
    assert search_catalog("no such vendor anywhere") == []


async def test_try_reads_live_values(inverter: tuple[EmulatorServer, Sim]) -> None:
    server, _ = inverter
    result = await try_device(KEY, "127.0.0.1", server.port, 1)
    assert result.ok, result.error
    assert math.isclose(result.values["power"], 4321.0, abs_tol=1.0)
    assert result.info.get("manufacturer", result.info.get("Mn", "wattwerk")) is not None


async def test_try_says_precisely_what_is_wrong(inverter: tuple[EmulatorServer, Sim]) -> None:
    port = closed_port()
    refused = await try_device(KEY, "127.0.0.1", port, 1, timeout_s=0.5)
    assert not refused.ok and f"127.0.0.1:{port}" in (refused.error or "")
    unknown = await try_device("pv_inverter/nope", "127.0.0.1", 502, 1)
    assert not unknown.ok and "no catalogue entry 'nope'" in (unknown.error or "")


def test_suggest_id(site: Path) -> None:
    cfg = load_config(site)
    assert suggest_id(cfg, "PV") == "pv"
    assert suggest_id(cfg, "sub") == "sub2"


@contextlib.asynccontextmanager
async def _client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client signed in to the edge's page (``test_auth``'s password)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
        yield await signed_in_async(c)


async def test_save_through_api_and_the_running_edge_polls_it(
    site: Path, inverter: tuple[EmulatorServer, Sim]
) -> None:
    server, sim = inverter
    cfg = load_config(site)
    runtime = EdgeRuntime([], ledger=NotingLedger())
    view = RuntimeView(runtime, cfg)
    setup = Setup(site, runtime=runtime, on_config=lambda c: setattr(view, "cfg", c))
    app = create_app(view, auth=test_auth(site.parent), setup=setup, runtime=runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.run(stop))
    try:
        async with _client(app) as client:
            r = await client.post(
                "/api/setup/test", json={"catalog": KEY, "host": "127.0.0.1", "port": server.port, "unit": 1}
            )
            assert r.status_code == 200 and r.json()["ok"], r.text
            form = {
                "catalog": KEY,
                "host": "127.0.0.1",
                "port": server.port,
                "unit": 1,
                "id": "pv1",
                "kwp": 8.0,
                "interval_s": 0.2,
            }
            r = await client.post("/api/setup/devices", json=form)
            assert r.status_code == 200, r.text
            assert r.json()["devices"] == ["grid", "sub", "pv1"]
            saved = load_config(site)
            assert saved.device("pv1").catalog == KEY
            assert "# the flat's meter" in site.read_text()
            for _ in range(100):
                if runtime.state.snapshot(runtime.clock()).get("pv1.power") is not None:
                    break
                await asyncio.sleep(0.05)
            live = (await client.get("/api/live")).json()
            assert math.isclose(live["flows"]["pv"], 4321.0, abs_tol=1.0)
            row = next(d for d in (await client.get("/api/devices")).json() if d["id"] == "pv1")
            assert row["state"] == "ok" and row["reads"] >= 1 and row["role"] == "pv"
            sim.v["power"] = 1000.0
            await asyncio.sleep(0.5)
            live = (await client.get("/api/live")).json()
            assert math.isclose(live["flows"]["pv"], 1000.0, abs_tol=1.0)
            metrics = (await client.get("/metrics")).text
            assert "wattwerk_edge" in metrics
    finally:
        stop.set()
        await task


async def test_invalid_device_refused_with_check_messages_file_untouched(site: Path) -> None:
    before = site.read_bytes()
    app = create_app(
        RuntimeView(EdgeRuntime([]), load_config(site)), auth=test_auth(site.parent), setup=Setup(site)
    )
    async with _client(app) as client:
        form = {"catalog": KEY, "host": "10.0.0.9", "port": 502, "unit": 1, "id": "pv1"}  # no kwp
        r = await client.post("/api/setup/devices", json=form)
        assert r.status_code == 422
        errors = r.json()["errors"]
        assert errors and errors[0].startswith(f"{site}:") and "kwp" in errors[0]
        r = await client.post("/api/setup/devices", json=form | {"kwp": 5.0, "id": "sub"})
        assert r.status_code == 422 and 'duplicate device id "sub"' in r.json()["errors"][0]
        r = await client.post("/api/setup/devices", json=form | {"kwp": 5.0, "id": "Bad Id"})
        assert r.status_code == 422
    assert site.read_bytes() == before


async def test_setup_off_without_a_site_file(tmp_path: Path) -> None:
    from wattwerk.config import load_demo_config

    app = create_app(RuntimeView(EdgeRuntime([]), load_demo_config()), auth=test_auth(tmp_path))
    async with _client(app) as client:
        r = await client.post("/api/setup/devices", json={"catalog": KEY, "host": "h", "id": "x"})
        assert r.status_code == 409 and "setup is off" in r.json()["errors"][0]
        r = await client.get("/api/setup/config")  # what the pages show, in their language by its code
        body = r.json()
        assert r.status_code == 409 and body["code"] == "no_site_file" and "setup is off" in body["errors"][0]


async def test_choose_grid_meter(site: Path) -> None:
    app = create_app(
        RuntimeView(EdgeRuntime([]), load_config(site)), auth=test_auth(site.parent), setup=Setup(site)
    )
    async with _client(app) as client:
        r = await client.post("/api/wizard/grid-meter", json={"device_id": "sub"})
        assert r.status_code == 200 and r.json()["grid_meter"] == "sub"
        cfg = load_config(site)
        assert cfg.device("grid").role == "submeter" and cfg.device("sub").role == "grid_meter"
        assert "# the flat's meter" in site.read_text()
        r = await client.post("/api/wizard/grid-meter", json={"device_id": "nope"})
        assert r.status_code == 422 and 'no device with id "nope"' in r.json()["errors"][0]
        conf = (await client.get("/api/setup/config")).json()
        assert conf["grid_meter"] == "sub"


async def test_try_a_register_map_entry() -> None:
    """A catalogue entry with its own register map (not SunSpec) goes through the same path."""
    from wattwerk.sim.emulators.modbus import CatalogEmulator

    item = find("carlo-gavazzi-em24")
    sim = Sim(-2150.0)
    sim.v |= {"energy_import": 1_000_000.0, "energy_export": 500_000.0}
    emulator = CatalogEmulator(item.entry, sim)  # type: ignore[arg-type]
    async with EmulatorServer([emulator.bank]) as server:
        result = await try_device(item.key, "127.0.0.1", server.port, item.entry.connection.unit)
    assert result.ok, result.error
    assert math.isclose(result.values["power"], -2150.0, abs_tol=1.0)


async def test_role_fields_and_entries_that_cannot_be_added_here(site: Path) -> None:
    app = create_app(
        RuntimeView(EdgeRuntime([]), load_config(site)), auth=test_auth(site.parent), setup=Setup(site)
    )
    async with _client(app) as client:
        rtu_only = next(e for e in search_catalog("", 1000) if not e["can_add"])
        before = site.read_bytes()
        r = await client.post(
            "/api/setup/devices", json={"catalog": rtu_only["key"], "host": "10.0.0.2", "id": "m1"}
        )
        assert r.status_code == 422 and "cannot be added here yet" in r.json()["errors"][0]
        assert site.read_bytes() == before
        rod_form = {
            "catalog": "heating_rod/mypv-ac-thor",
            "host": "10.0.0.3",
            "id": "rod",
            "max_power_w": 3000,
        }
        r = await client.post("/api/setup/devices", json=rod_form)
        assert r.status_code == 200, r.text
    rod = load_config(site).device("rod")
    assert rod.role == "heating_rod" and rod.limits.max_power_w == 3000
