"""Issue 14's done-when test: a month of 1-minute data for a site in Europe/Berlin across the
October DST change, with gaps, late data, a counter glitch and a meter reset and a partial
current day, through the real ingest and series API on both backends. For every view (day, ISO
week, month, year, custom range) and every channel the totals equal the counter differences or
covered-time integrals computed here from the readings, equal the sum of their sub-periods, and
match the edge store's figures for the same readings."""

from __future__ import annotations

import asyncio
import bisect
import math
import random
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from portal_fixtures import Portal, account, edge_token, new_site, portal, upload  # noqa: F401
from test_ingest_support import PortalDb, database  # noqa: F401
from wattwerk.edge.view import StoreView
from wattwerk.flows import SiteRoles, flow_energy
from wattwerk.portal import retention
from wattwerk.portal.database import open_database
from wattwerk.store.sqlite import SqliteStore

TZ = "Europe/Berlin"
BERLIN = ZoneInfo(TZ)
MIN, HOUR = 60_000, 3_600_000
GAP = 300_000  # the rule's maximum gap, written out here on purpose
POWER = ("grid.power", "pv.power", "bat.power", "ev.power")
COUNTERS = ("grid.energy_import", "grid.energy_export", "pv.energy")
FIRST, LAST_DAY = date(2026, 10, 10), date(2026, 11, 9)  # the last day ends at 14:37 local
NOW = datetime(2026, 11, 9, 15, 0, tzinfo=BERLIN)  # the retention job's now: the raw window from 14:00


def ms(d: datetime) -> int:
    return int(d.timestamp() * 1000)


def midnight(d: date) -> int:
    return ms(datetime(d.year, d.month, d.day, tzinfo=BERLIN))


def dataset() -> tuple[list[tuple[str, int, float]], dict[str, list[tuple[int, float]]], set[int], int]:
    """(readings in upload order, each counter's true (ts, increment since its previous reading),
    the glitch's ts, the reset's ts)."""
    rnd = random.Random(14)
    start, end = midnight(FIRST), ms(datetime(2026, 11, 9, 14, 37, tzinfo=BERLIN))
    # no readings from h:m0 to h:m1 (local): 3 h, 10 min, 5 min (6 min between readings: not
    # covered) and 3 min (4 min between readings: covered)
    october = [(20, 10, 0, 13, 0), (25, 2, 30, 2, 40), (28, 7, 0, 7, 5), (27, 8, 0, 8, 3)]
    gaps = [
        (ms(datetime(2026, 10, d, h0, m0, tzinfo=BERLIN)), ms(datetime(2026, 10, d, h1, m1, tzinfo=BERLIN)))
        for d, h0, m0, h1, m1 in october
    ]
    ev_off = (midnight(date(2026, 10, 15)), midnight(date(2026, 10, 16)))
    readings: list[tuple[str, int, float]] = []
    truth: dict[str, list[tuple[int, float]]] = {c: [] for c in COUNTERS}
    cum = dict.fromkeys(COUNTERS, 0.0)
    pending = dict.fromkeys(COUNTERS, 0.0)
    reset_ts = ms(datetime(2026, 10, 18, 9, 13, tzinfo=BERLIN))
    glitch_ts = ms(datetime(2026, 10, 22, 17, 41, tzinfo=BERLIN))
    offset = 3_000_000.0  # the import meter's reading before it is replaced
    prev: dict[str, float] = {}
    for t in range(start, end + 1, MIN):
        # the energy of the minute before t, as the meters counted it
        for c, w in (
            ("grid.energy_import", max(prev.get("grid.power", 0.0), 0.0)),
            ("grid.energy_export", max(-prev.get("grid.power", 0.0), 0.0)),
            ("pv.energy", prev.get("pv.power", 0.0)),
        ):
            pending[c] += w / 60.0
        hour = datetime.fromtimestamp(t / 1000, BERLIN).hour
        pv = max(0.0, 5000.0 * math.sin((hour - 6) / 12 * math.pi)) * rnd.uniform(0.7, 1.0)
        values = {
            "pv.power": round(pv, 2),
            "bat.power": round(rnd.uniform(-2500, 2500), 2),
            "ev.power": 7000.0 if 18 <= hour < 21 else 0.0,
        }
        load = rnd.uniform(300, 1500) + values["ev.power"]
        values["grid.power"] = round(load - pv - values["bat.power"], 2)
        prev = values
        if any(a <= t < b for a, b in gaps):
            continue
        for c in POWER:
            if c == "ev.power" and ev_off[0] <= t < ev_off[1]:
                continue
            readings.append((c, t, values[c]))
        for c in COUNTERS:
            cum[c] += pending[c]
            if c == "grid.energy_import" and t == reset_ts:
                offset = -cum[c]  # a new meter from 0: the energy since the last reading is not counted
                truth[c].append((t, 0.0))
            else:
                truth[c].append((t, pending[c]))
            pending[c] = 0.0
            value = cum[c] + (offset if c == "grid.energy_import" else 1_000_000.0)
            readings.append((c, t, 0.0 if t == glitch_ts and c == "grid.energy_import" else round(value, 4)))
    # the glitch's energy moves on to the next reading, which counts from the last good one
    imp = truth["grid.energy_import"]
    i = next(k for k, (t, _) in enumerate(imp) if t == glitch_ts)
    imp[i + 1] = (imp[i + 1][0], imp[i][1] + imp[i + 1][1])
    del imp[i]
    # late data: the 21st and 22nd of October arrive last, out of order
    late_a, late_b = midnight(date(2026, 10, 21)), midnight(date(2026, 10, 23))
    late = [r for r in readings if late_a <= r[1] < late_b]
    readings = [r for r in readings if not late_a <= r[1] < late_b] + late[::-1]
    return readings, truth, {glitch_ts}, reset_ts


