"""Series, live values, retention (rollups, deletion, late data, archive), research export and
the Flukso read API, on data uploaded through the real ingest endpoint."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import math
import time
from datetime import UTC, datetime

import httpx
import pytest

from portal_fixtures import Account, Portal, account, edge_token, new_site, now_ms, portal, upload  # noqa: F401
from test_ingest_support import PortalDb, database, pg, serve_portal  # noqa: F401
from wattwerk.portal import db, retention, series
from wattwerk.portal.database import open_database

DAY, HOUR, MIN = 86_400_000, 3_600_000, 60_000


def day_of_data(start_ms: int) -> list[tuple[str, int, float]]:
    """One reading a minute for a day: a varying grid power and an import counter."""
    out = []
    counter = 1_000_000.0
    for i in range(1440):
        ts = start_ms + i * MIN
        power = 800.0 + 600.0 * math.sin(i / 90.0) + (i % 7) * 3.0
        counter += power / 60.0
        out.append(("grid.power", ts, round(power, 3)))
        out.append(("grid.energy_import", ts, round(counter, 3)))
    return out


def expected(data: list[tuple[str, int, float]], step: int) -> dict[str, dict[str, float]]:
    """What the summary must say, computed here from the uploaded values: power's energy is each
    value held until the next reading (a minute later), the newest one holding nothing yet."""
    out = {}
    for ch in ("grid.power", "grid.energy_import"):
        vals = sorted((t, v) for c, t, v in data if c == ch)
        values = [v for _, v in vals]
        energy = (
            sum(v * (t1 - t) / HOUR for (t, v), (t1, _) in itertools.pairwise(vals))
            if ch == "grid.power"
            else values[-1] - values[0]
        )
        out[ch] = {
            "min": min(values),
            "max": max(values),
            "mean": sum(values) / len(values),
            "energy_wh": energy,
        }
    return out


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def get_series(acc, site: str, start: int, end: int, resolution: str, fmt: str = "json") -> httpx.Response:
    r = acc.http.get(
        f"/api/v1/sites/{site}/series",
        params={"from": iso(start), "to": iso(end), "resolution": resolution, "format": fmt},
    )
    assert r.status_code == 200, r.text
    return r


def check_summary(summary: dict, want: dict) -> None:
    for ch, w in want.items():
        for key, value in w.items():
            assert summary[ch][key] == pytest.approx(value, rel=1e-9, abs=1e-6), (ch, key)


def run_retention(portal: Portal, admin: Account) -> dict:  # noqa: F811
    r = admin.http.post("/api/v1/admin/retention/run")
    assert r.status_code == 200, r.text
    return r.json()


def make_admin(portal: Portal, acc: Account) -> None:  # noqa: F811
    with portal.pg.connect() as conn:
        conn.execute("UPDATE accounts SET is_admin = true WHERE alias = %s", (acc.alias,))


def test_series_summary_retention_rollups_and_late_data(portal: Portal) -> None:  # noqa: F811
    owner, admin = account(portal), account(portal)
    make_admin(portal, admin)
    site = new_site(owner)
    token = edge_token(owner, site)
    t0 = now_ms() // DAY * DAY - 2 * DAY
    data = day_of_data(t0)
    upload(portal, token, site, data)
    t1 = t0 + DAY

    body = get_series(owner, site, t0, t1, "1h").json()
    assert body["columns"] == [
        "ts_ms",
        "channel",
        "mean",
        "min",
        "max",
        "last",
        "delta",
        "n",
        "energy_wh",
        "energy_out_wh",
        "covered_s",
    ]
    assert len(body["points"]) == 48 and body["points"][0][0] == t0
    check_summary(body["summary"], expected(data, HOUR))
    raw_csv = get_series(owner, site, t0, t1, "raw", "csv")
    rows = list(csv.reader(io.StringIO(raw_csv.text)))
    assert rows[0] == ["time", "ts_ms", "channel", "value"] and len(rows) == 1 + len(data)
    assert json.loads(raw_csv.headers["x-series-summary"])["grid.power"]["n"] == 1440

    counts = run_retention(portal, admin)
    assert counts["raw_deleted"] == len(data)
    with portal.pg.connect() as conn:
        assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 0  # deleted, not hidden
        n5, n1h, n1d = (
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("rollup_5m", "rollup_1h", "rollup_1d")
        )
    assert (n5, n1h, n1d) == (2 * 288, 2 * 24, 2)
    after = get_series(owner, site, t0, t1, "1h").json()
    check_summary(after["summary"], expected(data, HOUR))
    assert after["points"] == body["points"]
    assert get_series(owner, site, t0, t1, "raw").json()["points"] == []  # full resolution is gone
    fifteen = get_series(owner, site, t0, t1, "15m").json()
    check_summary(fifteen["summary"], expected(data, 15 * MIN))
    daily = get_series(owner, site, t0, t1, "1d").json()
    hourly_deltas = [p[6] for p in after["points"] if p[1] == "grid.energy_import" and p[6] is not None]
    first_hour = next(p for p in after["points"] if p[1] == "grid.energy_import")
    first_value = data[1][2]
    day_energy = daily["summary"]["grid.energy_import"]["energy_wh"]
    assert day_energy == pytest.approx(sum(hourly_deltas) + first_hour[5] - first_value, abs=1e-6)

    # a late reading into a bucket already final: merged once, then deleted with the rest
    late = ("grid.power", t0 + 12 * HOUR + 30_000, 5000.0)
    upload(portal, token, site, [late], first_seq=10_000)
    run_retention(portal, admin)
    run_retention(portal, admin)
    merged = get_series(owner, site, t0, t1, "5m").json()
    check_summary(
        merged["summary"],
        {
            "grid.power": {
                k: v
                for k, v in expected([*data, late], 5 * MIN)["grid.power"].items()
                if k in ("min", "max", "mean")
            }
        },
    )
    with portal.pg.connect() as conn:
        assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 0


def test_archive_keeps_raw_and_recent_values_show_before_rollup(portal: Portal) -> None:  # noqa: F811
    owner, admin = account(portal), account(portal)
    make_admin(portal, admin)
    site = new_site(owner)
    token = edge_token(owner, site)
    put = owner.http.put(f"/api/v1/sites/{site}/retention", json={"archive": True})
    assert put.status_code == 200 and put.json()["archive"] is True and put.json()["raw_keep_s"] == 3600
    t0 = now_ms() // DAY * DAY - 2 * DAY
    data = day_of_data(t0)[:600]
    upload(portal, token, site, data)
    run_retention(portal, admin)
    raw = get_series(owner, site, t0, t0 + DAY, "raw").json()
    assert len(raw["points"]) == 600
    recent = now_ms() // MIN * MIN - 5 * MIN
    upload(
        portal,
        token,
        site,
        [("grid.power", recent, 123.0), ("grid.power", recent + 10_000, 125.0)],
        first_seq=5000,
    )
    live = owner.http.get(f"/api/v1/sites/{site}/live").json()["values"]
    assert {v["channel"]: v["value"] for v in live}["grid.power"] == 125.0
    now = get_series(owner, site, recent - HOUR, recent + MIN, "5m").json()
    assert now["summary"]["grid.power"]["mean"] == pytest.approx(124.0)
    audit = [e["action"] for e in owner.http.get(f"/api/v1/sites/{site}/audit").json()]
    assert "retention.set" in audit


def test_research_export_only_consenting_and_pseudonymous(portal: Portal) -> None:  # noqa: F811
    admin, yes, no = account(portal), account(portal), account(portal)
    make_admin(portal, admin)
    t0 = now_ms() // DAY * DAY - 3 * DAY
    sites = {}
    for acc in (yes, no):
        site = new_site(acc, label="my secret home")
        upload(portal, edge_token(acc, site), site, day_of_data(t0)[:200])
        sites[acc.alias] = site
    yes.http.put(f"/api/v1/sites/{sites[yes.alias]}/retention", json={"research_consent": True})
    run_retention(portal, admin)
    params = {"from": iso(t0 - DAY), "to": iso(t0 + DAY), "resolution": "1h"}
    assert yes.http.get("/api/v1/research/export", params=params).status_code == 403
    text = admin.http.get("/api/v1/research/export", params=params).text
    again = admin.http.get("/api/v1/research/export", params=params).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and {r["channel"] for r in rows} == {"grid.power", "grid.energy_import"}
    assert len({r["site"] for r in rows}) == 1 and text == again  # stable pseudonym, one consenting site
    for secret in (*sites.values(), yes.alias, no.alias, "my secret home"):
        assert secret not in text


def test_flukso_read_api(portal: Portal) -> None:  # noqa: F811
    owner, other = account(portal), account(portal)
    site = new_site(owner)
    token = edge_token(owner, site)
    sensor = "a" * 32
    with portal.pg.connect() as conn:
        db.register_flukso_sensor(conn, site, sensor, "grid.energy_import", key="k")
    start = now_ms() // (15 * MIN) * (15 * MIN) - 3 * HOUR
    counter = [("grid.energy_import", start + i * MIN, 10_000.0 + i * 1000.0 / 60) for i in range(181)]
    upload(portal, token, site, counter)
    pat = owner.http.post("/api/v1/tokens", json={"name": "flukso", "scopes": ["read"]}).json()["token"]
    alien = other.http.post("/api/v1/tokens", json={"name": "x", "scopes": ["read"]}).json()["token"]
    headers = {"X-Version": "1.0", "X-Token": pat, "Accept": "application/json"}
    r = httpx.get(
        f"{portal.url}/sensor/{sensor}", params={"interval": "day", "unit": "watt"}, headers=headers
    )
    assert r.status_code == 200, r.text
    points = r.json()
    assert len(points) == 96 and all(p[0] % 900 == 0 for p in points)
    values = {p[0]: p[1] for p in points}
    assert values[start // 1000 - 3600] == "nan"
    assert values[start // 1000 + 3600] == 1000  # 1000 Wh an hour is 1000 W
    missing = httpx.get(f"{portal.url}/sensor/{'b' * 32}", params={"interval": "day"}, headers=headers)
    foreign = httpx.get(
        f"{portal.url}/sensor/{sensor}", params={"interval": "day"}, headers={**headers, "X-Token": alien}
    )
    assert missing.status_code == foreign.status_code == 404 and missing.json() == foreign.json()
    assert httpx.get(f"{portal.url}/sensor/{sensor}", params={"interval": "day"}).status_code == 401


def test_retention_job_from_a_timer(portal: Portal, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    owner = account(portal)
    site = new_site(owner)
    t0 = now_ms() // DAY * DAY - 2 * DAY
    upload(portal, edge_token(owner, site), site, day_of_data(t0)[:100])
    schema = ["--schema", portal.db.schema] if portal.db.schema else []
    assert retention.main(["--db", portal.db.url, *schema]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["raw_deleted"] == 100 and counts["sites"] == 1
    with portal.pg.connect() as conn:
        assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 0
        assert conn.execute("SELECT sum(n) FROM rollup_5m").fetchone()[0] == 100


def test_series_streams_in_bounded_chunks(portal: Portal) -> None:  # noqa: F811
    owner = account(portal)
    site = new_site(owner)
    owner.http.put(f"/api/v1/sites/{site}/retention", json={"archive": True})
    t0 = now_ms() // DAY * DAY - 3 * DAY
    n = 2 * series.CHUNK + 345
    upload(portal, edge_token(owner, site), site, [("grid.power", t0 + i * 1000, float(i)) for i in range(n)])

    async def go() -> list[int]:
        store = open_database(portal.db.url, schema=portal.db.schema, pool_size=1)
        await store.open()
        try:
            async with store.connection() as conn:
                cur = await conn.execute("SELECT id, name, unit, kind FROM channels")
                chans = [series.ChannelInfo(*r) for r in await cur.fetchall()]
            q = series.Query(chans, t0, t0 + DAY, "raw", 0)
            sums = {c.id: series.Summary(c) for c in chans}
            sizes = [len(batch) async for batch in series.chunks(store, q, sums)]
            assert sums[chans[0].id].result()["max"] == n - 1
            return sizes
        finally:
            await store.close()

    assert asyncio.run(go()) == [series.CHUNK, series.CHUNK, 345]  # never more than a chunk in memory
    body = get_series(owner, site, t0, t0 + DAY, "raw").json()
    assert len(body["points"]) == n and body["summary"]["grid.power"]["mean"] == pytest.approx((n - 1) / 2)
    assert body["summary"]["grid.power"]["energy_wh"] == pytest.approx(sum(range(n - 1)) / 3600)


def counter_with_glitch_and_reset(start: int) -> list[tuple[str, int, float]]:
    """Three hours of a Wh counter at one reading a minute, 10 Wh each: at minute 45 the meter
    reads 0 once (a glitch), at minute 90 it is replaced and starts again from 0 (a reset)."""
    out = []
    for i in range(180):
        value = 10_000.0 + i * 10.0 if i < 90 else (i - 90) * 10.0
        out.append(("grid.energy_import", start + i * MIN, 0.0 if i == 45 else value))
    return out


def test_counter_rollups_validate_glitches_resets_and_late_data(portal: Portal) -> None:  # noqa: F811
    """Counters in the rollups follow the edge store's rules (store/counters.py): a glitch is a
    gap, a reset a new baseline; the series runs on one register across rollups and raw values,
    and late readings are checked against their rolled-up neighbours."""
    owner, admin = account(portal), account(portal)
    make_admin(portal, admin)
    site = new_site(owner)
    token = edge_token(owner, site)
    start = now_ms() // (5 * MIN) * (5 * MIN) - 3 * HOUR
    upload(portal, token, site, counter_with_glitch_and_reset(start))
    counts = run_retention(portal, admin)  # rolls up to an hour ago: the reset is in the rollups
    assert counts["counter_resets"] == 1 and counts["counter_glitches"] == 1
    span = (start, start + 3 * HOUR + 5 * MIN)

    def check(resolution: str) -> dict:
        body = get_series(owner, site, *span, resolution).json()
        energy = body["summary"]["grid.energy_import"]
        assert energy["energy_wh"] == pytest.approx(1780.0)  # 178 valid increments of 10 Wh
        assert energy["min"] == pytest.approx(10_000.0)  # neither the glitch nor the new meter's 0
        deltas = [p[6] for p in body["points"] if p[6] is not None]
        first_last = body["points"][0][5]  # deltas start from the first bucket's last value
        assert deltas and min(deltas) >= 0 and sum(deltas) == pytest.approx(11_780.0 - first_last)
        return body

    check("5m")  # rollups before the cut, raw values (shifted by the reset's baseline) after it
    check("1h")
    with portal.db.connect() as conn:
        shifts = conn.execute("SELECT from_ms, shift FROM counter_baselines").fetchall()
    assert [(int(t), float(s)) for t, s in shifts] == [(start + 90 * MIN, 10_890.0)]

    late = [
        ("grid.energy_import", start + 30 * MIN + 30_000, 10_305.0),  # fits between its neighbours
        ("grid.energy_import", start + 50 * MIN + 30_000, 3.0),
    ]  # a late glitch
    upload(portal, token, site, late, first_seq=10_000)
    counts = run_retention(portal, admin)
    assert counts["late_counter_readings_merged"] == 1 and counts["counter_glitches"] == 1
    body = check("5m")
    bucket = next(p for p in body["points"] if p[0] == start + 30 * MIN)
    assert bucket[7] == 6 and bucket[3] == pytest.approx(10_300.0) and bucket[4] == pytest.approx(10_340.0)


def test_the_portal_runs_retention_itself_when_asked(database: PortalDb) -> None:  # noqa: F811
    """The embedded portal's timer (``wattwerk portal`` on SQLite): old raw values are rolled up
    and deleted without an outside job."""
    with serve_portal(database, retention_every_s=0.2) as running:
        running.app.state.reset_tokens_in_response = True  # type: ignore[attr-defined]
        portal = Portal(running.url, database, running.app)
        owner = account(portal)
        site = new_site(owner)
        t0 = now_ms() // DAY * DAY - 2 * DAY
        upload(portal, edge_token(owner, site), site, day_of_data(t0)[:100])
        left = -1
        for _ in range(300):  # a few runs of the timer; bounded wait, no timing claim
            with database.connect() as conn:
                left = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
            if left == 0:
                break
            time.sleep(0.1)
    assert left == 0
    with database.connect() as conn:
        assert conn.execute("SELECT sum(n) FROM rollup_5m").fetchone()[0] == 100
