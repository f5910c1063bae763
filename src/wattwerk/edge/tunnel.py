"""The edge's end of the maintenance tunnel: the ``proxy`` command, one HTTP request to its own page.

The portal turns an installer's request under ``/sites/{site}/edge/...`` into a ``proxy`` command on
the edge's outbound command channel (``portal.tunnel``). The edge runs it here, in process, against
its own web app (``httpx.ASGITransport``: no socket, no other host is reachable; there is no network
transport at all), through the app's own gate (``edge.web_auth``): the request names the edge in
``Host`` and carries a *tunnel session*, a session of the edge's ``EdgeAuth`` that this module opens
for itself and whose cookie and CSRF token never leave the edge (``Set-Cookie`` is dropped from every
answer). The portal has checked the installer's maintenance window before it queued the command; the
edge trusts its portal (authenticated by TLS, the site token) for that, as for every other command.

Payload: ``{"method", "path", "query", "headers": {name: value}, "body": base64}``; the answer:
``{"status", "headers": [[name, value], ...], "body": base64}`` with the body bounded by
``MAX_RESPONSE`` (a larger one is refused with 502, not cut short).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

import httpx

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
MAX_REQUEST = 1024 * 1024  # the portal bounds the installer's body to the same
MAX_RESPONSE = 512 * 1024  # base64 of it fits the portal's 1 MiB result body
TIMEOUT_S = 15.0
# what a browser may tell the edge; cookies, Authorization, Origin, Referer and CSRF never pass
REQUEST_HEADERS = frozenset(
    {"accept", "accept-language", "content-type", "if-none-match", "if-modified-since", "x-requested-with"}
)
RESPONSE_HEADERS = frozenset(
    {"content-type", "content-language", "content-disposition", "location", "etag", "last-modified"}
)


class TunnelRefused(ValueError):
    """A proxy command the edge does not run (bad method, path, body)."""


class EdgeTunnel:
    """Runs ``proxy`` commands against ``app()`` (the edge's ASGI app) signed in by ``auth()``
    (its ``EdgeAuth``, asked after ``app()``); the page is built only when first used."""

    def __init__(self, app: Callable[[], Any], auth: Callable[[], Any]) -> None:
        self._app, self._auth = app, auth
        self._token: str | None = None

    def _session(self) -> tuple[str, str]:
        """(cookie, csrf) of the tunnel's own session, opened again when it ended (a new password,
        a sign-out through the tunnel, its age)."""
        auth = self._auth()
        session = auth.session(self._token)
        if session is None:
            self._token, session = auth.new_session()
        assert self._token is not None
        return self._token, session.csrf

    def _host(self) -> str:
        auth = self._auth()
        if auth.host_ok("localhost"):
            return "localhost"
        names = sorted(auth.configured or auth.hosts)  # a site that answers only to configured names
        return names[0] if names else "localhost"

    async def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        method, path, query, body = _request_of(payload)
        app = self._app()  # first: building the page makes its auth
        token, csrf = self._session()
        host = self._host()
        headers = {
            k.lower(): str(v)
            for k, v in (payload.get("headers") or {}).items()
            if isinstance(k, str) and k.lower() in REQUEST_HEADERS
        }
        headers |= {"host": host, "cookie": f"ww_session={token}", "x-csrf-token": csrf}
        url = httpx.URL(scheme="http", host=host, path=path, query=query.encode())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport) as client:
            resp = await asyncio.wait_for(
                client.request(method, url, headers=headers, content=body), TIMEOUT_S
            )
        if len(resp.content) > MAX_RESPONSE:
            return _error(502, f"the edge's answer is larger than {MAX_RESPONSE // 1024} KiB")
        kept = [[k, v] for k, v in resp.headers.multi_items() if k.lower() in RESPONSE_HEADERS]
        return {"status": resp.status_code, "headers": kept, "body": base64.b64encode(resp.content).decode()}


def _request_of(payload: dict[str, Any]) -> tuple[str, str, str, bytes]:
    method = str(payload.get("method", "GET")).upper()
    if method not in METHODS:
        raise TunnelRefused(f"method {method} is not passed through the tunnel")
    path = payload.get("path")
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//") or len(path) > 2000:
        raise TunnelRefused("the path must be one of the edge's own, starting with a single /")
    if any(part in (".", "..") for part in path.split("/")):
        raise TunnelRefused("the path must not contain . or .. segments")
    query = payload.get("query") or ""
    if not isinstance(query, str) or len(query) > 4000:
        raise TunnelRefused("the query must be a string of at most 4000 characters")
    try:
        body = base64.b64decode(payload.get("body") or "", validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise TunnelRefused("the body must be base64") from None
    if len(body) > MAX_REQUEST:
        raise TunnelRefused(f"the body is larger than {MAX_REQUEST // 1024} KiB")
    return method, path, query, body


def _error(status: int, message: str) -> dict[str, Any]:
    text = json.dumps({"ok": False, "errors": [message]}).encode()
    return {
        "status": status,
        "headers": [["content-type", "application/json"]],
        "body": base64.b64encode(text).decode(),
    }
