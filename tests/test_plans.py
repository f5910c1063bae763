"""The edge's plan and PV forecast in the portal (issue 8): the edge's uploader sends a real plan
(HiGHS) to the real portal, which stores it ahead of time, replaces it with a newer one, ignores
a stale one, refuses bad or foreign documents, and shows it to the site's owner only."""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from portal_fixtures import Portal, account, edge_token, new_site, portal  # noqa: F401
from test_ingest_support import database, pg  # noqa: F401
from wattwerk.config import parse_config
from wattwerk.control.plan_model import Battery, Plan, PlanRequest
from wattwerk.control.planner import solve
from wattwerk.edge.plan_upload import PlanUploader, local_days, plan_document, pv_alert, pv_days
from wattwerk.edge.uplink import UplinkConfig
from wattwerk.forecast.pv import forecast
from wattwerk.forecast.site import pv_arrays, weather_site
from wattwerk.model import Reading
from wattwerk.portal.plans import PlanError, check_plan
from wattwerk.store.sqlite import SqliteStore

SITE = """\
site: {name: Plan house, location: {latitude: 48.0, longitude: 7.8}, timezone: Europe/Berlin}
devices:
  - id: grid
    role: grid_meter
    catalog: sunspec-meter-int
    connection: {type: modbus_tcp, host: 127.0.0.1, port: 9}
  - id: pv1
    role: pv
    kwp: 8
    tilt: 30
    azimuth: 180
    catalog: sunspec-inverter-int
    connection: {type: modbus_tcp, host: 127.0.0.1, port: 9}
portal: {url: "http://127.0.0.1:9", token: "t", site: SITE}
"""


def config(site: str = "home") -> Any:
    return parse_config(SITE.replace("SITE", site))


def slot_start(now: datetime) -> datetime:
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)


def make_plan(start: datetime, n: int = 96, pv_peak: float = 6000.0) -> Plan:
    """A real plan: a day of prices with a cheap night, PV at noon, one battery."""
    hours = np.array([(start + timedelta(minutes=15 * i)).hour for i in range(n)])
    buy = np.where((hours < 6) | (hours > 21), 0.20, 0.35)
    pv = np.clip(np.sin((hours - 6) / 12 * math.pi), 0, None) * pv_peak
    return solve(
        PlanRequest(
            start,
            15,
            buy,
            pv,
            np.full(n, 500.0),
            sell_eur_per_kwh=0.08,
            batteries=(Battery(10_000, 50, 5000, 5000, name="bat"),),
        )
    )


class Planner:
    """What the uploader reads from the edge's PlanService."""

    def __init__(self, plan: Plan | None) -> None:
        self.plan = plan
        self.prices = None
        self.weather = None
        self.store = None
        self.pv_correction = None
        self.co2: dict[str, Any] | None = None
        self.published: int | None = None  # slots with published prices (None: all)

    def co2_json(self, plan: Plan, i: int) -> dict[str, Any] | None:
        return self.co2

    def published_slots(self, plan: Plan, i: int) -> int:
        return (plan.n if self.published is None else self.published) - i


def document(site: str, start: datetime, made: datetime, n: int = 96) -> dict[str, Any]:
    cfg = config(site)
    return plan_document(
        cfg,
        make_plan(start, n),
        made,
        edge_id="edge",
        source="test",
        pv_source="clear sky",
        days=pv_days(cfg, made, None),
    )


ALERT = {
    "active": True,
    "ratio": 0.55,
    "threshold": 0.8,
    "expected_wh": 60_000.0,
    "measured_wh": 33_000.0,
    "days": ["2026-06-18", "2026-06-19", "2026-06-20"],
    "message": "pv: UNDER-PERFORMING: measured 33.0 kWh vs expected 60.0 kWh",
}

# ------------------------------------------------------------ the document, without a server


def test_the_document_carries_each_slot_and_the_expected_cost() -> None:
    now = datetime(2026, 6, 21, 10, 7, tzinfo=UTC)
    plan = make_plan(slot_start(now))
    doc = plan_document(config(), plan, now, edge_id="edge", source="test", pv_source="clear sky", days=[])
    assert len(doc["slots"]) == 96 and doc["slot_minutes"] == 15
    first = doc["slots"][0]
    assert first["ts_ms"] == int(datetime(2026, 6, 21, 10, 0, tzinfo=UTC).timestamp() * 1000)
    assert set(first["devices"]["bat"]) >= {"power_w", "soc_pct"}
    # expected cost per slot: import x buy - export x sell over 15 min; the slots add up to the plan's
    assert sum(s["cost_eur"] for s in doc["slots"]) == pytest.approx(plan.cost_eur, abs=0.01)
    i = int(np.argmax(np.abs(plan.grid_w)))
    assert abs(plan.grid_w[i]) > 100
    assert doc["slots"][i]["cost_eur"] == pytest.approx(
        (plan.import_w[i] * plan.buy_eur_per_kwh[i] - plan.export_w[i] * 0.08) / 4000, abs=1e-4
    )


