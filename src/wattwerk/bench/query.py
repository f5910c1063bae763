"""``wattwerk bench query [--db URL] [--sites N] [--json]``: dashboard query latency.

One site is asked for what its dashboard shows — today (5-minute points), this month and this
year (local days) of grid power and the import counter, with the summary, by ``period`` as the
pages ask — through the real series endpoint (the ASGI app in this process, its PostgreSQL
pool, a personal access token), while PostgreSQL holds ``--sites`` sites' data at the default
retention, in the shape the real rollup (store/rollup.py, portal/retention.py) writes: sites in
``Europe/Berlin`` (the zone an edge sends), days keyed by local midnight (23 or 25 h on DST
days), and for power the covered-time energy of each bucket (``pos_wh``, ``neg_wh``,
``covered_ms``; counters carry none):

* the measured site: a full year of 5-minute, hourly and daily rollups plus the last hour raw
  (one value per 10 s);
* every other site: two days of 5-minute, 30 days of hourly and a year of daily rollups and
  the last hour raw — the shape of the default tiers, trimmed in depth so the set builds in
  minutes (what matters for the query is the size of the tables and their indexes).

Beside them, the operator's site list (``GET /api/v1/operator/sites``, issue 14) over all
``--sites`` sites, each with an owner, a label and its edge's report, most of them online: a
mix of what the page asks (the first page; a search by label; a deep page by keyset; offline
sites only), one kind after the other, as an administrator's token. Target p95 < 100 ms.

The data is generated inside PostgreSQL (``INSERT ... SELECT`` over ``generate_series``, in
channel order), which beats COPY because no row crosses the wire. A fresh schema is created
and dropped (``--keep`` keeps it). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import time
import uuid
from datetime import date, timedelta

import httpx
import psycopg

from wattwerk.portal import auth, series_api
from wattwerk.portal.app import PortalConfig, create_app
from wattwerk.portal.migrations import migrate
from wattwerk.portal.postgres import with_schema
from wattwerk.store import rollup

M5, H1, D1 = 300_000, 3_600_000, 86_400_000
TZ = "Europe/Berlin"
PERIODS = ("day", "month", "year")
_MEAN = "600 + 400 * sin(b / 3.6e6 + c.id)"  # W, always positive: all of a bucket's energy is pos_wh
_ENERGY = (  # what the rollup writes for a power channel that reported all along; counters: none
    "CASE WHEN c.kind = 'power' THEN m * len / 3.6e6 END, CASE WHEN c.kind = 'power' THEN 0 END, "
    "CASE WHEN c.kind = 'power' THEN len END"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", default=os.environ.get("WATTWERK_BENCH_PG", "postgresql://postgres@127.0.0.1/test")
    )
    parser.add_argument("--sites", type=int, default=10_000, help="sites in the database")
    parser.add_argument("--repeat", type=int, default=60, help="queries per range")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark schema")
    parser.add_argument("--reuse", metavar="SCHEMA", help="measure a schema kept by an earlier --keep run")


def _say(args: argparse.Namespace, text: str) -> None:
    """Progress: on stdout, or on stderr when stdout carries the JSON."""
    print(text, flush=True, file=sys.stderr if args.json else sys.stdout)


def _insert(conn: psycopg.Connection, table: str, buckets: str, params: dict[str, object]) -> int:
    """Rollup rows for the channels of sites ``lo``..``hi`` (ids) over ``buckets`` (rows of
    ``b`` start and ``len`` ms), energy columns as the real rollup fills them."""
    cur = conn.execute(
        f"INSERT INTO {table} (channel_id, bucket_ms, n, mean, min, max, last, last_ts, "
        f"pos_wh, neg_wh, covered_ms) SELECT c.id, b, 30, m, 100, 1100, "
        "CASE WHEN c.kind = 'counter' THEN (b - %(first)s) / 6000.0 ELSE 500 END, b + len - 1, "
        f"{_ENERGY} FROM channels c CROSS JOIN ({buckets}) k CROSS JOIN LATERAL (SELECT {_MEAN} AS m) v "
        "WHERE c.site_id BETWEEN %(lo)s AND %(hi)s ORDER BY c.id, b",
        params,
    )
    return cur.rowcount


def _rollup(conn: psycopg.Connection, table: str, step: int, first: int, last: int, lo: int, hi: int) -> int:
    """Rollups of fixed ``step`` for the channels of sites ``lo``..``hi``, buckets ``first``..``last``."""
    buckets = (
        "SELECT b, %(step)s::bigint AS len "
        "FROM generate_series(%(first)s::bigint, %(last)s::bigint, %(step)s::bigint) b"
    )
    return _insert(conn, table, buckets, {"first": first, "last": last, "step": step, "lo": lo, "hi": hi})


def _days(conn: psycopg.Connection, first: date, last: date, lo: int, hi: int) -> int:
    """Daily rollups keyed by local midnight in ``TZ`` (DST days 23 or 25 h), ``first``..``last``."""
    midnight = "(extract(epoch FROM (d AT TIME ZONE %(tz)s)) * 1000)::bigint"
    buckets = (
        f"SELECT {midnight} AS b, (extract(epoch FROM ((d + interval '1 day') AT TIME ZONE %(tz)s)) "
        f"* 1000)::bigint - {midnight} AS len "
        "FROM generate_series(%(d0)s::timestamp, %(d1)s::timestamp, interval '1 day') d"
    )
    start = rollup.local_midnight(first, TZ)
    return _insert(
        conn, "rollup_1d", buckets, {"first": start, "tz": TZ, "d0": first, "d1": last, "lo": lo, "hi": hi}
    )


def build(args: argparse.Namespace, url: str, now_ms: int) -> tuple[str, str, int]:
    """Sites, channels, rollups and raw values; returns (site name, token, rows)."""
    rows = 0
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sites (name, tz, tz_source) SELECT 'bench_' || i, %s, 'edge' "
            "FROM generate_series(1, %s) i",
            (TZ, args.sites),
        )
        conn.execute(
            "INSERT INTO channels (site_id, name, unit, kind) SELECT s.id, v.name, v.unit, v.kind "
            "FROM sites s CROSS JOIN (VALUES ('grid.power', 'W', 'power'), "
            "('grid.energy_import', 'Wh', 'counter')) v(name, unit, kind) ORDER BY s.id"
        )
        conn.execute("INSERT INTO edges (site_id, name) SELECT id, 'edge' FROM sites")
        lo_id, hi_id = conn.execute("SELECT min(id), max(id) FROM sites").fetchone()  # type: ignore[misc]
        end5, end1h = now_ms // M5 * M5 - H1, now_ms // H1 * H1 - H1
        today = rollup.local_date(now_ms, TZ)
        chunk = 1000
        for lo in range(lo_id, hi_id + 1, chunk):
            hi = min(lo + chunk - 1, hi_id)
            rows += _rollup(conn, "rollup_5m", M5, end5 - 2 * D1, end5 - M5, lo, hi)
            rows += _rollup(conn, "rollup_1h", H1, end1h - 30 * D1, end1h, lo, hi)
            rows += _days(conn, today - timedelta(days=365), today, lo, hi)
            cur = conn.execute(
                "INSERT INTO readings (edge_id, seq, channel_id, ts_ms, value) "
                "SELECT e.id, (c.id::bigint << 20) + (t - %(a)s) / 10000, c.id, t, 500 FROM channels c "
                "JOIN edges e ON e.site_id = c.site_id "
                "CROSS JOIN generate_series(%(a)s::bigint, %(z)s::bigint, "
                "10000::bigint) t WHERE c.site_id BETWEEN %(lo)s AND %(hi)s",
                {"a": end5, "z": now_ms, "lo": lo, "hi": hi},
            )
            rows += cur.rowcount
            _say(
                args,
                f"  sites {lo - lo_id + 1}..{hi - lo_id + 1}: {rows:,} rows, "
                f"{time.perf_counter() - t0:.0f} s",
            )
        # the measured site: a whole year of 5-minute and hourly values
        rows += _rollup(conn, "rollup_5m", M5, end5 - 365 * D1, end5 - 2 * D1 - M5, lo_id, lo_id)
        rows += _rollup(conn, "rollup_1h", H1, end1h - 365 * D1, end1h - 30 * D1 - H1, lo_id, lo_id)
        conn.execute(
            "INSERT INTO site_retention (site_id, done_ms, rolled_ms, days_tz) "
            "SELECT id, %s, %s, %s FROM sites",
            (end5, end5, TZ),
        )
        _operator_data(conn, lo_id, now_ms)
        _say(args, f"  vacuum and analyse ({rows:,} rows in {time.perf_counter() - t0:.0f} s)")
        tables = ("readings", "rollup_5m", "rollup_1h", "rollup_1d", "channels", "sites", "edges")
        for table in (*tables, "accounts", "site_access", "edge_reports"):
            conn.execute(f"VACUUM (ANALYZE) {table}")  # the steady state: autovacuum has been by
        try:  # write the build's dirty pages out now, not while the queries are timed
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            _say(args, "  (no right to CHECKPOINT; the first measurements may share the disk with it)")
        conn.execute("INSERT INTO accounts (alias, password_hash) VALUES ('bench', 'x')")
        conn.execute(
            "INSERT INTO site_access (site_id, account_id, role) SELECT %s, id, 'owner' FROM accounts "
            "WHERE alias = 'bench'",
            (lo_id,),
        )
        token = auth.TOKEN_PREFIX + uuid.uuid4().hex
        conn.execute(
            "INSERT INTO access_tokens (account_id, name, scopes, token_hash, expires_at) "
            "SELECT id, 'bench', ARRAY['read'], %s, now() + interval '1 day' FROM accounts "
            "WHERE alias = 'bench'",
            (auth.sha256(token),),
        )
        site = conn.execute("SELECT name FROM sites WHERE id = %s", (lo_id,)).fetchone()[0]  # type: ignore[index]
    return site, token, rows


def _operator_data(conn: psycopg.Connection, lo_id: int, now_ms: int) -> None:
    """What the operator's list shows for every site but the measured one: an owner with a
    label, the edge's report, the last upload (nine in ten within the last minutes)."""
    conn.execute(
        "INSERT INTO accounts (alias, password_hash) SELECT 'owner_' || id, 'x' FROM sites WHERE id <> %s",
        (lo_id,),
    )
    conn.execute(
        "INSERT INTO site_access (site_id, account_id, role, label) SELECT s.id, a.id, 'owner', "
        "'Hof ' || s.id FROM sites s JOIN accounts a ON a.alias = 'owner_' || s.id"
    )
    conn.execute(
        "INSERT INTO edge_reports (site_id, edge, version, backlog, read_errors, at) "
        "SELECT id, 'edge', '0.9.' || (id % 4), id % 97, id % 13, now() FROM sites"
    )
    conn.execute(
        "UPDATE edges SET last_seen = to_timestamp(%s / 1000.0) - make_interval(secs => "
        "CASE WHEN site_id %% 10 = 0 THEN 86400 ELSE site_id %% 120 END)",
        (now_ms,),
    )


