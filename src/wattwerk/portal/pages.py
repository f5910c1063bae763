"""The portal's HTML pages: sign-in and registration, the site list, a site's dashboard, the
owner's access page (grants, maintenance, tariff, audit log) and the installer's maintenance page.

Pages are thin shells rendered here in the visitor's language (i18n.py); the page's JS
(``static/portal/portal.js``) fills them from ``/api/v1``. The dashboard is built from the
registered widgets (widgets.py). One set of pages serves desktop and phone (responsive CSS).

The few things the REST API lacks for the pages are here too: the site's tariff (``GET``/``PUT
/api/v1/sites/{site}/tariff``), the caller's live maintenance grants across sites (``GET
/api/v1/maintenance``).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, ValidationError

from wattwerk import __version__
from wattwerk.portal import auth, hardening, i18n, settings, sites, widgets
from wattwerk.portal.auth import Principal
from wattwerk.portal.database import Conn, iso, utcnow

STATIC = Path(__file__).resolve().parent.parent / "static"
SiteName = Annotated[str, PathParam(min_length=1, max_length=64)]
Who = Annotated[Principal, Depends(auth.principal)]
LIVE_GRANT = "g.revoked_at IS NULL AND %s >= g.starts_at AND %s < g.expires_at"  # params: (now, now)


class Tariff(BaseModel):
    """A simple per-site tariff: one import price and one feed-in price per kWh."""

    import_per_kwh: float = Field(ge=0, le=100)
    export_per_kwh: float = Field(ge=-100, le=100)
    currency: str = Field("EUR", min_length=1, max_length=8, pattern=r"^[A-Za-z$€£¥]+$")


TARIFF_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": Tariff.model_json_schema()}}}
}
DEFAULT_TARIFF = {"import_per_kwh": 0.30, "export_per_kwh": 0.08, "currency": "EUR", "default": True}


# ------------------------------------------------------------ page shell


def _lang(request: Request) -> str:
    return i18n.negotiate(
        request.query_params.get("lang"),
        request.cookies.get(i18n.COOKIE),
        request.headers.get("accept-language"),
    )


def _nav(lang: str, signed_in: bool, path: str) -> str:
    links = []
    for code in i18n.LANGS:
        current = ' aria-current="true"' if code == lang else ""
        links.append(
            f'<a href="?lang={code}" data-lang="{code}" hreflang="{code}"{current}>{code.upper()}</a>'
        )
    sites_link = f'<a href="/sites">{html.escape(i18n.text(lang, "nav.sites"))}</a>' if signed_in else ""
    label = html.escape(i18n.text(lang, "nav.logout"))
    logout = f'<button type="button" class="link" id="logout">{label}</button>' if signed_in else ""
    return f'<nav>{sites_link}</nav><span class="langs">{"".join(links)}</span>{logout}'


def render(
    request: Request,
    page: str,
    *,
    title_key: str,
    csrf: str | None,
    site: str | None = None,
    scripts: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> HTMLResponse:
    """A page's shell: header, language switch, the strings and boot data for its JS."""
    lang = _lang(request)
    boot = {
        "page": page,
        "site": site,
        "lang": lang,
        "csrf": csrf,
        "strings": i18n.catalog(lang),
        **(extra or {}),
    }
    data = json.dumps(boot).replace("</", "<\\/")
    tags = "".join(f'<script src="{html.escape(s)}"></script>' for s in scripts or [])
    title = html.escape(i18n.text(lang, title_key))
    body = f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · wattwerk</title>
