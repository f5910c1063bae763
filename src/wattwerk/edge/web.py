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
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from importlib.resources import files
from typing import Annotated, Any, Literal, Protocol
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Query, WebSocket
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from wattwerk.config import ConfigError
from wattwerk.edge import setup_network as net
from wattwerk.edge.auth import EdgeAuth
from wattwerk.edge.history import sessions_csv as history_csv
from wattwerk.edge.live import enrich, push_live
from wattwerk.edge.owner_api import owner_router
from wattwerk.edge.setup import Setup, search_catalog, try_device
from wattwerk.edge.setup_pairing import pair
from wattwerk.edge.web_auth import AuthGate, auth_router
from wattwerk.errors import PermanentError, RetryableError

STATIC_DIR = files("wattwerk") / "static"
PAGES = {"/": "index.html", "/setup": "setup.html", "/wizard": "wizard.html", "/login": "login.html",
         "/history": "history.html", "/sessions": "sessions.html"}
# the installable app: served from the root so the service worker's scope is every page
SHELL = {"/manifest.webmanifest": ("manifest.webmanifest", "application/manifest+json"),
         "/sw.js": ("sw.js", "text/javascript")}


class SiteView(Protocol):
    """What the pages need from a running edge (``plan()`` and ``devices()`` are optional)."""

    def live(self) -> dict[str, Any]: ...

    def today(self) -> dict[str, Any]: ...


class TryBody(BaseModel):
    catalog: str = Field(min_length=1)
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(502, ge=1, le=65535)
    unit: int = Field(1, ge=0, le=255)


class DeviceBody(TryBody):
    id: str = Field(min_length=1, max_length=64)
    role: str | None = None
    name: str | None = None
    interval_s: float | None = Field(None, gt=0)
    kwp: float | None = None
    capacity_wh: float | None = None
    max_charge_w: float | None = None
    max_discharge_w: float | None = None
    max_power_w: float | None = None


class NetworkBody(BaseModel):
    interface: str
    mode: Literal["dhcp", "static"] = "dhcp"
    address: str | None = None
    gateway: str | None = None
    dns: list[str] = []
    ssid: str | None = None
    psk: str | None = None
    confirm: bool = False


class PairBody(BaseModel):
    portal_url: str
    code: str  # the portal's pairing code; it names the site


class GridMeterBody(BaseModel):
    device_id: str


def _refused(lines: list[str], status: int = 422) -> JSONResponse:
    return JSONResponse({"ok": False, "errors": lines}, status_code=status)


def _local_today(view: SiteView) -> date:
    """Today in the site's zone, on the view's clock (the demo's is the simulator's)."""
    live = view.live()
    try:
        return datetime.fromisoformat(live["ts"]).astimezone(ZoneInfo(live["timezone"])).date()
    except (KeyError, TypeError, ValueError):
        return datetime.now(UTC).date()


