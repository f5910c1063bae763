"""Partitioned storage on PostgreSQL (issue 19): migration 0200 and portal/partitions.py.

Partition maintenance under load: while an ingest task stores batches and a query task reads
raw values and rollups, the job creates the months ahead (moving the rows that waited in the
DEFAULT partition into theirs) and drops the expired months; nothing that should stay is lost,
neither task sees an error, and months with rows that must stay are kept. And the migration
moves an existing portal's rows into the partitioned tables.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import psycopg

from test_ingest_support import PG_URL, PortalDb, pg  # noqa: F401  (fixture)
from wattwerk.portal import partitions
from wattwerk.portal.database import open_database
from wattwerk.portal.migrations import migrate, migration_files
from wattwerk.portal.postgres import with_schema
from wattwerk.portal.readings import ReadingStore

D = 86_400_000
NOW = partitions.month_lo(int(time.time() * 1000)) + 10 * D  # this month (migration made it and 2 ahead)
OLD = partitions.month_lo(NOW - 900 * D)  # a month about 2.5 years back: every 5-min row expired
RECENT = partitions.month_lo(NOW - 90 * D)  # three months back: site A's rows stay


def _setup(db: PortalDb) -> dict[str, int]:
    """Sites A (default keep: 2 years of 5-min values) and B (30 days), C archives raw."""
    ids: dict[str, int] = {}
    with db.connect() as conn:
        for name in ("A", "B", "C"):
            site = conn.execute("INSERT INTO sites (name) VALUES (%s) RETURNING id", (name,)).fetchone()[0]
            edge = conn.execute(
                "INSERT INTO edges (site_id, name) VALUES (%s, 'e') RETURNING id", (site,)
            ).fetchone()[0]
            ch = conn.execute(
                "INSERT INTO channels (site_id, name, unit, kind) VALUES (%s, 'grid.power', 'W', 'power') "
                "RETURNING id",
                (site,),
            ).fetchone()[0]
            ids.update({f"site{name}": site, f"edge{name}": edge, f"ch{name}": ch})
        conn.execute("INSERT INTO site_retention (site_id) SELECT id FROM sites")
        conn.execute("UPDATE site_retention SET m5_keep_s = 30 * 86400 WHERE site_id = %s", (ids["siteB"],))
        conn.execute("UPDATE site_retention SET archive = true WHERE site_id = %s", (ids["siteC"],))
    return ids


def _rollups(db: PortalDb, ids: dict[str, int], month: int, sites: str) -> None:
    with db.connect() as conn:
        for s in sites:
            for k in range(10):
                conn.execute(
                    "INSERT INTO rollup_5m (channel_id, bucket_ms, n, mean, min, max, last, last_ts) "
                    "VALUES (%s, %s, 1, 5, 5, 5, 5, %s)",
                    (ids[f"ch{s}"], month + k * 300_000, month + k * 300_000),
                )


async def test_maintenance_under_ingest_and_queries(pg: PortalDb) -> None:  # noqa: F811
    ids = _setup(pg)
    db = open_database(pg.url, schema=pg.schema, pool_size=6)
    await db.open()
    try:
        # Old months exist with rows in them: one wholly expired, one with rows that stay.
        old = [partitions.part_name("readings", OLD), partitions.part_name("rollup_5m", OLD)]
        assert await partitions.ensure(db, OLD, ahead=0) == old
        await partitions.ensure(db, RECENT, ahead=0)
        _rollups(pg, ids, OLD, "AB")
        _rollups(pg, ids, RECENT, "AB")
        store = ReadingStore(db)
        archived = [(ids["edgeC"], i, ids["chC"], RECENT + i, 1.0) for i in range(1, 6)]
        await store.insert_batch(ids["edgeC"], 1, 5, archived)
        ahead = NOW
        for _ in range(4):  # four months on: no partition yet, its rows wait in DEFAULT
            ahead = partitions.month_hi(ahead)
        stop = asyncio.Event()
        stored: list[int] = []
        reads: list[int] = []

        async def ingest() -> None:
            seq = 0
            while not stop.is_set() or seq < 4000:
                rows = []
                for _ in range(200):  # this month, and a month no partition exists for yet
                    seq += 1
                    ts = (NOW if seq % 2 else ahead) + seq
                    rows.append((ids["edgeA"], seq, ids["chA"], ts, float(seq)))
                stored.append(await store.insert_batch(ids["edgeA"], seq - 199, seq, rows))

        async def query() -> None:
            while not stop.is_set():
                got = await store.read(ids["chA"], NOW, NOW + 10 * D)
                assert [v for _, v in got] == sorted(v for _, v in got)
                async with db.connection(readonly=True) as conn:
                    count = "SELECT count(*) FROM rollup_5m WHERE channel_id = %s"
                    reads.append(await conn.fetchval(count, (ids["chA"],)))
                await asyncio.sleep(0)

        tasks = [asyncio.create_task(ingest()), asyncio.create_task(query())]
        await asyncio.sleep(0.3)
        results = []
        for later in (NOW, NOW + 31 * D, NOW + 62 * D):  # each run: one more month ahead
            results.append(await partitions.maintain(db, later))
        stop.set()
        await asyncio.gather(*tasks)  # an error in either task fails the test here
    finally:
        await db.close()

    created = [n for r in results for n in r["created"]]
    dropped = [n for r in results for n in r["dropped"]]
    month_ahead = partitions.part_name("readings", ahead)
    assert month_ahead in created and partitions.part_name("rollup_5m", ahead) in created
    assert old[0] in dropped and old[1] in dropped  # empty raw month; every 5-min row expired
    assert partitions.part_name("rollup_5m", RECENT) not in dropped  # site A keeps 2 years
    assert partitions.part_name("readings", RECENT) not in dropped  # site C archives raw
    # site A's rollups: 20 until the expired month went, then its 10 recent ones, never fewer
    assert reads and set(reads) <= {10, 20} and reads[-1] == 10
    with pg.connect() as conn:

        def one(sql: str, *params: object) -> object:
            return conn.execute(sql, params).fetchone()[0]

        n = sum(stored)
        assert n >= 4000
        assert one("SELECT count(*) FROM readings WHERE edge_id = %s", ids["edgeA"]) == n
        assert one("SELECT count(DISTINCT seq) FROM readings WHERE edge_id = %s", ids["edgeA"]) == n
        assert one(f"SELECT count(*) FROM {month_ahead}") == n // 2  # moved out of DEFAULT
        assert one("SELECT count(*) FROM readings_default") == 0
        assert one("SELECT count(*) FROM readings WHERE site_id = %s", ids["siteC"]) == 5
        assert (
            one("SELECT count(*) FROM rollup_5m WHERE bucket_ms >= %s AND bucket_ms < %s", RECENT, RECENT + D)
            == 20
        )
        sites = conn.execute(
            "SELECT DISTINCT site_id FROM rollup_5m WHERE channel_id = %s", (ids["chB"],)
        ).fetchall()
        assert sites == [(ids["siteB"],)]  # the insert trigger filled site_id from the channel


def test_migration_moves_an_existing_portals_rows() -> None:
    """A portal from before 0200: its readings and rollups (one in a month long past) move into
    the partitioned tables with their site; a row of a deleted site's channel does not."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    url = with_schema(PG_URL, schema)
    old = NOW - 400 * D
    try:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for version, name, sql in migration_files("postgresql"):
                if version < 200:
                    conn.execute(sql)  # type: ignore[arg-type]
                    conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (version, name))
            site = conn.execute("INSERT INTO sites (name) VALUES ('s') RETURNING id").fetchone()[0]
            edge = conn.execute(
                "INSERT INTO edges (site_id, name) VALUES (%s, 'e') RETURNING id", (site,)
            ).fetchone()[0]
            ch = conn.execute(
                "INSERT INTO channels (site_id, name, unit, kind) VALUES (%s, 'p', 'W', 'power') "
                "RETURNING id",
                (site,),
            ).fetchone()[0]
            for seq, ts in enumerate((old, NOW, NOW + 1000), start=1):
                conn.execute(
                    "INSERT INTO readings VALUES (%s, %s, %s, %s, %s)", (edge, seq, ch, ts, float(seq))
                )
            conn.execute("INSERT INTO readings VALUES (%s, 9, 999999, %s, 1.0)", (edge, NOW))  # no channel
            for b in (old, NOW):
                conn.execute(
                    "INSERT INTO rollup_5m (channel_id, bucket_ms, n, mean, min, max, last, last_ts, "
                    "pos_wh) VALUES (%s, %s, 1, 2, 2, 2, 2, %s, 0.5)",
                    (ch, b, b),
                )
                conn.execute(
                    "INSERT INTO rollup_1h (channel_id, bucket_ms, n, mean, min, max, last, last_ts) "
                    "VALUES (%s, %s, 1, 2, 2, 2, 2, %s)",
                    (ch, b, b),
                )
        assert "0200_partitions.sql" in migrate(PG_URL, schema)
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT site_id, seq, ts_ms, value, tableoid::regclass::text FROM readings ORDER BY seq"
            ).fetchall()
            assert [r[:4] for r in rows] == [
                (site, 1, old, 1.0),
                (site, 2, NOW, 2.0),
                (site, 3, NOW + 1000, 3.0),
            ]
            assert rows[0][4] == partitions.part_name("readings", old)  # its own month, not DEFAULT
            five = conn.execute(
                "SELECT site_id, bucket_ms, pos_wh, tableoid::regclass::text FROM rollup_5m ORDER BY 2"
            ).fetchall()
            assert five == [
                (site, old, 0.5, partitions.part_name("rollup_5m", old)),
                (site, NOW, 0.5, partitions.part_name("rollup_5m", NOW)),
            ]
            assert conn.execute("SELECT site_id, count(*) FROM rollup_1h GROUP BY 1").fetchall() == [
                (site, 2)
            ]
            assert conn.execute("SELECT count(*) FROM readings_default").fetchone() == (0,)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
