"""The edge's plan and PV forecast, ahead of time: ``POST /api/v1/plans`` (edge token, like ingest)
and ``GET /api/v1/sites/{site}/plan`` (the site's owner and grantees), plus the dashboard widget.

The ingest refuses readings from the future, rightly; a plan is about the future, so it has its
own upload. The document is the one ``edge/plan_upload.py`` builds: per slot the price, the PV
and load forecasts, the grid, the expected cost and what each device will do, and the expected
PV energy per local day for the coming days. Storing it replaces every stored slot from the
plan's first slot on (a shorter new plan leaves no stale tail) and each day it names; slots
before it stay, so forecast and actual can be compared. A plan older than the stored one (a late
retry) is acknowledged and not stored. Slots older than ``KEEP`` are deleted on upload. With the
plan come the site's tariff as the edge prices it (``tariff``: name, currency, mean import and
export price over the plan) and the plan's CO₂ side (``co2``: expected kg, signal, weight, effect).

Validation is all or nothing (a plan is one decision): anything malformed answers 400 with the
first problem and its place, a plan for another site 403; each is recorded in the ingest's
bad-input ledger and nothing reaches the store.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

from wattwerk.errors import BadInput
from wattwerk.portal import auth
from wattwerk.portal.api import SiteName, Who, site_ref
from wattwerk.portal.database import Conn
from wattwerk.portal.ingest import decode_body
from wattwerk.portal.widgets import Widget

PATH = "/api/v1/plans"
SLOT_MINUTES = (5, 10, 15, 30, 60)
MAX_AHEAD = timedelta(days=16)  # Open-Meteo's longest forecast
MAX_BEHIND = timedelta(days=2)  # a plan's first slot may lie this far back (an edge catching up)
MAX_DEVICES = 32
KEEP = timedelta(days=400)  # plan slots older than this are deleted
MAX_BODY = 4 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SLOT_NUMBERS = ("price", "sell", "pv_w", "load_w", "grid_w", "cost_eur")

widget = Widget("plan", "widget.plan", ("series",), "/static/portal/widgets/plan.js", order=75, wide=True)


class PlanError(BadInput):
    """A plan document the portal will not store (``kind`` names the problem for the ledger)."""


@dataclass
class PlanDoc:
    edge: str
    made_at_ms: int
    status: str
    message: str
    source: str | None
    pv_source: str
    currency: str
    slot_minutes: int
    cost_eur: float
    slots: list[tuple[int, float, float, float, float, float, float, dict[str, dict[str, float]]]]
    days: list[tuple[str, float]] = field(default_factory=list)
    pv_alert: dict[str, Any] | None = None
    tariff: dict[str, Any] | None = None
    co2: dict[str, Any] | None = None

    @property
    def first_ms(self) -> int:
        return self.slots[0][0]

    @property
    def end_ms(self) -> int:
        return self.slots[-1][0] + self.slot_minutes * 60_000


def _ms(span: timedelta) -> int:
    return int(span / timedelta(milliseconds=1))


def _number(value: Any, where: str, *, low: float = -1e12, high: float = 1e12) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PlanError("value", f"{where}: {value!r} is not a finite number")
    if not low <= value <= high:
        raise PlanError("value", f"{where}: {value} outside [{low:g}, {high:g}]")
    return float(value)


def _ms_or_none(value: Any, where: str) -> int | None:
    """A time in ms since the epoch, or None (an older edge does not send it)."""
    return None if value is None else int(_number(value, where, low=0.0, high=1e14))


def _text(doc: dict[str, Any], key: str, *, limit: int = 200, optional: bool = False) -> str | None:
    value = doc.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not value and not optional):
        raise PlanError("format", f"{key!r} must be a non-empty string")
    return value[:limit]


def _devices(raw: Any, where: str) -> dict[str, dict[str, float]]:
    if not isinstance(raw, dict) or len(raw) > MAX_DEVICES:
        raise PlanError("format", f"{where}.devices: an object of at most {MAX_DEVICES} devices")
    out: dict[str, dict[str, float]] = {}
    for name, values in raw.items():
        if not isinstance(name, str) or not _NAME.match(name) or not isinstance(values, dict):
            raise PlanError("format", f"{where}.devices: bad device {name!r}")
        out[name] = {}
        for key, v in values.items():
            if not isinstance(key, str) or not _NAME.match(key):
                raise PlanError("format", f"{where}.devices.{name}: bad key {key!r}")
            out[name][key] = _number(v, f"{where}.devices.{name}.{key}")
    return out


def check_plan(doc: Any, site: str, now_ms: int) -> PlanDoc:
    """The document as a PlanDoc, or PlanError naming the first problem and where it is."""
    if not isinstance(doc, dict):
        raise PlanError("format", "the body must be a JSON object")
    if doc.get("site") != site:
        raise PlanError("wrong_site", f"plan for site {doc.get('site')!r} sent with the token of {site!r}")
    edge = _text(doc, "edge_id", limit=64) or ""
    made = doc.get("made_at_ms")
    if isinstance(made, bool) or not isinstance(made, int) or not 0 < made <= now_ms + 600_000:
        raise PlanError("time", f"made_at_ms {made!r}: epoch milliseconds, not in the future")
    step = doc.get("slot_minutes")
    if step not in SLOT_MINUTES:
        raise PlanError("format", f"slot_minutes {step!r}: one of {SLOT_MINUTES}")
    slots_raw = doc.get("slots")
    most = int(MAX_AHEAD / timedelta(minutes=step)) + int(MAX_BEHIND / timedelta(minutes=step))
    if not isinstance(slots_raw, list) or not 0 < len(slots_raw) <= most:
        raise PlanError("format", f"slots: a list of 1 to {most} slots")
    step_ms = step * 60_000
    low, high = now_ms - _ms(MAX_BEHIND), now_ms + _ms(MAX_AHEAD)
    slots = []
    for i, s in enumerate(slots_raw):
        where = f"slots[{i}]"
        if not isinstance(s, dict):
            raise PlanError("format", f"{where}: an object")
        ts = s.get("ts_ms")
        if isinstance(ts, bool) or not isinstance(ts, int) or ts % step_ms:
            raise PlanError("time", f"{where}.ts_ms {ts!r}: epoch ms on the {step}-minute grid")
        if not low <= ts <= high:
            raise PlanError(
                "time",
                f"{where}.ts_ms {ts}: more than {MAX_BEHIND.days} days back or {MAX_AHEAD.days} days ahead",
            )
        if slots and ts != slots[-1][0] + step_ms:
            raise PlanError("time", f"{where}.ts_ms {ts}: slots must follow each other")
        price, sell, pv, load, grid, cost = (_number(s.get(k), f"{where}.{k}") for k in _SLOT_NUMBERS)
        if pv < 0 or load < 0:
            raise PlanError("value", f"{where}: pv_w and load_w are never negative")
        slots.append((ts, price, sell, pv, load, grid, cost, _devices(s.get("devices", {}), where)))
    days_raw = doc.get("pv_days", [])
    if not isinstance(days_raw, list) or len(days_raw) > MAX_AHEAD.days + 1:
        raise PlanError("format", f"pv_days: a list of at most {MAX_AHEAD.days + 1} days")
    days = []
    for i, d in enumerate(days_raw):
        try:
            day = date.fromisoformat(d["day"]).isoformat()
        except (TypeError, KeyError, ValueError):
            raise PlanError("format", f"pv_days[{i}].day: an ISO date such as 2026-11-22") from None
        days.append((day, _number(d.get("wh"), f"pv_days[{i}].wh", low=0.0)))
    return PlanDoc(
        edge=edge,
        made_at_ms=made,
        status=_text(doc, "status", limit=40) or "",
        message=_text(doc, "message", limit=500, optional=True) or "",
        source=_text(doc, "source", limit=100, optional=True),
        pv_source=_text(doc, "pv_source", limit=100) or "",
        currency=_text(doc, "currency", limit=3) or "",
        slot_minutes=step,
        cost_eur=_number(doc.get("cost_eur", 0.0), "cost_eur"),
        slots=slots,
        days=days,
        pv_alert=check_alert(doc.get("pv_alert")),
        tariff=check_tariff(doc.get("tariff")),
        co2=check_co2(doc.get("co2")),
    )


def check_tariff(raw: Any) -> dict[str, Any] | None:
    """The edge's tariff (``market.site_tariff.SiteTariff.describe`` with the plan's mean prices)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise PlanError("format", "tariff: null or an object")
    currency = _text(raw, "currency", limit=3) or ""
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise PlanError("format", f"tariff.currency {currency!r}: three capital letters such as EUR")
    return {
        "name": _text(raw, "name", limit=120) or "",
        "provider": _text(raw, "provider", limit=40, optional=True),
        "currency": currency,
        "module3": _text(raw, "module3", limit=64, optional=True),
        "import_per_kwh": _number(raw.get("import_per_kwh"), "tariff.import_per_kwh", low=-10.0, high=10.0),
        "export_per_kwh": _number(raw.get("export_per_kwh"), "tariff.export_per_kwh", low=-10.0, high=10.0),
        "published_until_ms": _ms_or_none(raw.get("published_until_ms"), "tariff.published_until_ms"),
    }


