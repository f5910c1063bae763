"""The edge's own history and charging sessions through its API, over a real SQLite store with a
month of readings across the October DST change (Europe/Berlin, 25 October 2026: a 25-hour day)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from edge_login import signed_in, test_auth
from wattwerk.config import parse_config
from wattwerk.edge.history import figures
from wattwerk.edge.live import RuntimeView
from wattwerk.edge.runtime import EdgeRuntime
from wattwerk.edge.view import StoreView
from wattwerk.edge.web import create_app
from wattwerk.flows import SiteRoles
from wattwerk.model import Reading
from wattwerk.store.sqlite import SqliteStore

TZ = "Europe/Berlin"
SITE = f"""
site: {{name: History, location: {{latitude: 50, longitude: 8}}, timezone: {TZ}}}
devices:
  - {{id: grid, role: grid_meter, connection: {{type: mqtt, topic: grid}}}}
  - {{id: pv1, role: pv, kwp: 5, connection: {{type: mqtt, topic: pv}}}}
  - {{id: ev1, role: ev_charger, connection: {{type: mqtt, topic: ev}}}}
"""
START = datetime(2026, 9, 30, 20, tzinfo=UTC)  # before local 1 October, through 2 November
END = datetime(2026, 11, 2, 12, tzinfo=UTC)
STEP = timedelta(minutes=5)
# the car: plugged on 10 October 17:00-21:00 local, charging 18:00-20:00 at 7.2 kW
PLUG = (datetime(2026, 10, 10, 17, tzinfo=ZoneInfo(TZ)), datetime(2026, 10, 10, 21, tzinfo=ZoneInfo(TZ)))
CHARGE = (datetime(2026, 10, 10, 18, tzinfo=ZoneInfo(TZ)), datetime(2026, 10, 10, 20, tzinfo=ZoneInfo(TZ)))


def readings() -> list[Reading]:
    """Every 5 minutes: grid import/export counters and power, PV power, the car's power, state and
    counter. Import grows by 37 Wh a step, export by 11 Wh; the car by its power's energy."""
    out: list[Reading] = []
    imp = exp = ev = 0.0
    t = START
    while t <= END:
        charging = CHARGE[0] <= t < CHARGE[1]
        ev_w = 7200.0 if charging else 0.0
        out += [
            Reading("grid.energy_import", t, 1_000_000.0 + imp),
            Reading("grid.energy_export", t, 500.0 + exp),
            Reading("grid.power", t, 444.0 + ev_w / 2),
            Reading("pv1.power", t, 900.0),
            Reading("ev1.power", t, ev_w),
            Reading("ev1.energy", t, 20_000.0 + ev),
            Reading("ev1.state", t, 2.0 if charging else 1.0 if PLUG[0] <= t < PLUG[1] else 0.0),
        ]
        imp += 37.0
        exp += 11.0
        ev += ev_w * STEP.total_seconds() / 3600
        t += STEP
    return out


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    cfg = parse_config(SITE)
    store = SqliteStore(tmp_path / "store.db", tz=TZ)
    store.write(readings())
    roles = SiteRoles.from_pairs([(d.id, d.role) for d in cfg.devices])
    now = END + timedelta(hours=1)
    runtime = EdgeRuntime([])
    view = StoreView("History", ZoneInfo(TZ), roles, lambda: runtime.state.snapshot(now), store, lambda: now)
    page = RuntimeView(runtime, cfg, store_view=view, clock=lambda: now)
    client = signed_in(TestClient(create_app(page, auth=test_auth(tmp_path))))
    client.store = store  # type: ignore[attr-defined]
    return client


def counter_delta(store: SqliteStore, channel: str, a: datetime, b: datetime) -> float:
    """The counter's difference between the last readings before a and before b (raw rows)."""
    rows = store.raw_rows(channel, START, END + timedelta(minutes=1))
    before = lambda t: [v for ts, v, _, _ in rows if ts < t.timestamp() * 1000][-1]  # noqa: E731
    return before(b) - before(a)


