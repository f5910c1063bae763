"""The edge's pages and live API over the demo site and over a runtime with a failing device."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient

from edge_login import signed_in, test_auth
from wattwerk.config import load_demo_config, parse_config
from wattwerk.demo import DemoSite
from wattwerk.edge.live import NotingLedger, RuntimeView
from wattwerk.edge.runtime import EdgeRuntime, Polled
from wattwerk.edge.web import STATIC_DIR, create_app
from wattwerk.errors import RetryableError
from wattwerk.model import Reading


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoSite]:
    cfg = load_demo_config()
    tz = ZoneInfo(cfg.site.timezone)
    start = datetime(2026, 6, 21, 10, tzinfo=tz)
    site = DemoSite(cfg, start, tmp_path / "edge", step_s=30, store_every_s=300)
    site.store_all_now()
    site.advance_to((start + timedelta(hours=1)).timestamp())
    site.flush()
    yield site
    site.close()


def test_live_has_devices_and_details(demo: DemoSite, tmp_path: Path) -> None:
    client = signed_in(TestClient(create_app(demo, auth=test_auth(tmp_path))))
    live = client.get("/api/live").json()
    snap = demo.state.snapshot(demo.sim.now)
    assert live["flows"]["pv"] == pytest.approx(snap.get("pv1.power"), abs=0.1)
    assert [d["id"] for d in live["devices"]] == [d.id for d in demo.cfg.devices]
    assert all(d["state"] == "ok" for d in live["devices"])
    bat = live["battery"]
    assert bat["soc_pct"] == pytest.approx(snap.get("bat.soc"), abs=0.1) and bat["reserve_pct"] == 10.0
    assert live["chargers"][0]["id"] == "ev1" and live["chargers"][0]["mode"] == "pv"
    # the demo runs the control: the charger's target is the current the control cycle wrote
    written = demo.edge.runtime.stats.last_setpoints["ev1.current_limit"].value
    assert live["chargers"][0]["target_a"] == written
    assert live["heat_pump"][0]["sgready"] in ("blocked", "normal", "recommended on", "forced on")
    kinds = {r["kind"]: r["limit_w"] for r in live["restrictions"]}
    assert kinds["feed_in_limit"] == 4800 and kinds["import_limit"] == 3 * 230 * 35
    assert client.get("/api/devices").json() == live["devices"]
    plan = client.get("/api/plan").json()  # the demo plans over the bundled day-ahead prices
    assert plan["currency"] == "EUR" and plan["slots"] and "SMARD.de" in plan["source"]


def test_pages_and_static_files_served(demo: DemoSite, tmp_path: Path) -> None:
    client = signed_in(TestClient(create_app(demo, auth=test_auth(tmp_path))))
    for path, marker in (("/", 'id="flows"'), ("/setup", 'id="results"'), ("/wizard", 'id="ifaces"')):
        r = client.get(path)
        assert r.status_code == 200 and marker in r.text
        for src in ("static/common.js", "static/style.css"):
            assert src in r.text
    for name in ("app.js", "setup.js", "wizard.js", "login.js", "common.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    for f in Path(str(STATIC_DIR)).rglob("*.*"):  # no CDN: the LAN may have no internet
        if f.suffix in (".js", ".html", ".css") and "vendor" not in f.parts:
            assert not re.search(r"(src|href)=[\"']?(https?:)?//", f.read_text()), f


def test_websocket_pushes_live_values(demo: DemoSite, tmp_path: Path) -> None:
    client = signed_in(TestClient(create_app(demo, auth=test_auth(tmp_path))))
    with client.websocket_connect("/api/ws") as ws:
        first = ws.receive_json()
        demo.advance_to(demo.sim.t + 60)
        second = ws.receive_json()
    assert first["site"] == "Demo house" and "devices" in first
    assert second["ts"] > first["ts"]


class Flaky:
    """A driver that answers once, then times out."""

    def __init__(self) -> None:
        self.calls = 0

    async def read(self, ts: datetime | None = None) -> list[Reading]:
        self.calls += 1
        if self.calls > 1:
            raise RetryableError("10.0.0.7:502: unit 1 read holding 40000+2: no answer")
        assert ts is not None
        return [Reading("inv.power", ts, 1234.0)]

    async def command(self, command: str, value: float) -> None:
        raise AssertionError("not used")


SITE = """
site: {name: Flaky, location: {latitude: 50, longitude: 8}, timezone: Europe/Berlin}
devices:
  - {id: inv, role: pv, kwp: 5, connection: {type: modbus_tcp, host: 10.0.0.7}}
"""


async def test_device_state_and_last_error_from_the_runtime(tmp_path: Path) -> None:
    runtime = EdgeRuntime([Polled("inv", Flaky(), 0.05)], ledger=NotingLedger(), max_backoff_s=0.05)
    app = create_app(RuntimeView(runtime, parse_config(SITE)), auth=test_auth(tmp_path, public_live=True))
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.run(stop))
    await asyncio.sleep(0.4)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        live = (await client.get("/api/live")).json()
    stop.set()
    await task
    (row,) = live["devices"]
    assert row["state"] == "failing" and row["reads"] == 1 and row["failures"] >= 1
    assert row["errors"]["RetryableError"] >= 1
    assert row["last_error"]["kind"] == "RetryableError" and "no answer" in row["last_error"]["message"]
    assert row["connection"] == "modbus_tcp 10.0.0.7:502"
    assert live["flows"]["pv"] == 1234.0  # still fresh: the state keeps the last good value until stale


async def test_restrictions_from_the_limiter() -> None:
    active = {"export:grid": 4800.0, "import:ripple": 7245.0, "para14a": 4200.0}
    view = RuntimeView(EdgeRuntime([]), parse_config(SITE), limits_fn=lambda: active)
    rows = {r["kind"]: r for r in view.live()["restrictions"]}
    assert rows["feed_in_limit"]["limit_w"] == 4800 and rows["feed_in_limit"]["direction"] == "export"
    ripple = rows["ripple_control"]
    assert ripple["source"] == "ripple-control receiver" and ripple["limit_w"] == 7245
    assert rows["para14a"]["limit_w"] == 4200
    active.clear()
    assert view.live()["restrictions"] == []
