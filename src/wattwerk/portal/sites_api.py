"""``/api/v1/sites``: a caller's sites, pairing and unpairing edges, grants to other accounts
and the site's audit log (changes: owner only)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from wattwerk.portal import accounts, auth, maintenance, site_roles, sites
from wattwerk.portal.api import PREFIX, Alias, SiteName, Who, links, site_ref
from wattwerk.portal.auth import Principal

SITE_LINKS = links(
    "201",
    "site",
    "site",
    *[
        ("/api/v1/sites/{site}", "get"),
        ("/api/v1/sites/{site}/channels", "get"),
        ("/api/v1/sites/{site}/live", "get"),
        ("/api/v1/sites/{site}/series", "get"),
        ("/api/v1/sites/{site}/edge-tokens", "post"),
        ("/api/v1/sites/{site}/edge-tokens", "delete"),
        ("/api/v1/sites/{site}/grants", "get"),
        ("/api/v1/sites/{site}/audit", "get"),
        ("/api/v1/sites/{site}/retention", "get"),
        ("/api/v1/sites/{site}/retention", "put"),
        ("/api/v1/sites/{site}/maintenance", "get"),
        ("/api/v1/sites/{site}/maintenance", "post"),
    ],
)


class NewSite(BaseModel):
    label: str = Field("", max_length=100)
    tz: str = Field("UTC", min_length=1, max_length=64, description="IANA zone of the site's local days")


class GrantBody(BaseModel):
    role: Literal["viewer", "installer"]


async def site_list(who: Who, request: Request) -> list[dict[str, Any]]:
    async with auth.db_of(request).connection() as conn:
        return await sites.listing(conn, who.account_id)


async def site_new(body: NewSite, who: Who, request: Request) -> dict[str, Any]:
    async with auth.db_of(request).connection() as conn:
        try:
            chosen = "owner" if "tz" in body.model_fields_set else "default"  # else the edge's
            name = await sites.create(conn, who.account_id, body.label, body.tz, chosen)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
    return {"site": name, "label": body.label, "tz": body.tz}


async def site_info(site: SiteName, who: Who, request: Request) -> dict[str, Any]:
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who)
        out = await sites.info(conn, ref)
        out["maintenance"] = await maintenance.live_grants(conn, ref.site_id)
        out["roles"] = await site_roles.load(conn, ref.site_id)  # {} for legacy loggers
        out["labels"] = await site_roles.labels(conn, ref.site_id)  # the owner's device names
    out["flows"] = site_roles.flows(out["roles"])
    return out


async def edge_token(
    site: SiteName, request: Request, who: Annotated[Principal, Depends(auth.ingest_principal)]
) -> dict[str, Any]:
    """Pair an edge: a new site token for ``POST /api/v1/ingest`` (shown once)."""
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who, owner=True)
        token = await sites.new_edge_token(conn, ref.site_id)
        await sites.audit(conn, ref.site_id, who.account_id, "edge.pair")
    return {"site": ref.name, "token": token}


async def edge_tokens_revoke(site: SiteName, who: Who, request: Request) -> dict[str, Any]:
    """Revoke every edge token of the site (a stolen or retired edge); pair again to resume."""
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who, owner=True)
        n = await sites.revoke_edge_tokens(conn, ref.site_id)
        await sites.audit(conn, ref.site_id, who.account_id, "edge.revoke", {"tokens": n})
    return {"revoked": n}


async def grant_list(site: SiteName, who: Who, request: Request) -> list[dict[str, Any]]:
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who, owner=True)
        return await sites.grants(conn, ref.site_id)


async def grant_set(
    site: SiteName, alias: Alias, body: GrantBody, who: Who, request: Request
) -> dict[str, Any]:
    """Give another account read access as viewer or installer."""
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who, owner=True)
        other = await accounts.account_id(conn, alias)
        if other is None:
            raise HTTPException(400, f"no account {alias!r}")
        if not await sites.grant(conn, ref.site_id, other, body.role):
            raise HTTPException(400, "the owner's own role cannot change")
        await sites.audit(conn, ref.site_id, who.account_id, "grant.set", {"alias": alias, "role": body.role})
    return {"alias": alias, "role": body.role}


async def grant_revoke(site: SiteName, alias: Alias, who: Who, request: Request) -> dict[str, Any]:
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who, owner=True)
        other = await accounts.account_id(conn, alias)
        if other is None or not await sites.revoke(conn, ref.site_id, other):
            raise HTTPException(404, "no such grant")
        await sites.audit(conn, ref.site_id, who.account_id, "grant.revoke", {"alias": alias})
    return {"ok": True}


async def audit_log(
    site: SiteName,
    who: Who,
    request: Request,
    limit: int = Query(200, ge=1, le=1000),
    before: int | None = Query(None, ge=1, le=2**62),
) -> list[dict[str, Any]]:
    """The site's audit log, newest first (owner only)."""
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who, owner=True)
        return await sites.audit_entries(conn, ref.site_id, limit, before)


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["sites"])
    r.add_api_route("/sites", site_list, methods=["GET"])
    r.add_api_route("/sites", site_new, methods=["POST"], status_code=201, openapi_extra=SITE_LINKS)
    r.add_api_route("/sites/{site}", site_info, methods=["GET"])
    r.add_api_route("/sites/{site}/edge-tokens", edge_token, methods=["POST"], status_code=201)
    r.add_api_route("/sites/{site}/edge-tokens", edge_tokens_revoke, methods=["DELETE"])
    r.add_api_route("/sites/{site}/grants", grant_list, methods=["GET"])
    r.add_api_route("/sites/{site}/grants/{alias}", grant_set, methods=["PUT"])
    r.add_api_route("/sites/{site}/grants/{alias}", grant_revoke, methods=["DELETE"])
    r.add_api_route("/sites/{site}/audit", audit_log, methods=["GET"])
    return r
