"""PostgreSQL storage of the portal's raw readings: fast idempotent ingest (migrations are
``portal/migrations``).

Ingest copies a batch with COPY (binary) straight into ``readings``; if any (edge_id, seq) is
already there (a retried or duplicated batch) the savepoint is rolled back and the batch goes
through a per-connection temporary table and ``INSERT ... SELECT ... ON CONFLICT
DO NOTHING``: a retry never creates a second row, and fresh data pays for one write only.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

import psycopg

log = logging.getLogger(__name__)

APPLICATION = "wattwerk-portal"  # application_name of the portal's connections

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


_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS ingest_stage (edge_id integer, seq bigint, channel_id integer, "
    "ts_ms bigint, value double precision) ON COMMIT DELETE ROWS"
)
# readings is partitioned by month and keyed by site first (migration 0200): the rows go in
# with their site_id (one lookup per batch), so the table's fill-in trigger never runs here.
_COPY_DIRECT = "COPY readings (site_id, edge_id, seq, channel_id, ts_ms, value) FROM STDIN (FORMAT BINARY)"
_COPY = "COPY ingest_stage (edge_id, seq, channel_id, ts_ms, value) FROM STDIN (FORMAT BINARY)"
_MOVE = (
    "INSERT INTO readings (site_id, edge_id, seq, channel_id, ts_ms, value) "
    "SELECT e.site_id, s.edge_id, s.seq, s.channel_id, s.ts_ms, s.value FROM ingest_stage s "
    "LEFT JOIN edges e ON e.id = s.edge_id ON CONFLICT DO NOTHING"
)
_TYPES = ("int4", "int8", "int4", "int8", "float8")
_TYPES_SITE = ("int4", *_TYPES)
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
    edges = list({r[0] for r in rows})
    cur = await conn.execute("SELECT id, site_id FROM edges WHERE id = ANY(%s)", (edges,))
    site_of = dict(await cur.fetchall())
    try:
        async with conn.transaction():  # savepoint
            await _copy(conn, _COPY_DIRECT, [(site_of.get(r[0]), *r) for r in rows], _TYPES_SITE)
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


async def insert_batch(
    conn: psycopg.AsyncConnection,
    edge_id: int,
    first: int,
    last: int,
    rows: Sequence[ReadingRow],
    *,
    ranges: Sequence[tuple[int, int]] | None = None,
) -> int:
    """Store an edge's batch covering seqs ``first..last`` and record that range as acked.

    Rows whose seq lies in a range acked before are dropped first (a retry, possibly of
    data retention has since removed); the rest go in idempotently. Returns rows stored.
    """
    cur = await conn.execute(
        "SELECT first_seq, last_seq FROM acked_ranges WHERE edge_id = %s AND last_seq >= %s "
        "AND first_seq <= %s",
        (edge_id, first, last),
    )
    rows = outside_ranges(rows, await cur.fetchall())
    stored = await insert_readings(conn, rows)
    for a, b in ranges or [(first, last)]:  # exactly the batch's runs: a later reading in a gap is new
        await conn.execute(_MERGE_RANGE, {"edge": edge_id, "a": a, "b": b})
    await conn.execute("UPDATE edges SET last_seen = now() WHERE id = %s", (edge_id,))
    return stored


async def _copy(
    conn: psycopg.AsyncConnection, statement: str, rows: Sequence[tuple], types: tuple[str, ...] = _TYPES
) -> None:
    async with conn.cursor().copy(statement) as copy:  # type: ignore[arg-type]
        copy.set_types(types)
        for row in rows:
            await copy.write_row(row)
