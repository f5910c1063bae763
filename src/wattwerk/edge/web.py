"""The edge's local web page and its small JSON API (works on the LAN without internet).

Handlers are ``async`` on purpose: the demo runs simulator, edge and page in one event
loop and one thread, so the store needs no locking.

The page is static (``wattwerk/static``); it polls ``api/live`` for the power flows and
``api/today`` for today's chart and energy. The app reads through a ``SiteView`` so the
same pages serve the demo and a real site.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = files("wattwerk") / "static"


class SiteView(Protocol):
    """What the page needs from a running edge."""

    def live(self) -> dict[str, Any]: ...

    def today(self) -> dict[str, Any]: ...


def create_app(view: SiteView) -> FastAPI:
    app = FastAPI(title="wattwerk edge", docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(str(STATIC_DIR / "index.html"))

    @app.get("/api/live")
    async def live() -> JSONResponse:
        return JSONResponse(view.live())

    @app.get("/api/today")
    async def today() -> JSONResponse:
        return JSONResponse(view.today())

    return app
