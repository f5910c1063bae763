"""``/api/v1`` accounts: registration, sign-in and -out, the caller's own account, TOTP and
password reset (the account routes anybody can reach take small bodies only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request, Response
from pydantic import BaseModel, Field

from wattwerk.portal import accounts, auth, hardening, mail, settings
from wattwerk.portal.api import PREFIX, Who, box_of, config_of


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


async def register(body: NewAccount, request: Request) -> dict[str, Any]:
    """Create an account: an alias and a password; e-mail optional (password reset only).
    The portal's registration may be open, by invitation (``invite``) or closed."""
    mode = await settings.registration_mode(request)  # the operator's choice, else the config's
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
            await accounts.register(
                conn, body.alias, body.password, body.email, hashed=hashed, box=box_of(request)
            )
        except accounts.AccountError as exc:
            raise HTTPException(409 if "taken" in str(exc) else 400, str(exc)) from None
    return {"alias": body.alias}


async def login(body: Login, request: Request, response: Response) -> dict[str, Any]:
    """Sign in; sets the session cookie and answers the CSRF token for changes."""
    db = auth.db_of(request)
    async with db.connection() as conn:  # check and record the attempt in one transaction
        attempt = await auth.begin_attempt(
            conn, body.alias, auth.client_ip(request), request.cookies.get(auth.DEVICE_COOKIE)
        )
    if not isinstance(attempt, auth.Attempt):
        raise HTTPException(429, "too many failed sign-ins; try later", headers={"Retry-After": str(attempt)})
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
        step = auth.totp_step(box_of(request).open(found[2]) or "", body.totp)
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


async def logout(who: Who, request: Request, response: Response) -> dict[str, Any]:
    sid = request.cookies.get(auth.SESSION_COOKIE)
    if sid:
        async with auth.db_of(request).connection() as conn:
            await auth.end_session(conn, sid)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return {"ok": True}


async def me(who: Who, request: Request) -> dict[str, Any]:
    async with auth.db_of(request).connection() as conn:
        email, totp = await accounts.settings(conn, who.account_id)
    return {
        "alias": who.alias,
        "admin": who.is_admin,
        "via": who.via,
        "scopes": sorted(who.scopes),
        "email": email,
        "totp": totp,
    }


async def totp_start(body: TotpEnrol, who: Who, request: Request) -> dict[str, Any]:
    """Start TOTP (or replace it): needs the password, and a current code when TOTP is on;
    answers the secret (and an otpauth URI); confirm with a code to switch it on."""
    if who.via != "session":
        raise HTTPException(403, "TOTP is set up from a signed-in browser session, not with a token")
    async with auth.db_of(request).connection(readonly=True) as conn:
        found = await accounts.find(conn, who.alias)
    if found is None or not await auth.verify_password(found[1], body.password):
        raise HTTPException(403, "wrong password")
    box = box_of(request)
    step = auth.totp_step(box.open(found[2]) or "", body.code) if found[2] else None
    if found[2] and step is None:
        raise HTTPException(403, "TOTP is on: give a current code to replace it")
    async with auth.db_of(request).connection() as conn:
        if step is not None and not await accounts.use_totp_step(conn, who.account_id, step):
            raise HTTPException(403, "that TOTP code was used already; wait for the next one")
        secret = await accounts.start_totp(conn, who.account_id, box)
    return {"secret": secret, "uri": auth.totp_uri(secret, who.alias)}


async def totp_confirm(body: TotpCode, who: Who, request: Request) -> dict[str, Any]:
    async with auth.db_of(request).connection() as conn:
        if not await accounts.confirm_totp(conn, who.account_id, body.code, box_of(request)):
            raise HTTPException(400, "wrong code, or TOTP not started")
    return {"totp": True}


async def reset(body: ResetRequest, request: Request, background: BackgroundTasks) -> dict[str, Any]:
    """Ask for a reset: the token goes to the account's e-mail, nowhere else. The same answer
    whether or not the alias exists or has an e-mail; 403 when this portal sends no mail
    (a feature switched off, not a fault)."""
    config = config_of(request)
    in_answer = getattr(request.app.state, "reset_tokens_in_response", False)  # in-process tests only
    if config.smtp is None and not in_answer:
        raise HTTPException(
            403,
            "password reset by e-mail is not set up on this portal; ask its operator to reset your password",
        )
    async with auth.db_of(request).connection() as conn:
        found = await accounts.request_reset(conn, body.alias, box_of(request))
    out: dict[str, Any] = {"ok": True}
    if found is not None and config.smtp is not None:
        token, email, alias = found
        background.add_task(
            mail.send, config.smtp, mail.reset_message(config.smtp, email, alias, token, config.public_url)
        )
    if in_answer:
        out["token"] = found[0] if found else None
    return out


async def reset_confirm(body: ResetConfirm, request: Request) -> dict[str, Any]:
    async with auth.db_of(request).connection() as conn:
        try:
            done = await accounts.confirm_reset(conn, body.token, body.password)
        except accounts.AccountError as exc:
            raise HTTPException(400, str(exc)) from None
    if not done:
        raise HTTPException(400, "unknown, used or expired reset token")
    return {"ok": True}


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["accounts"])
    small = hardening.BODY_SMALL
    r.add_api_route("/accounts", register, methods=["POST"], status_code=201, max_body_size=small)
    r.add_api_route("/session", login, methods=["POST"], max_body_size=small)
    r.add_api_route("/session", logout, methods=["DELETE"])
    r.add_api_route("/me", me, methods=["GET"])
    r.add_api_route("/me/totp", totp_start, methods=["POST"], max_body_size=small)
    r.add_api_route("/me/totp/confirm", totp_confirm, methods=["POST"])
    r.add_api_route("/password-reset", reset, methods=["POST"], status_code=202, max_body_size=small)
    r.add_api_route("/password-reset/confirm", reset_confirm, methods=["POST"], max_body_size=small)
    return r
