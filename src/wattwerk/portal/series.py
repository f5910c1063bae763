"""Series of a site's channels, streamed in constant memory, with a summary of the range.

``resolution``: ``raw`` (every stored value), ``1m`` (from raw), ``5m`` and ``15m`` (from the
5-minute rollups), ``1h``, ``1d`` (their rollups; days are UTC days). Aggregated series join the
rollups (everything before the site's ``rolled_ms``) with raw values after it, merged per
bucket, so the newest minutes show before the retention job has run. Raw values exist for the
site's raw window only, unless the owner archives (retention.py).

Rows are read in chunks (a server-side cursor on PostgreSQL, a stepped statement on
SQLite) and written as they come,
so a year of minutes for 20 channels never sits in memory. The summary — min, max, mean and
energy per channel — is accumulated from the same rows as they pass and closes the JSON
document (one query); CSV needs it up front, in the ``X-Series-Summary`` header (JSON), so
there it is one aggregate query before streaming. Energy: for counters (Wh) last − the last
value before the range; for power (W) the sum of bucket means × bucket length (Wh), or for raw
values each value held until the next.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from wattwerk.portal.database import POSTGRES, SQLITE, Conn, Database

RESOLUTIONS: dict[str, int] = {
    "raw": 0,
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "1d": 86_400_000,
}
TABLE = {
    "raw": "rollup_5m",
    "1m": "rollup_5m",
    "5m": "rollup_5m",
    "15m": "rollup_5m",
    "1h": "rollup_1h",
    "1d": "rollup_1d",
}
AGG_COLUMNS = ["ts_ms", "channel", "mean", "min", "max", "last", "delta", "n"]
RAW_COLUMNS = ["ts_ms", "channel", "value"]
CHUNK = 2000
# A dashboard query reads a few thousand rows by index; when the planner's estimate for a
# site with a long history crosses jit_above_cost, compiling costs more (~12 ms) than the query.
NO_JIT = "SET LOCAL jit = off"


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
    # counter channels' baselines (from_ms, shift), from counter_baselines: raw values get the
    # same shift the rollups hold, so a series runs on one validated register (counter_rollup.py)
    shifts: dict[int, list[tuple[int, float]]] = field(default_factory=dict)

    @property
    def step(self) -> int:
        return RESOLUTIONS[self.resolution]

    def value_sql(self, table: str = "") -> str:
        """``value``, with each counter's shift added where one is in force (few: one per reset).
        The numbers are the database's own (ids, times, floats), written as SQL literals."""
        t = f"{table}." if table else ""
        cases = [
            f"WHEN {t}channel_id = {int(cid)} AND {t}ts_ms >= {int(ts)} THEN {float(shift)!r}"
            for cid, baselines in self.shifts.items()
            for ts, shift in sorted(baselines, reverse=True)
        ]
        if not cases:
            return f"{t}value"
        return f"({t}value + CASE {' '.join(cases)} ELSE 0 END)"


async def load_shifts(conn: Conn, site_id: int) -> dict[int, list[tuple[int, float]]]:
    """The counter baselines of a site's channels (usually none: one row per meter reset)."""
    out: dict[int, list[tuple[int, float]]] = {}
    for cid, ts, shift in await conn.fetchall(
        "SELECT b.channel_id, b.from_ms, b.shift FROM counter_baselines b "
        "JOIN channels c ON c.id = b.channel_id WHERE c.site_id = %s ORDER BY b.channel_id, b.from_ms",
        (site_id,),
    ):
        out.setdefault(int(cid), []).append((int(ts), float(shift)))
    return out


def _ids(dialect: str, name: str, ids: list[int], params: dict[str, Any]) -> str:
    """``= ANY(array)`` on PostgreSQL (one plan for any count), an ``IN`` list on SQLite."""
    if dialect == SQLITE:
        params.update({f"{name}{i}": v for i, v in enumerate(ids)})
        return "IN (" + ", ".join(f"%({name}{i})s" for i in range(len(ids))) + ")"
    params[name] = ids
    return f"= ANY(%({name})s)"


