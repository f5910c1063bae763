"""``/api/v1/sites/{site}/retention``: the site's storage tiers, raw archive and research
consent (owner only; changes audited). The job itself: admin_api."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from wattwerk.portal import auth, retention, sites
from wattwerk.portal.api import PREFIX, SiteName, Who, site_ref


class RetentionBody(BaseModel):
    raw_keep_s: int | None = Field(None, ge=0, le=100 * 365 * 86400)
    m5_keep_s: int | None = Field(None, ge=3600, le=100 * 365 * 86400)
    archive: bool | None = None
    research_consent: bool | None = None


async def retention_get(site: SiteName, who: Who, request: Request) -> dict[str, Any]:
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who, owner=True)
        return await retention.policy(conn, ref.site_id)


async def retention_set(site: SiteName, body: RetentionBody, who: Who, request: Request) -> dict[str, Any]:
    """Change the site's tiers, the raw archive opt-in and the research consent."""
    changes = body.model_dump(exclude_none=True)
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who, owner=True)
        out = await retention.set_policy(conn, ref.site_id, changes)
        await sites.audit(conn, ref.site_id, who.account_id, "retention.set", changes)
    return out


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["retention"])
    r.add_api_route("/sites/{site}/retention", retention_get, methods=["GET"])
    r.add_api_route("/sites/{site}/retention", retention_set, methods=["PUT"])
    return r