def operator_token(url: str) -> str:
    """A token of a portal administrator ('bench_operator') for the operator's list."""
    token = auth.TOKEN_PREFIX + uuid.uuid4().hex
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO accounts (alias, password_hash, is_admin) VALUES ('bench_operator', 'x', true) "
            "ON CONFLICT (alias) DO NOTHING"
        )
        conn.execute(
            "INSERT INTO access_tokens (account_id, name, scopes, token_hash, expires_at) "
            "SELECT id, 'bench', ARRAY['read', 'admin'], %s, now() + interval '1 day' FROM accounts "
            "WHERE alias = 'bench_operator'",
            (auth.sha256(token),),
        )
    return token


async def measure_operator(
    args: argparse.Namespace, client: httpx.AsyncClient, token: str
) -> dict[str, float]:
    """p50/p95 of the operator's list page: first page, a label search, a deep keyset page,
    offline sites only, one after the other."""
    headers = {"Authorization": f"Bearer {token}"}
    deep = max(0, args.sites // 2)
    kinds = ({}, {"q": "hof 12"}, {"after": str(deep)}, {"status": "offline"})
    times: list[float] = []
    shown = 0
    for i in range(args.repeat + 3):
        params = {"limit": "50", **kinds[i % len(kinds)]}
        t = time.perf_counter()
        r = await client.get("/api/v1/operator/sites", params=params, headers=headers)
        body = r.content
        elapsed = (time.perf_counter() - t) * 1000
        if r.status_code != 200:
            raise RuntimeError(f"operator list: {r.status_code} {body[:200]!r}")
        if i >= 3:
            times.append(elapsed)
        shown = max(shown, len(json.loads(body)["sites"]))
    times.sort()
    out = {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 2),
        "rows_per_page": shown,
    }
    _say(args, f"operator list (search, paging): p50 {out['p50_ms']:.1f} ms, p95 {out['p95_ms']:.1f} ms")
    return out