def test_month_across_dst_equals_the_counters(client: TestClient) -> None:
    res = client.get("/api/history", params={"period": "month", "date": "2026-10-15"})
    assert res.status_code == 200, res.text
    month = res.json()
    tz = ZoneInfo(TZ)
    a, b = datetime(2026, 10, 1, tzinfo=tz), datetime(2026, 11, 1, tzinfo=tz)
    assert month["start"] == a.astimezone(UTC).isoformat() and month["end"] == b.astimezone(UTC).isoformat()
    assert len(month["rows"]) == 31
    dst = next(r for r in month["rows"] if r["start"].startswith("2026-10-24T22"))
    assert datetime.fromisoformat(dst["end"]) - datetime.fromisoformat(dst["start"]) == timedelta(hours=25)
    store = client.store  # type: ignore[attr-defined]
    imp = counter_delta(store, "grid.energy_import", a, b) / 1000
    exp = counter_delta(store, "grid.energy_export", a, b) / 1000
    total = month["total"]["energy_kwh"]
    assert total["grid_import"] == pytest.approx(imp, abs=0.001) and total["grid_export"] == pytest.approx(
        exp, abs=0.001
    )
    assert sum(r["energy_kwh"]["grid_import"] for r in month["rows"]) == pytest.approx(imp, abs=0.01)
    # the 25-hour day has 300 steps of 37 Wh, an ordinary day 288
    assert dst["energy_kwh"]["grid_import"] == pytest.approx(300 * 0.037, abs=0.001)
    assert month["rows"][0]["energy_kwh"]["grid_import"] == pytest.approx(288 * 0.037, abs=0.001)
    assert month["total"]["energy_kwh"]["ev"] == pytest.approx(7.2 * 2, abs=0.001)
    price = month["price_eur_per_kwh"]
    assert month["total"]["cost"] == pytest.approx(imp * price["import"] - exp * price["export"], abs=0.02)
    # the year is the sum of its months
    year = client.get("/api/history", params={"period": "year", "date": "2026-10-15"}).json()
    assert len(year["rows"]) == 12 and year["rows"][9]["energy_kwh"] == month["total"]["energy_kwh"]


def test_a_night_has_no_self_consumption_and_an_empty_house_no_autarky() -> None:
    night = dict.fromkeys(("pv", "grid_export", "battery_charge", "battery_discharge", "ev", "heat"), 0.0)
    night |= {"grid_import": 2.0, "house": 2.0}
    row = figures(night, 0.6)
    assert row["self_consumption_pct"] is None and row["autarky_pct"] == 0.0  # all from the grid
    day = night | {"pv": 4.0, "grid_export": 1.0, "grid_import": 0.0, "house": 3.0}
    assert figures(day, 0.0)["self_consumption_pct"] == 75.0 and figures(day, 0.0)["autarky_pct"] == 100.0
    charging = night | {"grid_import": 3.0, "battery_charge": 1.0}  # from the grid into the battery
    assert figures(charging, 0.9)["autarky_pct"] == 0.0  # a share: never below 0 %
    empty = night | {"pv": 1.0, "grid_export": 1.0, "grid_import": 0.0, "house": 0.0}
    assert figures(empty, 0.0)["autarky_pct"] is None and figures(empty, 0.0)["self_consumption_pct"] == 0.0


def test_history_refuses_an_unknown_period(client: TestClient) -> None:
    res = client.get("/api/history", params={"period": "fortnight", "date": "2026-10-15"})
    assert res.status_code == 422