def integral(points: list[tuple[int, float]], a: int, b: int) -> tuple[float, float, float]:
    """(positive Wh, negative Wh, covered s) of power points over [a, b): each value held until
    the next reading if that comes within GAP; the newest reading holds nothing."""
    pos = neg = covered = 0.0
    i = max(bisect.bisect_left(points, (a, -math.inf)) - 1, 0)
    while i + 1 < len(points) and points[i][0] < b:
        (t0, v), (t1, _) = points[i], points[i + 1]
        i += 1
        if t1 - t0 > GAP:
            continue
        dt = min(t1, b) - max(t0, a)
        if dt > 0:
            wh = v * dt / HOUR
            pos, neg, covered = pos + max(wh, 0.0), neg + max(-wh, 0.0), covered + dt / 1000
    return pos, neg, covered


def expected(points: dict[str, list[tuple[int, float]]], a: int, b: int) -> dict[str, tuple[float, ...]]:
    """The figures of [a, b) from the readings (power) and the meters' true increments (counters)."""
    out: dict[str, tuple[float, ...]] = {}
    for c in POWER:
        out[c] = integral(points[c], a, b)
    for c in COUNTERS:
        rows = points[c]
        lo, hi = bisect.bisect_left(rows, (a, -math.inf)), bisect.bisect_left(rows, (b, -math.inf))
        out[c] = (sum(inc for _, inc in rows[lo:hi]),)
    return out


def figures(summary: dict) -> dict[str, tuple[float, ...]]:
    out: dict[str, tuple[float, ...]] = {}
    for c in POWER:
        s = summary.get(c) or {}
        out[c] = (s.get("energy_in_wh") or 0.0, s.get("energy_out_wh") or 0.0, s.get("covered_s") or 0.0)
    for c in COUNTERS:
        out[c] = ((summary.get(c) or {}).get("energy_wh") or 0.0,)
    return out


def same(a: dict[str, tuple[float, ...]], b: dict[str, tuple[float, ...]], what: str) -> None:
    for c in a:
        assert a[c] == pytest.approx(b[c], abs=1e-3), (what, c, a[c], b[c])


def edge_figures(store: SqliteStore, a: int, b: int) -> dict[str, tuple[float, ...]]:
    start, end = (datetime.fromtimestamp(x / 1000, BERLIN) for x in (a, b))
    out: dict[str, tuple[float, ...]] = {}
    for c in POWER:
        e = store.power_energy(c, start, end)
        assert e is not None
        out[c] = (e.pos_wh, e.neg_wh, e.covered_ms / 1000)
    for c in COUNTERS:
        out[c] = (store.energy(c, start, end),)
    return out


def roll_up(portal: Portal) -> dict:  # noqa: F811
    async def go() -> dict:
        db = open_database(portal.db.url, schema=portal.db.schema, pool_size=2)
        await db.open()
        try:
            return await retention.run(db, ms(NOW))
        finally:
            await db.close()

    return asyncio.run(go())


