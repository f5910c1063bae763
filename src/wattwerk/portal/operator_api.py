"""The operator view (issue 14): for whoever runs the portal for a cooperative or a utility
(1st-level support). Portal administrators only (``accounts.is_admin``; a token needs the
``admin`` scope); make one with ``python -m wattwerk.portal.accounts --make-admin ALIAS``.

* ``GET /api/v1/operator/sites?q=&status=&after=&limit=``: every site with its owner's alias and
  label, online/offline (an upload in the last ``ONLINE_S``), last upload, what its edge last
  reported about itself (version, outbox backlog, read errors; ingest.py ``status``), its
  channel count and caps. ``q`` searches site id, owner alias and label (substring, any case);
  ``status`` is ``online`` or ``offline``; paging is by keyset (``after`` = the answer's
  ``next``), so page 200 costs what page 1 does. No readings: the operator sees that a site
  works, not what it measures.
* ``PUT /api/v1/operator/sites/{name}/caps``: the site's channel cap and ingest rate
  (readings/s); ``null`` restores the portal's default. Written to the site's audit log, so its
  owner sees the change. Takes effect within the token cache's lifetime (5 s).
* ``GET``/``PUT /api/v1/operator/settings``: registration ``open``, ``invite`` (codes from
  ``POST /api/v1/admin/invites``) or ``closed``; once set here it replaces ``--registration``
  for every process of the portal (it lives in the database).
* ``/operator``: the page over the same API (static/portal/operator.js).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from wattwerk.portal import auth, pages, sites
from wattwerk.portal.api import PREFIX, Admin, config_of
from wattwerk.portal.database import Conn, as_datetime, iso, utcnow
from wattwerk.portal.settings import registration

ONLINE_S = 600  # a site is online when it uploaded within this many seconds
PAGE = 50
SiteId = Annotated[str, Path(min_length=1, max_length=64)]


class Caps(BaseModel):
    max_channels: int | None = Field(None, ge=1, le=100_000, description="null: the portal's default")
    rate_per_s: float | None = Field(None, gt=0, le=1_000_000, description="readings/s; null: the default")


class Settings(BaseModel):
    registration: Literal["open", "invite", "closed"]


def _like(q: str) -> str:
    return "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


_SEEN = "(SELECT max(e.last_seen) FROM edges e WHERE e.site_id = s.id)"
_LIST = (
    f"SELECT s.id, s.name, o.alias, a.label, s.created_at, {_SEEN}, r.edge, r.version, r.backlog, "
    "r.read_errors, r.at, (SELECT count(*) FROM channels c WHERE c.site_id = s.id), s.max_channels, "
    "s.rate_per_s FROM sites s LEFT JOIN site_access a ON a.site_id = s.id AND a.role = 'owner' "
    "LEFT JOIN accounts o ON o.id = a.account_id LEFT JOIN edge_reports r ON r.site_id = s.id "
    "WHERE s.id > %s"
)


async def site_page(
    conn: Conn, q: str, status: str | None, after: int, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of the operator's site list, and the ``after`` of the next (None: the last)."""
    sql, params = _LIST, [after]
    if q:
        sql += (
            " AND (lower(s.name) LIKE %s ESCAPE '\\' OR lower(o.alias) LIKE %s ESCAPE '\\' "
            "OR lower(a.label) LIKE %s ESCAPE '\\')"
        )
        params += [_like(q)] * 3
    since = utcnow() - timedelta(seconds=ONLINE_S)
    if status == "online":
        sql += f" AND {_SEEN} >= %s"
        params.append(since)
    elif status == "offline":
        sql += f" AND ({_SEEN} IS NULL OR {_SEEN} < %s)"
        params.append(since)
    rows = await conn.fetchall(sql + " ORDER BY s.id LIMIT %s", (*params, limit + 1))
    out = []
    for r in rows[:limit]:
        seen = as_datetime(r[5])
        out.append(
            {
                "site": r[1],
                "owner": r[2],
                "label": r[3],
                "created_at": iso(r[4]),
                "last_upload": iso(seen),
                "online": seen is not None and seen >= since,
                "edge": _report(r[6:11]),
                "channels": int(r[11]),
                "caps": {"max_channels": r[12], "rate_per_s": r[13]},
            }
        )
    return out, (int(rows[limit - 1][0]) if len(rows) > limit else None)


