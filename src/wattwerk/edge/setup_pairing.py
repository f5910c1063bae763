"""Installation wizard, pairing step: exchange a pairing code from the portal for the edge's token.

The code is a personal access token with the ``ingest`` scope that the site's owner creates in the
portal (``wwp_...``); the edge spends it once on the portal's pairing endpoint and keeps only the
site token it gets back (``wattwerk.portal.api``)::

    POST {portal}/api/v1/sites/{site}/edge-tokens     Authorization: Bearer <code>
    201 {"site": "...", "token": "..."}               4xx {"detail": "why"}
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from wattwerk.errors import PermanentError, RetryableError

PAIR_PATH = "/api/v1/sites/{site}/edge-tokens"


def check_code(code: str) -> str:
    """The code without surrounding blanks; PermanentError when it cannot be one."""
    c = (code or "").strip()
    if not c or any(ch.isspace() for ch in c) or len(c) > 200 or not c.isprintable():
        raise PermanentError("pairing code: paste the code the portal showed (one word, no spaces)")
    return c


async def pair(portal_url: str, site: str, code: str, *,
               transport: httpx.AsyncBaseTransport | None = None, timeout_s: float = 10.0) -> dict[str, Any]:
    """``{"url", "site", "token"}`` from the portal; PermanentError when the portal refuses the code or
    the site, RetryableError when it cannot be reached or fails."""
    url = portal_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise PermanentError(f"portal {portal_url!r}: expected an http:// or https:// URL")
    site = (site or "").strip()
    if not site:
        raise PermanentError("site: give the site's name on the portal")
    headers = {"Authorization": f"Bearer {check_code(code)}"}
    try:
        async with httpx.AsyncClient(transport=transport, timeout=timeout_s) as client:
            r = await client.post(url + PAIR_PATH.format(site=quote(site, safe="")), headers=headers)
    except httpx.HTTPError as exc:
        raise RetryableError(f"portal {url}: cannot reach it ({type(exc).__name__}: {exc})") from exc
    if r.status_code >= 500:
        raise RetryableError(f"portal {url}: server error {r.status_code}; try again later")
    try:
        data = r.json()
    except ValueError:
        data = {}
    detail = data.get("detail") if isinstance(data, dict) else None
    if r.status_code in (401, 403):
        raise PermanentError(f"portal {url} refused the pairing code: {detail or r.status_code}")
    if r.status_code == 404:
        raise PermanentError(f'portal {url}: no site "{site}" that this code may pair')
    if r.status_code >= 400:
        raise PermanentError(f"portal {url}: {detail or r.status_code}")
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise PermanentError(f"portal {url}: answer without a token")
    return {"url": url, "site": str(data.get("site") or site), "token": token}