def _agg_sql(q: Query, dialect: str = POSTGRES) -> tuple[str, dict[str, Any]]:
    step = q.step or RESOLUTIONS["1m"]
    rolled = 0 if q.resolution in ("raw", "1m") else q.rolled_ms
    # rollups before the site's rolled_ms, raw values from it on (bounds computed here, portably)
    params: dict[str, Any] = {"a": q.start_ms, "z": q.end_ms, "r": step,
                              "zr": min(q.end_ms, rolled), "ar": max(q.start_ms, rolled)}
    ch = _ids(dialect, "ch", [c.id for c in q.channels], params)
    v = q.value_sql()
    parts = (
        f"SELECT channel_id, (bucket_ms / %(r)s) * %(r)s AS b, n, mean, min, max, last, last_ts "
        f"FROM {TABLE[q.resolution]} WHERE channel_id {ch} AND bucket_ms >= %(a)s AND bucket_ms < %(zr)s "
        f"UNION ALL SELECT channel_id, (ts_ms / %(r)s) * %(r)s, 1, {v}, {v}, {v}, {v}, ts_ms "
        f"FROM readings WHERE channel_id {ch} AND ts_ms >= %(ar)s AND ts_ms < %(z)s"
    )
    if dialect == SQLITE:  # no array_agg: each bucket's newest value by a window over the parts
        agg = (
            f"WITH p0 AS ({parts}), parts AS (SELECT *, first_value(last) OVER (PARTITION BY channel_id, b "
            "ORDER BY last_ts DESC) AS lastv FROM p0), agg AS (SELECT channel_id, b, sum(n) AS n, "
            "sum(mean * n) / sum(n) AS mean, min(min) AS mn, max(max) AS mx, max(lastv) AS last "
            "FROM parts GROUP BY 1, 2) "
        )
        return agg, params
    agg = (
        f"WITH parts AS ({parts}), agg AS (SELECT channel_id, b, sum(n) AS n, "
        "sum(mean * n) / sum(n) AS mean, "
        "min(min) AS mn, max(max) AS mx, (array_agg(last ORDER BY last_ts DESC))[1] AS last "
        "FROM parts GROUP BY 1, 2) "
    )
    return agg, params


def points_sql(q: Query, dialect: str = POSTGRES) -> tuple[str, dict[str, Any]]:
    if q.resolution == "raw":
        params: dict[str, Any] = {"a": q.start_ms, "z": q.end_ms}
        ch = _ids(dialect, "ch", [c.id for c in q.channels], params)
        return (
            f"SELECT ts_ms, channel_id, {q.value_sql()} FROM readings WHERE channel_id {ch} "
            "AND ts_ms >= %(a)s AND ts_ms < %(z)s ORDER BY ts_ms, channel_id",
            params,
        )
    agg, params = _agg_sql(q, dialect)
    return (
        agg + "SELECT b, channel_id, mean, mn, mx, last, "
        "last - lag(last) OVER (PARTITION BY channel_id ORDER BY b), n FROM agg ORDER BY b, channel_id",
        params,
    )


def summary_sql(q: Query, dialect: str = POSTGRES) -> tuple[str, dict[str, Any]]:
    agg, params = _agg_sql(q, dialect)
    step = q.step or RESOLUTIONS["1m"]
    if dialect == SQLITE:
        return (
            agg + ", agg2 AS (SELECT *, "
            "first_value(last) OVER (PARTITION BY channel_id ORDER BY b DESC) AS lastv, "
            "first_value(mn) OVER (PARTITION BY channel_id ORDER BY b) AS firstmn FROM agg) "
            "SELECT channel_id, sum(n), sum(mean * n) / sum(n), min(mn), max(mx), "
            f"sum(mean) * {step} / 3600000.0, max(lastv), max(firstmn), min(b) FROM agg2 GROUP BY 1",
            params,
        )
    return (
        agg + f"SELECT channel_id, sum(n)::bigint, sum(mean * n) / sum(n)::float8, min(mn), max(mx), "
        f"sum(mean) * {step} / 3600000.0, (array_agg(last ORDER BY b DESC))[1], "
        "(array_agg(mn ORDER BY b))[1], min(b) FROM agg GROUP BY 1",
        params,
    )


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


