"""The edge page's gate: which request needs what (``ACCESS``), and the sign-in API.

Every request, websockets included, must name the edge in ``Host``; a browser's ``Origin`` must
too. Then, by path (data, ``ACCESS``):

* ``open``: the sign-in page and API, static files;
* ``first``: the installation wizard's page, open only until the admin password is set;
* ``live``: the read-only live view, public when the owner chose so (``web.public_live``);
* ``metrics``: ``/metrics``, with ``Authorization: Bearer <metrics.token>`` or a session;
* everything else (setup, wizard API, catalogue): a session.

Until the admin password is set, only ``open`` and ``first`` answer (pages redirect to the
wizard, the API says 503). Writes (POST …) need the session's CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

import json
import re
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from wattwerk.edge.auth import SESSION_TTL_S, EdgeAuth, LoginRefused
from wattwerk.errors import PermanentError

SESSION_COOKIE, CSRF_COOKIE, CSRF_HEADER = "ww_session", "ww_csrf", "x-csrf-token"
SESSION_TTL = int(SESSION_TTL_S)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# path (exact, or a prefix ending in "/") -> what it needs; the first match wins, else "login"
ACCESS: list[tuple[str, str]] = [
    ("/login", "open"),
    ("/api/auth", "open"),
    ("/api/auth/", "open"),
    ("/static/", "open"),
    ("/manifest.webmanifest", "open"),
    ("/sw.js", "open"),  # the installable app's shell
    ("/wizard", "first"),
    ("/", "live"),
    ("/api/live", "live"),
    ("/api/today", "live"),
    ("/api/devices", "live"),
    ("/api/plan", "live"),
    ("/api/ws", "live"),
    ("/metrics", "metrics"),
]
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
]
_SAFE_NEXT = re.compile(r"^/(?![/\\])[^\s\\]*$")


def access(path: str) -> str:
    for prefix, need in ACCESS:
        if path == prefix or (len(prefix) > 1 and prefix.endswith("/") and path.startswith(prefix)):
            return need
    return "login"


def safe_next(target: str | None) -> str:
    """A same-origin path to go to after signing in; anything else (``//host``, ``/\\host``) is ``/``."""
    return target if target and _SAFE_NEXT.match(target) and len(target) < 2000 else "/"


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookie(headers: dict[str, str], name: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed cookie header is no session
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


class AuthGate:
    """ASGI middleware applying ``ACCESS`` to HTTP requests and websockets."""

    def __init__(self, app: ASGIApp, auth: EdgeAuth) -> None:
        self.app, self.auth = app, auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        why = self._refusal(scope)
        if why is None:
            await self.app(scope, receive, _with_headers(send))
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": why[1][:120]})
        else:
            await _deny(scope, send, *why)

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        """None when the request may pass, else (status, reason); 303 means redirect to the reason."""
        auth, headers = self.auth, _headers(scope)
        if not auth.host_ok(headers.get("host")):
            return 421, (
                f"this edge does not answer to {headers.get('host', '')!r}: open it by one of its "
                "names, or add the name to web.hosts in the site file"
            )
        origin = headers.get("origin")
        if origin is not None and not auth.origin_ok(origin):
            return 403, f"requests from {origin!r} are not accepted"
        path, method = scope["path"], scope.get("method", "GET")
        need = access(path)
        if need == "open" or (need == "metrics" and auth.metrics_ok(headers.get("authorization"))):
            return None
        page = (
            scope["type"] == "http" and method in SAFE_METHODS and not path.startswith(("/api/", "/metrics"))
        )
        if not auth.password_set:
            if need == "first":
                return None
            return (303, "/wizard") if page else (503, "set the admin password in the wizard first")
        if need == "live" and auth.public_live and method in SAFE_METHODS:
            return None
        session = auth.session(_cookie(headers, SESSION_COOKIE))
        if session is None:
            return (303, "/login?next=" + quote(path)) if page else (401, "sign in first")
        wrong_csrf = headers.get(CSRF_HEADER, "") != session.csrf
        if scope["type"] == "http" and method not in SAFE_METHODS and wrong_csrf:
            return 403, "missing or wrong CSRF token (X-CSRF-Token)"
        return None


def _with_headers(send: Send) -> Send:
    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
        await send(message)

    return wrapped


async def _deny(scope: Scope, send: Send, status: int, reason: str) -> None:
    if status == 303:
        headers = [(b"location", reason.encode("latin-1", "replace")), (b"content-length", b"0")]
        body = b""
    else:
        body = json.dumps({"ok": False, "errors": [reason]}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + SECURITY_HEADERS})
    await send({"type": "http.response.body", "body": body})


class PasswordBody(BaseModel):
    password: str = Field(max_length=256)
    next: str | None = None


class ChangeBody(BaseModel):
    current: str = Field(max_length=256)
    password: str = Field(max_length=256)


def _signed_in(auth: EdgeAuth, request: Request, next_path: str | None = None) -> JSONResponse:
    """A new session: its cookie (HttpOnly) and its CSRF token (answered, and a readable cookie)."""
    token, session = auth.new_session()
    resp = JSONResponse({"ok": True, "next": safe_next(next_path), "csrf": session.csrf})
    secure = request.url.scheme == "https"
    resp.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/", max_age=SESSION_TTL
    )
    resp.set_cookie(
        CSRF_COOKIE,
        session.csrf,
        httponly=False,
        samesite="strict",
        secure=secure,
        path="/",
        max_age=SESSION_TTL,
    )
    return resp


