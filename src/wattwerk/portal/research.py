"""Anonymised research export (administrators): aggregated series of consenting sites only.

No aliases, labels or site ids leave: each site appears under a stable pseudonym, the first 16
hex digits of HMAC-SHA256(portal secret, site id). The secret is made once per portal database
(``portal_secrets``), so every portal process and every export gives a site the same
pseudonym, and nobody without the database can link it back. Only hourly or daily rollups are
exported, never raw values, and only for sites whose owner set ``research_consent``.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import secrets
from collections.abc import AsyncIterator

from wattwerk.portal.database import Conn, Database
from wattwerk.portal.series import CHUNK

TABLES = {"1h": "rollup_1h", "1d": "rollup_1d"}
COLUMNS = ["site", "channel", "unit", "bucket_ms", "mean", "min", "max", "last", "n"]


async def secret(conn: Conn) -> bytes:
    await conn.execute(
        "INSERT INTO portal_secrets (name, value) VALUES ('research', %s) ON CONFLICT DO NOTHING",
        (secrets.token_bytes(32),),
    )
    cur = await conn.execute("SELECT value FROM portal_secrets WHERE name = 'research'")
    row = await cur.fetchone()
    assert row is not None
    return bytes(row[0])


def pseudonym(key: bytes, site_id: int) -> str:
    return hmac.new(key, str(site_id).encode(), hashlib.sha256).hexdigest()[:16]


async def export_csv(db: Database, resolution: str, start_ms: int, end_ms: int) -> AsyncIterator[bytes]:
    table = TABLES[resolution]
    async with db.connection() as conn:
        key = await secret(conn)
    async with db.connection(readonly=True) as conn:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        async for batch in conn.chunks(
            f"SELECT c.site_id, c.name, c.unit, x.bucket_ms, x.mean, x.min, x.max, x.last, x.n "
            f"FROM {table} x JOIN channels c ON c.id = x.channel_id "
            "JOIN site_retention r ON r.site_id = c.site_id AND r.research_consent "
            "WHERE x.bucket_ms >= %s AND x.bucket_ms < %s ORDER BY c.site_id, c.name, x.bucket_ms",
            (start_ms, end_ms),
            CHUNK,
        ):
            for site_id, name, unit, *rest in batch:
                writer.writerow([pseudonym(key, site_id), name, unit, *rest])
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()
