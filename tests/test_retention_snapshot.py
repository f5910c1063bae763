"""The retention job and uploads on PostgreSQL: neither waits for the other, and nothing is lost.

An edge's upload transaction is open when a run starts, and commits in the middle of the run,
between the rollups and the DELETE (the moment that lost readings at READ COMMITTED, and that the
SHARE lock of session 8 made every upload wait for). The run must finish without waiting for the
upload, keep the reading that committed meanwhile, and the next run must merge it.
"""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from test_ingest_support import PortalDb, pg  # noqa: F401  (fixture)
from wattwerk.portal import retention
from wattwerk.portal.database import open_database

M5, D = 300_000, 86_400_000
NOW = int(time.time() * 1000) // M5 * M5
T0 = NOW - 2 * D  # long past the raw window (1 hour by default)
INSERT = "INSERT INTO readings (edge_id, seq, channel_id, ts_ms, value) VALUES (%s, %s, %s, %s, %s)"


def _site(db: PortalDb) -> tuple[int, int]:
    """(edge id, power channel id) of a new site with a day of 1-minute power readings."""
    with db.connect() as conn:
        site = conn.execute("INSERT INTO sites (name) VALUES ('s') RETURNING id").fetchone()[0]
        conn.execute("INSERT INTO site_retention (site_id) VALUES (%s)", (site,))
        edge = conn.execute(
            "INSERT INTO edges (site_id, name) VALUES (%s, 'e') RETURNING id", (site,)
        ).fetchone()[0]
        ch = conn.execute(
            "INSERT INTO channels (site_id, name, unit, kind) "
            "VALUES (%s, 'grid.power', 'W', 'power') RETURNING id",
            (site,),
        ).fetchone()[0]
        for i in range(60):
            conn.execute(INSERT, (edge, i + 1, ch, T0 + i * 60_000, 1000.0))
    return edge, ch


def _count(db: PortalDb, sql: str) -> int:
    with db.connect() as conn:
        return int(conn.execute(sql).fetchone()[0] or 0)


def test_an_upload_committed_during_a_run_is_neither_waited_for_nor_lost(
    pg: PortalDb,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    edge, ch = _site(pg)
    upload = psycopg.connect(pg.scoped)  # an edge's upload: its transaction open as the run starts
    upload.execute(INSERT, (edge, 1000, ch, T0 + 30 * 60_000 + 10_000, 3000.0))
    window_power = retention._window_power

    async def commit_midway(conn: object) -> int:  # after the rollups, before the DELETE
        upload.commit()
        return await window_power(conn)  # type: ignore[arg-type]

    monkeypatch.setattr(retention, "_window_power", commit_midway)

    async def run() -> dict[str, int]:
        db = open_database(pg.url, schema=pg.schema, pool_size=2)
        await db.open()
        try:  # bounded: a run that waited for the open upload would never reach the commit above
            return await asyncio.wait_for(retention.run(db, NOW), timeout=60)
        finally:
            await db.close()

    try:
        first = asyncio.run(run())
    finally:
        upload.close()
    assert first["raw_deleted"] == 60  # what the run rolled up, and nothing else
    assert _count(pg, "SELECT count(*) FROM readings") == 1  # the upload's reading waits, kept
    assert _count(pg, "SELECT sum(n) FROM rollup_5m") == 60
    monkeypatch.setattr(retention, "_window_power", window_power)
    second = asyncio.run(run())
    assert second["late_channels_merged"] == 1 and second["raw_deleted"] == 1
    assert _count(pg, "SELECT count(*) FROM readings") == 0
    assert _count(pg, "SELECT sum(n) FROM rollup_5m") == 61  # merged as a late value: counted once
