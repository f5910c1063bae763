"""The maintenance tunnel: the edge's own page, proxied by the portal (issue 14, "remote maintenance").

``/sites/{site}/edge/{path}`` turns each request of a signed-in installer (with a live maintenance
grant on the site) or of the site's owner (while any window is open) into a ``proxy`` command on the
edge's own outbound command channel (``portal.maintenance``; queueing it wakes the long poll and the
answer wakes the waiting request, ``portal.wakeup``). The edge runs it in process against its own web
app and answers (``edge.tunnel``); the portal waits up to ``WAIT_S`` and returns the edge's status, a
few of its headers and its body. No port is opened at the site, and only the edge's own app is
reachable: the portal sends nothing but a method, a path of the edge's, a query, some headers and a
body (at most ``hardening.BODY_DEFAULT``, counted before authentication), and the edge has no network
transport for it.

* Never passed: the portal's cookies and ``Authorization`` (the edge signs the tunnel in with a
  session of its own), the edge's ``Set-Cookie``; ``/sw.js`` (a service worker would outlive the
  window). Every answer is ``Cache-Control: no-store`` under the portal's own security headers (CSP).
* CSRF: changes need the portal session's token in ``X-CSRF-Token`` (``auth.authenticate``); the edge
  page's scripts read it from the ``ww_csrf`` cookie, which the portal sets for the tunnel's path.
* Audit: every proxied request is one ``maintenance.proxy`` entry (method, path, status; no bodies or
  queries) in the site's audit log.
* The end: once the window has ended (by itself or by the owner), each request answers 410 with a
  page that says so; nothing from the edge is shown any more (``no-store``: not even from the cache).
"""

from __future__ import annotations

import base64
import binascii
import html
import time
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from wattwerk.portal import auth, i18n, maintenance, owner_commands, sites, wakeup
from wattwerk.portal.auth import Principal
from wattwerk.portal.database import Conn, utcnow

WAIT_S = 20.0  # for the edge's answer; then 504 and the request is withdrawn
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
FORWARD = (
    "accept",
    "accept-language",
    "content-type",
    "if-none-match",
    "if-modified-since",
    "x-requested-with",
)
KEEP = ("content-type", "content-language", "content-disposition", "location", "etag", "last-modified")
BLOCKED = ("/sw.js",)
SITE = Annotated[str, Path(min_length=1, max_length=64)]


def _lang(request: Request) -> str:
    return i18n.negotiate(
        request.query_params.get("lang"),
        request.cookies.get(i18n.COOKIE),
        request.headers.get("accept-language"),
    )


def _refuse(request: Request, status: int, key: str, extra: str = "") -> Response:
    """A clear answer: a small page for a browser's page request, JSON for the page's scripts."""
    lang = _lang(request)
    message = i18n.text(lang, f"tunnel.{key}") + extra
    headers = {"Cache-Control": "no-store"}
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"ok": False, "errors": [message], "detail": message}, status, headers=headers)
    site = html.escape(quote(request.path_params.get("site", ""), safe=""))
    body = (
        f'<!doctype html><html lang="{lang}"><meta charset="utf-8"><title>{status} · wattwerk</title>'
        '<link rel="stylesheet" href="/static/style.css"><header><b style="font-size:1.25rem">wattwerk</b>'
        '</header><main class="narrow"><section class="card">'  # one column (style.css's main has two)
        f'<h1>{status}</h1><p id="tunnel-refused" data-reason="{key}">{html.escape(message)}</p>'
        f'<p><a href="/sites/{site}/maintain">{html.escape(i18n.text(lang, "maint.title"))}</a> · '
        f'<a href="/sites">{html.escape(i18n.text(lang, "nav.sites"))}</a></p></section></main></html>'
    )
    return HTMLResponse(body, status, headers=headers)


async def _csrf(conn: Conn, request: Request) -> str | None:
    """The portal session's CSRF token (for the edge page's scripts), or None for a token caller."""
    sid = request.cookies.get(auth.SESSION_COOKIE)
    if not sid:
        return None
    row = await conn.fetchone(
        "SELECT csrf FROM sessions WHERE id_hash = %s AND expires_at > %s", (auth.sha256(sid), utcnow())
    )
    return str(row[0]) if row else None


async def _queue(conn: Conn, request: Request, who: Principal, site: str, payload: dict[str, Any]) -> Any:
    """(site id, command id) queued for the edge, or the refusal to answer instead: 404 for a stranger
    (as if missing), 410 once the caller's window has ended, 403 without a window, 502 while offline."""
    ref = await sites.lookup(conn, site, who.account_id)
    site_id = ref.site_id if ref else await conn.fetchval("SELECT id FROM sites WHERE name = %s", (site,))
    owner = ref is not None and ref.role == "owner"
    if ref is None or not await maintenance.live_grants(conn, ref.site_id, None if owner else who.account_id):
        if site_id is not None and not owner and await maintenance.ended_grant(conn, site_id, who.account_id):
            return _refuse(request, 410, "ended")
        return _refuse(request, 404, "missing") if ref is None else _refuse(request, 403, "closed")
    if not (await owner_commands.online(conn, ref.site_id))[0]:
        return _refuse(request, 502, "offline")
    cid = await maintenance.queue_proxy(conn, ref.site_id, who.account_id, owner, payload)
    if cid is None:  # the window ended in between
        return _refuse(request, 410, "ended")
    return ref.site_id, cid