async def measure(
    args: argparse.Namespace, db: str, schema: str, site: str, token: str
) -> dict[str, dict[str, float]]:
    """The dashboard's periods for the measured site, then the operator's list."""
    op_token = operator_token(with_schema(db, schema))
    app = create_app(PortalConfig(db_url=db, schema=schema, migrate=False, pool_size=4))
    await app.state.db.open()
    out: dict[str, dict[str, float]] = {}
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers={"Authorization": f"Bearer {token}"}
        ) as client:
            today = rollup.local_date(int(time.time() * 1000), TZ).isoformat()
            for name in PERIODS:
                params = {"period": name, "date": today, "channels": "grid.power,grid.energy_import"}
                resolution = series_api.PERIOD_RESOLUTION[name]
                times: list[float] = []
                cpu: list[float] = []
                points = 0
                for i in range(args.repeat + 3):
                    t = time.perf_counter()
                    c = time.process_time()
                    r = await client.get(f"/api/v1/sites/{site}/series", params=params)
                    body = r.content
                    elapsed = (time.perf_counter() - t) * 1000
                    cpu_ms = (time.process_time() - c) * 1000
                    if r.status_code != 200:
                        raise RuntimeError(f"{name}: {r.status_code} {body[:200]!r}")
                    if i >= 3:  # the first few warm the caches and the pool
                        times.append(elapsed)
                        cpu.append(cpu_ms)
                    answer = json.loads(body)
                    points = len(answer["points"])
                times.sort()
                out[name] = {
                    "p50_ms": round(statistics.median(times), 2),
                    "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 2),
                    "cpu_p50_ms": round(statistics.median(cpu), 2),  # this process: app + client
                    "points": points,
                    "resolution": resolution,
                    "grid_energy_wh": round(answer["summary"]["grid.power"]["energy_wh"], 1),
                }  # type: ignore[dict-item]
                _say(
                    args,
                    f"{name:>5} ({resolution}, {points} points): p50 {out[name]['p50_ms']:.1f} ms, "
                    f"p95 {out[name]['p95_ms']:.1f} ms",
                )
            out["operator"] = await measure_operator(args, client, op_token)
    finally:
        await app.state.db.close()
    return out


