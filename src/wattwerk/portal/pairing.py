"""Pairing an edge: the owner shows a short-lived code on the portal, the edge's wizard spends it
for the edge's own site token.

* ``POST /api/v1/sites/{site}/pairing-codes`` (the owner, signed in): a new code, valid for
  ``CODE_TTL`` and once, with its QR code as inline SVG (rendered here by segno; no script, so the
  CSP lets it through). Only the code's SHA-256 is kept.
* ``POST /api/v1/pairing`` ``{"code": "ABCD-EFGH-JKMN"}`` (no sign-in: the code is the proof):
  ``201 {"site", "label", "token"}`` — the site's id, the owner's name for it, and a new site token
  for ``POST /api/v1/ingest``. A wrong code is 404, a used or expired one 410, a malformed one 400;
  more than ``FAIL_LIMIT`` failures from one address within ``FAIL_WINDOW`` answer 429.

Codes are 12 characters from an alphabet without look-alikes (no 0/O, 1/I/L, U), grouped by
four: about 59 bits, typed on a phone in a few seconds; with the rate limit and ten minutes of
life, guessing one is hopeless.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, Field

from wattwerk.portal import auth, hardening, sites
from wattwerk.portal.auth import Principal
from wattwerk.portal.database import Conn, as_datetime, utcnow

ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
LENGTH = 12
CODE_TTL = timedelta(minutes=10)
FAIL_LIMIT = 10  # failed exchanges per address ...
FAIL_WINDOW = timedelta(minutes=10)  # ... within this window, then 429 until the oldest ages out


class PairingRefused(Exception):
    """An exchange the portal refuses: the HTTP status and a message for the installer."""

    def __init__(self, status: int, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.retry_after = status, detail, retry_after


@dataclass(frozen=True)
class Paired:
    site: str
    label: str
    token: str


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, LENGTH, 4))


def normalise(code: str) -> str:
    """The code as stored (upper case, no dashes or blanks); PairingRefused(400) when it cannot be one."""
    c = "".join(ch for ch in (code or "").upper() if ch != "-" and not ch.isspace())
    if len(c) != LENGTH or any(ch not in ALPHABET for ch in c):
        raise PairingRefused(
            400,
            f"a pairing code is {LENGTH} letters and digits like ABCD-EFGH-JKMN; "
            "copy it from the portal's site list",
        )
    return c


def qr_svg(code: str) -> str:
    """The code as a QR code, an ``<svg>`` element to put into the page."""
    return str(segno.make(code, error="m").svg_inline(scale=5, border=2, title="pairing code"))


async def create(conn: Conn, site_id: int, account: int) -> tuple[str, Any]:
    """A new code for the site; returns (code, expires_at). Only its hash is stored."""
    code = new_code()
    expires = utcnow() + CODE_TTL
    await conn.execute("DELETE FROM pairing_codes WHERE expires_at < %s", (utcnow() - timedelta(days=1),))
    await conn.execute(
        "INSERT INTO pairing_codes (code_hash, site_id, created_by, expires_at) VALUES (%s, %s, %s, %s)",
        (auth.sha256(normalise(code)), site_id, account, expires),
    )
    return code, expires


async def _limited(conn: Conn, ip: str) -> int | None:
    """Seconds to wait when the address has used up its failures, else None."""
    if not conn.sqlite:  # one exchange per address at a time decides
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("wattwerk.pairing:" + ip,)
        )
    now = utcnow()
    cur = await conn.execute(
        "SELECT count(*), min(at) FROM pairing_failures WHERE ip = %s AND at > %s", (ip, now - FAIL_WINDOW)
    )
    n, oldest = await cur.fetchone()
    if int(n) < FAIL_LIMIT:
        return None
    first = as_datetime(oldest)
    return max(1, int((first + FAIL_WINDOW - now).total_seconds()) + 1) if first else 60


async def _failed(conn: Conn, ip: str) -> None:
    now = utcnow()
    await conn.execute("INSERT INTO pairing_failures (ip, at) VALUES (%s, %s)", (ip, now))
    await conn.execute("DELETE FROM pairing_failures WHERE at < %s", (now - FAIL_WINDOW * 2,))


async def exchange(conn: Conn, code: str, ip: str) -> Paired | PairingRefused:
    """Spend a code for a new site token. A refusal is returned, not raised, so that the failure
    it records commits with the transaction."""
    wait = await _limited(conn, ip)
    if wait is not None:
        return PairingRefused(429, "too many wrong pairing codes from this address; try again later", wait)
    try:
        digest = auth.sha256(normalise(code))
    except PairingRefused as exc:
        return exc
    now = utcnow()
    cur = await conn.execute(
        "UPDATE pairing_codes SET used_at = %s WHERE code_hash = %s AND used_at IS NULL AND expires_at > %s "
        "RETURNING site_id",
        (now, digest, now),
    )
    row = await cur.fetchone()
    if row is None:
        await _failed(conn, ip)
        cur = await conn.execute(
            "SELECT used_at IS NOT NULL FROM pairing_codes WHERE code_hash = %s", (digest,)
        )
        known = await cur.fetchone()
        if known is None:
            return PairingRefused(404, "unknown pairing code: check it, or show a new one on the portal")
        if known[0]:
            return PairingRefused(410, "this pairing code was used already; show a new one on the portal")
        return PairingRefused(410, "this pairing code has expired; show a new one on the portal")
    site_id = int(row[0])
    cur = await conn.execute(
        "SELECT s.name, a.label FROM sites s "
        "LEFT JOIN site_access a ON a.site_id = s.id AND a.role = 'owner' WHERE s.id = %s",
        (site_id,),
    )
    name, label = await cur.fetchone()
    token = await sites.new_edge_token(conn, site_id)
    await sites.audit(conn, site_id, None, "edge.pair", {"via": "pairing code", "ip": ip}, actor="edge")
    return Paired(str(name), str(label or name), token)


class ExchangeBody(BaseModel):
    code: str = Field(min_length=1, max_length=40, description="the code the portal shows: ABCD-EFGH-JKMN")


def router() -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["sites"])

    @r.post("/sites/{site}/pairing-codes", status_code=201)
    async def code_new(
        site: Annotated[str, Path(min_length=1, max_length=64)],
        request: Request,
        who: Annotated[Principal, Depends(auth.principal)],
    ) -> dict[str, Any]:
        """A pairing code for the site's edge (owner only): valid once, for ten minutes."""
        async with auth.db_of(request).connection() as conn:
            ref = await sites.lookup(conn, site, who.account_id)
            if ref is None or ref.role is None:
                raise HTTPException(404, "not found")
            if ref.role != "owner":
                raise HTTPException(403, "only the site's owner may do this")
            code, expires = await create(conn, ref.site_id, who.account_id)
            await sites.audit(
                conn,
                ref.site_id,
                who.account_id,
                "edge.pairing_code",
                {"minutes": int(CODE_TTL.total_seconds() // 60)},
            )
        return {
            "site": ref.name,
            "code": code,
            "expires_at": expires.isoformat(),
            "minutes": int(CODE_TTL.total_seconds() // 60),
            "qr_svg": qr_svg(code),
        }

    @r.post("/pairing", status_code=201, max_body_size=hardening.BODY_SMALL)
    async def pair(body: ExchangeBody, request: Request) -> dict[str, Any]:
        """The edge's wizard spends a pairing code: the site's id and name and a new site token."""
        async with auth.db_of(request).connection() as conn:
            out = await exchange(conn, body.code, auth.client_ip(request))
        if isinstance(out, PairingRefused):
            headers = {"Retry-After": str(out.retry_after)} if out.retry_after else None
            raise HTTPException(out.status, out.detail, headers=headers)
        return {"site": out.site, "label": out.label, "token": out.token}

    return r