def test_pv_days_are_local_days_and_dst_days_have_their_length() -> None:
    cfg = config()
    start, n = local_days(cfg, datetime(2026, 10, 24, 12, tzinfo=UTC), 2)
    assert start == datetime(2026, 10, 23, 22, tzinfo=UTC)  # local midnight, CEST
    assert n == 96 + 100  # the 25th has 25 hours
    days = pv_days(cfg, datetime(2026, 6, 21, 12, tzinfo=UTC), None)
    assert [d["day"] for d in days] == ["2026-06-21", "2026-06-22", "2026-06-23"]
    assert all(20_000 < d["wh"] < 60_000 for d in days)  # 8 kWp at midsummer, clear sky x 0.7


def analysed_weather(cfg: Any, now: datetime, days_back: int = 7) -> pd.DataFrame:
    """Hourly weather of the past days as a weather service's analysis: pvlib clear sky."""
    site = weather_site(cfg)
    start = pd.Timestamp(now).floor("D") - pd.Timedelta(days=days_back)
    index = pd.date_range(start, periods=(days_back + 3) * 24, freq="1h")
    clear = site.location.get_clearsky(index + pd.Timedelta(minutes=30), model="ineichen")
    frame = clear[["ghi", "dni", "dhi"]].set_axis(index)
    return frame.assign(temp_air=15.0, wind_speed=1.0)


@pytest.mark.parametrize(("share", "active"), [(0.5, True), (0.97, False)])
def test_the_pv_alert_compares_measured_yield_with_the_analysed_irradiance(
    tmp_path: Any, share: float, active: bool
) -> None:
    """forecast.monitor's verdict on the edge: a plant yielding half of what the analysed
    irradiance of the last days gives is under-performing; one at 97 % is not."""
    cfg = config()
    now = datetime(2026, 6, 21, 12, tzinfo=UTC)
    weather = analysed_weather(cfg, now)
    modelled = forecast(weather_site(cfg), pv_arrays(cfg), weather)["total"]
    store = SqliteStore(tmp_path / "s.sqlite", tz="Europe/Berlin")
    readings = [
        Reading("pv1.power", ts.to_pydatetime() + timedelta(minutes=15 * q), share * float(w))
        for ts, w in modelled[modelled.index < pd.Timestamp(now)].items()
        for q in range(4)
    ]
    store.write(readings)
    try:
        alert = pv_alert(cfg, store, weather, now)
    finally:
        store.close()
    assert alert is not None
    assert alert["active"] is active
    assert alert["ratio"] == pytest.approx(share, abs=0.02)
    assert len(alert["days"]) == 3 and alert["days"][-1] == "2026-06-20"  # the last three whole days
    assert ("UNDER-PERFORMING" in alert["message"]) is active
    assert pv_alert(cfg, None, weather, now) is None  # nothing measured: no verdict
    assert pv_alert(cfg, store, None, now) is None  # no weather: no verdict