def test_sessions_and_csv(client: TestClient) -> None:
    res = client.get("/api/sessions", params={"month": "2026-10"})
    assert res.status_code == 200, res.text
    (s,) = res.json()["sessions"]
    assert s["charger"] == "ev1"
    assert datetime.fromisoformat(s["start"]) == PLUG[0]
    assert datetime.fromisoformat(s["end"]) == PLUG[1]
    assert s["energy_kwh"] == pytest.approx(14.4, abs=0.001)
    # grid 444 + 3600 W while the car draws 7200 W: the grid feeds 4044/7200 of it
    assert s["pv_share_pct"] == pytest.approx(100 * (1 - 4044 / 7200), abs=0.1)
    assert client.get("/api/sessions", params={"month": "2026-09"}).json()["sessions"] == []
    csv_res = client.get("/api/sessions.csv", params={"month": "2026-10"})
    assert csv_res.status_code == 200 and csv_res.headers["content-type"].startswith("text/csv")
    assert 'filename="sessions-2026-10.csv"' in csv_res.headers["content-disposition"]
    (row,) = list(csv.DictReader(io.StringIO(csv_res.text)))
    assert row["charger"] == "ev1" and float(row["energy_kwh"]) == pytest.approx(14.4, abs=0.001)
    bad = client.get("/api/sessions", params={"month": "October"})
    assert bad.status_code == 400 and "YYYY-MM" in bad.json()["errors"][0]
    assert date(2026, 10, 1)  # the month the test data is in


def test_app_shell_is_open_and_history_needs_a_session(client: TestClient) -> None:
    anonymous = TestClient(client.app)
    manifest = anonymous.get("/manifest.webmanifest")
    assert manifest.status_code == 200 and manifest.headers["content-type"].startswith(
        "application/manifest+json"
    )
    assert {i["sizes"] for i in manifest.json()["icons"]} == {"any", "192x192", "512x512"}
    for icon in manifest.json()["icons"]:
        assert anonymous.get("/" + icon["src"]).status_code == 200
    sw = anonymous.get("/sw.js")
    assert sw.status_code == 200 and "javascript" in sw.headers["content-type"]
    for path in ("/api/history", "/api/sessions", "/api/sessions.csv"):
        assert anonymous.get(path).status_code == 401, path
    assert client.get("/history").status_code == 200 and 'id="rows"' in client.get("/history").text
    assert client.get("/sessions").status_code == 200


def test_a_sessions_cost_uses_the_recorded_prices_and_names_the_car(tmp_path: Path) -> None:
    """Minutes with the price the control ran with (``edge.price_import``) are priced at it, the
    others at the site file's tariff; the car comes from the owner's plan, else the site file's
    departure for the charger."""
    from wattwerk.edge.history import sessions, sessions_csv, tariff_of

    cfg = parse_config(
        SITE + "strategy:\n  ev_departures:\n"
        "    - {charger: ev1, departure: '07:00', days: [mon, tue], energy_kwh: 10, car: Zoe}\n"
    )
    store = SqliteStore(tmp_path / "store.db", tz=TZ)
    store.write(readings())
    now, month = END + timedelta(hours=1), date(2026, 10, 1)
    (plain,) = sessions(store, cfg, month, now)
    fixed = float(tariff_of(cfg).buy(pd.DatetimeIndex([CHARGE[0]]))[0])
    assert plain["cost"] == pytest.approx(plain["grid_kwh"] * fixed, abs=0.011)
    assert plain["car"] == "Zoe"
    t, prices = PLUG[0].astimezone(UTC), []
    while t < PLUG[1]:  # a dynamic price every minute of the session
        prices.append(Reading("edge.price_import", t, 0.5))
        t += timedelta(minutes=1)
    store.write(prices)
    (priced,) = sessions(store, cfg, month, now, cars={"ev1": "Kona"})
    assert priced["cost"] == pytest.approx(priced["grid_kwh"] * 0.5, abs=0.011) != plain["cost"]
    assert priced["car"] == "Kona"
    (row,) = csv.DictReader(io.StringIO(sessions_csv([priced])))
    assert (row["car"], float(row["cost"])) == ("Kona", priced["cost"])