def check_co2(raw: Any) -> dict[str, Any] | None:
    """The plan's CO₂ side (``edge.planning.PlanService.co2_json``), or None."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise PlanError("format", "co2: null or an object")
    kg, effect = raw.get("kg"), raw.get("effect")
    if effect is not None and not isinstance(effect, dict):
        raise PlanError("format", "co2.effect: null or an object")
    return {
        "source": _text(raw, "source", limit=100) or "",
        "weight_eur_per_kg": _number(
            raw.get("weight_eur_per_kg", 0.0), "co2.weight_eur_per_kg", low=0.0, high=10.0
        ),
        "kg": None if kg is None else _number(kg, "co2.kg", low=-1e6, high=1e6),
        "effect": None
        if effect is None
        else {
            "co2_kg_saved": _number(
                effect.get("co2_kg_saved"), "co2.effect.co2_kg_saved", low=-1e6, high=1e6
            ),
            "cost_eur_more": _number(
                effect.get("cost_eur_more"), "co2.effect.cost_eur_more", low=-1e6, high=1e6
            ),
        },
    }


def check_alert(raw: Any) -> dict[str, Any] | None:
    """The edge's PV under-performance verdict (``forecast.monitor.PerformanceAlert``), or None."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("active"), bool):
        raise PlanError("format", "pv_alert: null or an object with a boolean 'active'")
    ratio = raw.get("ratio")
    days = raw.get("days", [])
    if not isinstance(days, list) or len(days) > 31:
        raise PlanError("format", "pv_alert.days: a list of at most 31 ISO dates")
    try:
        day_list = [date.fromisoformat(d).isoformat() for d in days]
    except (TypeError, ValueError):
        raise PlanError("format", "pv_alert.days: ISO dates such as 2026-11-22") from None
    return {
        "active": raw["active"],
        "ratio": None if ratio is None else _number(ratio, "pv_alert.ratio", low=0.0, high=100.0),
        "threshold": _number(raw.get("threshold"), "pv_alert.threshold", low=0.0, high=1.0),
        "expected_wh": _number(raw.get("expected_wh", 0.0), "pv_alert.expected_wh", low=0.0),
        "measured_wh": _number(raw.get("measured_wh", 0.0), "pv_alert.measured_wh", low=0.0),
        "days": day_list,
        "message": _text(raw, "message", limit=500) or "",
    }


