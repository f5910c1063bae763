"""``/api/v1/sites/{site}/notifications``: what the owner (only the owner) wants mailed about a site
(portal/notify.py) and where to. The address is optional, sealed at rest and answered masked
(``o…r@example.org``); without one the owner account's address is used, if it has one."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from wattwerk.portal import accounts, auth, hardening, i18n, notify_store, sites
from wattwerk.portal.api import PREFIX, SiteName, Who, box_of, config_of, site_ref
from wattwerk.portal.database import utcnow

LOW, HIGH = notify_store.OFFLINE_MIN


class Notifications(BaseModel):
    """The owner's choices (the whole set: a kind left out is off)."""

    pv: bool = Field(False, description="PV yields less than forecast (the edge's monitor)")
    offline: bool = Field(False, description="no upload for offline_min minutes")
    offline_min: int = Field(30, ge=LOW, le=HIGH)
    device: bool = Field(False, description="a device stale or in error for 5 minutes")
    maintenance: bool = Field(False, description="a maintenance window opened or ended")
    email: str | None = Field(
        None,
        max_length=254,
        description="address for this site's mail; left out: unchanged; empty or null: the account's",
    )
    lang: Literal["de", "en", "fr"] | None = Field(
        None, description="the mail's language; default: the page's"
    )


BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": Notifications.model_json_schema()}},
    }
}


def masked(address: str | None) -> str | None:
    """Enough of an address to recognise it, not to read it: ``o…r@example.org``."""
    if not address:
        return None
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}…{local[-1:] if len(local) > 2 else ''}@{domain}"


async def _answer(request: Request, conn: Any, ref: sites.SiteRef) -> dict[str, Any]:
    prefs = await notify_store.load_prefs(conn, ref.site_id)
    box = box_of(request)
    own = box.open(prefs.email)
    account = box.open(await notify_store.account_email(conn, ref.site_id))
    return {
        "site": ref.name,
        "pv": prefs.pv,
        "offline": prefs.offline,
        "offline_min": prefs.offline_min,
        "device": prefs.device,
        "maintenance": prefs.maintenance,
        "lang": prefs.lang,
        "email": masked(own or account),
        "email_from": "site" if own else "account" if account else None,
        "mail": config_of(request).smtp is not None,  # whether this portal sends mail at all
    }


async def get_notifications(site: SiteName, who: Who, request: Request) -> dict[str, Any]:
    """The owner's notification choices for the site (the address masked)."""
    async with auth.db_of(request).connection(readonly=True) as conn:
        ref = await site_ref(conn, site, who, owner=True)
        return await _answer(request, conn, ref)


async def put_notifications(site: SiteName, who: Who, request: Request) -> dict[str, Any]:
    """Set the owner's choices. The body is checked after the site, so a foreign site answers
    404 whatever is sent, like a missing one."""
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who, owner=True)
        try:
            body = Notifications.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from None
        prefs = await notify_store.load_prefs(conn, ref.site_id)
        email = prefs.email
        if "email" in body.model_fields_set:
            address = (body.email or "").strip() or None
            try:
                accounts.check_email(address)
            except accounts.AccountError as exc:
                raise HTTPException(400, str(exc)) from None
            email = box_of(request).seal(address) if address else None
        lang = body.lang or i18n.negotiate(
            request.query_params.get("lang"),
            request.cookies.get(i18n.COOKIE),
            request.headers.get("accept-language"),
        )  # the page's language when the owner saves there
        chosen = body.model_dump(exclude={"email", "lang"})
        prefs = notify_store.Prefs(**chosen, email=email, lang=lang)
        await notify_store.save_prefs(conn, ref.site_id, prefs, utcnow())
        detail = {**chosen, "lang": lang, "email": "set" if email else "account"}  # never the address itself
        await sites.audit(conn, ref.site_id, who.account_id, "notifications.set", detail)
        return await _answer(request, conn, ref)


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["sites"])
    path = "/sites/{site}/notifications"
    r.add_api_route(path, get_notifications, methods=["GET"])
    r.add_api_route(
        path, put_notifications, methods=["PUT"], openapi_extra=BODY, max_body_size=hardening.BODY_SMALL
    )
    return r
