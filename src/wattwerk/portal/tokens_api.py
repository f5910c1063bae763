"""``/api/v1/tokens``: the caller's personal access tokens (a secret is shown once)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from wattwerk.portal import auth, tokens
from wattwerk.portal.api import PREFIX, RowId, Who, links, not_found

TOKEN_LINKS = links("201", "id", "token_id", ("/api/v1/tokens/{token_id}", "delete"))


class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Literal["read", "ingest", "admin"]] = Field(min_length=1, max_length=3)
    days: int = Field(30, ge=1, le=tokens.MAX_DAYS)


async def token_list(who: Who, request: Request) -> list[dict[str, Any]]:
    async with auth.db_of(request).connection() as conn:
        return await tokens.listing(conn, who.account_id)


async def token_new(body: NewToken, who: Who, request: Request) -> dict[str, Any]:
    """A new token; its secret is in this answer only."""
    if "admin" in body.scopes and who.via == "token":
        raise HTTPException(403, "a token cannot make admin tokens; sign in")
    async with auth.db_of(request).connection() as conn:
        tid, secret, expires = await tokens.create(
            conn, who.account_id, body.name, list(body.scopes), body.days
        )
    return {"id": tid, "token": secret, "scopes": sorted(set(body.scopes)), "expires_at": expires.isoformat()}


async def token_revoke(token_id: RowId, who: Who, request: Request) -> dict[str, Any]:
    async with auth.db_of(request).connection() as conn:
        if not await tokens.revoke(conn, who.account_id, token_id):
            raise not_found()
    return {"ok": True}


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["tokens"])
    r.add_api_route("/tokens", token_list, methods=["GET"])
    r.add_api_route("/tokens", token_new, methods=["POST"], status_code=201, openapi_extra=TOKEN_LINKS)
    r.add_api_route("/tokens/{token_id}", token_revoke, methods=["DELETE"])
    return r
