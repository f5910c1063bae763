"""Per-site retention tiers and the job that rolls up and deletes.

Default policy (privacy first): raw values for 1 hour, 5-minute aggregates for 2 years,
hourly and daily aggregates forever. The store's finest aggregate is 5 minutes (``rollup_5m``);
15-minute series are made from it at query time. An owner may opt in to ``archive``: raw values
are then kept (and can be downloaded at ``resolution=raw``).

:func:`run` (one transaction, set-based over all sites; on PostgreSQL on one snapshot, so uploads
never wait for it):

1. raw values that arrived late, into 5-minute buckets already final, are *merged* into them
   (n-weighted mean, min, max, last) — then deleted with the rest, so each counts once;
2. 5-minute buckets from the site's ``done_ms`` up to the raw window's start (``cut``, whole
   5 minutes) are recomputed from raw (raw is complete there); that window stays raw only, and
   series aggregate it on the fly, so values an edge uploads late still show at once;
3. raw values older than the raw window are deleted (not hidden) unless the site archives;
4. hourly buckets are recomputed from 5-minute ones, daily from hourly, for every hour/day a
   changed 5-minute bucket falls in. Days are the site's local days (``sites.tz``, 23 or 25 h
   on DST days, keyed by local midnight; from 5-minute rows where a zone's midnight is not on
   the hour); a site whose zone changed gets all its days rebuilt;
5. aggregates past their tier's keep are deleted.

On PostgreSQL the timer and :func:`main` then run ``partitions.maintain`` (the next months'
partitions, whole expired months dropped; see ``portal/partitions.py``).

Run it every few minutes: ``python -m wattwerk.portal.retention --db URL`` (PostgreSQL or
SQLite) from a timer (overlapping runs on several portal hosts only wait for each other), or
``POST /api/v1/admin/retention/run``.

Power channels (W) get their energy as the covered-time integral of ``store/rollup.py``, the
rule the edge store uses: per 5-minute bucket the positive and negative Wh and the covered
milliseconds, summed up into hours and days (a late power reading into a final bucket changes
its mean, not its energy). Counters keep the last value of each bucket (and its time), so the
delta of any range is last(range) − last(before range): a day's energy equals the sum of its
hours to the Wh. Their raw values are validated first, with the edge store's rules
(``counter_rollup.py``): a glitch is left out (a gap), a reset starts a new baseline (a shift,
so the register runs on), and a late counter reading joins a final bucket only if it fits
between its rolled-up neighbours.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from psycopg.errors import SerializationFailure

from wattwerk.portal import counter_rollup, partitions
from wattwerk.portal.counter_rollup import Anchor
from wattwerk.portal.database import POSTGRES, SQLITE, Conn, Database, open_database
from wattwerk.store import rollup
from wattwerk.store.counters import CounterPolicy

log = logging.getLogger(__name__)

M5, H1, D1 = 300_000, 3_600_000, 86_400_000
TIERS = ("raw_keep_s", "m5_keep_s", "h1_keep_s", "d1_keep_s")
FIELDS = (*TIERS, "archive", "research_consent")

_LOCK = 0x72657465  # "rete": advisory lock of the job on PostgreSQL
# A rollup row's key: PostgreSQL keys every rollup by site first (migration 0200; the insert
# trigger fills site_id from the channel before the conflict check), SQLite by channel.
_KEY = {True: "(site_id, channel_id, bucket_ms)", False: "(channel_id, bucket_ms)"}
_REPLACE = (
    "ON CONFLICT {key} DO UPDATE SET n = EXCLUDED.n, mean = EXCLUDED.mean, "
    "min = EXCLUDED.min, max = EXCLUDED.max, last = EXCLUDED.last, last_ts = EXCLUDED.last_ts"
)
_REPLACE_E = (  # coarse buckets: the energy columns too
    f"{_REPLACE}, pos_wh = EXCLUDED.pos_wh, neg_wh = EXCLUDED.neg_wh, covered_ms = EXCLUDED.covered_ms"
)
_ENERGY_SUMS = "sum(pos_wh), sum(neg_wh), sum(covered_ms)"


class _Sql:
    """The few pieces of the job's SQL that differ between PostgreSQL and SQLite."""

    def __init__(self, dialect: str) -> None:
        pg = dialect != SQLITE
        self.pg = pg
        self.greatest = "greatest" if pg else "max"  # SQLite's scalar max(a, b)
        self.least = "least" if pg else "min"
        g, lst = self.greatest, self.least
        self.replace = _REPLACE.format(key=_KEY[pg])
        self.replace_e = _REPLACE_E.format(key=_KEY[pg])
        self.merge = (
            f"ON CONFLICT {_KEY[pg]} DO UPDATE SET n = r.n + EXCLUDED.n, "
            "mean = (r.mean * r.n + EXCLUDED.mean * EXCLUDED.n) / (r.n + EXCLUDED.n), "
            f"min = {lst}(r.min, EXCLUDED.min), max = {g}(r.max, EXCLUDED.max), "
            "last = CASE WHEN EXCLUDED.last_ts >= r.last_ts THEN EXCLUDED.last ELSE r.last END, "
            f"last_ts = {g}(r.last_ts, EXCLUDED.last_ts)"
        )

    def raw_agg(self, where: str) -> str:
        """channel_id, 5-min bucket, n, mean, min, max, last, last_ts of the raw rows ``where``."""
        src = (
            "FROM readings x JOIN channels c ON c.id = x.channel_id JOIN rt_sites s ON s.site_id = c.site_id"
        )
        bucket = f"(x.ts_ms / {M5}) * {M5}"
        if self.pg:
            return (
                f"SELECT x.channel_id, {bucket}, count(*), avg(value), min(value), max(value), "
                f"(array_agg(value ORDER BY ts_ms DESC))[1], max(ts_ms) {src} WHERE {where} "
                "GROUP BY 1, 2"
            )
        return (
            f"SELECT channel_id, b, count(*), avg(value), min(value), max(value), max(lastv), "
            f"max(ts_ms) FROM (SELECT x.channel_id, {bucket} AS b, x.value, x.ts_ms, "
            "first_value(x.value) OVER "
            f"(PARTITION BY x.channel_id, {bucket} ORDER BY x.ts_ms DESC) AS lastv {src} WHERE {where}) "
            "GROUP BY 1, 2"
        )

    def up_agg(self, src: str, size: int) -> str:
        """Coarser buckets of ``size`` from the finer rollup ``src`` for the touched channels."""
        touched = (
            "JOIN (SELECT channel_id, min(from_ms) AS from_ms FROM rt_touched GROUP BY 1) t "
            f"ON t.channel_id = x.channel_id AND x.bucket_ms >= (t.from_ms / {size}) * {size}"
        )
        return self._coarse(src, f"(x.bucket_ms / {size}) * {size}", touched)

    def day_agg(self, src: str, level: str) -> str:
        """Local days (rt_days of the site's zone, from ``level`` rows) for the touched channels."""
        join = (
            "JOIN (SELECT channel_id, min(from_ms) AS from_ms FROM rt_touched GROUP BY 1) t "
            "ON t.channel_id = x.channel_id JOIN channels c ON c.id = x.channel_id "
            "JOIN sites st ON st.id = c.site_id JOIN rt_days d ON d.tz = st.tz "
            f"AND d.src = '{level}' AND x.bucket_ms >= d.b AND x.bucket_ms < d.e AND d.e > t.from_ms"
        )
        return self._coarse(src, "d.b", join)

    def _coarse(self, src: str, bucket: str, join: str) -> str:
        if self.pg:
            return (
                f"SELECT x.channel_id, {bucket}, sum(n), sum(mean * n) / sum(n), min(min), max(max), "
                f"(array_agg(last ORDER BY last_ts DESC))[1], max(last_ts), {_ENERGY_SUMS} "
                f"FROM {src} x {join} GROUP BY 1, 2"
            )
        return (
            f"SELECT channel_id, b, sum(n), sum(mean * n) / sum(n), min(min), max(max), max(lastv), "
            f"max(last_ts), {_ENERGY_SUMS} FROM (SELECT x.channel_id, {bucket} AS b, x.n, x.mean, "
            "x.min, x.max, x.last_ts, x.pos_wh, x.neg_wh, x.covered_ms, first_value(x.last) OVER "
            f"(PARTITION BY x.channel_id, {bucket} ORDER BY x.last_ts DESC) AS lastv "
            f"FROM {src} x {join}) GROUP BY 1, 2"
        )


