"""PostgreSQL storage of raw readings: versioned migrations and fast idempotent ingest.

Migrations are the numbered files in ``store/migrations/postgres/`` applied in order inside
one transaction each and recorded in ``schema_migrations``; an advisory lock makes several
portal processes starting at once apply them exactly once.

Ingest copies a batch with COPY (binary) straight into ``readings``; if any (edge_id, seq) is
already there (a retried or duplicated batch) the savepoint is rolled back and the batch goes
through a per-connection temporary table and ``INSERT ... SELECT ... ON CONFLICT (edge_id, seq)
DO NOTHING``: a retry never creates a second row, and fresh data pays for one write only.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from wattwerk.store.migrations import migrate, migration_files

log = logging.getLogger(__name__)

APPLICATION = "wattwerk-portal"  # application_name of the portal's connections
_LOCK_KEY = 0x77617474  # "watt": advisory lock id for migrations

# edge_id, seq, channel_id, ts_ms, value
ReadingRow = tuple[int, int, int, int, float]


def with_schema(url: str, schema: str | None) -> str:
    """The connection URL with ``search_path`` set to ``schema`` (tests use one schema each)."""
    if not schema:
        return url
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    query["options"] = [f"-c search_path={schema}"]
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True, quote_via=quote)))


def migrate_postgres(url: str, schema: str | None = None) -> list[str]:
    """Apply pending PostgreSQL migrations; return the names applied now. Creates ``schema`` if given."""
    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            if schema:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, name, text in migration_files("postgresql"):
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(text)  # type: ignore[arg-type]  # trusted files from the package
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name)
                    )
                log.info("applied migration %s", name)
                applied.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied


_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS ingest_stage (edge_id integer, seq bigint, channel_id integer, "
    "ts_ms bigint, value double precision) ON COMMIT DELETE ROWS"
)
_COPY_DIRECT = "COPY readings (edge_id, seq, channel_id, ts_ms, value) FROM STDIN (FORMAT BINARY)"
_COPY = "COPY ingest_stage (edge_id, seq, channel_id, ts_ms, value) FROM STDIN (FORMAT BINARY)"
_MOVE = (
    "INSERT INTO readings (edge_id, seq, channel_id, ts_ms, value) "
    "SELECT edge_id, seq, channel_id, ts_ms, value FROM ingest_stage "
    "ON CONFLICT (edge_id, seq) DO NOTHING"
)
_TYPES = ("int4", "int8", "int4", "int8", "float8")
# Replace the ranges overlapping or adjacent to [a, b] by their union.
_MERGE_RANGE = """
WITH gone AS (
    DELETE FROM acked_ranges WHERE edge_id = %(edge)s AND last_seq >= %(a)s - 1 AND first_seq <= %(b)s + 1
    RETURNING first_seq, last_seq)
INSERT INTO acked_ranges (edge_id, first_seq, last_seq)
SELECT %(edge)s, least(%(a)s, min(first_seq)), greatest(%(b)s, max(last_seq)) FROM gone
ON CONFLICT (edge_id, first_seq) DO UPDATE SET last_seq = greatest(acked_ranges.last_seq, EXCLUDED.last_seq)
"""


async def configure_connection(conn: psycopg.AsyncConnection) -> None:
    """Per-connection setup of the portal's pool: the staging table of idempotent ingest."""
    await conn.execute(_STAGE)
    await conn.commit()


async def insert_readings(conn: psycopg.AsyncConnection, rows: Sequence[ReadingRow]) -> int:
    """Store rows idempotently inside the caller's transaction; return how many were new.

    Fresh data (the common case) is copied straight into ``readings``; only when that hits
    an existing (edge_id, seq) — a retry — does the batch go through the staging table and
    ``ON CONFLICT DO NOTHING``, after a savepoint undid the first attempt.
    """
    if not rows:
        return 0
    try:
        async with conn.transaction():  # savepoint
            await _copy(conn, _COPY_DIRECT, rows)
        return len(rows)
    except psycopg.errors.UniqueViolation:
        pass
    await _copy(conn, _COPY, rows)
    cur = await conn.execute(_MOVE)
    return cur.rowcount


