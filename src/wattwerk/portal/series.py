"""Series of a site's channels, streamed in constant memory, with a summary of the range.

``resolution``: ``raw`` (every stored value), ``1m`` (from raw), ``5m`` and ``15m`` (from the
5-minute rollups), ``1h``, ``1d`` (their rollups; days are the site's local days, 23 or 25 h on
DST days). Aggregated series read the rollups before the site's ``rolled_ms`` and aggregate the
raw values after it with the rules of ``store/rollup.py`` (the edge store's), merged per
bucket, so the newest minutes show before the retention job has run. Raw values exist for the
site's raw window only, unless the owner archives (retention.py).

Every bucket carries its energy: for counters (Wh) the delta of the validated register
(``energy_wh``; the first bucket's from the last value before the range), for power (W) the
covered-time integral, positive part in ``energy_wh`` and negative part in ``energy_out_wh``,
with ``covered_s``: readings further apart than ``rollup.MAX_GAP_MS`` and the time after the
newest reading count nothing. The summary is the sum of the buckets, so a period's figures
are the sum of its sub-periods. Rollup rows are read in chunks (a server-side cursor on
PostgreSQL) and written as they come; CSV needs the summary up front, in the
``X-Series-Summary`` header, so it is made by one pass before streaming.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from wattwerk.portal.counter_rollup import LOOKAHEAD_MS, Anchor, registers, shift_at
from wattwerk.portal.database import POSTGRES, SQLITE, Conn, Database
from wattwerk.portal.series_sums import Bucket, Summary  # Summary: re-exported for series.Summary
from wattwerk.store import buckets, rollup
from wattwerk.store.counters import CounterPolicy

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
AGG_COLUMNS = [
    "ts_ms",
    "channel",
    "mean",
    "min",
    "max",
    "last",
    "delta",
    "n",
    "energy_wh",
    "energy_out_wh",
    "covered_s",
]
RAW_COLUMNS = ["ts_ms", "channel", "value"]
CHUNK = 2000
POLICY = CounterPolicy()  # as the retention job's
M5 = 300_000
# A dashboard query reads a few thousand rows by index; when the planner's estimate for a
# site with a long history crosses jit_above_cost, compiling costs more (~12 ms) than the query.
NO_JIT = "SET LOCAL jit = off"


@dataclass(frozen=True)
class ChannelInfo:
    id: int
    name: str
    unit: str
    kind: str

    @property
    def integrated(self) -> bool:
        """A power channel in W: its energy is the covered-time integral."""
        return self.kind == "power" and self.unit == "W"


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
    tz: str = "UTC"  # the site's zone: its local days

    @property
    def step(self) -> int:
        return RESOLUTIONS[self.resolution]

    @property
    def rolled(self) -> int:
        """Where the rollups end and raw values take over (raw only for raw and 1m)."""
        return 0 if self.resolution in ("raw", "1m") else self.rolled_ms

    def bucket_of(self) -> Callable[[int], tuple[int, int]]:
        if self.resolution == "1d":
            return lambda ts: buckets.day_range(ts, self.tz)
        return rollup.fixed(self.step or RESOLUTIONS["1m"])

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


def floor_start(start_ms: int, resolution: str, tz: str) -> int:
    """The start of the bucket a range's first bucket begins at (a local midnight for 1d)."""
    if resolution == "1d":
        return buckets.day_range(start_ms, tz)[0]
    step = RESOLUTIONS[resolution] or 1
    return start_ms // step * step


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


def rollup_sql(q: Query, dialect: str = POSTGRES) -> tuple[str, dict[str, Any]]:
    """The rollup buckets before ``rolled`` (grouped to the resolution), in (bucket, channel) order:
    b, channel_id, n, mean, min, max, last, last_ts, pos_wh, neg_wh, covered_ms."""
    params: dict[str, Any] = {"a": q.start_ms, "zr": min(q.end_ms, q.rolled), "r": q.step or 1}
    ch = _ids(dialect, "ch", [c.id for c in q.channels], params)
    b = "bucket_ms" if q.resolution in ("5m", "1h", "1d") else "(bucket_ms / %(r)s) * %(r)s"
    src = (
        f"SELECT channel_id, {b} AS b, n, mean, min, max, last, last_ts, pos_wh, neg_wh, covered_ms "
        f"FROM {TABLE[q.resolution]} WHERE channel_id {ch} AND bucket_ms >= %(a)s AND bucket_ms < %(zr)s"
    )
    sums = "sum(pos_wh), sum(neg_wh), sum(covered_ms)" + ("" if dialect == SQLITE else "::bigint")
    if dialect == SQLITE:  # no array_agg: each bucket's newest value by a window
        return (
            f"SELECT b, channel_id, sum(n), sum(mean * n) / sum(n), min(min), max(max), max(lastv), "
            f"max(last_ts), {sums} FROM (SELECT *, first_value(last) OVER (PARTITION BY channel_id, b "
            f"ORDER BY last_ts DESC) AS lastv FROM ({src})) GROUP BY 1, 2 ORDER BY 1, 2",
            params,
        )
    return (
        f"SELECT b, channel_id, sum(n)::bigint, sum(mean * n) / sum(n)::float8, min(min), max(max), "
        f"(array_agg(last ORDER BY last_ts DESC))[1], max(last_ts), {sums} FROM ({src}) p "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        params,
    )


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