async def policy(conn: Conn, site_id: int) -> dict[str, Any]:
    await conn.execute("INSERT INTO site_retention (site_id) VALUES (%s) ON CONFLICT DO NOTHING", (site_id,))
    cur = await conn.execute(
        f"SELECT {', '.join(FIELDS)}, rolled_ms FROM site_retention WHERE site_id = %s", (site_id,)
    )
    row = await cur.fetchone()
    assert row is not None
    out = dict(zip((*FIELDS, "rolled_ms"), row, strict=True))
    out["archive"] = bool(out["archive"])
    out["research_consent"] = bool(out["research_consent"])
    out["aggregate_resolution"] = "5m"
    return out


async def set_policy(conn: Conn, site_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    await policy(conn, site_id)
    for name, value in changes.items():
        if name not in FIELDS:
            raise ValueError(f"unknown retention field {name!r}")
        await conn.execute(f"UPDATE site_retention SET {name} = %s WHERE site_id = %s", (value, site_id))
    return await policy(conn, site_id)


async def _temp_tables(conn: Conn, sql: _Sql, now_ms: int) -> None:
    """rt_sites: each site's policy and this run's ``cut``; rt_touched: changed 5-min buckets."""
    await conn.execute("DROP TABLE IF EXISTS rt_sites")
    await conn.execute("DROP TABLE IF EXISTS rt_touched")
    drop = " ON COMMIT DROP" if sql.pg else ""
    await conn.execute(
        f"CREATE TEMP TABLE rt_sites (site_id integer PRIMARY KEY, archive boolean, done_ms bigint, "
        f"cut bigint, m5_keep_s bigint, h1_keep_s bigint, d1_keep_s bigint, days_tz text){drop}"
    )
    await conn.execute(
        "INSERT INTO rt_sites SELECT site_id, archive, done_ms, "
        f"{sql.greatest}(done_ms, ((%(now)s - raw_keep_s * 1000) / %(b)s) * %(b)s), "
        "m5_keep_s, h1_keep_s, d1_keep_s, days_tz FROM site_retention",
        {"now": now_ms, "b": M5},
    )
    await conn.execute(f"CREATE TEMP TABLE rt_touched (channel_id integer, from_ms bigint){drop}")
    await conn.execute("DROP TABLE IF EXISTS rt_days")
    await conn.execute(f"CREATE TEMP TABLE rt_days (tz text, src text, b bigint, e bigint){drop}")


async def _upsert_touched(conn: Conn, sql: _Sql, select: str, conflict: str) -> int:
    """INSERT the rows of ``select`` into rollup_5m (``conflict``: merge or replace) and note the
    earliest bucket per channel in rt_touched; return the channels touched."""
    if sql.pg:  # one statement: the insert's RETURNING feeds rt_touched
        cur = await conn.execute(
            f"WITH ins AS (INSERT INTO rollup_5m AS r {_ROLLUP_COLS} {select} {conflict} "
            "RETURNING channel_id, bucket_ms) "
            "INSERT INTO rt_touched SELECT channel_id, min(bucket_ms) FROM ins GROUP BY 1"
        )
        return cur.rowcount
    cur = await conn.execute(f"INSERT INTO rt_touched SELECT channel_id, min(b) FROM ({select}) GROUP BY 1")
    await conn.execute(f"INSERT INTO rollup_5m AS r {_ROLLUP_COLS} {select} {conflict}")
    return cur.rowcount


_ROLLUP_COLS = "(channel_id, bucket_ms, n, mean, min, max, last, last_ts)"
_COUNTER_ROWS = (
    "FROM readings x JOIN channels c ON c.id = x.channel_id JOIN rt_sites s ON s.site_id = c.site_id "
    "LEFT JOIN counter_anchors a ON a.channel_id = x.channel_id WHERE c.kind = 'counter' AND "
)
_ANCHOR = (
    "INSERT INTO counter_anchors (channel_id, ts_ms, value, shift) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (channel_id) DO UPDATE SET ts_ms = EXCLUDED.ts_ms, value = EXCLUDED.value, "
    "shift = EXCLUDED.shift WHERE counter_anchors.ts_ms < EXCLUDED.ts_ms"
)


async def _late_counters(conn: Conn, sql: _Sql, policy: CounterPolicy) -> tuple[int, int]:
    """Late counter readings into final buckets: merged when they fit between the rolled-up
    neighbours, else left out as glitches. Returns (merged, glitches)."""
    rows = await conn.fetchall(
        f"SELECT x.channel_id, x.ts_ms, x.value {_COUNTER_ROWS} NOT s.archive AND x.ts_ms < s.done_ms "
        "ORDER BY x.channel_id, x.ts_ms"
    )
    merged = glitches = 0
    shifts: dict[int, list[tuple[int, float]]] = {}
    for cid, ts, value in rows:
        if cid not in shifts:
            shifts[cid] = [
                (int(a), float(b))
                for a, b in await conn.fetchall(
                    "SELECT from_ms, shift FROM counter_baselines WHERE channel_id = %s ORDER BY from_ms",
                    (cid,),
                )
            ]
        shift = counter_rollup.shift_at(shifts[cid], ts)
        register = value + shift
        bucket = ts // M5 * M5
        before = await conn.fetchone(
            "SELECT last_ts, last FROM rollup_5m WHERE channel_id = %s AND bucket_ms <= %s AND last_ts <= %s "
            "ORDER BY bucket_ms DESC LIMIT 1",
            (cid, bucket, ts),
        )
        after = [
            r[0]
            for r in await conn.fetchall(
                "SELECT min FROM (SELECT min FROM rollup_5m WHERE channel_id = %s AND bucket_ms > %s "
                "ORDER BY bucket_ms LIMIT 1) n UNION ALL SELECT last FROM rollup_5m WHERE channel_id = %s "
                "AND bucket_ms = %s AND last_ts > %s",
                (cid, bucket, cid, bucket, ts),
            )
        ]
        if not counter_rollup.late_ok(
            ts, register, (before[0], before[1]) if before else None, min(after) if after else None, policy
        ):
            glitches += 1
            continue
        await conn.execute(
            f"INSERT INTO rollup_5m AS r {_ROLLUP_COLS} VALUES (%s, %s, 1, %s, %s, %s, %s, %s) {sql.merge}",
            (cid, bucket, register, register, register, register, ts),
        )
        await conn.execute("INSERT INTO rt_touched VALUES (%s, %s)", (cid, bucket))
        await conn.execute(_ANCHOR, (cid, ts, value, shift))
        merged += 1
    return merged, glitches


async def _window_counters(conn: Conn, policy: CounterPolicy) -> tuple[int, int]:
    """Counters' readings in [done_ms, cut), validated and rolled up (see counter_rollup).
    The readings stream past channel by channel (constant memory however many sites); only
    the buckets, baselines and anchors they make are kept until written. Returns (resets, glitches)."""
    resets = glitches = 0
    buckets: list[tuple[int, int, int, float, float, float, float, int]] = []
    baselines: list[tuple[int, int, float]] = []
    anchors: list[tuple[int, int, float, float]] = []
    touched: list[tuple[int, int]] = []

    def channel(rows: list[Any]) -> None:
        nonlocal resets, glitches
        cid, cut, first = rows[0][0], rows[0][3], rows[0]
        anchor = Anchor(int(first[4]), float(first[5]), float(first[6])) if first[4] is not None else None
        rolled = counter_rollup.roll([(int(r[1]), float(r[2])) for r in rows], anchor, int(cut), policy)
        glitches += rolled.glitches
        resets += len(rolled.baselines)
        buckets.extend(b.row(cid, ms) for ms, b in rolled.buckets.items())
        baselines.extend((cid, ts, shift) for ts, shift in rolled.baselines)
        if rolled.anchor is not None and rolled.anchor != anchor:
            anchors.append((cid, rolled.anchor.ts_ms, rolled.anchor.value, rolled.anchor.shift))
        if rolled.buckets:
            touched.append((cid, min(rolled.buckets)))

    await _by_channel(
        conn,
        f"SELECT x.channel_id, x.ts_ms, x.value, s.cut, a.ts_ms, a.value, a.shift {_COUNTER_ROWS} "
        f"x.ts_ms >= s.done_ms AND x.ts_ms < s.cut + {counter_rollup.LOOKAHEAD_MS} "
        "ORDER BY x.channel_id, x.ts_ms",
        channel,
    )
    if buckets:
        await conn.executemany(
            f"INSERT INTO rollup_5m AS r {_ROLLUP_COLS} VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            f"{_Sql(conn.dialect).replace}",
            buckets,
        )
        await conn.executemany("INSERT INTO rt_touched VALUES (%s, %s)", touched)
    if baselines:
        await conn.executemany(
            "INSERT INTO counter_baselines (channel_id, from_ms, shift) VALUES (%s, %s, %s) "
            "ON CONFLICT (channel_id, from_ms) DO UPDATE SET shift = EXCLUDED.shift",
            baselines,
        )
    if anchors:
        await conn.executemany(_ANCHOR, anchors)
    return resets, glitches


_POWER = "c.kind = 'power' AND c.unit = 'W'"


async def _by_channel(conn: Conn, sql: str, channel: Callable[[list[Any]], None]) -> None:
    """``channel`` called with each channel's rows in turn, streamed in batches (constant memory);
    ``sql`` selects the channel id first and orders by it."""
    current: list[Any] = []
    async for batch in conn.chunks(sql, size=5000):
        for row in batch:
            if current and row[0] != current[0][0]:
                channel(current)
                current = []
            current.append(row)
    if current:
        channel(current)


async def _window_power(conn: Conn) -> int:
    """Power channels' covered-time integrals (store/rollup.py) of the 5-minute buckets in
    [done_ms, cut), from the readings there, those just after ``cut`` and the rolled-up last
    reading before ``done_ms``; written into the buckets the raw pass made. Returns buckets."""
    before = {
        int(cid): (int(ts), float(v))
        for cid, ts, v in await conn.fetchall(
            "SELECT x.channel_id, x.last_ts, x.last FROM rollup_5m x JOIN channels c ON c.id = x.channel_id "
            f"JOIN rt_sites s ON s.site_id = c.site_id WHERE {_POWER} AND s.done_ms > 0 "
            f"AND x.bucket_ms = s.done_ms - {M5}"
        )
    }
    out: list[tuple[float, float, int, int, int]] = []

    def channel(rows: list[Any]) -> None:
        cid, done, cut = int(rows[0][0]), int(rows[0][3]), int(rows[0][4])
        points = [(int(r[1]), float(r[2])) for r in rows]
        if cid in before:
            points.insert(0, before[cid])
        energy = rollup.integrate(points, rollup.fixed(M5), done, cut)
        for t, _ in points:
            if done <= t < cut:
                energy.setdefault(t // M5 * M5, rollup.Energy())
        out.extend((e.pos_wh, e.neg_wh, e.covered_ms, cid, b) for b, e in energy.items())

    await _by_channel(
        conn,
        "SELECT x.channel_id, x.ts_ms, x.value, s.done_ms, s.cut FROM readings x JOIN channels c "
        f"ON c.id = x.channel_id JOIN rt_sites s ON s.site_id = c.site_id WHERE {_POWER} AND "
        f"x.ts_ms >= s.done_ms AND x.ts_ms < s.cut + {rollup.MAX_GAP_MS} ORDER BY x.channel_id, x.ts_ms",
        channel,
    )
    if out:
        await conn.executemany(
            "UPDATE rollup_5m SET pos_wh = %s, neg_wh = %s, covered_ms = %s "
            "WHERE channel_id = %s AND bucket_ms = %s",
            out,
        )
    return len(out)


async def _days(conn: Conn, sql: _Sql, now_ms: int) -> None:
    """Local days of the touched channels from their hours (5-minute rows in zones whose days
    are not whole hours); all days of a site whose days were built in another zone."""
    stale = [
        int(r[0])
        for r in await conn.fetchall(
            "SELECT s.site_id FROM rt_sites s JOIN sites st ON st.id = s.site_id "
            "WHERE s.days_tz IS NULL OR s.days_tz <> st.tz"
        )
    ]
    for site_id in stale:
        await conn.execute(
            "DELETE FROM rollup_1d WHERE channel_id IN (SELECT id FROM channels WHERE site_id = %s)",
            (site_id,),
        )
        await conn.execute(
            "INSERT INTO rt_touched SELECT x.channel_id, min(x.bucket_ms) FROM rollup_1h x "
            "JOIN channels c ON c.id = x.channel_id WHERE c.site_id = %s GROUP BY 1",
            (site_id,),
        )
        await conn.execute(
            "UPDATE site_retention SET days_tz = (SELECT tz FROM sites WHERE id = %s) WHERE site_id = %s",
            (site_id, site_id),
        )
    spans = await conn.fetchall(
        "SELECT st.tz, min(t.from_ms), max(t.from_ms) FROM rt_touched t "
        "JOIN channels c ON c.id = t.channel_id JOIN sites st ON st.id = c.site_id GROUP BY st.tz"
    )
    rows = []
    for tz, lo, hi in spans:
        for b, e in rollup.days(int(lo), max(int(hi), now_ms) + 2 * D1, tz):
            rows.append((tz, rollup.day_child(b, e), b, e))
    if not rows:
        return
    await conn.executemany("INSERT INTO rt_days (tz, src, b, e) VALUES (%s, %s, %s, %s)", rows)
    for src, level in (("rollup_1h", "1h"), ("rollup_5m", "5m")):
        day = sql.day_agg(src, level)
        await conn.execute(f"INSERT INTO rollup_1d AS r {_ROLLUP_E} {day} {sql.replace_e}")


_ROLLUP_E = "(channel_id, bucket_ms, n, mean, min, max, last, last_ts, pos_wh, neg_wh, covered_ms)"


async def run(db: Database, now_ms: int, policy: CounterPolicy | None = None) -> dict[str, int]:
    """One pass of rollups and deletions for every site, in a transaction of its own (call it
    outside one); returns counts.

    PostgreSQL: one run at a time across processes and hosts (``Database.exclusive``), on a
    REPEATABLE READ snapshot taken once the lock is held. Every statement then sees the same
    readings, so what is deleted is exactly what was rolled up: a reading an edge commits meanwhile
    is neither, and the next run merges it as a late value. Uploads never wait for a run. (At READ
    COMMITTED each statement saw what had committed when it started, so a reading committed
    between the rollups and the DELETE was deleted unrolled.) SQLite: its write lock serialises."""
    if db.dialect != POSTGRES:
        async with db.connection() as conn:
            return await _run(conn, now_ms, policy)
    for attempt in range(1, _ATTEMPTS):
        try:
            return await _run_on_snapshot(db, now_ms, policy)
        except SerializationFailure:  # a row it changes was changed since its snapshot (a new keep)
            log.warning("retention run %d of %d met a concurrent change; running again", attempt, _ATTEMPTS)
    return await _run_on_snapshot(db, now_ms, policy)


_ATTEMPTS = 3


async def _run_on_snapshot(db: Database, now_ms: int, policy: CounterPolicy | None) -> dict[str, int]:
    async with db.exclusive(_LOCK), db.connection() as conn:  # the lock outlives the commit
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return await _run(conn, now_ms, policy)


async def _run(conn: Conn, now_ms: int, policy: CounterPolicy | None) -> dict[str, int]:
    sql = _Sql(conn.dialect)
    policy = policy or CounterPolicy()
    await conn.execute(
        "INSERT INTO site_retention (site_id) SELECT id FROM sites WHERE true ON CONFLICT DO NOTHING"
    )
    await _temp_tables(conn, sql, now_ms)
    merged = await _upsert_touched(
        conn, sql, sql.raw_agg("c.kind <> 'counter' AND NOT s.archive AND x.ts_ms < s.done_ms"), sql.merge
    )
    late_counters, late_glitches = await _late_counters(conn, sql, policy)
    window = sql.raw_agg("c.kind <> 'counter' AND x.ts_ms >= s.done_ms AND x.ts_ms < s.cut")
    await _upsert_touched(conn, sql, window, sql.replace)
    resets, glitches = await _window_counters(conn, policy)
    await _window_power(conn)
    if sql.pg:
        cur = await conn.execute(
            "DELETE FROM readings x USING channels c, rt_sites s "
            "WHERE c.id = x.channel_id AND s.site_id = c.site_id "
            "AND NOT s.archive AND x.ts_ms < s.cut"
        )
    else:
        cur = await conn.execute(
            "DELETE FROM readings WHERE ts_ms < (SELECT s.cut FROM channels c JOIN rt_sites s "
            "ON s.site_id = c.site_id WHERE c.id = readings.channel_id AND NOT s.archive)"
        )
    deleted_raw = cur.rowcount
    hours = sql.up_agg("rollup_5m", H1)
    await conn.execute(f"INSERT INTO rollup_1h AS r {_ROLLUP_E} {hours} {sql.replace_e}")
    await _days(conn, sql, now_ms)
    deleted_agg = 0
    for table, keep in (("rollup_5m", "m5_keep_s"), ("rollup_1h", "h1_keep_s"), ("rollup_1d", "d1_keep_s")):
        if sql.pg:
            cur = await conn.execute(
                f"DELETE FROM {table} x USING channels c, rt_sites s WHERE c.id = x.channel_id "
                f"AND s.site_id = c.site_id AND s.{keep} IS NOT NULL AND x.bucket_ms < %s - s.{keep} * 1000",
                (now_ms,),
            )
        else:
            cur = await conn.execute(
                f"DELETE FROM {table} WHERE bucket_ms < (SELECT %s - s.{keep} * 1000 FROM channels c "
                f"JOIN rt_sites s ON s.site_id = c.site_id WHERE c.id = {table}.channel_id)",
                (now_ms,),
            )
        deleted_agg += cur.rowcount
    if sql.pg:
        cur = await conn.execute(
            "UPDATE site_retention r SET done_ms = s.cut, rolled_ms = s.cut FROM rt_sites s "
            "WHERE s.site_id = r.site_id"
        )
    else:
        cur = await conn.execute(
            "UPDATE site_retention SET done_ms = s.cut, rolled_ms = s.cut FROM rt_sites s "
            "WHERE s.site_id = site_retention.site_id"
        )
    sites = cur.rowcount
    if not sql.pg:
        await conn.execute("DROP TABLE rt_sites")
        await conn.execute("DROP TABLE rt_touched")
        await conn.execute("DROP TABLE rt_days")
    counts = {
        "sites": sites,
        "late_channels_merged": merged,
        "late_counter_readings_merged": late_counters,
        "counter_resets": resets,
        "counter_glitches": glitches + late_glitches,
        "raw_deleted": deleted_raw,
        "aggregates_deleted": deleted_agg,
    }
    log.info("retention: %s", counts)
    return counts


async def every(db: Database, interval_s: float) -> None:
    """Run the job every ``interval_s`` seconds until cancelled (the embedded portal's timer).
    A failed run is logged and tried again next time; it never stops the portal."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            now_ms = int(time.time() * 1000)
            await run(db, now_ms)
            await partitions.maintain(db, now_ms)  # PostgreSQL: months ahead, expired months dropped
        except Exception:
            log.exception("retention run failed; trying again in %.0f s", interval_s)


def main(argv: list[str] | None = None) -> int:
    """One run from a timer (cron, systemd): prints the counts as JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m wattwerk.portal.retention", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--db",
        default=os.environ.get("WATTWERK_PORTAL_DB", "sqlite:///var/portal.db"),
        help="the portal's database, as for wattwerk portal (default: sqlite:///var/portal.db)",
    )
    parser.add_argument("--schema", help="PostgreSQL schema (default: the server's search_path)")
    args = parser.parse_args(argv)

    async def once() -> dict[str, int]:
        db = open_database(args.db, schema=args.schema, pool_size=2)  # the run and its lock
        await db.open()
        try:
            now_ms = int(time.time() * 1000)
            counts = await run(db, now_ms)
            parts = await partitions.maintain(db, now_ms)
            return {**counts, **{f"partitions_{k}": len(v) for k, v in parts.items()}}
        finally:
            await db.close()

    print(json.dumps(asyncio.run(once())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
