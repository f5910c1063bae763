"""The cost widget's figure priced per plan slot (issue 18): the pure pricing (portal/slot_cost.py)
with numbers worked out by hand, and ``GET /api/v1/sites/{site}/cost`` against the real portal
(PostgreSQL and SQLite): grid counters over two hours, a plan whose prices differ per hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from portal_fixtures import Portal, account, edge_token, new_site, now_ms, portal, upload  # noqa: F401
from test_ingest_support import database, pg  # noqa: F401
from wattwerk.portal.slot_cost import Prices, Slot, SlotIndex, cost

MIN = 60_000
Q = 15 * MIN
FALLBACK = Prices(0.30, 0.07)


# ------------------------------------------------------------ the pure pricing


def test_two_slots_a_bucket_outside_and_the_export_credit() -> None:
    slots = [Slot(0, 15, 0.10, 0.05), Slot(Q, 15, 0.40, 0.08)]
    energy = [
        (0, 1000.0, 0.0),  # slot 1: 1 kWh × 0.10
        (5 * MIN, 500.0, 0.0),  # slot 1: 0.5 kWh × 0.10
        (Q, 2000.0, 1000.0),  # slot 2: 2 kWh × 0.40, credit 1 kWh × 0.08
        (2 * Q, 1000.0, 500.0),  # no slot: 1 kWh × 0.30, credit 0.5 kWh × 0.07
    ]
    c = cost(energy, slots, FALLBACK)
    assert c.import_eur == pytest.approx(0.10 + 0.05 + 0.80 + 0.30)
    assert c.export_eur == pytest.approx(0.08 + 0.035)
    assert c.net_eur == pytest.approx(1.25 - 0.115)
    assert (c.priced_wh, c.unpriced_wh) == (4500.0, 1500.0)
    assert c.per_slot_share == pytest.approx(0.75)


def test_negative_prices_cost_less_than_nothing() -> None:
    c = cost([(0, 2000.0, 1000.0)], [Slot(0, 60, -0.05, -0.02)], FALLBACK)
    assert c.import_eur == pytest.approx(-0.10)  # paid to take 2 kWh
    assert c.export_eur == pytest.approx(-0.02)  # feeding in costs: a negative credit
    assert c.net_eur == pytest.approx(-0.08)
    assert c.per_slot_share == 1.0


def test_a_bucket_belongs_to_the_slot_containing_its_start() -> None:
    index = SlotIndex([Slot(3600_000, 60, 0.2, 0.1), Slot(0, 30, 0.1, 0.0)])  # a gap 30-60 min
    assert index.at(0).price == 0.1 and index.at(29 * MIN).price == 0.1
    assert index.at(30 * MIN) is None and index.at(59 * MIN) is None and index.at(-1) is None
    assert index.at(105 * MIN).price == 0.2 and index.at(120 * MIN) is None
    c = cost([(45 * MIN, 1000.0, 0.0), (75 * MIN, 1000.0, 0.0)], index, FALLBACK)
    assert c.import_eur == pytest.approx(0.30 + 0.20)
    assert (c.priced_wh, c.unpriced_wh) == (1000.0, 1000.0)


def test_no_energy_is_no_cost_and_nothing_priced_per_slot() -> None:
    c = cost([], [Slot(0, 15, 0.3, 0.1)], FALLBACK)
    assert (c.import_eur, c.export_eur, c.net_eur, c.per_slot_share) == (0.0, 0.0, 0.0, 0.0)


# ------------------------------------------------------------ the real portal


def hour_price(ts: int, start: int) -> tuple[float, float]:
    """The plan's prices: 0.10 / 0.05 in the first hour, 0.40 / 0.08 in the second."""
    return (0.10, 0.05) if ts < start + 60 * MIN else (0.40, 0.08)


def plan_doc(site: str, start: int, tariff: dict[str, Any] | None) -> dict[str, Any]:
    slots = []
    for i in range(8):  # two hours of 15-minute slots
        ts = start + i * Q
        price, sell = hour_price(ts, start)
        slots.append(
            {"ts_ms": ts, "price": price, "sell": sell, "pv_w": 0, "load_w": 1, "grid_w": 1, "cost_eur": 0.0}
        )
    doc = {
        "site": site,
        "edge_id": "e1",
        "made_at_ms": now_ms(),
        "status": "optimal",
        "pv_source": "x",
        "currency": "EUR",
        "slot_minutes": 15,
        "slots": slots,
    }
    return doc | ({"tariff": tariff} if tariff else {})