def test_every_view_adds_up_on_counters_and_covered_time_and_matches_the_edge(
    portal: Portal,  # noqa: F811
    tmp_path: Path,
) -> None:
    readings, truth, _glitches, _reset = dataset()
    points = {c: sorted((t, v) for ch, t, v in readings if ch == c) for c in POWER} | truth
    owner = account(portal)
    site = new_site(owner)
    assert owner.http.put(f"/api/v1/sites/{site}/timezone", json={"tz": TZ}).status_code == 200
    bad = owner.http.put(f"/api/v1/sites/{site}/timezone", json={"tz": "Mars/Olympus"})
    assert bad.status_code == 400 and "Mars/Olympus" in bad.text
    token = edge_token(owner, site)
    for i in range(0, len(readings), 20_000):
        upload(portal, token, site, readings[i : i + 20_000], first_seq=i + 1)
    counts = roll_up(portal)
    assert counts["counter_resets"] == 1 and counts["counter_glitches"] == 1

    store = SqliteStore(tmp_path / "edge.db", tz=TZ)
    for i in range(0, len(readings), 20_000):
        store.write(readings[i : i + 20_000])

    def view(**params: str) -> dict:
        r = owner.http.get(f"/api/v1/sites/{site}/series", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        got = figures(body["summary"])
        a, b = body["from_ms"], body["to_ms"]
        same(got, expected(points, a, b), f"{params} against the readings")
        same(got, edge_figures(store, a, b), f"{params} against the edge store")
        # the buckets (sub-periods) add up to the total
        i = body["columns"].index("energy_wh")
        for c in (*POWER, *COUNTERS):
            rows = [p for p in body["points"] if p[1] == c]
            assert sum(p[i] or 0.0 for p in rows) == pytest.approx(got[c][0], abs=1e-3), (params, c)
            if c in POWER:
                assert sum(p[i + 1] or 0.0 for p in rows) == pytest.approx(got[c][1], abs=1e-3)
        return {"a": a, "b": b, "got": got}

    days = {}
    d = FIRST
    while d <= LAST_DAY:
        days[d] = view(period="day", date=d.isoformat())
        d += timedelta(days=1)
    dst = days[date(2026, 10, 25)]
    assert dst["b"] - dst["a"] == 25 * HOUR
    # 25 h less the gap: no reading from 02:30 to 02:40 (summer time), so 02:29 to 02:40 is not covered
    assert dst["got"]["pv.power"][2] == pytest.approx(25 * 3600 - 660)

    def total(parts: list[dict]) -> dict[str, tuple[float, ...]]:
        return {
            c: tuple(sum(p["got"][c][k] for p in parts) for k in range(len(parts[0]["got"][c])))
            for c in parts[0]["got"]
        }

    weeks = {}
    for monday in sorted({d - timedelta(days=d.weekday()) for d in days}):
        weeks[monday] = view(period="week", date=monday.isoformat())
        inside = [v for d, v in days.items() if monday <= d < monday + timedelta(days=7)]
        same(weeks[monday]["got"], total(inside), f"week of {monday} = its days")
    months = {m: view(period="month", date=f"2026-{m:02d}-01") for m in range(1, 13)}
    same(months[10]["got"], total([v for d, v in days.items() if d.month == 10]), "October = its days")
    same(months[11]["got"], total([v for d, v in days.items() if d.month == 11]), "November = its days")
    year = view(period="year", date="2026-06-30")
    same(year["got"], total(list(months.values())), "2026 = its months")
    custom = view(period="custom", date="2026-10-24", until="2026-10-26")
    same(custom["got"], total([days[date(2026, 10, k)] for k in (24, 25, 26)]), "custom = its days")
    whole = view(
        **{"from": "2026-10-01T00:00:00+02:00", "to": "2026-12-01T00:00:00+01:00", "resolution": "1h"}
    )
    same(whole["got"], total([months[10], months[11]]), "a custom range in hours = its months")

    # the edge's "today" and the portal's day agree to the Wh, flow by flow (flows.flow_energy)
    roles = SiteRoles.from_pairs(
        [("grid", "grid_meter"), ("pv", "pv"), ("bat", "battery"), ("ev", "ev_charger")]
    )
    view = StoreView("home", BERLIN, roles, snapshot=None, store=store, now=lambda: NOW)  # type: ignore[arg-type]
    today = view.today()["energy_kwh"]
    r = owner.http.get(f"/api/v1/sites/{site}/series", params={"period": "day", "date": "2026-11-09"})
    summary = r.json()["summary"]
    portal_kwh = flow_energy(
        roles,
        lambda ch: summary[ch]["energy_wh"] if ch in summary else None,
        lambda ch: (summary[ch]["energy_in_wh"], summary[ch]["energy_out_wh"]) if ch in summary else None,
    )
    assert today == pytest.approx(portal_kwh, abs=1e-6) and today["battery_discharge"] > 1