_LAST_BEFORE = (
    "coalesce("
    "(SELECT {value} FROM readings r WHERE channel_id = c.id AND ts_ms < %(a)s ORDER BY ts_ms DESC LIMIT 1), "
    "(SELECT last FROM rollup_5m WHERE channel_id = c.id AND bucket_ms < %(a)s AND last_ts < %(a)s "
    "ORDER BY bucket_ms DESC LIMIT 1), "
    "(SELECT last FROM rollup_1h WHERE channel_id = c.id AND bucket_ms < %(a)s AND last_ts < %(a)s "
    "ORDER BY bucket_ms DESC LIMIT 1), "
    "(SELECT last FROM rollup_1d WHERE channel_id = c.id AND bucket_ms < %(a)s AND last_ts < %(a)s "
    "ORDER BY bucket_ms DESC LIMIT 1))"
)


async def _before(conn: Conn, q: Query) -> dict[int, float]:
    """Each counter's last value before the range (raw, else the finest rollup that has one; a
    coarse bucket that straddles the range's start counts only if its last value lies before)."""
    ids = [c.id for c in q.channels if c.kind == "counter"]
    if not ids:
        return {}
    params: dict[str, Any] = {"a": q.start_ms}
    last = _LAST_BEFORE.replace("{value}", q.value_sql("r"))
    if conn.dialect == SQLITE:
        sql = f"SELECT c.id, {last} FROM channels c WHERE c.id {_ids(SQLITE, 'id', ids, params)}"
    else:
        params["ids"] = ids
        sql = f"SELECT c.id, {last} FROM unnest(%(ids)s::integer[]) AS c(id)"
    cur = await conn.execute(sql, params)
    return {int(cid): float(v) for cid, v in await cur.fetchall() if v is not None}


class Summary:
    """A channel's summary, accumulated row by row (or from the summary query)."""

    __slots__ = ("ch", "first", "last", "last_ts", "mn", "mx", "n", "prev", "total", "wh")

    def __init__(self, ch: ChannelInfo) -> None:
        self.ch = ch
        self.n = 0
        self.total = 0.0
        self.mn = math.inf
        self.mx = -math.inf
        self.wh = 0.0
        self.first: float | None = None
        self.last: float | None = None
        self.last_ts: int | None = None
        self.prev: float | None = None

    def add_bucket(self, mean: float, mn: float, mx: float, last: float, n: int, step_ms: int) -> None:
        if self.first is None:
            self.first = mn
        self.n += n
        self.total += mean * n
        self.mn = min(self.mn, mn)
        self.mx = max(self.mx, mx)
        self.wh += mean * step_ms / 3_600_000
        self.last = last

    def add_raw(self, ts: int, value: float) -> None:
        if self.first is None:
            self.first = value
        elif self.last is not None and self.last_ts is not None:
            self.wh += self.last * (ts - self.last_ts) / 3_600_000  # a value holds until the next one
        self.n += 1
        self.total += value
        self.mn = min(self.mn, value)
        self.mx = max(self.mx, value)
        self.last, self.last_ts = value, ts

    def result(self) -> dict[str, Any]:
        if not self.n:
            return {"n": 0, "min": None, "max": None, "mean": None, "energy_wh": None}
        energy: float | None = None
        if self.ch.kind == "counter" and self.ch.unit == "Wh" and self.last is not None:
            base = self.prev if self.prev is not None else self.first
            energy = self.last - base if base is not None else None
        elif self.ch.kind == "power" and self.ch.unit == "W":
            energy = self.wh
        return {
            "n": self.n,
            "min": _num(self.mn),
            "max": _num(self.mx),
            "mean": _num(self.total / self.n),
            "energy_wh": _num(energy),
        }