def counters(device: str, start: int) -> list[tuple[str, int, float]]:
    """Readings a minute apart over [start, start + 2 h 15 min): import 10 Wh a minute in the
    first hour, 20 Wh a minute after it; export 5 Wh a minute from the second hour on. Each
    increment falls in the bucket of the reading that shows it."""
    rows = []
    imp = exp = 0.0
    for m in range(0, 135):
        ts = start + m * MIN
        if m > 0:
            imp += 10.0 if m < 60 else 20.0
            exp += 0.0 if m < 60 else 5.0
        rows += [
            (f"{device}.energy_import", ts, 100_000 + imp),
            (f"{device}.energy_export", ts, 50_000 + exp),
        ]
    return rows


def yesterday_ten() -> tuple[int, str]:
    """10:00 UTC yesterday (a UTC site's day): always past, within a plan's two days back."""
    day = (datetime.now(UTC) - timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    return int(day.timestamp() * 1000), day.date().isoformat()


EDGE_TARIFF = {"name": "aWATTar hourly", "currency": "EUR", "import_per_kwh": 0.25, "export_per_kwh": 0.065}


def test_the_cost_of_a_day_is_priced_per_slot(portal: Portal) -> None:  # noqa: F811
    owner = account(portal)
    site = new_site(owner)
    token = edge_token(owner, site)
    start, day = yesterday_ten()
    upload(portal, token, site, counters("grid", start))
    r = httpx.post(
        f"{portal.url}/api/v1/plans",
        json=plan_doc(site, start, EDGE_TARIFF),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200 and r.json()["stored"] == 8, r.text
    got = owner.http.get(f"/api/v1/sites/{site}/cost", params={"period": "day", "date": day})
    assert got.status_code == 200, got.text
    c = got.json()
    # import: 59 × 10 Wh at 0.10, 60 × 20 Wh at 0.40; after the plan 15 × 20 Wh at the edge's 0.25
    assert c["import_eur"] == pytest.approx(0.590 * 0.10 + 1.2 * 0.40 + 0.3 * 0.25)
    # export: 60 × 5 Wh at 0.08; after the plan 15 × 5 Wh at the edge's 0.065
    assert c["export_eur"] == pytest.approx(0.3 * 0.08 + 0.075 * 0.065)
    assert c["net_eur"] == pytest.approx(c["import_eur"] - c["export_eur"])
    assert c["per_slot_share"] == pytest.approx((590 + 1200 + 300) / (590 + 1500 + 375))
    assert c["fallback"] == {"import_per_kwh": 0.25, "export_per_kwh": 0.065, "source": "edge"}
    assert (c["tariff_name"], c["currency"], c["resolution"]) == ("aWATTar hourly", "EUR", "15m")
    # the old way, the whole energy at the edge's mean prices, is another figure
    mean = 2.09 * 0.25 - 0.375 * 0.065
    assert abs(c["net_eur"] - mean) > 0.01
    # the energy widget's figures are the same energy: the cost prices all of it
    series = owner.http.get(
        f"/api/v1/sites/{site}/series",
        params={"period": "day", "date": day, "channels": "grid.energy_import,grid.energy_export"},
    ).json()["summary"]
    imported, exported = series["grid.energy_import"]["energy_wh"], series["grid.energy_export"]["energy_wh"]
    assert c["priced_wh"] + c["unpriced_wh"] == pytest.approx(imported + exported)


def test_by_role_and_without_a_plan_at_the_manual_tariff(portal: Portal) -> None:  # noqa: F811
    owner = account(portal)
    site = new_site(owner)
    token = edge_token(owner, site)
    start, day = yesterday_ten()
    roles = {"netz": "grid_meter", "grid_sub": "submeter"}  # a role wins over the id
    rows = counters("netz", start) + counters("grid_sub", start)
    batch = [[i + 1, ch, ts, v] for i, (ch, ts, v) in enumerate(rows)]
    r = httpx.post(
        f"{portal.url}/api/v1/ingest",
        json={"site": site, "edge_id": "e1", "readings": batch, "roles": roles},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text
    tariff = {"import_per_kwh": 0.5, "export_per_kwh": 0.1, "currency": "EUR"}
    assert owner.http.put(f"/api/v1/sites/{site}/tariff", json=tariff).status_code == 200
    c = owner.http.get(f"/api/v1/sites/{site}/cost", params={"period": "week", "date": day}).json()
    assert c["import_eur"] == pytest.approx(2.09 * 0.5)  # netz only, not the submeter
    assert c["export_eur"] == pytest.approx(0.375 * 0.1)
    assert c["per_slot_share"] == 0.0
    assert c["fallback"] == {"import_per_kwh": 0.5, "export_per_kwh": 0.1, "source": "manual"}
    assert c["tariff_name"] is None


def test_a_foreign_site_is_missing_and_bad_periods_are_refused(portal: Portal) -> None:  # noqa: F811
    owner, stranger = account(portal), account(portal)
    site = new_site(owner)
    path = f"/api/v1/sites/{site}/cost"
    good = {"period": "day", "date": "2026-11-03"}
    assert owner.http.get(path, params=good).json()["fallback"]["source"] == "default"
    foreign = stranger.http.get(path, params=good)
    missing = stranger.http.get("/api/v1/sites/nosuchsite/cost", params=good)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content == missing.content
    assert stranger.http.get(path).status_code == 404  # whatever is asked
    bad_period = owner.http.get(path, params={"period": "fortnight", "date": "2026-11-03"})
    assert bad_period.status_code == 422
    assert bad_period.json()["detail"][0]["loc"] == ["query", "period"]
    bad_date = owner.http.get(path, params={"period": "day", "date": "2026-13-01"})
    assert bad_date.status_code == 422
    assert bad_date.json()["detail"][0]["loc"] == ["query", "date"]
    none = owner.http.get(path)
    assert none.status_code == 422
    assert [(e["loc"], e["type"]) for e in none.json()["detail"]] == [
        (["query", "period"], "missing"),
        (["query", "date"], "missing"),
    ]
    far = owner.http.get(path, params={"period": "year", "date": "9999-01-01"})
    assert far.status_code == 422 and far.json()["detail"][0]["type"] == "less_than_equal"
    for period, edge_day in (("week", "0001-01-01"), ("year", "9998-12-31"), ("month", "0001-01-31")):
        ends = owner.http.get(path, params={"period": period, "date": edge_day})  # the calendar's ends
        assert ends.status_code == 200 and ends.json()["net_eur"] == 0.0, ends.text
    long = owner.http.get(path, params={"period": "custom", "date": "2000-01-01", "until": "2020-01-01"})
    assert long.status_code == 422 and "ten years" in long.json()["detail"]
    custom = owner.http.get(path, params={"period": "custom", "date": "2026-11-03"})
    assert custom.status_code == 422 and "until=" in custom.json()["detail"]
    ok = owner.http.get(path, params={"period": "custom", "date": "2026-11-03", "until": "2026-11-04"})
    assert ok.status_code == 200 and ok.json()["to_ms"] - ok.json()["from_ms"] == 2 * 86_400_000


def test_a_grid_meter_without_counters_is_priced_by_its_power(portal: Portal) -> None:  # noqa: F811
    """As the energy table: import the power above zero, export the part below, each reading held
    until the next one (the newest holds nothing)."""
    owner = account(portal)
    site = new_site(owner)
    token = edge_token(owner, site)
    start, day = yesterday_ten()
    rows = [("grid.power", start + m * MIN, 1200.0 if m < 60 else -600.0) for m in range(120)]
    upload(portal, token, site, [*rows, ("grid.power", start + 120 * MIN, 0.0)])
    r = httpx.post(
        f"{portal.url}/api/v1/plans",
        json=plan_doc(site, start, None),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    c = owner.http.get(f"/api/v1/sites/{site}/cost", params={"period": "day", "date": day}).json()
    assert c["import_eur"] == pytest.approx(1.2 * 0.10)  # an hour at 1.2 kW in the cheap hour
    assert c["export_eur"] == pytest.approx(0.6 * 0.08)  # an hour at 0.6 kW out in the dear one
    assert c["per_slot_share"] == pytest.approx(1.0)
    assert c["tariff_name"] is None and c["fallback"]["source"] == "default"
