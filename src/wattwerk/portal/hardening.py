"""What keeps the portal standing against hostile clients: body and nesting limits, the
security headers of every answer, safe redirect targets, 422s that never echo a secret.

* Bodies: FastAPI's own streaming limit (``max_body_size``, Starlette's
  ``RequestBodyLimitMiddleware``) counts the bytes of chunked and sized bodies as they arrive,
  before any route or authentication runs, and answers 413: ``BODY_DEFAULT`` for the app,
  ``BODY_SMALL`` for the account routes anybody can reach, the ingest route its own.
* JSON nesting: :func:`loads` refuses documents nested deeper than ``MAX_DEPTH`` (a plain
  ``json.loads`` raises ``RecursionError`` on deep ones: a 500).
* Headers: CSP (scripts and styles only from the portal itself; no frames, no plugins, forms
  only to the portal), ``X-Frame-Options: DENY``, ``Referrer-Policy``, ``nosniff``.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BODY_DEFAULT = 1024 * 1024  # every route unless it says otherwise
BODY_SMALL = 16 * 1024  # sign-in, registration, password reset: reachable by anybody
MAX_DEPTH = 32  # JSON nesting; an ingest batch needs 3, the legacy APIs 3

HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        b"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
)

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_DEPTH = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_DROP = bytes(sorted(set(range(256)) - set(b"[]{}")))


class TooDeep(ValueError):
    """A document nested deeper than allowed."""


def depth(raw: bytes) -> int:
    """How deep a JSON text nests its arrays and objects (brackets inside strings do not count)."""
    steps = _STRING.sub(b"", raw).translate(_DEPTH, _DROP)
    return max(accumulate(b - 1 for b in steps), default=0)


def loads(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses nesting deeper than ``max_depth`` (TooDeep, a ValueError)."""
    data = raw.encode() if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") > max_depth and depth(data) > max_depth:
        raise TooDeep(f"JSON nested deeper than {max_depth} levels")
    return json.loads(data)


_SAFE_NEXT = re.compile(r"^/(?![/\\])[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$")


def safe_next(target: str | None, default: str = "/sites") -> str:
    """A same-origin path to go to after sign-in, else ``default``: no scheme, no ``//`` or
    ``/\\`` (browsers read both as another host), no control characters or backslashes
    anywhere (browsers drop tabs and newlines, so ``/\\t/host`` became ``//host``)."""
    if not target or not _SAFE_NEXT.match(target) or "\\" in target:
        return default
    if "%" in target:  # a percent-encoded separator or control character decodes to the same trap
        low = target.lower()
        if any(bad in low for bad in ("%5c", "%2f%2f", "%09", "%0a", "%0d", "%00")) or low.startswith("/%2f"):
            return default
    return target


class SecurityHeaders:
    """ASGI middleware: the security headers on every HTTP answer (unless a route set them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                headers.extend((k, v) for k, v in HEADERS if k not in have)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 like FastAPI's, without the submitted values (they may be passwords or tokens); of
    pydantic's ``ctx`` only the rule's own limits (numbers, short texts such as ``ge``,
    ``max_length``), which the pages put into their translated message (portal/messages.py)."""
    assert isinstance(exc, RequestValidationError)
    detail = []
    for err in exc.errors():
        out = {k: v for k, v in err.items() if k not in ("input", "ctx", "url")}
        limits = {
            k: v
            for k, v in (err.get("ctx") or {}).items()
            if k != "error" and (isinstance(v, int | float) or (isinstance(v, str) and len(v) <= 100))
        }
        if limits:
            out["ctx"] = limits
        detail.append(out)
    return JSONResponse({"detail": detail}, status_code=422)


def install(app: FastAPI) -> None:
    """Security headers on every answer; 422s without the submitted values."""
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(RequestValidationError, _validation_error)
