"""``/api/v1/sites/{site}/series`` and the site's time zone: the data the dashboards show.

A series is asked for by ``from``/``to`` (instants) or by a local calendar ``period`` of the
site's zone: ``day``, ``week`` (ISO, from Monday), ``month``, ``year`` containing ``date``, or
``custom`` from ``date`` through ``until`` (whole local days). Periods follow the zone's
DST (days of 23 or 25 hours), and their default resolution gives sub-periods that add up to
the period: 5-minute buckets for a day, hours for a week, local days for a month or a year.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from wattwerk.portal import auth, series, sites
from wattwerk.portal.auth import Principal
from wattwerk.portal.database import Conn
from wattwerk.store import rollup

SiteName = Annotated[str, Path(min_length=1, max_length=64)]
Who = Annotated[Principal, Depends(auth.principal)]
MAX_RANGE = timedelta(days=3700)
PERIOD_RESOLUTION = {"day": "5m", "week": "1h", "month": "1d", "year": "1d"}
Resolution = Literal["raw", "1m", "5m", "15m", "1h", "1d"]


class TimeZoneBody(BaseModel):
    tz: str = Field(min_length=1, max_length=64, description="an IANA zone, e.g. Europe/Berlin")


async def _site(conn: Conn, name: str, who: Principal, owner: bool = False) -> sites.SiteRef:
    ref = await sites.lookup(conn, name, who.account_id)
    if ref is None or ref.role is None:
        raise HTTPException(404, "not found")
    if owner and ref.role != "owner":
        raise HTTPException(403, "only the site's owner may do this")
    return ref


def _utc(value: datetime | None, default: datetime) -> datetime:
    if value is None:
        return default
    if value.tzinfo is None:
        raise HTTPException(400, "times need a zone (e.g. 2026-01-01T00:00:00Z)")
    return value.astimezone(UTC)


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def span(
    period: str | None,
    day: date | None,
    until: date | None,
    from_: datetime | None,
    to: datetime | None,
    tz: str,
) -> tuple[int, int]:
    """[start, end) in ms: the local period, or the instants given (default: the last day)."""
    if period is None:
        end = _utc(to, datetime.now(UTC))
        start = _utc(from_, end - timedelta(days=1))
        return _ms(start), _ms(end)
    if day is None:
        raise HTTPException(400, "a period needs date=YYYY-MM-DD (a day in it; the first day for custom)")
    if period == "custom":
        if until is None or until < day:
            raise HTTPException(400, "period=custom needs until=YYYY-MM-DD, the last day, not before date")
        return rollup.local_midnight(day, tz), rollup.local_midnight(until + timedelta(days=1), tz)
    return rollup.period_ms(period, day, tz)


def default_resolution(period: str | None, start: int, end: int) -> str:
    if period in PERIOD_RESOLUTION:
        return PERIOD_RESOLUTION[period]
    if period is None:
        return "15m"
    days = (end - start) / 86_400_000
    return "5m" if days <= 2 else "1h" if days <= 15 else "1d"


def router() -> APIRouter:
    r = APIRouter(prefix="/api/v1")

    @r.put("/sites/{site}/timezone", tags=["sites"])
    async def tz_set(site: SiteName, body: TimeZoneBody, who: Who, request: Request) -> dict[str, Any]:
        """The site's zone: its local days, weeks, months and years (days are rebuilt in it)."""
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who, owner=True)
            try:
                await sites.set_tz(conn, ref.site_id, body.tz)
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None
            await sites.audit(conn, ref.site_id, who.account_id, "site.tz", {"tz": body.tz})
        return {"site": site, "tz": body.tz}

    @r.get("/sites/{site}/series", tags=["data"])
    async def series_get(
        site: SiteName,
        who: Who,
        request: Request,
        channels: str = Query("", max_length=4000, description="comma-separated; empty: all"),
        from_: Annotated[datetime | None, Query(alias="from")] = None,
        to: datetime | None = None,
        period: Literal["day", "week", "month", "year", "custom"] | None = None,
        date_: Annotated[date | None, Query(alias="date")] = None,
        until: date | None = None,
        resolution: Resolution | None = None,
        format: Literal["json", "csv"] = "json",
    ) -> Response:
        """A series, streamed; min, max, mean and energy per channel are in ``summary`` (JSON, after
        the points) or the ``X-Series-Summary`` header (CSV). Each bucket carries its energy."""
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who)
            tz = await sites.tz_of(conn, ref.site_id)
            start_ms, end_ms = span(period, date_, until, from_, to, tz)
            if not start_ms < end_ms or end_ms - start_ms > MAX_RANGE.total_seconds() * 1000:
                raise HTTPException(400, "from must be before to, and the range at most about ten years")
            res = resolution or default_resolution(period, start_ms, end_ms)
            q = await series_query(conn, ref.site_id, channels, start_ms, end_ms, res, tz)
        db = auth.db_of(request)
        if format == "csv":
            summary = await series.summary(db, q) if q.channels else {}
            return StreamingResponse(
                series.csv_stream(db, q),
                media_type="text/csv",
                headers={"X-Series-Summary": json.dumps(summary, separators=(",", ":"))},
            )
        head = {
            "site": ref.name,
            "resolution": res,
            "tz": tz,
            "period": period,
            "from_ms": q.start_ms,
            "to_ms": q.end_ms,
            "channels": {c.name: {"unit": c.unit, "kind": c.kind} for c in q.channels},
        }
        return StreamingResponse(series.json_stream(db, q, head), media_type="application/json")

    return r


async def series_query(
    conn: Conn, site_id: int, channels: str, start_ms: int, end_ms: int, res: str, tz: str
) -> series.Query:
    """The series query over the named channels (comma-separated; empty: all the site's);
    a channel the site does not have is a 400."""
    cur = await conn.execute(
        "SELECT c.id, c.name, c.unit, c.kind, "
        "(SELECT rolled_ms FROM site_retention WHERE site_id = %s) "
        "FROM channels c WHERE c.site_id = %s ORDER BY c.name",
        (site_id, site_id),
    )
    found = await cur.fetchall()
    shifts = await series.load_shifts(conn, site_id)
    known = {row[1]: series.ChannelInfo(*row[:4]) for row in found}
    rolled = int(found[0][4] or 0) if found else 0
    wanted = [n.strip() for n in channels.split(",") if n.strip()] or list(known)
    missing = [n for n in wanted if n not in known]
    if missing:
        raise HTTPException(400, f"unknown channel(s) of this site: {', '.join(missing)[:200]}")
    return series.Query(
        [known[n] for n in dict.fromkeys(wanted)],
        series.floor_start(start_ms, res, tz),
        end_ms,
        res,
        rolled,
        {c.id: shifts[c.id] for c in (known[n] for n in wanted) if c.id in shifts},
        tz,
    )