<link rel="icon" href="/static/icon.svg">
<link rel="stylesheet" href="/static/style.css">
<link rel="stylesheet" href="/static/vendor/uplot/uPlot.min.css">
<link rel="stylesheet" href="/static/portal/portal.css">
</head>
<body data-page="{page}">
<header><h1><a href="/sites">wattwerk</a></h1><span class="muted" id="title">{title}</span>
{_nav(lang, csrf is not None, request.url.path)}</header>
<main id="main" class="portal {page}"></main>
<footer class="muted small">wattwerk {html.escape(__version__)}</footer>
<script id="boot" type="application/json">{data}</script>
<script src="/static/vendor/uplot/uPlot.iife.min.js"></script>
<script src="/static/common.js"></script>
<script src="/static/portal/portal.js"></script>
{tags}
</body>
</html>"""
    response = HTMLResponse(body, headers={"Cache-Control": "no-store", "Content-Language": lang})
    if request.query_params.get("lang") in i18n.LANGS:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


async def _session(request: Request) -> tuple[Principal, str] | None:
    """The signed-in visitor and their session's CSRF token (for the page's JS), or None."""
    sid = request.cookies.get(auth.SESSION_COOKIE)
    if not sid:
        return None
    who = await auth.authenticate(request)
    if who is None or who.via != "session":
        return None
    async with auth.db_of(request).connection() as conn:
        cur = await conn.execute(
            "SELECT csrf FROM sessions WHERE id_hash = %s AND expires_at > %s", (auth.sha256(sid), utcnow())
        )
        row = await cur.fetchone()
    return (who, str(row[0])) if row else None


async def _may_see(request: Request, who: Principal, site: str, *, maintenance: bool = False) -> bool:
    """Whether the visitor has a role on the site (or, for the maintenance page, a live grant)."""
    async with auth.db_of(request).connection() as conn:
        ref = await sites.lookup(conn, site, who.account_id)
    return ref is not None and (maintenance or ref.role is not None)


def _missing(request: Request) -> HTMLResponse:
    """A foreign site's page answers like a missing one."""
    lang = _lang(request)
    return HTMLResponse(
        f'<!doctype html><html lang="{lang}"><meta charset="utf-8"><title>404</title>'
        f'<p>404 · <a href="/sites">{html.escape(i18n.text(lang, "nav.sites"))}</a></p></html>',
        status_code=404,
    )


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _public_widgets(request: Request, lang: str) -> list[dict[str, Any]]:
    registry: widgets.Registry = request.app.state.widgets
    return [w.public(i18n.text(lang, w.title)) for w in registry.widgets]


# ------------------------------------------------------------ the pages' own API additions


async def _site_ref(conn: Conn, name: str, who: Principal) -> sites.SiteRef:
    ref = await sites.lookup(conn, name, who.account_id)
    if ref is None or ref.role is None:
        raise HTTPException(404, "not found")
    return ref


async def read_tariff(conn: Conn, site_id: int) -> dict[str, Any]:
    """The owner's manual tariff (``DEFAULT_TARIFF`` until set) with the edge's under ``edge``
    (None until an edge sent one with its plan)."""
    cur = await conn.execute(
        "SELECT import_per_kwh, export_per_kwh, currency FROM portal_tariffs WHERE site_id = %s", (site_id,)
    )
    row = await cur.fetchone()
    edge = await conn.fetchone("SELECT tariff FROM site_plans WHERE site_id = %s", (site_id,))
    sent = None if edge is None or edge[0] is None else conn.unjson(edge[0])
    if row is None:
        return dict(DEFAULT_TARIFF) | {"edge": sent}
    return {
        "import_per_kwh": row[0],
        "export_per_kwh": row[1],
        "currency": row[2],
        "default": False,
        "edge": sent,
    }