def _errors(status: int, *lines: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"ok": False, "errors": list(lines)}, status, headers=headers)


async def _password_ok(auth: EdgeAuth, request: Request, password: str) -> JSONResponse | None:
    """None when ``password`` is right; else the answer (401, or 429 over the sign-in limit)."""
    address = request.client.host if request.client else "?"
    try:
        ok = await auth.check_password(password, address)
    except LoginRefused as exc:
        return _errors(429, str(exc), headers={"Retry-After": str(max(1, int(exc.retry_after_s + 0.999)))})
    return None if ok else _errors(401, "wrong password")


def auth_router(auth: EdgeAuth) -> APIRouter:
    """``GET /api/auth``, ``POST /api/auth/password`` (first start), ``/api/auth/login``, ``/logout``;
    ``POST /api/account/password`` changes the password (a session and its CSRF token, the gate)."""
    router = APIRouter()

    @router.get("/api/auth")
    async def status(request: Request) -> JSONResponse:
        session = auth.session(request.cookies.get(SESSION_COOKIE))
        return JSONResponse(
            {
                "password_set": auth.password_set,
                "signed_in": session is not None,
                "public_live": auth.public_live,
            }
        )

    @router.post("/api/auth/password")
    async def first_password(request: Request, body: PasswordBody) -> JSONResponse:
        try:
            auth.set_password(body.password)
        except PermanentError as exc:
            return _errors(409 if auth.password_set else 422, str(exc))
        return _signed_in(auth, request, body.next)

    @router.post("/api/auth/login")
    async def login(request: Request, body: PasswordBody) -> JSONResponse:
        if not auth.password_set:
            return _errors(409, "no admin password yet: set it in the wizard")
        refused = await _password_ok(auth, request, body.password)
        return refused or _signed_in(auth, request, body.next)

    @router.post("/api/auth/logout")
    async def logout(request: Request) -> JSONResponse:
        token = request.cookies.get(SESSION_COOKIE)
        session = auth.session(token)
        if session is not None and request.headers.get(CSRF_HEADER) != session.csrf:
            return _errors(403, "missing or wrong CSRF token")
        auth.end_session(token)
        resp = JSONResponse({"ok": True})
        resp.delete_cookie(SESSION_COOKIE, path="/")
        resp.delete_cookie(CSRF_COOKIE, path="/")
        return resp

    @router.post("/api/account/password")
    async def change_password(request: Request, body: ChangeBody) -> JSONResponse:
        refused = await _password_ok(auth, request, body.current)  # a stolen session alone is not enough
        if refused is not None:  # 403, not 401: the session is fine (the page would sign in again)
            return refused if refused.status_code == 429 else _errors(403, "the current password is wrong")
        try:
            auth.set_password(body.password, replace=True)  # ends every session, this one too
        except PermanentError as exc:
            return _errors(422, str(exc))
        return _signed_in(auth, request)

    return router