def reuse(url: str) -> tuple[str, str, int]:
    """The measured site of a kept schema and a fresh token for it."""
    token = auth.TOKEN_PREFIX + uuid.uuid4().hex
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO access_tokens (account_id, name, scopes, token_hash, expires_at) "
            "SELECT id, 'bench', ARRAY['read'], %s, now() + interval '1 day' FROM accounts "
            "WHERE alias = 'bench'",
            (auth.sha256(token),),
        )
        site = conn.execute("SELECT name FROM sites ORDER BY id LIMIT 1").fetchone()[0]  # type: ignore[index]
        rows = sum(
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in ("readings", "rollup_5m", "rollup_1h", "rollup_1d")
        )
        sites = conn.execute("SELECT count(*) FROM sites").fetchone()[0]  # type: ignore[index]
    return site, token, rows, sites  # type: ignore[return-value]


def run(args: argparse.Namespace) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the figures
    if args.reuse:
        site, token, rows, args.sites = reuse(with_schema(args.db, args.reuse))  # type: ignore[misc]
        ranges = asyncio.run(measure(args, args.db, args.reuse, site, token))
        result = {
            "sites": args.sites,
            "rows": rows,
            "schema": args.reuse,
            "repeat": args.repeat,
            "loadavg_1m": round(os.getloadavg()[0], 2),
            **ranges,
        }
        print(
            json.dumps(result)
            if args.json
            else f"{rows:,} rows for {args.sites:,} sites (reused {args.reuse})"
        )
        return 0
    schema = f"bench_query_{uuid.uuid4().hex[:8]}"
    migrate(args.db, schema)
    try:
        _say(args, f"building {args.sites:,} sites in schema {schema} ...")
        t = time.perf_counter()
        site, token, rows = build(args, with_schema(args.db, schema), int(time.time() * 1000))
        build_s = time.perf_counter() - t
        ranges = asyncio.run(measure(args, args.db, schema, site, token))
    finally:
        if not args.keep:
            with psycopg.connect(args.db, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    result = {
        "sites": args.sites,
        "rows": rows,
        "build_s": round(build_s, 1),
        "repeat": args.repeat,
        "loadavg_1m": round(os.getloadavg()[0], 2),
        **ranges,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{rows:,} rows for {args.sites:,} sites built in {build_s:.0f} s")
    return 0
