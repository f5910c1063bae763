"""The owner's controls over HTTP, behind the page's sign-in and CSRF token (the ``AuthGate``):

* ``GET /api/owner`` every device with owner settings: its settings as they run, the control's
  decision and why, a car's plan (expected cost, PV share, slots) and its session now;
* ``GET /api/owner/<device>`` one of them;
* ``PUT /api/owner/<device>`` a JSON object of settings (``wattwerk.edge.owner``); 422 with the
  reason in ``errors`` when refused, 404 for a device without settings.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from wattwerk.edge.owner import SETTINGS, OwnerControls, OwnerError


def owner_router(owner: OwnerControls | None) -> APIRouter:
    """The routes; ``owner`` None (a page without a control cycle): no devices, every PUT a 404."""
    router = APIRouter()

    def unknown(device: str) -> JSONResponse | None:
        if owner is not None and owner.roles.get(device) in SETTINGS:
            return None
        return JSONResponse({"ok": False, "errors": [f"no owner settings for {device!r}"]}, status_code=404)

    @router.get("/api/owner")
    async def everything() -> JSONResponse:
        return JSONResponse(owner.state() if owner is not None else {"devices": []})

    @router.get("/api/owner/{device}")
    async def one(device: str) -> JSONResponse:
        return unknown(device) or JSONResponse(owner.device_state(device))  # type: ignore[union-attr]

    @router.put("/api/owner/{device}")
    async def change(device: str, body: Any = Body(...)) -> JSONResponse:  # noqa: B008
        if (refused := unknown(device)) is not None:
            return refused
        if not isinstance(body, dict):
            return JSONResponse({"ok": False, "errors": ["send a JSON object of settings"]}, status_code=422)
        assert owner is not None
        try:
            state = owner.apply(device, body, source="page")
        except OwnerError as exc:
            return JSONResponse({"ok": False, "errors": [str(exc)]}, status_code=422)
        return JSONResponse({"ok": True, **state})

    return router
