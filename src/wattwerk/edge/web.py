"""The edge's local web pages and their JSON API (works on the LAN without internet).

Handlers are ``async`` on purpose: the demo and the edge run devices, runtime and pages in one
event loop and one thread, so nothing needs locking.

Pages (static, ``wattwerk/static``): ``/`` live view, ``/history`` day/week/month/year, ``/sessions``
charging sessions, ``/setup`` add a device, ``/wizard`` installation (network, portal pairing, grid
meter); ``/manifest.webmanifest`` and ``/sw.js`` make them an installable app. API:

* ``GET /api/live`` flows, devices, charge points, battery, heat pump, restrictions, plan
  (shapes in ``wattwerk.edge.live``); ``WS /api/ws`` pushes the same every second
* ``GET /api/today``, ``GET /api/devices``, ``GET /api/plan``
* ``GET /api/history?period=day|week|month|year&date=YYYY-MM-DD`` the store's local period with energy
  per flow, self-consumption, autarky and cost per sub-period; ``GET /api/sessions?month=YYYY-MM`` and
  ``GET /api/sessions.csv`` the charging sessions (``wattwerk.edge.history``)
* ``GET /api/owner``, ``GET|PUT /api/owner/<device>`` the owner's controls (``wattwerk.edge.owner_api``)
* ``GET /api/catalog?q=``, ``POST /api/setup/test``, ``POST /api/setup/devices``, ``GET /api/setup/config``
* ``GET|POST /api/wizard/network``, ``POST /api/wizard/pair``, ``POST /api/wizard/grid-meter``
* ``GET /api/auth``, ``POST /api/auth/password`` (first start), ``/api/auth/login``, ``/api/auth/logout``,
  ``POST /api/account/password`` (``wattwerk.edge.web_auth``); the page ``/login``

Every request goes through the ``AuthGate`` of ``auth`` (``wattwerk.edge.web_auth``): the
admin password, sessions with CSRF tokens, and the edge's own names in ``Host``/``Origin``.

The app reads through a ``SiteView`` so the same pages serve the demo and a real site; setup
needs a ``Setup`` (a site file, optionally a running runtime) and answers 409 without one.

Each area is a router in its own module, mounted here in one order: ``web_auth`` (sign-in),
``metrics``, the pages (here), ``web_live`` (live, today, devices, plan, history, sessions, ws),
``owner_api``, ``setup_api`` (setup and wizard). The gate is the app's middleware, so a route
added to any of them is behind it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from wattwerk.edge.auth import EdgeAuth
from wattwerk.edge.owner_api import owner_router
from wattwerk.edge.pages import PAGES, STATIC_DIR, render
from wattwerk.edge.setup import Setup
from wattwerk.edge.setup_api import setup_router, wizard_router
from wattwerk.edge.web_auth import AuthGate, auth_router
from wattwerk.edge.web_live import SiteView, history_router, live_router, ws_router

__all__ = ["PAGES", "SHELL", "STATIC_DIR", "SiteView", "create_app", "pages_router"]

# the installable app: served from the root so the service worker's scope is every page
SHELL = {
    "/manifest.webmanifest": ("manifest.webmanifest", "application/manifest+json"),
    "/sw.js": ("sw.js", "text/javascript"),
}


def pages_router() -> APIRouter:
    """The static pages and the installable app's shell, never cached (an update shows at once)."""
    router = APIRouter()
    for path in PAGES:

        def serve(path: str = path) -> HTMLResponse:
            return HTMLResponse(render(path), headers={"Cache-Control": "no-cache"})

        router.add_api_route(path, serve, include_in_schema=False)

    for path, (name, media) in SHELL.items():

        def shell(name: str = name, media: str = media) -> FileResponse:
            return FileResponse(
                str(STATIC_DIR / name), media_type=media, headers={"Cache-Control": "no-cache"}
            )

        router.add_api_route(path, shell, include_in_schema=False)
    return router


def create_app(
    view: SiteView,
    *,
    auth: EdgeAuth,
    setup: Setup | None = None,
    runtime: Any = None,
    metrics: dict[str, Any] | None = None,
    owner: Any = None,
) -> FastAPI:
    """The app; ``auth`` decides who may use it (no default: every caller decides). ``runtime``
    (an ``EdgeRuntime``) adds Prometheus ``/metrics``, with ``metrics`` passed on to
    ``edge_registry`` (``outbox_pending=``, ``outbox_bytes=``, ``upload_lag_s=``)."""
    app = FastAPI(title="wattwerk edge", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(AuthGate, auth=auth)  # every route below, whichever router, is behind it
    app.include_router(auth_router(auth))
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    if runtime is not None:
        from wattwerk.edge.metrics import edge_registry, metrics_router

        app.include_router(metrics_router(edge_registry(runtime, **(metrics or {}))))
    app.include_router(pages_router())
    app.include_router(live_router(view))
    app.include_router(history_router(view))
    app.include_router(owner_router(owner))  # without one: no devices to control
    app.include_router(ws_router(view))
    app.include_router(setup_router(setup))
    app.include_router(wizard_router(setup))
    return app