def create_app(view: SiteView, *, auth: EdgeAuth, setup: Setup | None = None, runtime: Any = None,
               metrics: dict[str, Any] | None = None, owner: Any = None) -> FastAPI:
    """The app; ``auth`` decides who may use it (no default: every caller decides). ``runtime``
    (an ``EdgeRuntime``) adds Prometheus ``/metrics``, with ``metrics`` passed on to
    ``edge_registry`` (``outbox_pending=``, ``outbox_bytes=``, ``upload_lag_s=``)."""
    app = FastAPI(title="wattwerk edge", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(AuthGate, auth=auth)
    app.include_router(auth_router(auth))
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    if runtime is not None:
        from wattwerk.edge.metrics import edge_registry, metrics_router

        app.include_router(metrics_router(edge_registry(runtime, **(metrics or {}))))

    for path, page in PAGES.items():
        def serve(page: str = page) -> FileResponse:
            return FileResponse(str(STATIC_DIR / page), headers={"Cache-Control": "no-cache"})
        app.add_api_route(path, serve, include_in_schema=False)

    for path, (name, media) in SHELL.items():
        def shell(name: str = name, media: str = media) -> FileResponse:
            return FileResponse(str(STATIC_DIR / name), media_type=media,
                                headers={"Cache-Control": "no-cache"})
        app.add_api_route(path, shell, include_in_schema=False)

    def live_now() -> dict[str, Any]:
        return enrich(view, view.live())

    @app.get("/api/live")
    async def live() -> JSONResponse:
        return JSONResponse(live_now())

    @app.get("/api/today")
    async def today() -> JSONResponse:
        return JSONResponse(view.today())

    @app.get("/api/devices")
    async def devices() -> JSONResponse:
        fn = getattr(view, "devices", None)
        return JSONResponse(fn() if fn is not None else live_now().get("devices", []))

    @app.get("/api/plan")
    async def plan() -> JSONResponse:
        fn = getattr(view, "plan", None)
        empty = {"currency": None, "slots": []}
        return JSONResponse(fn() if fn is not None else live_now().get("plan", empty))

    @app.get("/api/history")
    async def history(period: Literal["day", "week", "month", "year"] = "day",
                      day: Annotated[date | None, Query(alias="date")] = None) -> JSONResponse:
        fn = getattr(view, "history", None)
        if fn is None:
            return _refused(["this edge keeps no store: no history"], 409)
        try:
            return JSONResponse(fn(period, day or _local_today(view)))
        except PermanentError as exc:
            return _refused([str(exc)], 409)

    def month_sessions(month: str | None) -> tuple[date, list[dict[str, Any]]]:
        fn = getattr(view, "sessions", None)
        if fn is None:
            raise PermanentError("this edge keeps no store: no charging sessions")
        first = _local_today(view).replace(day=1)
        if month is not None:
            try:
                first = date.fromisoformat(month + "-01")
            except ValueError:
                raise PermanentError(f"month {month!r}: expected YYYY-MM, e.g. 2026-10") from None
        rows: list[dict[str, Any]] = fn(first)
        return first, rows

    @app.get("/api/sessions")
    async def sessions(month: str | None = Query(None, max_length=7)) -> JSONResponse:
        try:
            first, rows = month_sessions(month)
            return JSONResponse({"month": first.strftime("%Y-%m"), "sessions": rows})
        except PermanentError as exc:
            return _refused([str(exc)], 400 if month else 409)

    @app.get("/api/sessions.csv")
    async def sessions_csv(month: str | None = Query(None, max_length=7)) -> Response:
        try:
            first, rows = month_sessions(month)
        except PermanentError as exc:
            return _refused([str(exc)], 400 if month else 409)
        name = f"sessions-{first.strftime('%Y-%m')}.csv"
        return Response(history_csv(rows), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    app.include_router(owner_router(owner))  # without one: no devices to control

    @app.websocket("/api/ws")
    async def ws(socket: WebSocket) -> None:
        await push_live(socket, live_now)

    # ------------------------------------------------------------ setup

    def need_setup() -> Setup:
        if setup is None:
            raise PermanentError("this edge runs without a site file (demo): setup is off")
        return setup

    @app.get("/api/catalog")
    async def catalog(q: str = Query("", max_length=100)) -> JSONResponse:
        return JSONResponse(search_catalog(q))

    @app.post("/api/setup/test")
    async def try_it(body: TryBody) -> JSONResponse:
        result = await try_device(body.catalog, body.host, body.port, body.unit)
        return JSONResponse(result.json())

    @app.get("/api/setup/config")
    async def config() -> JSONResponse:
        try:
            cfg = need_setup().config()
        except PermanentError as exc:
            return _refused(getattr(exc, "lines", [str(exc)]), 409)
        return JSONResponse({
            "path": str(need_setup().path), "site": cfg.site.name,
            "devices": [{"id": d.id, "name": d.label, "role": d.role, "catalog": d.catalog}
                        for d in cfg.devices],
            "grid_meter": cfg.grid_meter.id if cfg.grid_meter else None,
            "portal": cfg.portal.url if cfg.portal else None,
            "portal_site": cfg.portal.site if cfg.portal else None,
            "portal_label": (cfg.portal.label or cfg.portal.site) if cfg.portal else None,
        })

    @app.post("/api/setup/devices")
    async def save_device(body: DeviceBody) -> JSONResponse:
        try:
            s = need_setup()
        except PermanentError as exc:
            return _refused([str(exc)], 409)
        try:
            cfg = s.save_device(body.model_dump())
        except ConfigError as exc:
            return _refused(exc.lines)
        except PermanentError as exc:
            return _refused([str(exc)])
        return JSONResponse({"ok": True, "device": body.id, "devices": [d.id for d in cfg.devices]})

    # ------------------------------------------------------------ wizard

    @app.get("/api/wizard/network")
    async def network() -> JSONResponse:
        ok, why = net.can_apply()
        return JSONResponse({"interfaces": net.interfaces(), "can_apply": ok, "reason": why})

    @app.post("/api/wizard/network")
    async def network_plan(body: NetworkBody) -> JSONResponse:
        req = net.NetworkRequest(body.interface, body.mode, body.address, body.gateway, body.dns, body.ssid,
                                 body.psk)
        try:
            cmds = net.nmcli_commands(req)
        except PermanentError as exc:
            return _refused([str(exc)])
        ok, why = net.can_apply()
        out: dict[str, Any] = {"ok": True, "commands": net.shown(cmds), "applied": False, "reason": why}
        if body.confirm and ok:
            out["results"] = await net.run_commands(cmds)
            out["applied"] = all(r["rc"] == 0 for r in out["results"])
        elif ok:
            out["reason"] = "not confirmed: check the commands, then apply them"
        return JSONResponse(out)

    @app.post("/api/wizard/pair")
    async def pair_portal(body: PairBody) -> JSONResponse:
        try:
            s = need_setup()
            result = await pair(body.portal_url, body.code)
            s.set_portal(result["url"], result["token"], result["site"], label=result["label"])
        except ConfigError as exc:
            return _refused(exc.lines)
        except RetryableError as exc:
            return _refused([str(exc)], 502)
        except PermanentError as exc:
            return _refused([str(exc)])
        return JSONResponse({"ok": True, "portal": result["url"], "site": result["site"],
                             "label": result["label"]})

    @app.post("/api/wizard/grid-meter")
    async def grid_meter(body: GridMeterBody) -> JSONResponse:
        try:
            cfg = need_setup().choose_grid_meter(body.device_id)
        except ConfigError as exc:
            return _refused(exc.lines)
        except PermanentError as exc:
            return _refused([str(exc)], 409)
        return JSONResponse({"ok": True, "grid_meter": cfg.grid_meter.id if cfg.grid_meter else None})

    return app