async def _prev_points(conn: Conn, q: Query, lo: int) -> dict[int, tuple[int, float]]:
    """Each power channel's last reading before ``lo`` within the gap: raw, else the last value
    of the 5-minute rollup just before ``rolled`` (its raw values are gone)."""
    ids = [c.id for c in q.channels if c.integrated]
    if not ids:
        return {}
    out: dict[int, tuple[int, float]] = {}
    params: dict[str, Any] = {"p": q.rolled - M5, "r": q.rolled}
    ch = _ids(conn.dialect, "ch", ids, params)
    if q.rolled > 0 and q.rolled > lo - rollup.MAX_GAP_MS:
        for cid, ts, v in await conn.fetchall(
            f"SELECT channel_id, last_ts, last FROM rollup_5m WHERE channel_id {ch} "
            "AND bucket_ms >= %(p)s AND bucket_ms < %(r)s",
            params,
        ):
            if int(ts) < lo:
                out[int(cid)] = (int(ts), float(v))
    return out


async def _read(conn: Conn, sql: str, params: dict[str, Any], bounded: bool) -> AsyncIterator[list[Any]]:
    """Rows in one answer when they are few (the raw window after the rollups), else in chunks
    from a server-side cursor (an archive's raw values over a long range)."""
    if bounded:
        yield await conn.fetchall(sql, params)
        return
    async for batch in conn.chunks(sql, params, CHUNK):
        yield batch


async def _registers(conn: Conn, q: Query, ids: list[int], lo: int) -> dict[int, list[tuple[int, float]]]:
    """Counters' raw values after the rollups, validated from each channel's anchor with the
    rollups' rules (counter_rollup.registers: glitches left out, a reset a new shift): (ts,
    register) in [lo, end). The readings after ``end`` only confirm or refute a reset."""
    if not ids:
        return {}
    params: dict[str, Any] = {"a": q.rolled_ms, "z": q.end_ms + LOOKAHEAD_MS}
    ch = _ids(conn.dialect, "ch", ids, params)
    anchors = {
        int(r[0]): Anchor(int(r[1]), float(r[2]), float(r[3]))
        for r in await conn.fetchall(
            f"SELECT channel_id, ts_ms, value, shift FROM counter_anchors WHERE channel_id {ch}", params
        )
    }
    rows: dict[int, list[tuple[int, float]]] = {cid: [] for cid in ids}
    for cid, ts, value in await conn.fetchall(  # raw after the rollups: the raw window, small
        f"SELECT channel_id, ts_ms, value FROM readings WHERE channel_id {ch} AND ts_ms >= %(a)s "
        "AND ts_ms < %(z)s ORDER BY channel_id, ts_ms",
        params,
    ):
        rows[int(cid)].append((int(ts), float(value)))
    return {cid: registers(pts, anchors.get(cid), q.end_ms, POLICY) for cid, pts in rows.items()}


async def _raw_buckets(conn: Conn, q: Query, before: dict[int, float]) -> dict[tuple[int, int], Bucket]:
    """The buckets of the raw values in [max(start, rolled), end), energy by store/rollup.py.
    A validated counter's value before the range (``before``) is its register's."""
    lo = max(q.start_ms, q.rolled)
    if lo >= q.end_ms:
        return {}
    bucket_of = q.bucket_of()
    # after the rollups, counters are validated as the rollups will be; before them (an archive's
    # raw values at raw/1m resolution) they get the rollups' shifts
    validated = [c.id for c in q.channels if c.kind == "counter"] if lo >= q.rolled_ms else []
    params: dict[str, Any] = {"a": lo - rollup.MAX_GAP_MS, "z": q.end_ms + rollup.MAX_GAP_MS}
    ch = _ids(conn.dialect, "ch", [c.id for c in q.channels if c.id not in validated] or [-1], params)
    prev = await _prev_points(conn, q, lo)
    info = {c.id: c for c in q.channels}
    out: dict[tuple[int, int], Bucket] = {}

    def channel(cid: int, points: list[tuple[int, float]], shifted: bool = False) -> None:
        c = info[cid]
        shifts = q.shifts.get(cid)
        if shifts and not shifted:
            points = [(t, v + shift_at(shifts, t)) for t, v in points]
        for t, v in points:
            if lo <= t < q.end_ms:
                b = bucket_of(t)[0]
                bucket = out.get((b, cid))
                if bucket is None:
                    bucket = out[(b, cid)] = Bucket()
                bucket.add_value(t, v)
        if c.integrated:
            if cid in prev and not (points and points[0][0] < lo):
                points = [prev[cid], *points]
            for b, e in rollup.integrate(points, bucket_of, lo, q.end_ms).items():
                bucket = out.get((b, cid))
                if bucket is None:
                    bucket = out[(b, cid)] = Bucket()
                bucket.add_energy(e.pos_wh, e.neg_wh, e.covered_ms)

    points: list[tuple[int, float]] = []
    current: int | None = None
    async for batch in _read(
        conn,
        f"SELECT channel_id, ts_ms, value FROM readings WHERE channel_id {ch} AND ts_ms >= %(a)s "
        "AND ts_ms < %(z)s ORDER BY channel_id, ts_ms",
        params,
        bounded=0 < q.rolled_ms <= lo,
    ):
        for cid, ts, value in batch:
            if cid != current:
                if current is not None:
                    channel(current, points)
                current, points = int(cid), []
            points.append((int(ts), float(value)))
    if current is not None:
        channel(current, points)
    for cid, regs in (await _registers(conn, q, validated, lo)).items():
        earlier = [v for t, v in regs if t < lo]
        if earlier:
            before[cid] = earlier[-1]
        channel(cid, [p for p in regs if p[0] >= lo], shifted=True)
    return out


