"""REST ``/api/v1``: accounts, sessions, tokens, sites, grants, maintenance, audit, retention,
live values (series: series_api.py) — what the portal's pages and API clients build on.

Authentication: the session cookie (browsers; CSRF header on changes) or a personal access
token (``Authorization: Bearer wwp_...``; GET needs ``read``, changes need ``admin``, pairing an
edge ``ingest``). A site the caller has no role on answers exactly like a missing one:
404 ``{"detail": "not found"}``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from wattwerk.portal import (
    accounts,
    auth,
    hardening,
    mail,
    maintenance,
    research,
    retention,
    site_roles,
    sites,
    tokens,
)
from wattwerk.portal.auth import Principal
from wattwerk.portal.database import Conn
from wattwerk.portal.secretbox import SecretBox

NOT_FOUND = "not found"
SiteName = Annotated[str, Path(min_length=1, max_length=64)]
Who = Annotated[Principal, Depends(auth.principal)]


def _links(status: str, field: str, param: str, *targets: tuple[str, str]) -> dict[str, Any]:
    """OpenAPI links from a created resource to the operations taking it (``(path, method)``):
    clients and schemathesis' stateful tests follow them."""
    links = {
        f"{method}{path.replace('/', '_').replace('{', '').replace('}', '')}": {
            "operationRef": "#/paths/" + path.replace("~", "~0").replace("/", "~1") + f"/{method}",
            "parameters": {param: f"$response.body#/{field}"},
        }
        for path, method in targets
    }
    return {"responses": {status: {"links": links}}}


SITE_LINKS = _links("201", "site", "site", *[
    ("/api/v1/sites/{site}", "get"), ("/api/v1/sites/{site}/channels", "get"),
    ("/api/v1/sites/{site}/live", "get"), ("/api/v1/sites/{site}/series", "get"),
    ("/api/v1/sites/{site}/edge-tokens", "post"), ("/api/v1/sites/{site}/edge-tokens", "delete"),
    ("/api/v1/sites/{site}/grants", "get"), ("/api/v1/sites/{site}/audit", "get"),
    ("/api/v1/sites/{site}/retention", "get"), ("/api/v1/sites/{site}/retention", "put"),
    ("/api/v1/sites/{site}/maintenance", "get"), ("/api/v1/sites/{site}/maintenance", "post"),
])
TOKEN_LINKS = _links("201", "id", "token_id", ("/api/v1/tokens/{token_id}", "delete"))


def not_found() -> HTTPException:
    return HTTPException(404, NOT_FOUND)


class NewAccount(BaseModel):
    alias: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    email: str | None = Field(None, max_length=254)
    invite: str | None = Field(None, max_length=100, description="code for invite-only registration")


class Login(BaseModel):
    alias: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    totp: str | None = Field(None, max_length=12)


class ResetRequest(BaseModel):
    alias: str = Field(min_length=1, max_length=64)


class ResetConfirm(BaseModel):
    token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class TotpCode(BaseModel):
    code: str = Field(min_length=1, max_length=12)


class TotpEnrol(BaseModel):
    password: str = Field(min_length=1, max_length=1024)
    code: str | None = Field(None, max_length=12, description="a current code, when TOTP is on already")


class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Literal["read", "ingest", "admin"]] = Field(min_length=1, max_length=3)
    days: int = Field(30, ge=1, le=tokens.MAX_DAYS)


class NewSite(BaseModel):
    label: str = Field("", max_length=100)
    tz: str = Field("UTC", min_length=1, max_length=64, description="IANA zone of the site's local days")


class GrantBody(BaseModel):
    role: Literal["viewer", "installer"]


class MaintenanceBody(BaseModel):
    installer: str = Field(min_length=1, max_length=64, description="alias of the account to let in")
    hours: float = Field(gt=0, le=maintenance.MAX_HOURS)


class CommandBody(BaseModel):
    kind: Literal["status", "logs", "get_config", "set_config"]
    payload: dict[str, Any] = Field(default_factory=dict)


