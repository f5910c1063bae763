"""Properties of the shared rollup rules (store/rollup.py) and of both engines that use them: the
edge store (SQLite) and the portal (its rollups and series on PostgreSQL and SQLite). Random
gaps, late data, DST days, partial periods and counter resets and glitches: every local day and
every partial range has the energy the readings say (counter increments, covered-time integral),
and the portal and the edge store agree to the Wh."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_ingest_support import PortalDb, database  # noqa: F401
from wattwerk.model import from_ms
from wattwerk.portal import retention, series, sites
from wattwerk.portal.database import Database, open_database
from wattwerk.store import buckets, rollup
from wattwerk.store.sqlite import SqliteStore

TZ = "Europe/Berlin"
HOUR, GAP = 3_600_000, 300_000
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham", "UTC"]
STARTS = [
    datetime(2024, 3, 30, 20, tzinfo=UTC),  # spring forward: a 23 h day
    datetime(2024, 10, 26, 20, tzinfo=UTC),  # fall back: a 25 h day
    datetime(2024, 6, 1, 21, tzinfo=UTC),
]
SPACING = 6  # short steps after a counter event, so the meter's new level is confirmed in time


# ------------------------------------------------------------------ the pure rules


def held(points: list[tuple[int, float]], a: int, b: int) -> tuple[float, float, int]:
    """(positive Wh, negative Wh, covered ms) over [a, b): a value holds until the next reading
    when that comes within GAP (written out here independently of store/rollup.py)."""
    pos = neg = 0.0
    covered = 0
    for (t0, v), (t1, _) in itertools.pairwise(points):
        dt = min(t1, b) - max(t0, a)
        if t1 - t0 <= GAP and dt > 0:
            wh = v * dt / HOUR
            pos, neg, covered = pos + max(wh, 0.0), neg + max(-wh, 0.0), covered + dt
    return pos, neg, covered


power_points = st.lists(st.tuples(st.integers(1, 2 * GAP), st.integers(-5000, 5000)), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(power_points, st.integers(1_000, 2 * HOUR), st.integers(0, 10 * HOUR), st.integers(0, 10 * HOUR))
def test_integral_is_additive_over_any_buckets_and_cuts(steps: list, size: int, x: int, y: int) -> None:
    t = 1_700_000_000_000
    points = []
    for dt, w in steps:
        t += dt
        points.append((t, float(w)))
    a, b = points[0][0] - HOUR, points[-1][0] + HOUR
    cut = a + min(x, y) * (b - a) // (10 * HOUR)
    whole = rollup.integrate(points, lambda _t: (a, b), a, b)
    parts = rollup.integrate(points, rollup.fixed(size), a, b)
    left, right = (
        rollup.integrate(points, lambda _t: (a, cut), a, cut),
        rollup.integrate(points, lambda _t: (cut, b), cut, b),
    )
    want = held(points, a, b)
    for got in (whole, parts):
        total = rollup.Energy()
        for e in got.values():
            total.add(e)
        assert (total.pos_wh, total.neg_wh, total.covered_ms) == pytest.approx(want, abs=1e-9)
    split = rollup.Energy()
    for e in (*left.values(), *right.values()):
        split.add(e)
    assert (split.pos_wh, split.neg_wh, split.covered_ms) == pytest.approx(want, abs=1e-9)
    for start, e in parts.items():
        assert start % size == 0 and e.covered_ms <= size


@settings(max_examples=200, deadline=None)
@given(st.dates(date(1990, 1, 1), date(2037, 12, 31)), st.sampled_from(ZONES))
def test_local_periods_tile_and_follow_the_zone(day: date, tz: str) -> None:
    zi = ZoneInfo(tz)
    for kind in rollup.PERIODS:
        start, end = rollup.period_ms(kind, day, tz)
        assert start <= rollup.local_midnight(day, tz) < end
        first = datetime.fromtimestamp(start / 1000, zi)
        assert (first.hour, first.minute) == (0, 0) or tz == "UTC" or first.hour < 2  # a missing midnight
        subs = rollup.sub_periods(kind, day, tz)
        assert subs[0][0] == start and subs[-1][1] == end
        assert all(x[1] == y[0] for x, y in itertools.pairwise(subs))
        if kind == "week":
            assert first.date().weekday() == 0 and len(subs) == 7
        if kind == "year":
            assert len(subs) == 12 and first.date() == date(day.year, 1, 1)
    days = rollup.days(*rollup.period_ms("month", day, tz), tz)
    assert all(buckets.day_range(a, tz) == (a, b) for a, b in days)
    assert {b - a for a, b in days} <= {23 * HOUR, 24 * HOUR, 25 * HOUR, 23.5 * HOUR, 24.5 * HOUR}


# ------------------------------------------------------------------ both engines

step = st.tuples(
    st.integers(0, 9).flatmap(  # mostly covered, one step in ten a gap
        lambda k: st.integers(GAP + 1_000, 3 * HOUR) if k == 0 else st.integers(10_000, 240_000)
    ),
    st.integers(-3000, 8000),  # W
)
events = st.lists(st.tuples(st.floats(0, 1), st.sampled_from(["reset", "glitch"])), min_size=1, max_size=4)
scenario = st.tuples(
    st.sampled_from(STARTS),
    st.tuples(st.lists(step, min_size=SPACING * 2, max_size=120), events),
    st.randoms(use_true_random=False),
    st.integers(1, 4),  # batches, arriving in random order
    st.floats(0.0, 0.7),
    st.floats(0.0, 0.7),  # where the two retention runs cut (raw after the second)
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),  # a partial range
)


Readings = list[tuple[str, int, float]]


def build(start: datetime, plan: tuple[list, list]) -> tuple[Readings, list[tuple[int, float]]]:
    """Readings (grid.power, grid.energy_import) and the counter's true (ts, increment) as a
    store can know it: no increment for the first reading and across a meter replacement.
    ``plan``: (dt ms, W) steps and (where, what) counter events (a reset or a glitch)."""
    steps, where = plan
    at = {1 + int(f * (len(steps) - SPACING - 2)): kind for f, kind in where}
    t = int(start.timestamp() * 1000)
    level = 40_000_000.0
    readings: list[tuple[str, int, float]] = []
    truth: list[tuple[int, float]] = []
    last_event = -SPACING
    watts = carry = 0.0
    for i, (dt, w) in enumerate(steps):
        event = at.get(i, "ok")
        t += dt
        inc = max(watts, 0.0) * dt / HOUR if dt <= GAP else 0.0  # the meter counts only what it saw
        readings.append(("grid.power", t, float(w)))
        watts = float(w)
        quiet = all(s[0] <= 240_000 for s in steps[i + 1 : i + 1 + SPACING])
        if event != "ok" and i - last_event >= SPACING and quiet:
            last_event = i
            if event == "reset":
                level = round(level / 3, 3)  # a new meter, well below the old one
                readings.append(("grid.energy_import", t, level))
                truth.append((t, 0.0))
                continue
            readings.append(("grid.energy_import", t, 0.0))  # a glitch: its energy goes to the next
            level += inc
            carry += inc
            continue
        level += inc
        truth.append((t, (inc if i else 0.0) + carry))
        carry = 0.0
        readings.append(("grid.energy_import", t, round(level, 6)))
    return readings, truth


async def portal_figures(
    db: Database, readings: list, batches: list[list], runs: list[int], ranges: list[tuple[int, int, str]]
) -> list[dict]:
    """Load the readings into a new site of the portal (batch by batch), run the retention job at
    each of ``runs`` and read the series of each (start, end, resolution)."""
    async with db.connection() as conn:
        owner = await conn.fetchval(
            "INSERT INTO accounts (alias, password_hash) VALUES (%s, 'x') RETURNING id", (uuid.uuid4().hex,)
        )
        name = await sites.create(conn, owner, "prop", TZ)
        site = await conn.fetchval("SELECT id FROM sites WHERE name = %s", (name,))
        edge = await conn.fetchval("INSERT INTO edges (site_id, name) VALUES (%s, 'e') RETURNING id", (site,))
        ids = {}
        for ch, unit, kind in (("grid.power", "W", "power"), ("grid.energy_import", "Wh", "counter")):
            ids[ch] = await conn.fetchval(
                "INSERT INTO channels (site_id, name, unit, kind) VALUES (%s, %s, %s, %s) RETURNING id",
                (site, ch, unit, kind),
            )
    seq = itertools.count(1)
    for batch in batches:
        async with db.connection() as conn:
            await conn.executemany(
                "INSERT INTO readings (edge_id, seq, channel_id, ts_ms, value) VALUES (%s, %s, %s, %s, %s)",
                [(edge, next(seq), ids[ch], ts, v) for ch, ts, v in batch],
            )
    for now in runs:
        await retention.run(db, now)
    out = []
    async with db.connection() as conn:
        rolled = int(await conn.fetchval("SELECT rolled_ms FROM site_retention WHERE site_id = %s", (site,)))
        shifts = await series.load_shifts(conn, site)
    chans = [
        series.ChannelInfo(ids["grid.power"], "grid.power", "W", "power"),
        series.ChannelInfo(ids["grid.energy_import"], "grid.energy_import", "Wh", "counter"),
    ]
    for a, b, res in ranges:
        q = series.Query(chans, series.floor_start(a, res, TZ), b, res, rolled, shifts, TZ)
        sums = {c.id: series.Summary(c) for c in chans}
        points = [row async for batch in series.chunks(db, q, sums) for row in batch]
        out.append({"summary": {s.ch.name: s.result() for s in sums.values()}, "points": points})
    return out


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario)
def test_portal_and_edge_store_agree_with_the_readings(database: PortalDb, case: tuple) -> None:  # noqa: F811
    start, steps, rnd, n_batches, r1, r2, p1, p2 = case
    readings, truth = build(start, steps)
    power = sorted((t, v) for ch, t, v in readings if ch == "grid.power")
    first, last = power[0][0], power[-1][0]
    order = readings[:]
    rnd.shuffle(order)
    size = -(-len(order) // n_batches)
    batches = [order[i : i + size] for i in range(0, len(order), size)]
    # the two retention runs: the raw window (1 h) ends before each of these nows
    span = last - first
    runs = sorted({first + HOUR + int(r1 * span), first + HOUR + int(max(r1, r2) * span)})
    days = rollup.days(first, last + 1, TZ)
    lo, hi = sorted((first + int(p1 * span), first + int(p2 * span)))
    lo, hi = lo // GAP * GAP, hi // GAP * GAP + GAP  # a partial range of whole 5-minute buckets
    ranges = [(days[0][0], days[-1][1], "1d"), (days[0][0], days[-1][1], "1h"), (lo, hi, "5m")]

    db = open_database(database.url, schema=database.schema, pool_size=2)

    async def go() -> list[dict]:
        await db.open()
        try:
            return await portal_figures(db, readings, batches, runs, ranges)
        finally:
            await db.close()

    got = asyncio.run(go())
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "edge.db", tz=TZ)
        for batch in batches:
            store.write(batch)

        def edge(a: int, b: int) -> tuple[float, float, float]:
            e = store.power_energy("grid.power", from_ms(a), from_ms(b))
            assert e is not None
            return e.pos_wh, e.neg_wh, store.energy("grid.energy_import", from_ms(a), from_ms(b))

        def want(a: int, b: int) -> tuple[float, float, float]:
            pos, neg, _ = held(power, a, b)
            return pos, neg, sum(inc for t, inc in truth if a <= t < b)

        def portal(rows: list, a: int, b: int) -> tuple[float, float, float]:
            inside = [p for p in rows if a <= p[0] < b]
            return (
                sum(p[8] or 0.0 for p in inside if p[1] == "grid.power"),
                sum(p[9] or 0.0 for p in inside if p[1] == "grid.power"),
                sum(p[8] or 0.0 for p in inside if p[1] == "grid.energy_import"),
            )

        for a, b in days:  # every local day, from the daily and from the hourly series
            for doc in got[:2]:
                assert portal(doc["points"], a, b) == pytest.approx(want(a, b), abs=1e-3), (a, b)
            assert edge(a, b) == pytest.approx(want(a, b), abs=1e-3), (a, b)
        summary = got[2]["summary"]
        power_sum = summary["grid.power"]
        partial = (
            power_sum.get("energy_in_wh") or 0.0,
            power_sum.get("energy_out_wh") or 0.0,
            summary["grid.energy_import"]["energy_wh"] or 0.0,
        )
        assert partial == pytest.approx(want(lo, hi), abs=1e-3)
        assert edge(lo, hi) == pytest.approx(want(lo, hi), abs=1e-3)
        store.close()
    assert timedelta(milliseconds=days[-1][1] - days[0][0]) >= timedelta(hours=23)
