"""Installation wizard, pairing step: exchange the portal's pairing code for the edge's own token.

The site's owner shows a pairing code on the portal (site list, "Pair an edge": 12 letters and
digits like ``ABCD-EFGH-JKMN``, valid once for ten minutes, also as a QR code). The edge spends
it once and keeps only the site token it gets back (``wattwerk.portal.pairing``); the code names
the site, so nobody types the site's id::

    POST {portal}/api/v1/pairing  {"code": "ABCD-EFGH-JKMN"}
    201 {"site": "s_…", "label": "the owner's name for it", "token": "…"}     4xx {"detail": "why"}
"""

from __future__ import annotations

from typing import Any

import httpx

from wattwerk.errors import PermanentError, RetryableError

PAIR_PATH = "/api/v1/pairing"


def check_code(code: str) -> str:
    """The code without blanks or dashes, upper case; PermanentError when it cannot be one."""
    c = "".join(ch for ch in (code or "").upper() if ch != "-" and not ch.isspace())
    if not c or len(c) > 40 or not c.isalnum() or not c.isascii():
        raise PermanentError("pairing code: type the code the portal shows (like ABCD-EFGH-JKMN)")
    return c


async def pair(
    portal_url: str, code: str, *, transport: httpx.AsyncBaseTransport | None = None, timeout_s: float = 10.0
) -> dict[str, Any]:
    """``{"url", "site", "label", "token"}`` from the portal; PermanentError when the portal refuses
    the code, RetryableError when it cannot be reached, fails or asks to wait."""
    url = portal_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise PermanentError(f"portal {portal_url!r}: expected an http:// or https:// URL")
    body = {"code": check_code(code)}
    try:
        async with httpx.AsyncClient(transport=transport, timeout=timeout_s) as client:
            r = await client.post(url + PAIR_PATH, json=body)
    except httpx.HTTPError as exc:
        raise RetryableError(f"portal {url}: cannot reach it ({type(exc).__name__}: {exc})") from exc
    try:
        data = r.json()
    except ValueError:
        data = {}
    detail = data.get("detail") if isinstance(data, dict) else None
    if r.status_code == 429:
        raise RetryableError(
            f"portal {url}: {detail or 'too many attempts'} (in {r.headers.get('Retry-After', '?')} s)"
        )
    if r.status_code >= 500:
        raise RetryableError(f"portal {url}: server error {r.status_code}; try again later")
    if r.status_code in (404, 405) and "pairing code" not in str(detail):  # not a portal's refusal
        raise PermanentError(f"portal {url}: no pairing there; is this the portal's address?")
    if r.status_code >= 400:
        why = detail if isinstance(detail, str) else r.status_code
        raise PermanentError(f"portal {url} refused the pairing code: {why}")
    token, site = (data.get("token"), data.get("site")) if isinstance(data, dict) else (None, None)
    if not isinstance(token, str) or not token or not isinstance(site, str) or not site:
        raise PermanentError(f"portal {url}: answer without a site and token")
    return {"url": url, "site": site, "label": str(data.get("label") or site), "token": token}