# ------------------------------------------------------------ storage


async def store_plan(conn: Conn, site_id: int, plan: PlanDoc, now_ms: int) -> int:
    """Store the plan (see the module docstring); the slots stored, 0 for a stale plan."""
    row = await conn.fetchone(
        "INSERT INTO site_plans (site_id, edge, made_at_ms, received_ms, status, message, source, pv_source, "
        "currency, slot_minutes, cost_eur, first_ms, end_ms, pv_alert, tariff, co2) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (site_id) DO UPDATE SET "
        "edge = excluded.edge, made_at_ms = excluded.made_at_ms, received_ms = excluded.received_ms, "
        "status = excluded.status, message = excluded.message, source = excluded.source, "
        "pv_source = excluded.pv_source, currency = excluded.currency, slot_minutes = excluded.slot_minutes, "
        "cost_eur = excluded.cost_eur, first_ms = excluded.first_ms, end_ms = excluded.end_ms, "
        "pv_alert = excluded.pv_alert, tariff = excluded.tariff, co2 = excluded.co2 "
        "WHERE site_plans.made_at_ms <= excluded.made_at_ms RETURNING site_id",
        (
            site_id,
            plan.edge,
            plan.made_at_ms,
            now_ms,
            plan.status,
            plan.message,
            plan.source,
            plan.pv_source,
            plan.currency,
            plan.slot_minutes,
            plan.cost_eur,
            plan.first_ms,
            plan.end_ms,
            None if plan.pv_alert is None else conn.json(plan.pv_alert),
            None if plan.tariff is None else conn.json(plan.tariff),
            None if plan.co2 is None else conn.json(plan.co2),
        ),
    )
    if row is None:  # a newer plan is stored already
        return 0
    await conn.execute(
        "DELETE FROM plan_slots WHERE site_id = %s AND (ts_ms >= %s OR ts_ms < %s)",
        (site_id, plan.first_ms, now_ms - _ms(KEEP)),
    )
    await conn.executemany(
        "INSERT INTO plan_slots (site_id, ts_ms, slot_minutes, price, sell, pv_w, load_w, grid_w, cost_eur, "
        "devices, made_at_ms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            (
                site_id,
                ts,
                plan.slot_minutes,
                price,
                sell,
                pv,
                load,
                grid,
                cost,
                conn.json(devices),
                plan.made_at_ms,
            )
            for ts, price, sell, pv, load, grid, cost, devices in plan.slots
        ],
    )
    if plan.days:
        await conn.executemany(
            "INSERT INTO pv_day_forecasts (site_id, day, wh, made_at_ms) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (site_id, day) DO UPDATE SET wh = excluded.wh, made_at_ms = excluded.made_at_ms",
            [(site_id, day, wh, plan.made_at_ms) for day, wh in plan.days],
        )
    return len(plan.slots)