def outside_ranges(rows: Sequence[ReadingRow], ranges: Sequence[tuple[int, int]]) -> Sequence[ReadingRow]:
    """The rows whose seq (``row[1]``) lies in none of the disjoint ``ranges`` (binary search)."""
    if not ranges:
        return rows
    spans = sorted((int(a), int(b)) for a, b in ranges)
    starts = [a for a, _ in spans]

    def inside(seq: int) -> bool:
        i = bisect.bisect_right(starts, seq) - 1
        return i >= 0 and seq <= spans[i][1]

    return [r for r in rows if not inside(r[1])]


async def insert_batch(conn: psycopg.AsyncConnection, edge_id: int, first: int, last: int,
                       rows: Sequence[ReadingRow], *, ranges: Sequence[tuple[int, int]] | None = None) -> int:
    """Store an edge's batch covering seqs ``first..last`` and record that range as acked.

    Rows whose seq lies in a range acked before are dropped first (a retry, possibly of
    data retention has since removed); the rest go in idempotently. Returns rows stored.
    """
    cur = await conn.execute(
        "SELECT first_seq, last_seq FROM acked_ranges WHERE edge_id = %s AND last_seq >= %s "
        "AND first_seq <= %s", (edge_id, first, last))
    rows = outside_ranges(rows, await cur.fetchall())
    stored = await insert_readings(conn, rows)
    for a, b in ranges or [(first, last)]:  # exactly the batch's runs: a later reading in a gap is new
        await conn.execute(_MERGE_RANGE, {"edge": edge_id, "a": a, "b": b})
    await conn.execute("UPDATE edges SET last_seen = now() WHERE id = %s", (edge_id,))
    return stored


async def _copy(conn: psycopg.AsyncConnection, statement: str, rows: Sequence[ReadingRow]) -> None:
    async with conn.cursor().copy(statement) as copy:  # type: ignore[arg-type]
        copy.set_types(_TYPES)
        for row in rows:
            await copy.write_row(row)


class PostgresStore:
    """Async access to the readings table through a connection pool."""

    def __init__(self, url: str, *, schema: str | None = None, min_size: int = 1, max_size: int = 8) -> None:
        self.url = with_schema(url, schema)
        self.schema = schema
        self.pool = AsyncConnectionPool(
            self.url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            configure=configure_connection,
            kwargs={"application_name": APPLICATION},
        )

    async def open(self) -> None:
        await self.pool.open(wait=True)

    async def close(self) -> None:
        await self.pool.close()

    async def insert_readings(self, rows: Sequence[ReadingRow]) -> int:
        """Store rows idempotently; return how many were new (see :func:`insert_readings`)."""
        if not rows:
            return 0
        async with self.pool.connection() as conn, conn.transaction():
            return await insert_readings(conn, rows)

    async def insert_batch(self, edge_id: int, first: int, last: int, rows: Sequence[ReadingRow]) -> int:
        """Store an edge's batch and record its seq range as acked (see :func:`insert_batch`)."""
        async with self.pool.connection() as conn, conn.transaction():
            return await insert_batch(conn, edge_id, first, last, rows)

    async def read(self, channel_id: int, start_ms: int, end_ms: int) -> list[tuple[int, float]]:
        """(ts_ms, value) of one channel in ``[start_ms, end_ms)``, in time order."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT ts_ms, value FROM readings WHERE channel_id = %s AND ts_ms >= %s AND ts_ms < %s "
                "ORDER BY ts_ms",
                (channel_id, start_ms, end_ms),
            )
            return [(int(t), float(v)) for t, v in await cur.fetchall()]


__all__ = ["APPLICATION", "PostgresStore", "ReadingRow", "configure_connection", "migrate",
           "migrate_postgres", "migration_files", "with_schema"]