def _report(r: Any) -> dict[str, Any] | None:
    """What the site's edge last said about itself, or None (it never did)."""
    if r[0] is None:
        return None
    return {"name": r[0], "version": r[1], "backlog": r[2], "read_errors": r[3], "at": iso(r[4])}


def _defaults(request: Request) -> dict[str, Any]:
    limits = config_of(request).ingest
    return {"max_channels": limits.max_channels, "rate_per_s": limits.rate_per_site}


async def sites_list(
    request: Request,
    who: Admin,
    q: Annotated[str, Query(max_length=64)] = "",
    status: Literal["online", "offline"] | None = None,
    after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = PAGE,
) -> dict[str, Any]:
    """The sites for the operator: status, last upload, the edge's report, caps (search, keyset paging)."""
    async with auth.db_of(request).connection(readonly=True) as conn:
        found, nxt = await site_page(conn, q.strip(), status, after, limit)
    return {"sites": found, "next": nxt, "online_s": ONLINE_S, "defaults": _defaults(request)}


async def caps_set(name: SiteId, body: Caps, request: Request, who: Admin) -> dict[str, Any]:
    """Set a site's channel cap and ingest rate (null: the portal's default); audited on the site."""
    async with auth.db_of(request).connection() as conn:
        site_id = await conn.fetchval("SELECT id FROM sites WHERE name = %s", (name,))
        if site_id is None:
            raise HTTPException(404, "not found")
        await conn.execute(
            "UPDATE sites SET max_channels = %s, rate_per_s = %s WHERE id = %s",
            (body.max_channels, body.rate_per_s, site_id),
        )
        await sites.audit(conn, int(site_id), who.account_id, "operator.caps", body.model_dump())
    return {"site": name, "caps": body.model_dump(), "defaults": _defaults(request)}


async def settings_get(request: Request, who: Admin) -> dict[str, Any]:
    """The portal's run-time settings (registration) and the ingest defaults."""
    async with auth.db_of(request).connection(readonly=True) as conn:
        mode, source = await registration(conn, config_of(request).registration)
    return {"registration": mode, "source": source, "defaults": _defaults(request)}


async def settings_set(body: Settings, request: Request, who: Admin) -> dict[str, Any]:
    """Set registration open, invite (by code) or closed, for every process of the portal."""
    async with auth.db_of(request).connection() as conn:
        await conn.execute(
            "INSERT INTO portal_settings (name, value, updated_at) VALUES ('registration', %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at",
            (body.registration, utcnow()),
        )
        await sites.audit(conn, None, who.account_id, "operator.registration", body.model_dump())
    return {"registration": body.registration, "source": "operator", "defaults": _defaults(request)}


async def operator_page(request: Request) -> Response:
    """The operator's page (administrators; others see the site list's 404)."""
    found = await pages._session(request)
    if found is None:
        return RedirectResponse("/login?next=/operator", status_code=303)
    if not found[0].is_admin:
        return pages._missing(request)
    return pages.render(
        request,
        "operator",
        title_key="op.title",
        csrf=found[1],
        scripts=["/static/portal/operator.js"],
        extra={"alias": found[0].alias},
    )


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["operator"])
    r.add_api_route("/operator/sites", sites_list, methods=["GET"])
    r.add_api_route("/operator/sites/{name}/caps", caps_set, methods=["PUT"])
    r.add_api_route("/operator/settings", settings_get, methods=["GET"])
    r.add_api_route("/operator/settings", settings_set, methods=["PUT"])
    return r


def page_router() -> APIRouter:
    r = APIRouter(include_in_schema=False)
    r.add_api_route("/operator", operator_page, methods=["GET"], response_class=HTMLResponse)
    return r
