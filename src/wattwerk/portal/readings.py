"""Raw readings in the portal database: idempotent ingest and reads, on either backend.

PostgreSQL takes the fast path of ``portal/postgres.py`` (binary COPY; a retry falls back to a
staging table and ``ON CONFLICT DO NOTHING``). SQLite inserts with ``executemany`` and
``ON CONFLICT DO NOTHING`` in one transaction. On both, an edge's batch first drops the seqs of
ranges acknowledged before (a late retry after retention deleted the rows) and then records its
own range, merged with adjacent ones, in the same transaction as the rows: a batch is stored
and acknowledged together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from wattwerk.portal import postgres
from wattwerk.portal.database import SQLITE, Conn, Database, utcnow
from wattwerk.portal.postgres import ReadingRow

_INSERT = (
    "INSERT INTO readings (edge_id, seq, channel_id, ts_ms, value) VALUES (%s, %s, %s, %s, %s) "
    "ON CONFLICT (edge_id, seq) DO NOTHING"
)
_ACKED = (
    "SELECT first_seq, last_seq FROM acked_ranges WHERE edge_id = %s AND last_seq >= %s AND first_seq <= %s"
)


async def _insert_sqlite(conn: Conn, rows: Sequence[ReadingRow]) -> int:
    if not rows:
        return 0
    return await conn.executemany(_INSERT, rows)


async def _merge_range_sqlite(conn: Conn, edge_id: int, first: int, last: int) -> None:
    """Replace the ranges overlapping or adjacent to [first, last] by their union."""
    near = await conn.fetchall(_ACKED, (edge_id, first - 1, last + 1))
    a = min([first, *(r[0] for r in near)])
    b = max([last, *(r[1] for r in near)])
    await conn.execute(
        "DELETE FROM acked_ranges WHERE edge_id = %s AND last_seq >= %s AND first_seq <= %s",
        (edge_id, first - 1, last + 1),
    )
    await conn.execute(
        "INSERT INTO acked_ranges (edge_id, first_seq, last_seq) VALUES (%s, %s, %s)", (edge_id, a, b)
    )


class ReadingStore:
    """The readings table of a portal database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert_readings(self, rows: Sequence[ReadingRow]) -> int:
        """Store (edge_id, seq, channel_id, ts_ms, value) rows idempotently; return how many were new."""
        if not rows:
            return 0
        async with self.db.connection() as conn:
            if conn.dialect == SQLITE:
                return await _insert_sqlite(conn, rows)
            return await postgres.insert_readings(conn.raw, rows)

    async def insert_batch(
        self,
        edge_id: int,
        first: int,
        last: int,
        rows: Sequence[ReadingRow],
        *,
        ranges: Sequence[tuple[int, int]] | None = None,
    ) -> int:
        """Store an edge's batch covering seqs ``first..last`` and record as acked exactly
        ``ranges`` (the batch's runs of seqs; default the whole span)."""
        async with self.db.connection() as conn:
            if conn.dialect != SQLITE:
                return await postgres.insert_batch(conn.raw, edge_id, first, last, rows, ranges=ranges)
            rows = postgres.outside_ranges(rows, await conn.fetchall(_ACKED, (edge_id, first, last)))
            stored = await _insert_sqlite(conn, rows)
            for a, b in ranges or [(first, last)]:
                await _merge_range_sqlite(conn, edge_id, a, b)
            await conn.execute("UPDATE edges SET last_seen = %s WHERE id = %s", (utcnow(), edge_id))
            return stored

    async def read(self, channel_id: int, start_ms: int, end_ms: int) -> list[tuple[int, float]]:
        """(ts_ms, value) of one channel in ``[start_ms, end_ms)``, in time order."""
        async with self.db.connection(readonly=True) as conn:
            rows = await conn.fetchall(
                "SELECT ts_ms, value FROM readings WHERE channel_id = %s AND ts_ms >= %s AND ts_ms < %s "
                "ORDER BY ts_ms",
                (channel_id, start_ms, end_ms),
            )
        return [(int(t), float(v)) for t, v in rows]
