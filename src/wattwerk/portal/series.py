"""Series of a site's channels, streamed in constant memory, with a summary of the range.

``resolution``: ``raw`` (every stored value), ``1m`` (from raw), ``5m`` and ``15m`` (from the
5-minute rollups), ``1h``, ``1d`` (their rollups; days are UTC days). Aggregated series join the
rollups (everything before the site's ``rolled_ms``) with raw values after it, merged per
bucket, so the newest minutes show before the retention job has run. Raw values exist for the
site's raw window only, unless the owner archives (retention.py).

Rows are read with ``cursor.stream`` (server-side, fetched in chunks) and written as they come,
so a year of minutes for 20 channels never sits in memory. The summary — min, max, mean and
energy per channel — is one aggregate query made before streaming: first in the JSON document,
in the ``X-Series-Summary`` header (JSON) for CSV. Energy: for counters (Wh) last − the last
value before the range; for power (W) the sum of bucket means × bucket length (Wh).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

RESOLUTIONS: dict[str, int] = {"raw": 0, "1m": 60_000, "5m": 300_000, "15m": 900_000,
                               "1h": 3_600_000, "1d": 86_400_000}
TABLE = {"raw": "rollup_5m", "1m": "rollup_5m", "5m": "rollup_5m", "15m": "rollup_5m",
         "1h": "rollup_1h", "1d": "rollup_1d"}
AGG_COLUMNS = ["ts_ms", "channel", "mean", "min", "max", "last", "delta", "n"]
RAW_COLUMNS = ["ts_ms", "channel", "value"]
CHUNK = 2000


@dataclass(frozen=True)
class ChannelInfo:
    id: int
    name: str
    unit: str
    kind: str


@dataclass(frozen=True)
class Query:
    channels: list[ChannelInfo]
    start_ms: int
    end_ms: int
    resolution: str
    rolled_ms: int  # rollups cover raw before this

    @property
    def step(self) -> int:
        return RESOLUTIONS[self.resolution]


def _agg_sql(q: Query) -> tuple[str, dict[str, Any]]:
    step = q.step or RESOLUTIONS["1m"]
    rolled = 0 if q.resolution in ("raw", "1m") else q.rolled_ms
    params = {"ch": [c.id for c in q.channels], "a": q.start_ms, "z": q.end_ms, "r": step, "rolled": rolled}
    parts = (
        f"SELECT channel_id, (bucket_ms / %(r)s) * %(r)s AS b, n, mean, min, max, last, last_ts "
        f"FROM {TABLE[q.resolution]} WHERE channel_id = ANY(%(ch)s) AND bucket_ms >= %(a)s "
        "AND bucket_ms < least(%(z)s, %(rolled)s) "
        "UNION ALL SELECT channel_id, (ts_ms / %(r)s) * %(r)s, 1, value, value, value, value, ts_ms FROM readings "
        "WHERE channel_id = ANY(%(ch)s) AND ts_ms >= greatest(%(a)s, %(rolled)s) AND ts_ms < %(z)s")
    agg = (f"WITH parts AS ({parts}), agg AS (SELECT channel_id, b, sum(n) AS n, sum(mean * n) / sum(n) AS mean, "
           "min(min) AS mn, max(max) AS mx, (array_agg(last ORDER BY last_ts DESC))[1] AS last "
           "FROM parts GROUP BY 1, 2) ")
    return agg, params


def points_sql(q: Query) -> tuple[str, dict[str, Any]]:
    if q.resolution == "raw":
        return ("SELECT ts_ms, channel_id, value FROM readings WHERE channel_id = ANY(%(ch)s) "
                "AND ts_ms >= %(a)s AND ts_ms < %(z)s ORDER BY ts_ms, channel_id",
                {"ch": [c.id for c in q.channels], "a": q.start_ms, "z": q.end_ms})
    agg, params = _agg_sql(q)
    return (agg + "SELECT b, channel_id, mean, mn, mx, last, "
            "last - lag(last) OVER (PARTITION BY channel_id ORDER BY b), n FROM agg ORDER BY b, channel_id", params)


def summary_sql(q: Query) -> tuple[str, dict[str, Any]]:
    agg, params = _agg_sql(q)
    step = q.step or RESOLUTIONS["1m"]
    return (agg + f"SELECT channel_id, sum(n), sum(mean * n) / sum(n), min(mn), max(mx), "
            f"sum(mean) * {step} / 3600000.0, (array_agg(last ORDER BY b DESC))[1], "
            "(array_agg(mn ORDER BY b))[1], min(b) FROM agg GROUP BY 1", params)


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


async def summary(pool: AsyncConnectionPool, q: Query) -> dict[str, Any]:
    """Per channel: n, min, max, mean, energy_wh (None where it does not apply or no data)."""
    sql, params = summary_sql(q)
    by_id = {c.id: c for c in q.channels}
    out: dict[str, Any] = {c.name: {"n": 0, "min": None, "max": None, "mean": None, "energy_wh": None}
                           for c in q.channels}
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)  # type: ignore[arg-type]
        rows = await cur.fetchall()
        for cid, n, mean, mn, mx, wh, last, first_min, _first_b in rows:
            ch = by_id[cid]
            energy: float | None = None
            if ch.kind == "counter" and ch.unit == "Wh":
                prev = await _before(conn, cid, q.start_ms)
                energy = last - (prev if prev is not None else first_min)
            elif ch.kind == "power" and ch.unit == "W":
                energy = wh
            out[ch.name] = {"n": int(n), "min": _num(mn), "max": _num(mx), "mean": _num(mean),
                            "energy_wh": _num(energy)}
    return out


async def _before(conn: Any, channel_id: int, start_ms: int) -> float | None:
    """A counter's last value before ``start_ms`` (raw, else the finest rollup that has one)."""
    for sql in ("SELECT value FROM readings WHERE channel_id = %s AND ts_ms < %s ORDER BY ts_ms DESC LIMIT 1",
                "SELECT last FROM rollup_5m WHERE channel_id = %s AND bucket_ms < %s ORDER BY bucket_ms DESC LIMIT 1",
                "SELECT last FROM rollup_1h WHERE channel_id = %s AND bucket_ms < %s ORDER BY bucket_ms DESC LIMIT 1",
                "SELECT last FROM rollup_1d WHERE channel_id = %s AND bucket_ms < %s ORDER BY bucket_ms DESC "
                "LIMIT 1"):
        cur = await conn.execute(sql, (channel_id, start_ms))
        row = await cur.fetchone()
        if row is not None:
            return float(row[0])
    return None


