"""``/api/v1`` for the portal's administrators: run the retention job, make invitation codes,
export the consenting sites' anonymised series for research."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse

from wattwerk.portal import accounts, auth, partitions, research, retention
from wattwerk.portal.api import PREFIX, Admin, utc


async def retention_run(request: Request, who: Admin) -> dict[str, Any]:
    """Run the rollup and retention job now (also run it from a timer, e.g. every 5 minutes)."""
    db, now_ms = auth.db_of(request), int(time.time() * 1000)
    counts = await retention.run(db, now_ms)
    parts = await partitions.maintain(db, now_ms)  # PostgreSQL: months ahead, expired months dropped
    return {**counts, **{f"partitions_{k}": len(v) for k, v in parts.items()}}


async def invite_new(request: Request, who: Admin) -> dict[str, Any]:
    """A new invitation code for registration by invitation (shown once)."""
    async with auth.db_of(request).connection() as conn:
        code = await accounts.create_invite(conn, who.account_id)
    return {"invite": code, "days": accounts.INVITE_TTL.days}


async def research_export(
    request: Request,
    who: Admin,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    resolution: Literal["1h", "1d"] = "1d",
) -> Response:
    """Anonymised aggregated series of consenting sites (CSV; pseudonyms, no aliases)."""
    end = utc(to, datetime.now(UTC))
    start = utc(from_, end - timedelta(days=365))
    if not start < end:
        raise HTTPException(400, "from must be before to")
    return StreamingResponse(
        research.export_csv(
            auth.db_of(request), resolution, int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        ),
        media_type="text/csv",
    )


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["admin"])
    r.add_api_route("/admin/retention/run", retention_run, methods=["POST"])
    r.add_api_route("/admin/invites", invite_new, methods=["POST"], status_code=201)
    r.add_api_route("/research/export", research_export, methods=["GET"])
    return r
