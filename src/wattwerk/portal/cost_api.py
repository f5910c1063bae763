"""``GET /api/v1/sites/{site}/cost``: the grid cost of a local period, priced per plan slot.

The cost widget's figure. The grid's import and export energy comes from the same channels the
energy widget uses (``WWP.energyFlows`` in portal.js): each grid device's ``energy_import`` /
``energy_export`` counter where it has readings in the range, else the positive / negative part
of its ``power``; a grid device is one whose site role is ``grid_meter`` (site_roles.py), or, for
a device without a role (legacy loggers), one whose id starts with ``grid``. The energy is read
in 15-minute buckets (5-minute where a slot is shorter or not on the quarter-hour grid) and
priced by slot_cost.py with the stored plan slots (plans.py); energy outside every slot is
priced with the edge's mean tariff if it sent one, else the owner's manual tariff (pages.py).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError

from wattwerk.portal import auth, pages, series, series_api, site_roles, sites
from wattwerk.portal.api import SiteName, Who, site_ref
from wattwerk.portal.database import Conn
from wattwerk.portal.slot_cost import Prices, Slot, SlotIndex, cost

LONGEST_SLOT_MS = 60 * 60_000  # plans.SLOT_MINUTES' longest: a slot may start this far before the range
IMPORT, EXPORT = "energy_import", "energy_export"
LAST_DAY = date(9998, 12, 31)  # a year or month after it is past the calendar (date.max)
Period = Literal["day", "week", "month", "year", "custom"]


def grid_devices(channel_names: list[str], roles: dict[str, str]) -> list[str]:
    """The devices playing the grid, as ``WWP.role`` finds them: by site role where the device
    has one, else by an id starting with ``grid``."""
    devices = sorted({name.split(".")[0] for name in channel_names})
    by_role = set(site_roles.flows(roles).get("grid", []))
    return [d for d in devices if d in by_role or (d not in roles and d.startswith("grid"))]


def resolution_for(slots: list[Slot]) -> str:
    """15-minute buckets unless a slot is shorter or off the quarter-hour grid (then 5 minutes)."""
    quarter = 15 * 60_000
    fits = all(s.slot_minutes % 15 == 0 and s.ts_ms % quarter == 0 for s in slots)
    return "15m" if fits else "5m"


async def _slots(conn: Conn, site_id: int, start_ms: int, end_ms: int) -> list[Slot]:
    rows = await conn.fetchall(
        "SELECT ts_ms, slot_minutes, price, sell FROM plan_slots WHERE site_id = %s AND ts_ms >= %s "
        "AND ts_ms < %s ORDER BY ts_ms",
        (site_id, start_ms - LONGEST_SLOT_MS, end_ms),
    )
    return [Slot(int(r[0]), int(r[1]), float(r[2]), float(r[3])) for r in rows]


async def _grid_channels(conn: Conn, site_id: int) -> list[str]:
    """The channels that may carry a grid device's import and export (counters and power)."""
    rows = await conn.fetchall("SELECT name FROM channels WHERE site_id = %s", (site_id,))
    names = [str(r[0]) for r in rows]
    grid = grid_devices(names, await site_roles.load(conn, site_id))
    wanted = {f"{d}.{c}" for d in grid for c in (IMPORT, EXPORT, "power")}
    return sorted(n for n in names if n in wanted)


async def grid_energy(request: Request, q: series.Query) -> list[tuple[int, float, float]]:
    """(bucket start, import Wh, export Wh) per bucket of the query's grid channels: a counter
    where it has a value in the range, else its device's power (as ``WWP.energyFlows``)."""
    sums = {c.id: series.Summary(c) for c in q.channels}
    per: dict[str, dict[int, tuple[float, float]]] = {c.name: {} for c in q.channels}
    async for batch in series.chunks(auth.db_of(request), q, sums):
        for row in batch:  # AGG_COLUMNS: ts, channel, ..., energy_wh, energy_out_wh, covered_s
            if row[8] is not None:
                per[row[1]][row[0]] = (float(row[8]), float(row[9] or 0.0))
    has = {s.ch.name for s in sums.values() if s.result()["energy_wh"] is not None}
    out: dict[int, list[float]] = {}
    for device in sorted({c.name.split(".")[0] for c in q.channels}):
        power = per.get(f"{device}.power", {})
        for i, counter in ((0, IMPORT), (1, EXPORT)):
            name = f"{device}.{counter}"
            counted = name in has  # a counter's energy is its first column; power's in and out
            for ts, (pos, neg) in (per[name] if counted else power).items():
                out.setdefault(ts, [0.0, 0.0])[i] += pos if counted or i == 0 else neg
    return [(ts, v[0], v[1]) for ts, v in sorted(out.items())]