async def rows(pool: AsyncConnectionPool, q: Query) -> AsyncIterator[list[Any]]:
    """The series' rows, channel ids replaced by names, fetched from a server-side stream."""
    sql, params = points_sql(q)
    names = {c.id: c.name for c in q.channels}
    async with pool.connection() as conn:
        cur = conn.cursor()
        async for row in cur.stream(sql, params, size=CHUNK):  # type: ignore[arg-type]
            out = list(row)
            out[1] = names[out[1]]
            yield out


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


async def json_stream(pool: AsyncConnectionPool, q: Query, head: dict[str, Any]) -> AsyncIterator[bytes]:
    columns = RAW_COLUMNS if q.resolution == "raw" else AGG_COLUMNS
    head = {**head, "columns": columns}
    yield (json.dumps(head)[:-1] + ', "points": [').encode()
    buf: list[str] = []
    first = True
    async for row in rows(pool, q):
        row = [_num(v) if isinstance(v, float) else v for v in row]
        buf.append(("" if first else ",") + json.dumps(row, separators=(",", ":")))
        first = False
        if len(buf) >= CHUNK:
            yield "".join(buf).encode()
            buf.clear()
    buf.append("]}")
    yield "".join(buf).encode()


async def csv_stream(pool: AsyncConnectionPool, q: Query) -> AsyncIterator[bytes]:
    columns = RAW_COLUMNS if q.resolution == "raw" else AGG_COLUMNS
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time", *columns])
    n = 0
    async for row in rows(pool, q):
        writer.writerow([_iso(row[0]), *["" if v is None else v for v in row]])
        n += 1
        if n % CHUNK == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()