def _row(b: int, c: ChannelInfo, bucket: Bucket, s: Summary | None, prev_last: float | None) -> list[Any]:
    mean = bucket.total / bucket.n if bucket.n else None
    delta = bucket.last - prev_last if c.kind == "counter" and prev_last is not None and bucket.n else None
    energy = s.add_bucket(bucket) if s is not None else (None, None, None)
    return [
        b,
        c.id,
        mean,
        bucket.mn if bucket.n else None,
        bucket.mx if bucket.n else None,
        bucket.last if bucket.n else None,
        delta,
        bucket.n,
        *energy,
    ]


async def _agg_chunks(conn: Conn, q: Query, sums: dict[int, Summary]) -> AsyncIterator[list[list[Any]]]:
    """Aggregated rows (channel ids): rollup rows as they stream, then the buckets raw values made
    (merged with the rollup rows of the same buckets)."""
    before = await _before(conn, q)
    tail = await _raw_buckets(conn, q, before)
    for cid, value in before.items():
        sums[cid].prev = value
    first_tail = min((b for b, _ in tail), default=None)
    info = {c.id: c for c in q.channels}
    prev_last: dict[int, float | None] = {}
    if q.rolled > q.start_ms:
        sql, params = rollup_sql(q, conn.dialect)
        async for batch in conn.chunks(sql, params, CHUNK):
            out = []
            for b, cid, n, mean, mn, mx, last, last_ts, pos, neg, covered in batch:
                if first_tail is not None and b >= first_tail:  # merged with the raw values' bucket
                    bucket = tail.get((b, cid))
                    if bucket is None:
                        bucket = tail[(b, cid)] = Bucket()
                    bucket.add_row(n, mean, mn, mx, last, last_ts, pos, neg, covered)
                    continue
                s = sums[cid]
                pl = prev_last.get(cid)
                delta = last - pl if pl is not None and s.ch.kind == "counter" else None
                out.append(
                    [
                        b,
                        cid,
                        mean,
                        mn,
                        mx,
                        last,
                        delta,
                        n,
                        *s.add(n, mean * n, mn, mx, last, pos, neg, covered),
                    ]
                )
                prev_last[cid] = last
            if out:
                yield out
    rest = []
    for key in sorted(tail):
        bucket = tail[key]
        rest.append(_row(key[0], info[key[1]], bucket, sums[key[1]], prev_last.get(key[1])))
        prev_last[key[1]] = bucket.last
    for i in range(0, len(rest), CHUNK):
        yield rest[i : i + CHUNK]


async def summary(db: Database, q: Query) -> dict[str, Any]:
    """The summary by one pass over the rows (for CSV, whose summary goes in a header up front)."""
    sums = {c.id: Summary(c) for c in q.channels}
    async for _ in chunks(db, q, sums):
        pass
    return {s.ch.name: s.result() for s in sums.values()}


async def chunks(
    db: Database, q: Query, sums: dict[int, Summary] | None = None
) -> AsyncIterator[list[list[Any]]]:
    """The series' rows in chunks, channel ids replaced by names; ``sums`` (by channel id) are
    filled in as the rows pass."""
    names = {c.id: c.name for c in q.channels}
    sums = sums if sums is not None else {c.id: Summary(c) for c in q.channels}
    async with db.connection(readonly=True) as conn:
        if conn.dialect == POSTGRES:
            await conn.execute(NO_JIT)
        if q.resolution == "raw":
            params: dict[str, Any] = {"a": q.start_ms, "z": q.end_ms}
            ch = _ids(conn.dialect, "ch", [c.id for c in q.channels], params)
            sql = (
                f"SELECT ts_ms, channel_id, {q.value_sql()} FROM readings WHERE channel_id {ch} "
                "AND ts_ms >= %(a)s AND ts_ms < %(z)s ORDER BY ts_ms, channel_id"
            )
            for cid, value in (await _before(conn, q)).items():
                sums[cid].prev = value
            async for batch in conn.chunks(sql, params, CHUNK):
                out = [list(row) for row in batch]
                for row in out:
                    sums[row[1]].add_raw(row[0], row[2])
                    row[1] = names[row[1]]
                yield out
            return
        async for out in _agg_chunks(conn, q, sums):
            for row in out:
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