async def read_plan(conn: Conn, site_id: int, from_ms: int, to_ms: int) -> dict[str, Any]:
    """The newest plan's header, its (and earlier plans') slots in [from, to), the PV days from
    the day of ``from`` on."""
    head = await conn.fetchone(
        "SELECT edge, made_at_ms, received_ms, status, message, source, pv_source, currency, slot_minutes, "
        "cost_eur, first_ms, end_ms, pv_alert, tariff, co2 FROM site_plans WHERE site_id = %s",
        (site_id,),
    )
    keys = (
        "edge",
        "made_at_ms",
        "received_ms",
        "status",
        "message",
        "source",
        "pv_source",
        "currency",
        "slot_minutes",
        "cost_eur",
        "first_ms",
        "end_ms",
    )
    header = None
    if head:
        header = dict(zip(keys, head[:-3], strict=True))
        for k, v in zip(("pv_alert", "tariff", "co2"), head[-3:], strict=True):
            header[k] = None if v is None else conn.unjson(v)
    rows = await conn.fetchall(
        "SELECT ts_ms, slot_minutes, price, sell, pv_w, load_w, grid_w, cost_eur, devices, made_at_ms "
        "FROM plan_slots WHERE site_id = %s AND ts_ms >= %s AND ts_ms < %s ORDER BY ts_ms",
        (site_id, from_ms, to_ms),
    )
    first_day = time.strftime("%Y-%m-%d", time.gmtime(from_ms / 1000 - 86_400))
    days = await conn.fetchall(
        "SELECT day, wh, made_at_ms FROM pv_day_forecasts WHERE site_id = %s AND day >= %s ORDER BY day",
        (site_id, first_day),
    )
    return {
        "plan": header,
        "slots": [
            {
                "ts_ms": int(r[0]),
                "slot_minutes": int(r[1]),
                "price": r[2],
                "sell": r[3],
                "pv_w": r[4],
                "load_w": r[5],
                "grid_w": r[6],
                "cost_eur": r[7],
                "devices": conn.unjson(r[8]),
                "made_at_ms": int(r[9]),
            }
            for r in rows
        ],
        "pv_days": [{"day": str(r[0]), "wh": r[1], "made_at_ms": int(r[2])} for r in days],
    }


