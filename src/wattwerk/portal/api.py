"""REST ``/api/v1``: what its per-resource routers share — the site lookup, path types, OpenAPI
links. The routers: accounts_api (accounts, sessions, TOTP, password reset), tokens_api,
sites_api (sites, edge tokens, grants, audit), retention_api, data_api (channels, live; series:
series_api), maintenance_api, admin_api (retention run, invites, research export); routes.py
mounts them in that order.

Authentication: the session cookie (browsers; CSRF header on changes) or a personal access
token (``Authorization: Bearer wwp_...``; GET needs ``read``, changes need ``admin``, pairing an
edge ``ingest``). A site the caller has no role on answers exactly like a missing one:
404 ``{"detail": "not found"}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request

from wattwerk.portal import auth, sites
from wattwerk.portal.auth import Principal
from wattwerk.portal.database import Conn
from wattwerk.portal.secretbox import SecretBox

PREFIX = "/api/v1"
NOT_FOUND = "not found"
SiteName = Annotated[str, Path(min_length=1, max_length=64)]
Alias = Annotated[str, Path(min_length=1, max_length=64)]
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Who = Annotated[Principal, Depends(auth.principal)]
Admin = Annotated[Principal, Depends(auth.admin_principal)]


def links(status: str, field: str, param: str, *targets: tuple[str, str]) -> dict[str, Any]:
    """OpenAPI links from a created resource to the operations taking it (``(path, method)``):
    clients and schemathesis' stateful tests follow them."""
    out = {
        f"{method}{path.replace('/', '_').replace('{', '').replace('}', '')}": {
            "operationRef": "#/paths/" + path.replace("~", "~0").replace("/", "~1") + f"/{method}",
            "parameters": {param: f"$response.body#/{field}"},
        }
        for path, method in targets
    }
    return {"responses": {status: {"links": out}}}


def not_found() -> HTTPException:
    return HTTPException(404, NOT_FOUND)


async def site_ref(
    conn: Conn, name: str, who: Principal, *, owner: bool = False, maintenance_ok: bool = False
) -> sites.SiteRef:
    """The site ``name`` as ``who`` may see it; 404 (as if missing) without a role, 403 for a
    change only its owner may make."""
    ref = await sites.lookup(conn, name, who.account_id)
    if ref is None:
        raise not_found()
    if ref.role is None and not maintenance_ok:
        raise not_found()  # only a maintenance grant: sees nothing but maintenance
    if owner and ref.role != "owner":
        raise HTTPException(403, "only the site's owner may do this")
    return ref


def config_of(request: Request) -> Any:
    """The app's PortalConfig (registration, mail)."""
    return request.app.state.config


def box_of(request: Request) -> SecretBox:
    return request.app.state.secrets  # type: ignore[no-any-return]


def utc(value: datetime | None, default: datetime) -> datetime:
    if value is None:
        return default
    if value.tzinfo is None:
        raise HTTPException(400, "times need a zone (e.g. 2026-01-01T00:00:00Z)")
    return value.astimezone(UTC)