class RetentionBody(BaseModel):
    raw_keep_s: int | None = Field(None, ge=0, le=100 * 365 * 86400)
    m5_keep_s: int | None = Field(None, ge=3600, le=100 * 365 * 86400)
    archive: bool | None = None
    research_consent: bool | None = None


async def _site(
    conn: Conn, name: str, who: Principal, *, owner: bool = False, maintenance_ok: bool = False
) -> sites.SiteRef:
    ref = await sites.lookup(conn, name, who.account_id)
    if ref is None:
        raise not_found()
    if ref.role is None and not maintenance_ok:
        raise not_found()  # only a maintenance grant: sees nothing but maintenance
    if owner and ref.role != "owner":
        raise HTTPException(403, "only the site's owner may do this")
    return ref


def _config(request: Request) -> Any:
    """The app's PortalConfig (registration, mail)."""
    return request.app.state.config


def _box(request: Request) -> SecretBox:
    return request.app.state.secrets  # type: ignore[no-any-return]


def _utc(value: datetime | None, default: datetime) -> datetime:
    if value is None:
        return default
    if value.tzinfo is None:
        raise HTTPException(400, "times need a zone (e.g. 2026-01-01T00:00:00Z)")
    return value.astimezone(UTC)


def router() -> APIRouter:
    r = APIRouter(prefix="/api/v1")

    # -------------------------------------------------------- accounts and sessions

    @r.post("/accounts", status_code=201, tags=["accounts"], max_body_size=hardening.BODY_SMALL)
    async def register(body: NewAccount, request: Request) -> dict[str, Any]:
        """Create an account: an alias and a password; e-mail optional (password reset only).
        The portal's registration may be open, by invitation (``invite``) or closed."""
        mode = _config(request).registration
        if mode == "closed":
            raise HTTPException(403, "registration is closed on this portal; ask its operator for an account")
        try:
            accounts.check_alias(body.alias)
            accounts.check_password(body.password)
            accounts.check_email(body.email or None)
        except accounts.AccountError as exc:
            raise HTTPException(400, str(exc)) from None
        hashed = await auth.hash_password(body.password)  # before the transaction, not inside it
        async with auth.db_of(request).connection() as conn:
            if mode == "invite" and not await accounts.use_invite(conn, body.invite):
                raise HTTPException(403, "registration is by invitation: give a valid, unused invite code")
            try:
                await accounts.register(conn, body.alias, body.password, body.email, hashed=hashed)
            except accounts.AccountError as exc:
                raise HTTPException(409 if "taken" in str(exc) else 400, str(exc)) from None
        return {"alias": body.alias}

    @r.post("/session", tags=["accounts"], max_body_size=hardening.BODY_SMALL)
    async def login(body: Login, request: Request, response: Response) -> dict[str, Any]:
        """Sign in; sets the session cookie and answers the CSRF token for changes."""
        db = auth.db_of(request)
        async with db.connection() as conn:  # check and record the attempt in one transaction
            attempt = await auth.begin_attempt(conn, body.alias, auth.client_ip(request),
                                               request.cookies.get(auth.DEVICE_COOKIE))
        if not isinstance(attempt, auth.Attempt):
            raise HTTPException(429, "too many failed sign-ins; try later",
                                headers={"Retry-After": str(attempt)})
        async with db.connection(readonly=True) as conn:
            found = await accounts.find(conn, body.alias)
        # argon2 runs outside any transaction: it takes a while and must not hold a connection
        # (on SQLite, the write lock)
        if found is None:
            await auth.burn_verify(body.password)
            raise HTTPException(401, "wrong alias or password")
        if not await auth.verify_password(found[1], body.password):
            raise HTTPException(401, "wrong alias or password")
        step = None
        if found[2]:
            step = auth.totp_step(_box(request).open(found[2]) or "", body.totp)
            if step is None:
                raise HTTPException(401, "TOTP code missing or wrong")
        async with db.connection() as conn:
            if step is not None and not await accounts.use_totp_step(conn, found[0], step):
                raise HTTPException(401, "TOTP code missing or wrong (each code works once)")
            device = await auth.attempt_succeeded(conn, attempt, found[0])
            sid, csrf = await auth.start_session(conn, found[0])
        auth.set_session_cookie(request, response, sid)
        auth.set_device_cookie(request, response, device)
        return {"alias": found[3], "csrf": csrf}

    @r.delete("/session", tags=["accounts"])
    async def logout(who: Who, request: Request, response: Response) -> dict[str, Any]:
        sid = request.cookies.get(auth.SESSION_COOKIE)
        if sid:
            async with auth.db_of(request).connection() as conn:
                await auth.end_session(conn, sid)
        response.delete_cookie(auth.SESSION_COOKIE, path="/")
        return {"ok": True}

    @r.get("/me", tags=["accounts"])
    async def me(who: Who, request: Request) -> dict[str, Any]:
        async with auth.db_of(request).connection() as conn:
            cur = await conn.execute(
                "SELECT email IS NOT NULL, totp_secret IS NOT NULL FROM accounts WHERE id = %s",
                (who.account_id,),
            )
            row = await cur.fetchone()
        return {
            "alias": who.alias,
            "admin": who.is_admin,
            "via": who.via,
            "scopes": sorted(who.scopes),
            "email": bool(row and row[0]),
            "totp": bool(row and row[1]),
        }

    @r.post("/me/totp", tags=["accounts"], max_body_size=hardening.BODY_SMALL)
    async def totp_start(body: TotpEnrol, who: Who, request: Request) -> dict[str, Any]:
        """Start TOTP (or replace it): needs the password, and a current code when TOTP is on;
        answers the secret (and an otpauth URI); confirm with a code to switch it on."""
        if who.via != "session":
            raise HTTPException(403, "TOTP is set up from a signed-in browser session, not with a token")
        async with auth.db_of(request).connection(readonly=True) as conn:
            found = await accounts.find(conn, who.alias)
        if found is None or not await auth.verify_password(found[1], body.password):
            raise HTTPException(403, "wrong password")
        box = _box(request)
        step = auth.totp_step(box.open(found[2]) or "", body.code) if found[2] else None
        if found[2] and step is None:
            raise HTTPException(403, "TOTP is on: give a current code to replace it")
        async with auth.db_of(request).connection() as conn:
            if step is not None and not await accounts.use_totp_step(conn, who.account_id, step):
                raise HTTPException(403, "that TOTP code was used already; wait for the next one")
            secret = await accounts.start_totp(conn, who.account_id, box)
        return {"secret": secret, "uri": auth.totp_uri(secret, who.alias)}

    @r.post("/me/totp/confirm", tags=["accounts"])
    async def totp_confirm(body: TotpCode, who: Who, request: Request) -> dict[str, Any]:
        async with auth.db_of(request).connection() as conn:
            if not await accounts.confirm_totp(conn, who.account_id, body.code, _box(request)):
                raise HTTPException(400, "wrong code, or TOTP not started")
        return {"totp": True}

    @r.post("/password-reset", status_code=202, tags=["accounts"], max_body_size=hardening.BODY_SMALL)
    async def reset(body: ResetRequest, request: Request, background: BackgroundTasks) -> dict[str, Any]:
        """Ask for a reset: the token goes to the account's e-mail, nowhere else. The same answer
        whether or not the alias exists or has an e-mail; 403 when this portal sends no mail
        (a feature switched off, not a fault)."""
        config = _config(request)
        in_answer = getattr(request.app.state, "reset_tokens_in_response", False)  # in-process tests only
        if config.smtp is None and not in_answer:
            raise HTTPException(403, "password reset by e-mail is not set up on this portal; "
                                     "ask its operator to reset your password")
        async with auth.db_of(request).connection() as conn:
            found = await accounts.request_reset(conn, body.alias)
        out: dict[str, Any] = {"ok": True}
        if found is not None and config.smtp is not None:
            token, email, alias = found
            background.add_task(mail.send, config.smtp,
                                mail.reset_message(config.smtp, email, alias, token, config.public_url))
        if in_answer:
            out["token"] = found[0] if found else None
        return out

    @r.post("/password-reset/confirm", tags=["accounts"], max_body_size=hardening.BODY_SMALL)
    async def reset_confirm(body: ResetConfirm, request: Request) -> dict[str, Any]:
        async with auth.db_of(request).connection() as conn:
            try:
                done = await accounts.confirm_reset(conn, body.token, body.password)
            except accounts.AccountError as exc:
                raise HTTPException(400, str(exc)) from None
        if not done:
            raise HTTPException(400, "unknown, used or expired reset token")
        return {"ok": True}

    # -------------------------------------------------------- personal access tokens

    @r.get("/tokens", tags=["tokens"])
    async def token_list(who: Who, request: Request) -> list[dict[str, Any]]:
        async with auth.db_of(request).connection() as conn:
            return await tokens.listing(conn, who.account_id)

    @r.post("/tokens", status_code=201, tags=["tokens"], openapi_extra=TOKEN_LINKS)
    async def token_new(body: NewToken, who: Who, request: Request) -> dict[str, Any]:
        """A new token; its secret is in this answer only."""
        if "admin" in body.scopes and who.via == "token":
            raise HTTPException(403, "a token cannot make admin tokens; sign in")
        async with auth.db_of(request).connection() as conn:
            tid, secret, expires = await tokens.create(
                conn, who.account_id, body.name, list(body.scopes), body.days
            )
        return {
            "id": tid,
            "token": secret,
            "scopes": sorted(set(body.scopes)),
            "expires_at": expires.isoformat(),
        }

    @r.delete("/tokens/{token_id}", tags=["tokens"])
    async def token_revoke(
        token_id: Annotated[int, Path(ge=1, le=2**31 - 1)], who: Who, request: Request
    ) -> dict[str, Any]:
        async with auth.db_of(request).connection() as conn:
            if not await tokens.revoke(conn, who.account_id, token_id):
                raise not_found()
        return {"ok": True}

    # -------------------------------------------------------- sites and grants

    @r.get("/sites", tags=["sites"])
    async def site_list(who: Who, request: Request) -> list[dict[str, Any]]:
        async with auth.db_of(request).connection() as conn:
            return await sites.listing(conn, who.account_id)

    @r.post("/sites", status_code=201, tags=["sites"], openapi_extra=SITE_LINKS)
    async def site_new(body: NewSite, who: Who, request: Request) -> dict[str, Any]:
        async with auth.db_of(request).connection() as conn:
            try:
                chosen = "owner" if "tz" in body.model_fields_set else "default"  # else the edge's
                name = await sites.create(conn, who.account_id, body.label, body.tz, chosen)
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None
        return {"site": name, "label": body.label, "tz": body.tz}

    @r.get("/sites/{site}", tags=["sites"])
    async def site_info(site: SiteName, who: Who, request: Request) -> dict[str, Any]:
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who)
            out = await sites.info(conn, ref)
            out["maintenance"] = await maintenance.live_grants(conn, ref.site_id)
            out["roles"] = await site_roles.load(conn, ref.site_id)  # {} for legacy loggers
        out["flows"] = site_roles.flows(out["roles"])
        return out

    @r.post("/sites/{site}/edge-tokens", status_code=201, tags=["sites"])
    async def edge_token(
        site: SiteName, request: Request, who: Annotated[Principal, Depends(auth.ingest_principal)]
    ) -> dict[str, Any]:
        """Pair an edge: a new site token for ``POST /api/v1/ingest`` (shown once)."""
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who, owner=True)
            token = await sites.new_edge_token(conn, ref.site_id)
            await sites.audit(conn, ref.site_id, who.account_id, "edge.pair")
        return {"site": ref.name, "token": token}

    @r.delete("/sites/{site}/edge-tokens", tags=["sites"])
    async def edge_tokens_revoke(site: SiteName, who: Who, request: Request) -> dict[str, Any]:
        """Revoke every edge token of the site (a stolen or retired edge); pair again to resume."""
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who, owner=True)
            n = await sites.revoke_edge_tokens(conn, ref.site_id)
            await sites.audit(conn, ref.site_id, who.account_id, "edge.revoke", {"tokens": n})
        return {"revoked": n}

    @r.get("/sites/{site}/grants", tags=["sites"])
    async def grant_list(site: SiteName, who: Who, request: Request) -> list[dict[str, Any]]:
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who, owner=True)
            return await sites.grants(conn, ref.site_id)

    @r.put("/sites/{site}/grants/{alias}", tags=["sites"])
    async def grant_set(
        site: SiteName,
        alias: Annotated[str, Path(min_length=1, max_length=64)],
        body: GrantBody,
        who: Who,
        request: Request,
    ) -> dict[str, Any]:
        """Give another account read access as viewer or installer."""
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who, owner=True)
            other = await accounts.account_id(conn, alias)
            if other is None:
                raise HTTPException(400, f"no account {alias!r}")
            if not await sites.grant(conn, ref.site_id, other, body.role):
                raise HTTPException(400, "the owner's own role cannot change")
            await sites.audit(
                conn, ref.site_id, who.account_id, "grant.set", {"alias": alias, "role": body.role}
            )
        return {"alias": alias, "role": body.role}

    @r.delete("/sites/{site}/grants/{alias}", tags=["sites"])
    async def grant_revoke(
        site: SiteName, alias: Annotated[str, Path(min_length=1, max_length=64)], who: Who, request: Request
    ) -> dict[str, Any]:
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who, owner=True)
            other = await accounts.account_id(conn, alias)
            if other is None or not await sites.revoke(conn, ref.site_id, other):
                raise HTTPException(404, "no such grant")
            await sites.audit(conn, ref.site_id, who.account_id, "grant.revoke", {"alias": alias})
        return {"ok": True}

    @r.get("/sites/{site}/audit", tags=["sites"])
    async def audit_log(
        site: SiteName,
        who: Who,
        request: Request,
        limit: int = Query(200, ge=1, le=1000),
        before: int | None = Query(None, ge=1, le=2**62),
    ) -> list[dict[str, Any]]:
        """The site's audit log, newest first (owner only)."""
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who, owner=True)
            return await sites.audit_entries(conn, ref.site_id, limit, before)

    @r.get("/sites/{site}/retention", tags=["retention"])
    async def retention_get(site: SiteName, who: Who, request: Request) -> dict[str, Any]:
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who, owner=True)
            return await retention.policy(conn, ref.site_id)

    @r.put("/sites/{site}/retention", tags=["retention"])
    async def retention_set(
        site: SiteName, body: RetentionBody, who: Who, request: Request
    ) -> dict[str, Any]:
        """Change the site's tiers, the raw archive opt-in and the research consent."""
        changes = body.model_dump(exclude_none=True)
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who, owner=True)
            out = await retention.set_policy(conn, ref.site_id, changes)
            await sites.audit(conn, ref.site_id, who.account_id, "retention.set", changes)
        return out

    # -------------------------------------------------------- data

    @r.get("/sites/{site}/channels", tags=["data"])
    async def channel_list(site: SiteName, who: Who, request: Request) -> list[dict[str, Any]]:
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who)
            return await sites.channels(conn, ref.site_id)

    @r.get("/sites/{site}/live", tags=["data"])
    async def live(site: SiteName, who: Who, request: Request) -> dict[str, Any]:
        """The newest value of every channel (poll every few seconds for the live view)."""
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who)
            values = await sites.live(conn, ref.site_id)
        return {"site": ref.name, "now_ms": int(time.time() * 1000), "values": values}

    # GET /sites/{site}/series and PUT /sites/{site}/timezone: series_api.py

    # -------------------------------------------------------- maintenance

    @r.get("/sites/{site}/maintenance", tags=["maintenance"])
    async def maint_list(site: SiteName, who: Who, request: Request) -> list[dict[str, Any]]:
        """Live maintenance grants: all of them for the owner, one's own for an installer."""
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who, maintenance_ok=True)
            mine = None if ref.role == "owner" else who.account_id
            return await maintenance.live_grants(conn, ref.site_id, mine)

    @r.post("/sites/{site}/maintenance", status_code=201, tags=["maintenance"])
    async def maint_grant(
        site: SiteName, body: MaintenanceBody, who: Who, request: Request
    ) -> dict[str, Any]:
        """Switch maintenance on for one installer for ``hours``; it ends by itself."""
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who, owner=True)
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

    @r.delete("/sites/{site}/maintenance/{grant_id}", tags=["maintenance"])
    async def maint_end(
        site: SiteName, grant_id: Annotated[int, Path(ge=1, le=2**31 - 1)], who: Who, request: Request
    ) -> dict[str, Any]:
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who, owner=True)
            if not await maintenance.end_grant(conn, ref.site_id, grant_id):
                raise HTTPException(404, "no such live grant")
            await sites.audit(conn, ref.site_id, who.account_id, "maintenance.end", {"grant": grant_id})
        return {"ok": True}

    @r.post("/sites/{site}/maintenance/commands", status_code=201, tags=["maintenance"])
    async def maint_command(site: SiteName, body: CommandBody, who: Who, request: Request) -> dict[str, Any]:
        """Queue a command for the edge (installer with a live grant); the edge fetches it."""
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who, maintenance_ok=True)
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

    @r.get("/sites/{site}/maintenance/commands/{command_id}", tags=["maintenance"])
    async def maint_result(
        site: SiteName, command_id: Annotated[int, Path(ge=1, le=2**31 - 1)], who: Who, request: Request
    ) -> dict[str, Any]:
        async with auth.db_of(request).connection() as conn:
            ref = await _site(conn, site, who, maintenance_ok=True)
            cmd = await maintenance.command(conn, ref.site_id, command_id)
            if cmd is None or (ref.role != "owner" and cmd["issued_by_id"] != who.account_id):
                raise HTTPException(404, "no such command")
            if ref.role != "owner" and not await maintenance.live_grants(conn, ref.site_id, who.account_id):
                raise not_found()
        cmd.pop("issued_by_id")
        return cmd

    # -------------------------------------------------------- administration

    @r.post("/admin/retention/run", tags=["admin"])
    async def retention_run(
        request: Request,
        who: Annotated[Principal, Depends(auth.admin_principal)],
    ) -> dict[str, Any]:
        """Run the rollup and retention job now (also run it from a timer, e.g. every 5 minutes)."""
        async with auth.db_of(request).connection() as conn:
            return await retention.run(conn, int(time.time() * 1000))

    @r.post("/admin/invites", status_code=201, tags=["admin"])
    async def invite_new(
        request: Request,
        who: Annotated[Principal, Depends(auth.admin_principal)],
    ) -> dict[str, Any]:
        """A new invitation code for registration by invitation (shown once)."""
        async with auth.db_of(request).connection() as conn:
            code = await accounts.create_invite(conn, who.account_id)
        return {"invite": code, "days": accounts.INVITE_TTL.days}

    @r.get("/research/export", tags=["admin"])
    async def research_export(
        request: Request,
        who: Annotated[Principal, Depends(auth.admin_principal)],
        from_: Annotated[datetime | None, Query(alias="from")] = None,
        to: datetime | None = None,
        resolution: Literal["1h", "1d"] = "1d",
    ) -> Response:
        """Anonymised aggregated series of consenting sites (CSV; pseudonyms, no aliases)."""
        end = _utc(to, datetime.now(UTC))
        start = _utc(from_, end - timedelta(days=365))
        if not start < end:
            raise HTTPException(400, "from must be before to")
        return StreamingResponse(
            research.export_csv(
                auth.db_of(request), resolution, int(start.timestamp() * 1000), int(end.timestamp() * 1000)
            ),
            media_type="text/csv",
        )

    return r