# ------------------------------------------------------------ routes


def _error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "kind": kind}, status_code=status, headers=headers)


def router() -> APIRouter:
    r = APIRouter()

    @r.post(PATH, tags=["edge"])
    async def upload(request: Request) -> Response:
        """The edge's current plan and PV day forecast (edge token; see portal/plans.py)."""
        ingestor = request.app.state.ingestor
        who = await ingestor.authenticate(request)
        if who is None:
            return _error(
                401, "auth", "missing, unknown or revoked edge token", {"WWW-Authenticate": "Bearer"}
            )
        body = await request.body()
        now_ms = int(time.time() * 1000)
        try:
            if len(body) > MAX_BODY:
                raise PlanError("too_large", f"body of {len(body)} bytes; at most {MAX_BODY}")
            doc = decode_body(
                body, request.headers.get("content-type", ""), request.headers.get("content-encoding", "")
            )
            plan = check_plan(doc, who.site, now_ms)
        except BadInput as exc:
            ingestor.ledger.record(who.site, f"plan_{exc.kind}", str(exc))
            status = 403 if exc.kind == "wrong_site" else 413 if exc.kind == "too_large" else 400
            return _error(status, exc.kind, str(exc))
        async with auth.db_of(request).connection() as conn:
            stored = await store_plan(conn, who.site_id, plan, now_ms)
        return JSONResponse({"stored": stored, "stale": stored == 0, "days": len(plan.days) if stored else 0})

    @r.get("/api/v1/sites/{site}/plan", tags=["data"])
    async def plan_get(
        site: SiteName,
        who: Who,
        request: Request,
        from_ms: Annotated[int | None, Query(alias="from_ms", ge=0, le=2**53)] = None,
        to_ms: Annotated[int | None, Query(alias="to_ms", ge=0, le=2**53)] = None,
    ) -> dict[str, Any]:
        """The planner's schedule and PV forecast the site's edge uploaded: slots in
        [from_ms, to_ms) (default: from a day ago to the plan's end) and the PV days."""
        now_ms = int(time.time() * 1000)
        lo = from_ms if from_ms is not None else now_ms - 86_400_000
        hi = to_ms if to_ms is not None else now_ms + _ms(MAX_AHEAD)
        hi = min(hi, lo + _ms(KEEP + MAX_AHEAD))
        async with auth.db_of(request).connection() as conn:
            ref = await site_ref(conn, site, who)
            return {"site": ref.name, "now_ms": now_ms, **await read_plan(conn, ref.site_id, lo, hi)}

    return r


def install(app: FastAPI) -> None:
    app.include_router(router())