def test_check_plan_accepts_a_real_plan_and_names_what_is_wrong() -> None:
    now = datetime.now(UTC)
    doc = document("home", slot_start(now), now)
    now_ms = int(now.timestamp() * 1000)
    plan = check_plan(json.loads(json.dumps(doc)), "home", now_ms)
    assert len(plan.slots) == 96 and len(plan.days) == 3 and plan.edge == "edge"

    def broken(change: Any) -> PlanError:
        bad = copy.deepcopy(doc)
        change(bad)
        with pytest.raises(PlanError) as err:
            check_plan(bad, "home", now_ms)
        return err.value

    assert broken(lambda d: d.update(site="other")).kind == "wrong_site"
    assert "slots[3].pv_w" in str(broken(lambda d: d["slots"][3].update(pv_w=float("nan"))))
    assert "never negative" in str(broken(lambda d: d["slots"][3].update(load_w=-5.0)))
    assert "grid" in str(broken(lambda d: d["slots"][0].update(ts_ms=d["slots"][0]["ts_ms"] + 1)))
    assert "follow each other" in str(broken(lambda d: d["slots"].pop(5)))
    assert "days ahead" in str(
        broken(lambda d: [s.update(ts_ms=s["ts_ms"] + 20 * 86_400_000) for s in d["slots"]])
    )
    assert "bad device" in str(broken(lambda d: d["slots"][0]["devices"].update({"a b": {}})))
    assert "pv_days[0].day" in str(broken(lambda d: d["pv_days"][0].update(day="tomorrow")))
    assert "made_at_ms" in str(broken(lambda d: d.update(made_at_ms=now_ms + 3_600_000)))
    assert "slot_minutes" in str(broken(lambda d: d.update(slot_minutes=7)))
    assert "pv_alert" in str(broken(lambda d: d.update(pv_alert={"active": "yes"})))
    assert "pv_alert.ratio" in str(broken(lambda d: d.update(pv_alert={**ALERT, "ratio": float("nan")})))
    assert broken(lambda d: d["slots"][2].update(price="0.3")).kind == "value"


# ------------------------------------------------------------ on the real portal


def send(portal: Portal, token: str, doc: Any, raw: bytes | None = None) -> httpx.Response:  # noqa: F811
    body = raw if raw is not None else gzip.compress(json.dumps(doc).encode())
    return httpx.post(
        f"{portal.url}/api/v1/plans",
        content=body,
        timeout=30.0,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )


def uploader(portal: Portal, token: str, site: str, planner: Planner) -> PlanUploader:  # noqa: F811
    cfg = config(site)
    return PlanUploader(cfg, planner, UplinkConfig(url=portal.url, site=site, edge_id="edge", token=token))  # type: ignore[arg-type]


def test_the_edge_uploads_its_plan_and_the_owner_sees_it(portal: Portal) -> None:  # noqa: F811
    owner = account(portal)
    site = new_site(owner)
    token = edge_token(owner, site)
    now = datetime.now(UTC)
    start = slot_start(now)
    planner = Planner(make_plan(start))

    async def go() -> tuple[bool, bool]:
        up = uploader(portal, token, site, planner)
        try:
            return await up.step(), await up.step()  # the second finds nothing new to send
        finally:
            await up.aclose()

    assert asyncio.run(go()) == (True, False)
    r = owner.http.get(f"/api/v1/sites/{site}/plan")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["plan"]["edge"] == "edge" and got["plan"]["slot_minutes"] == 15
    first_ms = int(start.timestamp() * 1000)
    assert [s["ts_ms"] for s in got["slots"]] == [first_ms + k * 900_000 for k in range(96)]  # the future
    plan = planner.plan
    assert plan is not None
    assert [s["pv_w"] for s in got["slots"]] == pytest.approx(list(plan.pv_w), abs=0.1)
    assert [s["devices"]["bat"]["power_w"] for s in got["slots"]] == pytest.approx(
        list(plan.devices["bat"]["power_w"]), abs=0.01
    )
    assert len(got["pv_days"]) == 3 and all(d["wh"] >= 0 for d in got["pv_days"])

    # a newer, shorter plan from an hour later replaces everything from its first slot on
    later = start + timedelta(hours=1)
    planner.plan = make_plan(later, n=8, pv_peak=0.0)
    assert asyncio.run(go())[0]
    got = owner.http.get(f"/api/v1/sites/{site}/plan").json()
    times = [s["ts_ms"] for s in got["slots"]]
    assert times == [first_ms + k * 900_000 for k in range(4 + 8)]  # 4 kept before it, no stale tail
    assert [s["pv_w"] for s in got["slots"][4:]] == [0.0] * 8
    assert got["slots"][0]["made_at_ms"] < got["slots"][4]["made_at_ms"]

    assert got["plan"]["pv_alert"] is None  # the uploader had no verdict
    # the edge's tariff travels with the plan: its name and the plan's mean prices (the cost widget's)
    tariff = got["plan"]["tariff"]
    assert tariff["name"] == "fixed" and tariff["currency"] == "EUR"
    assert tariff["import_per_kwh"] == pytest.approx(float(np.mean(planner.plan.buy_eur_per_kwh)), abs=1e-5)
    assert tariff["export_per_kwh"] == pytest.approx(0.08) and got["plan"]["co2"] is None
    priced = owner.http.get(f"/api/v1/sites/{site}/tariff").json()  # the cost widget prefers the edge's
    assert priced["edge"] == tariff and priced["default"] is True
    assert tariff["published_until_ms"] == int(later.timestamp() * 1000) + 8 * 900_000  # all published
    # a plan whose later slots are priced by the edge's forecast: the mean prices are the published
    # ones', and the owner's page learns where they end
    planner.published = 40
    planner.plan = make_plan(later, n=96, pv_peak=0.0)
    assert asyncio.run(go())[0]
    tariff = owner.http.get(f"/api/v1/sites/{site}/plan").json()["plan"]["tariff"]
    assert tariff["published_until_ms"] == int(later.timestamp() * 1000) + 40 * 900_000
    buy = planner.plan.buy_eur_per_kwh
    assert np.mean(buy[:40]) != pytest.approx(np.mean(buy))  # the published part prices differently
    assert tariff["import_per_kwh"] == pytest.approx(float(np.mean(buy[:40])), abs=1e-5)
    planner.published = None

    # the plan's CO₂ side (strategy.co2) travels with it; a malformed one refuses the whole plan
    co2 = {"source": "energy-charts-co2-de", "fresh": True, "weight_eur_per_kg": 0.1, "kg": 3.25}
    co2["effect"] = {"co2_kg_saved": 0.8, "cost_eur_more": 0.05}
    planner.co2 = co2
    planner.plan = make_plan(later, n=8, pv_peak=0.0)
    assert asyncio.run(go())[0]
    assert owner.http.get(f"/api/v1/sites/{site}/plan").json()["plan"]["co2"] == {
        k: v for k, v in co2.items() if k != "fresh"
    }
    bad = document(site, later, datetime.now(UTC))
    assert send(portal, token, {**bad, "co2": {"kg": "lots"}}).status_code == 400
    assert send(portal, token, {**bad, "tariff": {"currency": "euro"}}).status_code == 400

    # the PV under-performance verdict travels with the plan, and a newer plan without one clears it
    doc = document(site, later, datetime.now(UTC))
    assert send(portal, token, {**doc, "pv_alert": ALERT}).status_code == 200
    assert owner.http.get(f"/api/v1/sites/{site}/plan").json()["plan"]["pv_alert"] == ALERT
    assert send(portal, token, {**doc, "made_at_ms": doc["made_at_ms"] + 1}).status_code == 200
    got = owner.http.get(f"/api/v1/sites/{site}/plan").json()
    assert got["plan"]["pv_alert"] is None

    # a stale plan (an old upload retried late) is acknowledged and stores nothing
    stale = document(site, start, now - timedelta(hours=2))
    r = send(portal, token, stale)
    assert r.status_code == 200 and r.json() == {"stored": 0, "stale": True, "days": 0}
    assert owner.http.get(f"/api/v1/sites/{site}/plan").json()["slots"] == got["slots"]


