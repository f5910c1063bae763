"""Personal access tokens: scopes (read, ingest, admin), an expiry, only a SHA-256 stored.

The secret is 32 random bytes behind the prefix ``wwp_`` (so it is recognisable in a leaked
log and told apart from edge tokens); it is shown once, when created. A fast hash is enough
for a 256-bit random secret.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from wattwerk.portal import auth
from wattwerk.portal.database import Conn, iso, utcnow

SCOPES = ("read", "ingest", "admin")
MAX_DAYS = 366


async def create(
    conn: Conn, account: int, name: str, scopes: list[str], days: int
) -> tuple[int, str, datetime]:
    """A new token; returns (id, secret, expires_at)."""
    secret = auth.TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=days)
    cur = await conn.execute(
        "INSERT INTO access_tokens (account_id, name, scopes, token_hash, expires_at) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (account, name, conn.array(sorted(set(scopes))), auth.sha256(secret), expires),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), secret, expires


async def listing(conn: Conn, account: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, name, scopes, expires_at, created_at, revoked_at IS NULL AND expires_at > %s "
        "FROM access_tokens WHERE account_id = %s ORDER BY id",
        (utcnow(), account),
    )
    return [
        {
            "id": r[0],
            "name": r[1],
            "scopes": conn.unarray(r[2]),
            "expires_at": iso(r[3]),
            "created_at": iso(r[4]),
            "active": bool(r[5]),
        }
        for r in await cur.fetchall()
    ]


async def revoke(conn: Conn, account: int, token_id: int) -> bool:
    """Revoke one of the account's own tokens; False when it has no such token."""
    cur = await conn.execute(
        "UPDATE access_tokens SET revoked_at = coalesce(revoked_at, %s) WHERE id = %s AND account_id = %s",
        (utcnow(), token_id, account),
    )
    return cur.rowcount == 1