def api_router() -> APIRouter:
    r = APIRouter(prefix="/api/v1")

    @r.get("/maintenance", tags=["maintenance"])
    async def my_maintenance(who: Who, request: Request) -> list[dict[str, Any]]:
        """The caller's live maintenance grants, on any site (how an installer finds the site)."""
        async with auth.db_of(request).connection() as conn:
            cur = await conn.execute(
                "SELECT s.name, g.id, g.expires_at FROM maintenance_grants g "
                f"JOIN sites s ON s.id = g.site_id "
                f"WHERE g.account_id = %s AND {LIVE_GRANT} ORDER BY g.expires_at",
                (who.account_id, now := utcnow(), now),
            )
            rows = await cur.fetchall()
        return [{"site": r[0], "grant": r[1], "expires_at": iso(r[2])} for r in rows]

    @r.get("/sites/{site}/tariff", tags=["sites"])
    async def tariff_get(site: SiteName, who: Who, request: Request) -> dict[str, Any]:
        """The site's tariff for the cost widget: the owner's manual one (a default until the owner
        sets one) and, under ``edge``, the tariff the edge prices with (sent with its plan: name,
        currency, mean import and export price over the plan), which the widget prefers."""
        async with auth.db_of(request).connection() as conn:
            ref = await _site_ref(conn, site, who)
            return await read_tariff(conn, ref.site_id)

    @r.put("/sites/{site}/tariff", tags=["sites"], openapi_extra=TARIFF_BODY)
    async def tariff_set(site: SiteName, who: Who, request: Request) -> dict[str, Any]:
        """Set the site's tariff (owner). The body is checked after the site, so a foreign site
        answers 404 whatever is sent, like a missing one."""
        async with auth.db_of(request).connection() as conn:
            ref = await _site_ref(conn, site, who)
            if ref.role != "owner":
                raise HTTPException(403, "only the site's owner may do this")
            try:
                body = Tariff.model_validate_json(await request.body())
            except ValidationError as exc:
                raise RequestValidationError(exc.errors(include_url=False)) from None
            await conn.execute(
                "INSERT INTO portal_tariffs (site_id, import_per_kwh, export_per_kwh, currency, updated_at) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (site_id) DO UPDATE SET import_per_kwh = "
                "EXCLUDED.import_per_kwh, export_per_kwh = EXCLUDED.export_per_kwh, "
                "currency = EXCLUDED.currency, updated_at = EXCLUDED.updated_at",
                (ref.site_id, body.import_per_kwh, body.export_per_kwh, body.currency, utcnow()),
            )
            await sites.audit(conn, ref.site_id, who.account_id, "tariff.set", body.model_dump())
        return {**body.model_dump(), "default": False}

    return r


# ------------------------------------------------------------ the pages


def page_router() -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/")
    async def home(request: Request) -> Response:
        return RedirectResponse("/sites" if await _session(request) else "/login", status_code=303)

    @r.get("/login")
    async def login(request: Request, next: str = Query("/sites", max_length=300)) -> Response:
        target = hardening.safe_next(next)  # only a path of this portal: no open redirect
        config = getattr(request.app.state, "config", None)
        return render(
            request,
            "login",
            title_key="login.title",
            csrf=None,
            extra={
                "next": target,
                "registration": await settings.registration_mode(request),  # the operator's first
                "reset": bool(config and config.smtp),  # without mail, the page says so
            },
        )

    @r.get("/sites")
    async def site_list(request: Request) -> Response:
        found = await _session(request)
        if found is None:
            return _to_login(request)
        alias = found[0].alias
        extra = {"alias": alias, "admin": found[0].is_admin}  # administrators get a link to /operator
        return render(request, "sites", title_key="sites.title", csrf=found[1], extra=extra)

    @r.get("/sites/{site}")
    async def dashboard(site: SiteName, request: Request) -> Response:
        found = await _session(request)
        if found is None:
            return _to_login(request)
        if not await _may_see(request, found[0], site):
            return _missing(request)
        lang = _lang(request)
        registry: widgets.Registry = request.app.state.widgets
        scripts = list(dict.fromkeys(w.script for w in registry.widgets if w.script))
        return render(
            request,
            "dashboard",
            title_key="dash.title",
            csrf=found[1],
            site=site,
            scripts=scripts,
            extra={"widgets": _public_widgets(request, lang)},
        )

    @r.get("/sites/{site}/access")
    async def access(site: SiteName, request: Request) -> Response:
        found = await _session(request)
        if found is None:
            return _to_login(request)
        if not await _may_see(request, found[0], site):
            return _missing(request)
        loggers = ["/static/portal/loggers.js"]  # the card for old Flukso/mySmartGrid loggers
        cards = [*loggers, "/static/portal/notify.js"]  # and the owner's e-mail notifications
        return render(request, "access", title_key="access.title", csrf=found[1], site=site, scripts=cards)

    @r.get("/sites/{site}/maintain")
    async def maintain(site: SiteName, request: Request) -> Response:
        found = await _session(request)
        if found is None:
            return _to_login(request)
        if not await _may_see(request, found[0], site, maintenance=True):
            return _missing(request)
        return render(request, "maintain", title_key="maint.title", csrf=found[1], site=site)

    return r


def install(app: FastAPI) -> FastAPI:
    """Add the pages, their API additions and the static files to the portal app."""
    app.state.widgets = widgets.load()
    app.include_router(api_router())
    app.include_router(page_router())
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