def test_bad_or_foreign_plans_are_refused_and_nothing_is_stored(portal: Portal) -> None:  # noqa: F811
    a, b = account(portal), account(portal)
    site_a, site_b = new_site(a), new_site(b)
    token_a = edge_token(a, site_a)
    now = datetime.now(UTC)
    doc = document(site_b, slot_start(now), now)
    r = send(portal, token_a, doc)  # A's edge token, B's site
    assert r.status_code == 403 and r.json()["kind"] == "wrong_site"
    assert b.http.get(f"/api/v1/sites/{site_b}/plan").json()["plan"] is None

    doc["site"] = site_a
    doc["slots"][10]["grid_w"] = float("inf")
    r = send(portal, token_a, None, gzip.compress(json.dumps(doc).encode()))  # Python writes Infinity
    assert r.status_code == 400 and "slots[10].grid_w" in r.json()["error"], r.text
    assert send(portal, token_a, None, b"not gzip").status_code == 400
    assert send(portal, "wrong-token", doc).status_code == 401
    assert a.http.get(f"/api/v1/sites/{site_a}/plan").json() | {"now_ms": 0} == {
        "site": site_a,
        "now_ms": 0,
        "plan": None,
        "slots": [],
        "pv_days": [],
    }
    # the other tenant cannot read A's plan: a foreign site answers like a missing one
    assert b.http.get(f"/api/v1/sites/{site_a}/plan").status_code == 404