async def summary(db: Database, q: Query) -> dict[str, Any]:
    """The summary by one aggregate query (for CSV, whose summary goes in a header up front)."""
    acc = {c.id: Summary(c) for c in q.channels}
    async with db.connection(readonly=True) as conn:
        sql, params = summary_sql(q, conn.dialect)
        if conn.dialect == POSTGRES:
            await conn.execute(NO_JIT)
        prev = await _before(conn, q)
        cur = await conn.execute(sql, params)
        for cid, n, mean, mn, mx, wh, last, first_min, _first_b in await cur.fetchall():
            s = acc[cid]
            s.n, s.total, s.mn, s.mx, s.wh, s.last, s.first = int(n), mean * n, mn, mx, wh, last, first_min
            s.prev = prev.get(cid)
    return {s.ch.name: s.result() for s in acc.values()}


async def chunks(
    db: Database,
    q: Query,
    sums: dict[int, Summary] | None = None,
) -> AsyncIterator[list[list[Any]]]:
    """The series' rows in chunks, channel ids replaced by names, from a server-side cursor;
    ``sums`` (by channel id) are filled in as the rows pass."""
    names = {c.id: c.name for c in q.channels}
    raw = q.resolution == "raw"
    step = q.step
    async with db.connection(readonly=True) as conn:
        sql, params = points_sql(q, conn.dialect)
        if conn.dialect == POSTGRES:
            await conn.execute(NO_JIT)
        if sums is not None:
            for cid, value in (await _before(conn, q)).items():
                sums[cid].prev = value
        async for batch in conn.chunks(sql, params, CHUNK):
            out = [list(row) for row in batch]
            for row in out:
                if sums is not None:
                    if raw:
                        sums[row[1]].add_raw(row[0], row[2])
                    else:
                        sums[row[1]].add_bucket(row[2], row[3], row[4], row[5], row[7], step)
                row[1] = names[row[1]]
            yield out


async def rows(db: Database, q: Query) -> AsyncIterator[list[Any]]:
    """The series' rows one by one (see :func:`chunks`)."""
    async for batch in chunks(db, q):
        for row in batch:
            yield row


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


async def json_stream(db: Database, q: Query, head: dict[str, Any]) -> AsyncIterator[bytes]:
    """The JSON document: ``head``, ``columns``, ``points``, and last the ``summary``, made from
    the same rows as they streamed past (one query, constant memory)."""
    columns = RAW_COLUMNS if q.resolution == "raw" else AGG_COLUMNS
    head = {**head, "columns": columns}
    yield (json.dumps(head)[:-1] + ', "points": [').encode()
    sums = {c.id: Summary(c) for c in q.channels}
    sep = ""
    async for batch in chunks(db, q, sums):
        batch = [[round(v, 6) if type(v) is float else v for v in row] for row in batch]
        yield (sep + json.dumps(batch, separators=(",", ":"))[1:-1]).encode()
        sep = ","
    summary = {s.ch.name: s.result() for s in sums.values()}
    yield ('], "summary": ' + json.dumps(summary) + "}").encode()


async def csv_stream(db: Database, q: Query) -> AsyncIterator[bytes]:
    columns = RAW_COLUMNS if q.resolution == "raw" else AGG_COLUMNS
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time", *columns])
    async for batch in chunks(db, q):
        writer.writerows([_iso(row[0]), *["" if v is None else v for v in row]] for row in batch)
        yield out.getvalue().encode()
        out.seek(0)
        out.truncate()
    yield out.getvalue().encode()
