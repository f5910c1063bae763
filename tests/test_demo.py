"""The demo: the edge of ``wattwerk run`` (control, planner, store, page) over a simulated house, end to
end: the simulator's drivers -> the assembled edge -> store -> summary and page."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from edge_login import signed_in, test_auth
from wattwerk.config import load_demo_config
from wattwerk.demo import DemoSite
from wattwerk.edge.web import create_app

TZ = ZoneInfo("Europe/Berlin")


def _demo_until_14h(tmp_path, begin: timedelta):
    """The demo site from ``begin`` after midnight of a June Monday until 14:00."""
    cfg = load_demo_config()
    start = datetime(2025, 6, 2, tzinfo=TZ) + begin
    site = DemoSite(cfg, start, tmp_path / "edge", step_s=10.0, store_every_s=60.0)
    site.store_all_now()
    site.advance_to((start - begin + timedelta(hours=14)).timestamp())
    site.store_all_now()
    return site, start


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """From midnight: a day's stored history up to 14:00 (the energy and today's series need it);
    the two tests on it only read it, so a worker that runs both builds it once."""
    site, start = _demo_until_14h(tmp_path_factory.mktemp("demo"), timedelta(0))
    yield site, start
    site.close()


@pytest.fixture
def running_site(tmp_path):
    """The same site at 14:00 after ten minutes of running: every device read and fresh, without the
    14 h of history no assertion on it needs (5,040 steps less)."""
    site, start = _demo_until_14h(tmp_path, timedelta(hours=13, minutes=50))
    yield site, start
    site.close()


def test_stored_energy_matches_the_simulated_meters(site):
    demo, start = site
    summary = demo.summary(start, demo.sim.now)
    sim = demo.sim.channels()
    kwh = summary["energy_kwh"]
    # The edge's figures come from the store's counter deltas; the simulator's counters started at 0.
    assert kwh["grid_import"] == pytest.approx(sim["grid.energy_import"] / 1000, abs=1e-3)
    assert kwh["pv"] == pytest.approx(sim["pv1.energy"] / 1000, abs=1e-3)
    assert kwh["house"] == pytest.approx(sim["house.energy"] / 1000, abs=1e-3)
    assert kwh["heat"] == pytest.approx((sim["hp.energy"] + sim["rod.energy"]) / 1000, abs=1e-3)
    assert kwh["pv"] > 1.0  # a June morning produces
    assert summary["balance_error_pct"] < 0.1
    assert 0 <= summary["autarky_pct"] <= 100
    assert 0 <= summary["self_consumption_pct"] <= 100


def test_page_and_api(site, tmp_path):
    demo, _ = site
    client = signed_in(TestClient(create_app(demo, auth=test_auth(tmp_path))))
    page = client.get("/")
    assert page.status_code == 200 and "Power now" in page.text
    assert client.get("/static/app.js").status_code == 200
    live = client.get("/api/live").json()
    assert set(live["flows"]) == {"grid", "pv", "battery", "house", "ev", "heat"}
    flows = live["flows"]
    # the flows balance: grid + pv + battery = house + ev + heat (the grid point closes the balance)
    assert flows["grid"] + flows["pv"] + flows["battery"] == pytest.approx(
        flows["house"] + flows["ev"] + flows["heat"], abs=1.0
    )
    assert live["stale"] == []
    today = client.get("/api/today").json()
    pv = today["series"]["pv"]
    assert len(pv) == 14 * 4 + 1  # 15-min buckets from midnight to 14:00, plus the reading at 14:00
    assert max(v for _, v in pv) > 500
    assert today["energy_kwh"]["pv"] > 1.0


def test_a_device_that_stops_answering_is_reported_stale(running_site):
    demo, _ = running_site
    assert demo.live()["stale"] == []  # all fresh before
    stale_until = demo.sim.t + 120
    demo.silence("pv1")  # pv1 stops answering
    demo.advance_to(stale_until)
    live = demo.live()
    assert live["stale"] == ["pv1"]
    assert live["flows"]["pv"] is None


def test_headless_cli_prints_the_summary_json():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "wattwerk",
            "demo",
            "--speed",
            "1000000",
            "--for",
            "6h",
            "--json",
            "--start",
            "2025-03-10",
            "--step",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    summary = json.loads(out.stdout)
    assert set(summary["energy_kwh"]) == {
        "grid_import",
        "grid_export",
        "pv",
        "battery_charge",
        "battery_discharge",
        "house",
        "ev",
        "heat",
    }
    assert summary["balance_error_pct"] < 0.1
    assert summary["energy_kwh"]["house"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--speed", "0"], "--speed must be > 0"),
        (["--json"], "--json needs --for"),
        (["--for", "soon"], "not a duration"),
    ],
)
def test_bad_demo_options_say_what_is_wrong(args, message):
    out = subprocess.run(
        [sys.executable, "-m", "wattwerk", "demo", *args], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_demo_scenario_prints_the_closed_loop_summary():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "wattwerk",
            "demo",
            "--scenario",
            "four-chargers-fuse",
            "--speed",
            "1e9",
            "--for",
            "5m",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    summary = json.loads(out.stdout)
    for key in ("limit_violations", "max_limit_excess_w", "relay_switches", "ev_grid_share_pct", "fallbacks"):
        assert key in summary
    assert summary["cycles"] == 30  # 5 simulated minutes at the default 10 s control interval
    assert summary["limit_violations"] == 0
    assert summary["energy_kwh"]["ev"] > 0.5  # four cars charging for 5 minutes
    assert summary["balance_error_pct"] < 0.1


def test_demo_unknown_scenario_names_the_known_ones():
    out = subprocess.run(
        [sys.executable, "-m", "wattwerk", "demo", "--scenario", "sunny", "--for", "1h"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "no scenario 'sunny'" in out.stderr and "pv-surplus-sunny" in out.stderr
    assert "Traceback" not in out.stderr


def test_headless_demo_runs_the_control_and_the_planner():
    """A sunny Sunday: the car in PV mode charges from PV (under 5 % from the grid), the battery does not
    feed it, no grid limit is exceeded (judged on the simulator's own values), the planner plans over
    the bundled day-ahead prices; stdout holds only the JSON (no solver banner)."""
    out = subprocess.run(
        [sys.executable, "-m", "wattwerk", "demo", "--for", "24h", "--json", "--start", "2025-06-15"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    summary = json.loads(out.stdout)
    assert summary["ev_kwh"] > 5.0
    assert summary["ev_grid_share_pct"] < 5.0
    assert summary["ev_from_battery_kwh"] < 0.05
    assert summary["limit_violations"] == 0
    assert summary["balance_error_pct"] < 0.1
    assert summary["plan"]["status"] == "optimal" and "SMARD.de" in summary["plan"]["prices"]
    assert summary["plan"]["pv"] == "weather"  # the simulator's weather, no internet