async def _answer(request: Request, site_id: int, cid: int) -> dict[str, Any] | None:
    """The command once the edge answered it (or the grant ended: expired); None after ``WAIT_S``.
    Woken by the answer (``portal.wakeup``)."""
    deadline = time.monotonic() + WAIT_S
    with wakeup.subscribe(wakeup.answers(site_id)) as answered:
        while True:
            async with auth.db_of(request).connection() as conn:
                out = await maintenance.command(conn, site_id, cid)
                over = out is None or out["state"] in ("done", "failed", "expired")
                left = deadline - time.monotonic()
                if over or left <= 0:
                    await maintenance.drop_proxy(conn, site_id, cid)  # bodies are not kept
                    return out if over else None
            await answered.wait(min(left, wakeup.RECHECK_S))


def _response(request: Request, prefix: str, result: Any) -> Response:
    """The edge's answer as the browser gets it; a malformed one is a 502."""
    try:
        status = int(result["status"])
        body = base64.b64decode(result.get("body") or "", validate=True)
        pairs = [(str(k).lower(), str(v)) for k, v in result.get("headers") or []]
        if not 100 <= status <= 599:
            raise ValueError(status)
    except (KeyError, TypeError, ValueError, binascii.Error):
        return _refuse(request, 502, "failed", ": malformed answer")
    headers = [(k, v) for k, v in pairs if k in KEEP and "\n" not in v and "\r" not in v]
    out = Response(body, status)
    for k, v in headers:
        if k == "location":
            target = urlsplit(v)
            odd = "\\" in v or any(ord(c) < 0x20 or ord(c) == 0x7F for c in v)  # browsers drop tabs: /\t/h
            if target.scheme or target.netloc or v.startswith("//") or odd:
                continue  # the edge's own paths only: nothing leads elsewhere
            v = prefix + v if v.startswith("/") else v  # its absolute paths live under the prefix
        out.headers.append(k, v)
    out.headers["cache-control"] = "no-store"
    return out


async def proxy(site: SITE, path: str, request: Request) -> Response:
    """One request to the site's edge page through the maintenance tunnel."""
    body = await request.body()  # at most hardening.BODY_DEFAULT, counted before anything else ran
    prefix = f"/sites/{quote(site, safe='')}/edge"
    who = await auth.authenticate(request)  # CSRF checked for a cookie's change
    if who is None:
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse(f"/login?next={quote(request.url.path)}", 303)
        return JSONResponse({"detail": "sign in first"}, 401)
    if not who.may("read" if request.method in auth.SAFE_METHODS else "admin"):
        return JSONResponse({"detail": "this token lacks the scope"}, 403)
    edge_path = "/" + path
    if edge_path in BLOCKED:
        return _refuse(request, 404, "blocked")
    payload = {
        "method": request.method,
        "path": edge_path,
        "query": request.url.query,
        "headers": {k: request.headers[k] for k in FORWARD if k in request.headers},
        "body": base64.b64encode(body).decode(),
    }
    async with auth.db_of(request).connection() as conn:
        queued = await _queue(conn, request, who, site, payload)
        csrf = await _csrf(conn, request)
    if isinstance(queued, Response):
        return queued
    site_id, cid = queued
    done = await _answer(request, site_id, cid)
    if done is None:
        out, status = _refuse(request, 504, "timeout"), 504
    elif done["state"] == "expired":
        out, status = _refuse(request, 410, "ended"), 410
    elif done["state"] == "failed":
        error = str((done.get("result") or {}).get("error", ""))[:300]
        out, status = _refuse(request, 502, "failed", f": {error}"), 502
    else:
        out = _response(request, prefix, done["result"])
        status = out.status_code
    async with auth.db_of(request).connection() as conn:
        detail = {"method": request.method, "path": edge_path, "status": status, "command": cid}
        await sites.audit(conn, site_id, who.account_id, "maintenance.proxy", detail)
    if csrf is not None:  # the edge page's scripts echo it (WW.csrf reads ww_csrf)
        out.set_cookie(
            "ww_csrf", csrf, path=prefix + "/", samesite="strict", secure=request.url.scheme == "https"
        )
    return out


async def to_slash(site: SITE) -> RedirectResponse:
    """``/sites/{site}/edge`` → ``/sites/{site}/edge/`` (the edge page's relative links need the slash)."""
    return RedirectResponse(f"/sites/{quote(site, safe='')}/edge/", 307)


def router() -> APIRouter:
    r = APIRouter(tags=["maintenance"])
    r.add_api_route("/sites/{site}/edge", to_slash, methods=["GET"], include_in_schema=False)
    r.add_api_route("/sites/{site}/edge/{path:path}", proxy, methods=METHODS, include_in_schema=False)
    return r
