"""The edge page's read-only data (``wattwerk.edge.web`` mounts it): ``/api/live``, ``/api/today``,
``/api/devices``, ``/api/plan``, ``/api/history``, ``/api/sessions`` (+ ``.csv``) and the ``/api/ws``
push. Which of them need a session is the ``AuthGate``'s business (``wattwerk.edge.web_auth``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, Protocol
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, WebSocket
from fastapi.responses import JSONResponse, Response

from wattwerk.edge.history import sessions_csv as history_csv
from wattwerk.edge.live import enrich, push_live
from wattwerk.errors import PermanentError


class SiteView(Protocol):
    """What the pages need from a running edge (``plan()`` and ``devices()`` are optional)."""

    def live(self) -> dict[str, Any]: ...

    def today(self) -> dict[str, Any]: ...


def refused(lines: list[str], status: int = 422, code: str | None = None) -> JSONResponse:
    """The page API's refusal: ``{"ok": false, "errors": [...]}``, with ``code`` where the pages
    have the text in every language (``err.<code>`` in static/i18n)."""
    body: dict[str, object] = {"ok": False, "errors": lines}
    if code is not None:
        body["code"] = code
    return JSONResponse(body, status_code=status)


def _local_today(view: SiteView) -> date:
    """Today in the site's zone, on the view's clock (the demo's is the simulator's)."""
    live = view.live()
    try:
        return datetime.fromisoformat(live["ts"]).astimezone(ZoneInfo(live["timezone"])).date()
    except (KeyError, TypeError, ValueError):
        return datetime.now(UTC).date()


def _month_sessions(view: SiteView, month: str | None) -> tuple[date, list[dict[str, Any]]]:
    """The first day of ``month`` (``YYYY-MM``, default this month) and the view's sessions in it."""
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


def live_router(view: SiteView) -> APIRouter:
    """Live values, today, devices and plan: what the live page shows."""
    router = APIRouter()

    @router.get("/api/live")
    async def live() -> JSONResponse:
        return JSONResponse(enrich(view, view.live()))

    @router.get("/api/today")
    async def today() -> JSONResponse:
        return JSONResponse(view.today())

    @router.get("/api/devices")
    async def devices() -> JSONResponse:
        fn = getattr(view, "devices", None)
        return JSONResponse(fn() if fn is not None else enrich(view, view.live()).get("devices", []))

    @router.get("/api/plan")
    async def plan() -> JSONResponse:
        fn = getattr(view, "plan", None)
        empty = {"currency": None, "slots": []}
        return JSONResponse(fn() if fn is not None else enrich(view, view.live()).get("plan", empty))

    return router


def history_router(view: SiteView) -> APIRouter:
    """The store's periods and charging sessions; 409 for a view without a store."""
    router = APIRouter()

    @router.get("/api/history")
    async def history(
        period: Literal["day", "week", "month", "year"] = "day",
        day: Annotated[date | None, Query(alias="date")] = None,
    ) -> JSONResponse:
        fn = getattr(view, "history", None)
        if fn is None:
            return refused(["this edge keeps no store: no history"], 409)
        try:
            return JSONResponse(fn(period, day or _local_today(view)))
        except PermanentError as exc:
            return refused([str(exc)], 409)

    @router.get("/api/sessions")
    async def sessions(month: str | None = Query(None, max_length=7)) -> JSONResponse:
        try:
            first, rows = _month_sessions(view, month)
            return JSONResponse({"month": first.strftime("%Y-%m"), "sessions": rows})
        except PermanentError as exc:
            return refused([str(exc)], 400 if month else 409)

    @router.get("/api/sessions.csv")
    async def sessions_csv(month: str | None = Query(None, max_length=7)) -> Response:
        try:
            first, rows = _month_sessions(view, month)
        except PermanentError as exc:
            return refused([str(exc)], 400 if month else 409)
        name = f"sessions-{first.strftime('%Y-%m')}.csv"
        return Response(
            history_csv(rows),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return router


def ws_router(view: SiteView) -> APIRouter:
    """``/api/ws``: the live values pushed every second (the gate checks its ``Origin``)."""
    router = APIRouter()

    def live_now() -> dict[str, Any]:
        return enrich(view, view.live())

    @router.websocket("/api/ws")
    async def ws(socket: WebSocket) -> None:
        await push_live(socket, live_now)

    return router
