"""``/api/v1/sites/{site}`` data: its channels and their newest values (the live view).
Series and the site's zone: series_api."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse

from wattwerk.portal import auth, sites
from wattwerk.portal import live as fanout
from wattwerk.portal.api import PREFIX, SiteName, Who, site_ref


async def channel_list(site: SiteName, who: Who, request: Request) -> list[dict[str, Any]]:
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who)
        return await sites.channels(conn, ref.site_id)


async def live(site: SiteName, who: Who, request: Request) -> dict[str, Any]:
    """The newest value of every channel (poll every few seconds for the live view)."""
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who)
        values = await sites.live(conn, ref.site_id)
    stream = getattr(request.app.state, "live", None) is not None  # the page may use /live/stream
    return {"site": ref.name, "now_ms": int(time.time() * 1000), "values": values, "stream": stream}


async def live_stream(site: SiteName, who: Who, request: Request) -> StreamingResponse:
    """Server-sent events: the newest values now, then each batch's as it arrives (portal/live.py;
    only with --live-nats, else 404: poll /live)."""
    hub = getattr(request.app.state, "live", None)
    if hub is None:
        raise HTTPException(404, "live values are not fanned out on this portal; poll /live")
    if hub.streams >= fanout.MAX_STREAMS:
        raise HTTPException(503, "too many live streams on this worker; poll /live", {"Retry-After": "30"})
    db = auth.db_of(request)
    async with db.connection() as conn:
        ref = await site_ref(conn, site, who)

    async def events() -> AsyncIterator[bytes]:
        async with hub.subscription(ref.site_id) as queue:
            async with db.connection(readonly=True) as conn:
                values = await sites.live(conn, ref.site_id)
            yield b"data: " + json.dumps({"site": ref.name, "values": values}).encode() + b"\n\n"
            while True:
                try:
                    data = await asyncio.wait_for(queue.get(), fanout.HEARTBEAT_S)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                yield b"data: " + data + b"\n\n"

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["data"])
    r.add_api_route("/sites/{site}/channels", channel_list, methods=["GET"])
    r.add_api_route("/sites/{site}/live", live, methods=["GET"])
    r.add_api_route("/sites/{site}/live/stream", live_stream, methods=["GET"])
    return r