EDGE_SITE = """\
site: {name: Plan house, location: {latitude: 48.0, longitude: 7.8}, timezone: Europe/Berlin}
devices:
  - id: grid
    role: grid_meter
    catalog: sunspec-meter-int
    connection: {type: modbus_tcp, host: 127.0.0.1, port: 9}
  - id: bat
    role: battery
    catalog: sunspec-storage
    connection: {type: modbus_tcp, host: 127.0.0.1, port: 9}
    capacity_wh: 10000
    max_charge_w: 5000
    max_discharge_w: 5000
    reserve_soc: 10
strategy: {mode: planner}
tariff: {provider: fixed}
portal: {url: "URL", token: "TOKEN", site: SITE}
"""


def test_the_running_edges_planner_reaches_the_portal(portal: Portal, tmp_path: Any) -> None:  # noqa: F811
    """The pieces ``run_edge`` wires: the real PlanService (fixed tariff, no network) and the
    uploader ``plan_uploader`` builds from the site file's portal section."""
    from wattwerk.edge.plan_upload import plan_uploader
    from wattwerk.edge.planning import PlanService
    from wattwerk.market.site_prices import TariffPrices
    from wattwerk.snapshot import SiteState

    owner = account(portal)
    site = new_site(owner)
    token = edge_token(owner, site)
    cfg = parse_config(EDGE_SITE.replace("URL", portal.url).replace("TOKEN", token).replace("SITE", site))
    state = SiteState()
    now = datetime.now(UTC)
    state.update(
        [Reading("bat.soc", now, 50.0), Reading("grid.power", now, 300.0), Reading("bat.power", now, 0.0)]
    )
    prices = TariffPrices(cfg.tariff, tmp_path / "p.json")
    svc = PlanService(cfg, lambda: state.snapshot(datetime.now(UTC)), prices)

    async def go() -> Plan | None:
        plan = await svc.refresh()
        up = plan_uploader(cfg, svc)
        assert up is not None
        try:
            assert await up.step()
        finally:
            await up.aclose()
        return plan

    plan = asyncio.run(go())
    assert plan is not None and plan.status == "optimal"
    got = owner.http.get(f"/api/v1/sites/{site}/plan").json()
    assert got["plan"]["status"] == "optimal" and got["plan"]["source"] == "fixed"
    assert got["plan"]["pv_source"].startswith("clear sky")  # no weather source configured
    starts = [int(plan.slot_start(i).timestamp() * 1000) for i in range(plan.n)]
    assert [s["ts_ms"] for s in got["slots"]] == starts
    assert [s["price"] for s in got["slots"]] == pytest.approx(list(plan.buy_eur_per_kwh), abs=1e-5)
    assert got["plan"]["cost_eur"] == pytest.approx(plan.cost_eur, abs=1e-3)


def test_the_uploader_retries_waits_as_told_and_drops_a_refused_plan() -> None:
    """Without a server: unreachable, then 429 Retry-After 3, then acknowledged; a plan the
    portal refuses (400) is not sent again, the next plan is."""
    answers: list[Any] = [
        httpx.ConnectError("down"),
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(200, json={"stored": 96}),
        httpx.Response(400, json={"error": "bad"}),
        httpx.Response(200, json={"stored": 8}),
    ]
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer tok" and request.url.path == "/api/v1/plans"
        bodies.append(json.loads(gzip.decompress(request.content)))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    now = datetime.now(UTC)
    planner = Planner(make_plan(slot_start(now)))
    waits: list[float] = []
    stop = asyncio.Event()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 4:
            planner.plan = make_plan(slot_start(now), n=8)  # refused below, then never re-sent
        if len(waits) == 6:
            planner.plan = make_plan(slot_start(now), n=8)
        if len(waits) == 8:
            stop.set()

    async def go() -> PlanUploader:
        client = httpx.AsyncClient(base_url="http://portal", transport=httpx.MockTransport(handler))
        link = UplinkConfig(
            url="http://portal", site="home", edge_id="e", token="tok", backoff_base_s=0.5, backoff_max_s=60
        )
        up = PlanUploader(
            config(),
            planner,
            link,
            client=client,
            every_s=10.0,  # type: ignore[arg-type]
            sleep=sleep,
        )
        await up.run(stop)
        await up.aclose()
        return up

    up = asyncio.run(go())
    assert 0.5 <= waits[0] <= 1.0  # first failure: full jitter in [base, 2 x base]
    assert 3.0 <= waits[1] <= 3.1  # Retry-After, plus a little jitter
    assert waits[2:] == [10.0] * 6  # acknowledged; refused; nothing new; the next plan acknowledged
    assert len(bodies) == 5 and [len(b["slots"]) for b in bodies] == [96, 96, 96, 8, 8]
    assert up.sent == 2 and answers == []
