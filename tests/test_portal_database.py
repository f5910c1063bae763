"""The portal's database interface (portal/database.py) on both backends, and the pure counter
validation of its rollups (portal/counter_rollup.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from test_ingest_support import PortalDb, database, sqlite_db  # noqa: F401
from wattwerk.portal import counter_rollup
from wattwerk.portal.counter_rollup import Anchor
from wattwerk.portal.database import (
    SQLITE,
    DatabaseError,
    UniqueViolation,
    as_datetime,
    dialect_of,
    iso,
    open_database,
    sqlite_time,
    to_sqlite,
    utcnow,
)
from wattwerk.store.counters import CounterPolicy


def test_placeholders_are_rewritten_for_sqlite() -> None:
    assert to_sqlite("SELECT * FROM t WHERE a = %s AND b LIKE 'x%%' AND c = %(name)s") == (
        "SELECT * FROM t WHERE a = ? AND b LIKE 'x%' AND c = :name"
    )


def test_urls_and_times() -> None:
    assert dialect_of("postgresql://h/db") == "postgresql" and dialect_of("sqlite:///p.db") == SQLITE
    for bad in ("mysql://h/db", "sqlite://p.db", "portal.db"):
        with pytest.raises(DatabaseError, match="postgresql://"):
            dialect_of(bad)
    with pytest.raises(DatabaseError, match="file path"):
        open_database("sqlite:///:memory:")
    t = datetime(2026, 3, 29, 1, 59, 59, 999_999, tzinfo=UTC)
    assert sqlite_time(t) == "2026-03-29T01:59:59.999Z"
    assert sqlite_time(t) < sqlite_time(t + timedelta(milliseconds=1))  # text order is time order
    assert as_datetime(sqlite_time(t)) == t.replace(microsecond=999_000)
    assert iso(None) is None and iso(t) == t.isoformat()
    with pytest.raises(ValueError, match="naive"):
        sqlite_time(datetime(2026, 1, 1))


def test_transactions_types_and_nesting(database: PortalDb) -> None:  # noqa: F811
    async def go() -> None:
        db = open_database(database.url, schema=database.schema, pool_size=2)
        await db.open()
        try:
            async with db.connection() as conn:
                row = await conn.fetchone(
                    "INSERT INTO sites (name, created_at) VALUES (%s, %s) RETURNING id, created_at",
                    ("a", utcnow() - timedelta(days=1)),
                )
                assert isinstance(as_datetime(row[1]), datetime)
                async with db.connection() as inner:  # nested: joins the task's transaction
                    assert await inner.fetchval("SELECT count(*) FROM sites") == 1
            with pytest.raises(UniqueViolation):
                async with db.connection() as conn:
                    await conn.execute("INSERT INTO sites (name) VALUES (%s)", ("b",))
                    await conn.execute("INSERT INTO sites (name) VALUES (%s)", ("a",))
            async with db.connection(readonly=True) as conn:  # "b" was rolled back with the error
                names = [r[0] for r in await conn.fetchall("SELECT name FROM sites ORDER BY name")]
                older = await conn.fetchval(
                    "SELECT count(*) FROM sites WHERE created_at < %s", (utcnow() - timedelta(hours=1),)
                )
            assert names == ["a"] and older == 1
            async with db.connection() as conn:
                site = await conn.fetchval("SELECT id FROM sites")
                await conn.execute(
                    "INSERT INTO audit_log (site_id, actor, action, detail) VALUES (%s, %s, %s, %s)",
                    (site, "x", "y", conn.json({"k": [1, "ü"]})),
                )
                detail = conn.unjson(await conn.fetchval("SELECT detail FROM audit_log"))
                ch = await conn.fetchval(  # a reading's channel names its site (PostgreSQL: site_id)
                    "INSERT INTO channels (site_id, name, unit, kind) "
                    "VALUES (%s, 'p', 'W', 'power') RETURNING id",
                    (site,),
                )
                await conn.bulk_insert(
                    "readings",
                    ("edge_id", "seq", "channel_id", "ts_ms", "value"),
                    [(1, i, ch, i, float(i)) for i in range(1, 5001)],
                    ("int4", "int8", "int4", "int8", "float8"),
                )
                sql = "SELECT seq FROM readings ORDER BY seq"
                chunks = [len(c) async for c in conn.chunks(sql, size=2000)]
            assert detail == {"k": [1, "ü"]} and chunks == [2000, 2000, 1000]
        finally:
            await db.close()

    asyncio.run(go())


def test_sqlite_readers_do_not_wait_for_the_writer(tmp_path: Path) -> None:
    url = sqlite_db(tmp_path).url

    async def go() -> list[str]:
        db = open_database(url)
        await db.open()
        order: list[str] = []
        writing, read = asyncio.Event(), asyncio.Event()

        async def writer() -> None:
            async with db.connection() as conn:
                await conn.execute("INSERT INTO sites (name) VALUES ('w')")
                writing.set()
                # the write transaction stays open until the reader is through: a reader that
                # waited for the writer would never get there (bounded: then the test fails)
                await asyncio.wait_for(read.wait(), 30)
                order.append("write done")

        async def reader() -> None:
            await writing.wait()
            async with db.connection(readonly=True) as conn:
                assert await conn.fetchval("SELECT count(*) FROM sites") == 0  # its own snapshot
            order.append("read done")
            read.set()

        try:
            await asyncio.gather(writer(), reader())
        finally:
            await db.close()
        return order

    assert asyncio.run(go()) == ["read done", "write done"]


def test_sqlite_work_cut_short_leaves_no_transaction_open(tmp_path: Path) -> None:
    """Work cancelled while its BEGIN is under way (the statement runs in aiosqlite's thread even
    when the await is cancelled; Starlette cancels a streamed read whose client left through an
    anyio scope) or in the middle of a write: the connections come back without an open
    transaction, so the next write and every reader work (before: the writer stayed in its
    transaction and every later write failed with "cannot start a transaction within a
    transaction")."""
    import anyio

    url = sqlite_db(tmp_path).url

    async def go() -> tuple[int, int]:
        db = open_database(url)
        await db.open()
        try:
            for readonly in (True, False):
                with anyio.CancelScope() as scope:
                    scope.cancel()  # delivered at the first await: BEGIN's
                    async with db.connection(readonly=readonly):
                        pass
                with anyio.CancelScope() as scope:
                    async with db.connection(readonly=readonly) as conn:
                        if not readonly:
                            await conn.execute("INSERT INTO sites (name) VALUES ('half')")
                        scope.cancel()
                        await anyio.sleep(5)  # cancelled here, and the exit's awaits with it
            for _ in range(20):  # the shielded clean-up finishes on its own
                await asyncio.sleep(0.05)
            async with db.connection() as conn:
                await conn.execute("INSERT INTO sites (name) VALUES ('whole')")
            reads = []
            for _ in range(len(db._all)):  # every reader of the pool, the cut ones among them
                async with db.connection(readonly=True) as conn:
                    reads.append(await conn.fetchval("SELECT count(*) FROM sites WHERE name = 'whole'"))
            async with db.connection(readonly=True) as conn:
                half = await conn.fetchval("SELECT count(*) FROM sites WHERE name = 'half'")
            return min(reads), half
        finally:
            await db.close()

    assert asyncio.run(go()) == (1, 0)  # every reader sees the whole write; the cut one left nothing


POLICY = CounterPolicy()
MIN = 60_000


def test_roll_leaves_glitches_out_and_shifts_at_a_reset() -> None:
    rows = [(i * MIN, 100.0 + i) for i in range(10)]
    rows[3] = (3 * MIN, 0.0)  # a glitch
    rows += [(i * MIN, float(i - 10)) for i in range(10, 20)]  # a new meter from 0
    rolled = counter_rollup.roll(rows, Anchor(-MIN, 99.0), cut=20 * MIN, policy=POLICY)
    assert rolled.glitches == 1 and rolled.baselines == [(10 * MIN, 109.0)]
    registers = [b.last for _, b in sorted(rolled.buckets.items())]
    assert registers == [104.0, 109.0, 113.0, 118.0]  # continuous across the reset
    assert rolled.anchor == Anchor(19 * MIN, 9.0, 109.0)
    assert counter_rollup.shift_at(rolled.baselines, 10 * MIN - 1) == 0.0
    assert counter_rollup.shift_at(rolled.baselines, 10 * MIN) == 109.0


def test_readings_after_the_cut_only_confirm_a_reset() -> None:
    rows = [(i * MIN, 100.0 + i) for i in range(8)] + [(8 * MIN, 0.0)]  # a new meter at minute 8 ...
    after = [(i * MIN, float(i)) for i in range(9, 13)]  # ... confirmed by the readings after the cut
    rolled = counter_rollup.roll(rows + after, None, cut=9 * MIN, policy=POLICY)
    assert rolled.baselines == [(8 * MIN, 107.0)] and rolled.glitches == 0
    assert rolled.anchor == Anchor(8 * MIN, 0.0, 107.0)
    assert sum(b.n for b in rolled.buckets.values()) == 9  # nothing at or after the cut is rolled
    alone = counter_rollup.roll(rows, None, cut=9 * MIN, policy=POLICY)  # unconfirmed: a glitch
    assert alone.baselines == [] and alone.glitches == 1 and alone.anchor == Anchor(7 * MIN, 107.0)


def test_late_readings_must_fit_between_their_neighbours() -> None:
    assert counter_rollup.late_ok(5 * MIN, 105.0, (4 * MIN, 104.0), 106.0, POLICY)
    assert not counter_rollup.late_ok(5 * MIN, 3.0, (4 * MIN, 104.0), 106.0, POLICY)  # lower: a glitch
    assert not counter_rollup.late_ok(5 * MIN, 107.0, (4 * MIN, 104.0), 106.0, POLICY)  # past the next
    assert counter_rollup.late_ok(5 * MIN, 1e9, None, None, POLICY)  # nothing rolled up to compare with


def test_an_old_sqlite_is_refused_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    with pytest.raises(DatabaseError, match=r"too old .* 3\.35"):
        open_database("sqlite:///portal.db")
