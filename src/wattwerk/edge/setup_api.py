"""Setup and the installation wizard over HTTP (``wattwerk.edge.web`` mounts them), behind the
page's sign-in and CSRF token (the ``AuthGate``):

* ``GET /api/catalog?q=``, ``POST /api/setup/test``, ``GET /api/setup/config``, ``POST /api/setup/devices``;
* ``GET|POST /api/wizard/network``, ``POST /api/wizard/pair`` (portal pairing),
  ``POST /api/wizard/grid-meter``.

What changes the site file needs a ``Setup``; without one (the demo) it answers 409.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from wattwerk.config import ConfigError
from wattwerk.edge import setup_network as net
from wattwerk.edge.setup import Setup, search_catalog, try_device
from wattwerk.edge.setup_pairing import pair
from wattwerk.edge.web_live import refused
from wattwerk.errors import PermanentError, RetryableError


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


class SetupOff(PermanentError):
    """The edge runs without a site file (the demo): nothing to set up."""

    code = "no_site_file"

    def __init__(self) -> None:
        super().__init__("this edge runs without a site file (demo): setup is off")


def _need(setup: Setup | None) -> Setup:
    if setup is None:
        raise SetupOff
    return setup


def setup_router(setup: Setup | None) -> APIRouter:
    """The catalogue, a device's connection test, the site file's devices."""
    router = APIRouter()

    @router.get("/api/catalog")
    async def catalog(q: str = Query("", max_length=100)) -> JSONResponse:
        return JSONResponse(search_catalog(q))

    @router.post("/api/setup/test")
    async def try_it(body: TryBody) -> JSONResponse:
        result = await try_device(body.catalog, body.host, body.port, body.unit)
        return JSONResponse(result.json())

    @router.get("/api/setup/config")
    async def config() -> JSONResponse:
        try:
            cfg = _need(setup).config()
        except PermanentError as exc:
            return refused(getattr(exc, "lines", [str(exc)]), 409, getattr(exc, "code", None))
        return JSONResponse(
            {
                "path": str(_need(setup).path),
                "site": cfg.site.name,
                "devices": [
                    {"id": d.id, "name": d.label, "role": d.role, "catalog": d.catalog} for d in cfg.devices
                ],
                "grid_meter": cfg.grid_meter.id if cfg.grid_meter else None,
                "portal": cfg.portal.url if cfg.portal else None,
                "portal_site": cfg.portal.site if cfg.portal else None,
                "portal_label": (cfg.portal.label or cfg.portal.site) if cfg.portal else None,
            }
        )

    @router.post("/api/setup/devices")
    async def save_device(body: DeviceBody) -> JSONResponse:
        try:
            s = _need(setup)
        except PermanentError as exc:
            return refused([str(exc)], 409)
        try:
            cfg = s.save_device(body.model_dump())
        except ConfigError as exc:
            return refused(exc.lines)
        except PermanentError as exc:
            return refused([str(exc)])
        return JSONResponse({"ok": True, "device": body.id, "devices": [d.id for d in cfg.devices]})

    return router


def _reason(code: str) -> dict[str, str]:
    """Why the network is not changed: in English, and as a code the page shows in its language."""
    return {"reason": net.CANNOT_APPLY.get(code, ""), "reason_code": code}


def wizard_router(setup: Setup | None) -> APIRouter:
    """The installation wizard: network, portal pairing, grid meter."""
    router = APIRouter()

    @router.get("/api/wizard/network")
    async def network() -> JSONResponse:
        ok, why = net.can_apply()
        return JSONResponse({"interfaces": net.interfaces(), "can_apply": ok, **_reason(why)})

    @router.post("/api/wizard/network")
    async def network_plan(body: NetworkBody) -> JSONResponse:
        req = net.NetworkRequest(
            body.interface, body.mode, body.address, body.gateway, body.dns, body.ssid, body.psk
        )
        try:
            cmds = net.nmcli_commands(req)
        except PermanentError as exc:
            return refused([str(exc)])
        ok, why = net.can_apply()
        out: dict[str, Any] = {"ok": True, "commands": net.shown(cmds), "applied": False, **_reason(why)}
        if body.confirm and ok:
            out["results"] = await net.run_commands(cmds)
            out["applied"] = all(r["rc"] == 0 for r in out["results"])
        elif ok:
            out.update(_reason("unconfirmed"))
        return JSONResponse(out)

    @router.post("/api/wizard/pair")
    async def pair_portal(body: PairBody) -> JSONResponse:
        try:
            s = _need(setup)
            result = await pair(body.portal_url, body.code)
            s.set_portal(result["url"], result["token"], result["site"], label=result["label"])
        except ConfigError as exc:
            return refused(exc.lines)
        except RetryableError as exc:
            return refused([str(exc)], 502)
        except PermanentError as exc:
            return refused([str(exc)])
        return JSONResponse(
            {"ok": True, "portal": result["url"], "site": result["site"], "label": result["label"]}
        )

    @router.post("/api/wizard/grid-meter")
    async def grid_meter(body: GridMeterBody) -> JSONResponse:
        try:
            cfg = _need(setup).choose_grid_meter(body.device_id)
        except ConfigError as exc:
            return refused(exc.lines)
        except PermanentError as exc:
            return refused([str(exc)], 409)
        return JSONResponse({"ok": True, "grid_meter": cfg.grid_meter.id if cfg.grid_meter else None})

    return router
