"""``/api/v1/sites/{site}/maintenance``: the owner's time-limited maintenance grants and the
installer's commands for the edge (queued here, fetched by the edge: maintenance.edge_router).
Every change is in the site's audit log."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from wattwerk.portal import accounts, auth, maintenance, sites
from wattwerk.portal.api import PREFIX, RowId, SiteName, Who, not_found, site_ref


class MaintenanceBody(BaseModel):
    installer: str = Field(min_length=1, max_length=64, description="alias of the account to let in")
    hours: float = Field(gt=0, le=maintenance.MAX_HOURS)


class CommandBody(BaseModel):
    kind: Literal["status", "logs", "get_config", "set_config", "test_device", "restart"]
    payload: dict[str, Any] = Field(default_factory=dict)


async def maint_list(site: SiteName, who: Who, request: Request) -> list[dict[str, Any]]:
    """Live maintenance grants: all of them for the owner, one's own for an installer."""
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who, maintenance_ok=True)
        mine = None if ref.role == "owner" else who.account_id
        return await maintenance.live_grants(conn, ref.site_id, mine)


async def maint_grant(site: SiteName, body: MaintenanceBody, who: Who, request: Request) -> dict[str, Any]:
    """Switch maintenance on for one installer for ``hours``; it ends by itself."""
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who, owner=True)
        other = await accounts.account_id(conn, body.installer)
        if other is None or other == who.account_id:
            raise HTTPException(400, f"no other account {body.installer!r}")
        out = await maintenance.grant(conn, ref.site_id, who.account_id, other, body.hours)
        await sites.audit(
            conn,
            ref.site_id,
            who.account_id,
            "maintenance.grant",
            {"installer": body.installer, "hours": body.hours, "grant": out["id"]},
        )
    return out


async def maint_end(site: SiteName, grant_id: RowId, who: Who, request: Request) -> dict[str, Any]:
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who, owner=True)
        if not await maintenance.end_grant(conn, ref.site_id, grant_id):
            raise HTTPException(404, "no such live grant")
        await sites.audit(conn, ref.site_id, who.account_id, "maintenance.end", {"grant": grant_id})
    return {"ok": True}


async def maint_command(site: SiteName, body: CommandBody, who: Who, request: Request) -> dict[str, Any]:
    """Queue a command for the edge (installer with a live grant); the edge fetches it."""
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who, maintenance_ok=True)
        cid = await maintenance.queue(conn, ref.site_id, who.account_id, body.kind, body.payload)
        if cid is None:
            raise HTTPException(403, "no live maintenance grant for you on this site")
        await sites.audit(
            conn,
            ref.site_id,
            who.account_id,
            "maintenance.command",
            {"command": cid, "kind": body.kind, "payload": body.payload},
        )
    return {"id": cid, "state": "pending"}


async def maint_result(site: SiteName, command_id: RowId, who: Who, request: Request) -> dict[str, Any]:
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who, maintenance_ok=True)
        cmd = await maintenance.command(conn, ref.site_id, command_id)
        if cmd is None or (ref.role != "owner" and cmd["issued_by_id"] != who.account_id):
            raise HTTPException(404, "no such command")
        if ref.role != "owner" and not await maintenance.live_grants(conn, ref.site_id, who.account_id):
            raise not_found()
    cmd.pop("issued_by_id")
    return cmd


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["maintenance"])
    path = "/sites/{site}/maintenance"
    r.add_api_route(path, maint_list, methods=["GET"])
    r.add_api_route(path, maint_grant, methods=["POST"], status_code=201)
    r.add_api_route(path + "/{grant_id}", maint_end, methods=["DELETE"])
    r.add_api_route(path + "/commands", maint_command, methods=["POST"], status_code=201)
    r.add_api_route(path + "/commands/{command_id}", maint_result, methods=["GET"])
    return r
