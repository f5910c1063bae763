"""``/api/v1/sites/{site}`` data: its channels and their newest values (the live view).
Series and the site's zone: series_api."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request

from wattwerk.portal import auth, sites
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
    return {"site": ref.name, "now_ms": int(time.time() * 1000), "values": values}


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["data"])
    r.add_api_route("/sites/{site}/channels", channel_list, methods=["GET"])
    r.add_api_route("/sites/{site}/live", live, methods=["GET"])
    return r
