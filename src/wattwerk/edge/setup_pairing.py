"""Installation wizard, pairing step: exchange a pairing code shown in the portal for an edge token.

The portal has no HTTP pairing endpoint yet (``wattwerk portal --pair SITE`` prints a token on the
server); this is the edge's side of the exchange, for the portal to implement::

    POST {portal}/api/v1/pair   {"code": "ABCD-1234", "edge": "<site name>"}
    200 {"token": "...", "site": "...", "edge_id": "..." (optional)}      4xx {"detail": "why"}
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from wattwerk.errors import PermanentError, RetryableError

PAIR_PATH = "/api/v1/pair"
CODE = re.compile(r"^[A-Z0-9]{4,8}(-[A-Z0-9]{4,8})*$")


def normalise_code(code: str) -> str:
    """Upper case, spaces removed; PermanentError when it cannot be a pairing code."""
    c = re.sub(r"\s+", "", code or "").upper()
    if not CODE.match(c):
        raise PermanentError(f"pairing code {code!r}: expected letters and digits such as ABCD-1234")
    return c


async def pair(portal_url: str, code: str, edge_name: str, *,
               transport: httpx.AsyncBaseTransport | None = None, timeout_s: float = 10.0) -> dict[str, Any]:
    """``{"url", "token", "site", "edge_id"}`` from the portal; PermanentError when the portal refuses
    the code, RetryableError when it cannot be reached."""
    url = portal_url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise PermanentError(f"portal {portal_url!r}: expected an http:// or https:// URL")
    body = {"code": normalise_code(code), "edge": edge_name}
    try:
        async with httpx.AsyncClient(transport=transport, timeout=timeout_s) as client:
            r = await client.post(url + PAIR_PATH, json=body)
    except httpx.HTTPError as exc:
        raise RetryableError(f"portal {url}: cannot reach it ({type(exc).__name__}: {exc})") from exc
    if r.status_code >= 500:
        raise RetryableError(f"portal {url}: server error {r.status_code}; try again later")
    try:
        data = r.json()
    except ValueError:
        data = {}
    if r.status_code >= 400:
        detail = data.get("detail") if isinstance(data, dict) else None
        raise PermanentError(f"portal {url} refused the code: {detail or r.status_code}")
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise PermanentError(f"portal {url}: answer without a token")
    site = data.get("site")
    if not isinstance(site, str) or not site:
        raise PermanentError(f"portal {url}: answer without the site's id")
    edge_id = data.get("edge_id")
    edge_id = edge_id if isinstance(edge_id, str) and edge_id else None
    return {"url": url, "token": token, "site": site, "edge_id": edge_id}
