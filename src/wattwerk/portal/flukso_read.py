"""The Flukso / mySmartGrid read API for old clients: ``GET /sensor/<id>?interval=...&unit=watt``.

As flukso.net documented it: headers ``X-Version: 1.0`` and ``X-Token``; ``interval`` one of
hour, day, month, year (default resolutions minute, 15min, day, week), or ``start``/``end``
(unix seconds) instead; ``resolution`` one of minute, 15min, hour, day, week; ``unit`` watt or
kwhperyear. The answer is a JSON array of ``[unix_ts, value]`` where the time stamp is the *end*
of the interval and a missing value is the string ``"nan"``.

``X-Token`` here is a personal access token with the ``read`` scope of an account that may read
the sensor's site (Flukso had one token per sensor; an account token covers all of its sites,
like Flukso's account-level token). A sensor is a ``POST /sensor/<id>`` sensor registered for a
site (compat.py); a counter in Wh is turned into mean watts per interval.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from wattwerk.portal import auth, series
from wattwerk.portal.database import utcnow
from wattwerk.portal.db import compat_id

INTERVALS = {
    "hour": (3600, "minute"),
    "day": (86400, "15min"),
    "month": (30 * 86400, "day"),
    "year": (365 * 86400, "week"),
}
STEPS = {
    "minute": ("1m", 60),
    "15min": ("15m", 900),
    "hour": ("1h", 3600),
    "day": ("1d", 86400),
    "week": ("1d", 7 * 86400),
}
UNITS = {"watt": 1.0, "kwhperyear": 8760 / 1000}
MAX_POINTS = 100_000


def _err(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


NOT_FOUND = {"error": "no such sensor"}


async def read_sensor(
    request: Request,
    sensor_id: str,
    interval: str | None,
    resolution: str | None,
    unit: str,
    start: int | None,
    end: int | None,
    token: str | None,
) -> JSONResponse:
    if unit not in UNITS:
        return _err(400, f"unit must be one of {', '.join(UNITS)}")
    window = _window(interval, resolution, start, end)
    if isinstance(window, JSONResponse):
        return window
    res, step, start_s, end_s = window
    found = await _sensor(request, sensor_id, token)
    if isinstance(found, JSONResponse):
        return found
    row, shifts = found
    ch = series.ChannelInfo(row[0], row[1], row[2], row[3])
    q = series.Query(
        [ch],
        start_s * 1000,
        end_s * 1000,
        res,
        int(row[4] or 0),
        {ch.id: [(int(t), float(v)) for t, v in shifts]} if shifts else {},
    )
    sums = await _watts(request, ch, q, step)
    scale = UNITS[unit]
    out: list[list[Any]] = []
    for b in range(start_s, end_s, step):
        vals = sums.get(b)
        out.append([b + step, round(sum(vals) / len(vals) * scale) if vals else "nan"])
    return JSONResponse(out)


def _window(
    interval: str | None, resolution: str | None, start: int | None, end: int | None
) -> tuple[str, int, int, int] | JSONResponse:
    """The series resolution, the step (s) and the range [start, end) in seconds, on whole steps."""
    now = int(time.time())
    if interval is not None:
        if interval not in INTERVALS or start is not None:
            return _err(400, f"interval must be one of {', '.join(INTERVALS)} (and not with start)")
        span, default = INTERVALS[interval]
        resolution = resolution or default
        end_s = now
        start_s = now - span
    elif start is not None:
        resolution = resolution or "15min"
        start_s, end_s = start, end if end is not None else now
    else:
        return _err(400, "give interval, or start (and optionally end)")
    if resolution not in STEPS:
        return _err(400, f"resolution must be one of {', '.join(STEPS)}")
    res, step = STEPS[resolution]
    end_s = (end_s // step) * step
    start_s = (start_s // step) * step
    if end_s <= start_s or (end_s - start_s) // step > MAX_POINTS:
        return _err(400, f"the range must be positive and at most {MAX_POINTS} intervals")
    return res, step, start_s, end_s


async def _sensor(
    request: Request, sensor_id: str, token: str | None
) -> tuple[Any, list[Any]] | JSONResponse:
    """The sensor's channel row (id, name, unit, kind, rolled_ms) and counter shifts, if the token
    may read it."""
    if not token or not token.startswith(auth.TOKEN_PREFIX):
        return _err(401, "X-Token missing or not a wattwerk access token")
    async with auth.db_of(request).connection() as conn:
        cur = await conn.execute(
            "SELECT a.id, t.scopes FROM access_tokens t JOIN accounts a ON a.id = t.account_id "
            "WHERE t.token_hash = %s AND t.revoked_at IS NULL AND t.expires_at > %s",
            (auth.sha256(token), utcnow()),
        )
        acc = await cur.fetchone()
        if acc is None or not {"read", "admin"} & set(conn.unarray(acc[1])):
            return _err(401, "X-Token unknown, expired or without the read scope")
        cur = await conn.execute(
            "SELECT c.id, c.name, c.unit, c.kind, r.rolled_ms FROM compat_sensors s JOIN channels c "
            "ON c.id = s.channel_id JOIN site_access a ON a.site_id = c.site_id AND a.account_id = %s "
            "LEFT JOIN site_retention r ON r.site_id = c.site_id WHERE s.id = %s",
            (acc[0], compat_id(sensor_id)),
        )
        row = await cur.fetchone()
        shifts = (
            await conn.fetchall(
                "SELECT from_ms, shift FROM counter_baselines WHERE channel_id = %s ORDER BY from_ms",
                (row[0],),
            )
            if row
            else []
        )
    if row is None:
        return JSONResponse(NOT_FOUND, status_code=404)
    return row, shifts


async def _watts(
    request: Request, ch: series.ChannelInfo, q: series.Query, step: int
) -> dict[int, list[float]]:
    """The watts of the series' buckets, grouped by the Flukso step they fall in."""
    sums: dict[int, list[float]] = {}
    async for ts_ms, _name, mean, _mn, _mx, _last, delta, _n, *_energy in series.rows(auth.db_of(request), q):
        b = (ts_ms // 1000 // step) * step
        if ch.kind == "counter":
            if delta is None:
                continue
            watts = delta * 3600 / (RESOLUTIONS_S[q.resolution])
        elif mean is None:
            continue  # a bucket with covered time but no reading of its own
        else:
            watts = mean
        sums.setdefault(b, []).append(watts)
    return sums


RESOLUTIONS_S = {name: ms // 1000 for name, ms in series.RESOLUTIONS.items() if ms}


def router() -> APIRouter:
    r = APIRouter(tags=["flukso"])

    @r.get("/sensor/{sensor_id}")
    async def sensor(
        request: Request,
        sensor_id: str,
        interval: str | None = Query(None, description="hour, day, month or year"),
        resolution: str | None = Query(None, description="minute, 15min, hour, day or week"),
        unit: str = Query("watt"),
        start: int | None = Query(None, ge=0, le=2**33),
        end: int | None = Query(None, ge=0, le=2**33),
        x_token: str | None = Header(None),
    ) -> JSONResponse:
        """Flukso-compatible read of one sensor's series: ``[[unix_end_ts, value|"nan"], ...]``."""
        return await read_sensor(request, sensor_id, interval, resolution, unit, start, end, x_token)

    return r