def fallback_of(tariff: dict[str, Any]) -> tuple[Prices, str]:
    """The tariff for energy outside every slot and where it comes from."""
    edge = tariff.get("edge")
    if edge:
        return Prices(float(edge["import_per_kwh"]), float(edge["export_per_kwh"])), "edge"
    source = "default" if tariff.get("default") else "manual"
    return Prices(float(tariff["import_per_kwh"]), float(tariff["export_per_kwh"])), source


def _span(period: str | None, day: date | None, until: date | None, tz: str) -> tuple[int, int]:
    """[start, end) of the local period, else 422 saying what is wrong. Checked after the site,
    so a foreign site answers 404 like a missing one whatever is asked."""
    missing = [
        {"type": "missing", "loc": ("query", name), "msg": "Field required", "input": None}
        for name, value in (("period", period), ("date", day))
        if value is None
    ]
    if missing or period is None or day is None:
        raise RequestValidationError(missing)
    if period == "custom" and (until is None or until < day):
        raise HTTPException(422, "period=custom needs until=YYYY-MM-DD, the last day, not before date")
    start_ms, end_ms = series_api.span(period, day, until, None, None, tz)
    if end_ms - start_ms > series_api.MAX_RANGE.total_seconds() * 1000:
        raise HTTPException(422, "from must be before to, and the range at most about ten years")
    return start_ms, end_ms


def _answer(
    tariff: dict[str, Any], plan_currency: str | None, energy: Any, index: SlotIndex
) -> dict[str, Any]:
    prices, source = fallback_of(tariff)
    c = cost(energy, index, prices)
    edge = tariff.get("edge") or {}
    return {
        "currency": edge.get("currency") or plan_currency or tariff["currency"],
        "import_eur": round(c.import_eur, 6),
        "export_eur": round(c.export_eur, 6),
        "net_eur": round(c.net_eur, 6),
        "per_slot_share": round(c.per_slot_share, 6),
        "priced_wh": round(c.priced_wh, 3),
        "unpriced_wh": round(c.unpriced_wh, 3),
        "fallback": {
            "import_per_kwh": prices.import_per_kwh,
            "export_per_kwh": prices.export_per_kwh,
            "source": source,
        },
        "tariff_name": edge.get("name") or None,
    }


def router() -> APIRouter:
    r = APIRouter(prefix="/api/v1")

    @r.get("/sites/{site}/cost", tags=["data"])
    async def cost_get(
        site: SiteName,
        who: Who,
        request: Request,
        period: Period | None = None,
        date_: Annotated[date | None, Query(alias="date", le=LAST_DAY)] = None,
        until: Annotated[date | None, Query(le=LAST_DAY)] = None,
    ) -> dict[str, Any]:
        """The grid cost of a local period of the site's zone (as the series API's ``period``,
        ``date``, ``until``): import, feed-in credit, net, each bucket priced with the plan slot
        the edge planned with, the rest with the fallback tariff (see portal/cost_api.py)."""
        async with auth.db_of(request).connection() as conn:
            ref = await site_ref(conn, site, who)
            tz = await sites.tz_of(conn, ref.site_id)
            start_ms, end_ms = _span(period, date_, until, tz)
            slots = await _slots(conn, ref.site_id, start_ms, end_ms)
            res = resolution_for(slots)
            names = await _grid_channels(conn, ref.site_id)
            q = (
                await series_api.series_query(conn, ref.site_id, ",".join(names), start_ms, end_ms, res, tz)
                if names
                else None
            )
            tariff = await pages.read_tariff(conn, ref.site_id)
            plan_currency = await conn.fetchval(
                "SELECT currency FROM site_plans WHERE site_id = %s", (ref.site_id,)
            )
        energy = await grid_energy(request, q) if q else []
        out = _answer(tariff, plan_currency, energy, SlotIndex(slots))
        return {
            "site": ref.name,
            "period": period,
            "from_ms": start_ms,
            "to_ms": end_ms,
            "resolution": res,
            **out,
        }

    return r
