"""Personal access tokens: scopes (read, ingest, admin), an expiry, only a SHA-256 stored.

The secret is 32 random bytes behind the prefix ``wwp_`` (so it is recognisable in a leaked
log and told apart from edge tokens); it is shown once, when created. A fast hash is enough
for a 256-bit random secret.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from wattwerk.portal import auth

SCOPES = ("read", "ingest", "admin")
MAX_DAYS = 366


async def create(
    conn: AsyncConnection,
    account: int,
    name: str,
    scopes: list[str],
    days: int,
) -> tuple[int, str, datetime]:
    """A new token; returns (id, secret, expires_at)."""
    secret = auth.TOKEN_PREFIX + secrets.token_urlsafe(32)
    cur = await conn.execute(
        "INSERT INTO access_tokens (account_id, name, scopes, token_hash, expires_at) "
        "VALUES (%s, %s, %s, %s, now() + %s) RETURNING id, expires_at",
        (account, name, sorted(set(scopes)), auth.sha256(secret), timedelta(days=days)),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), secret, row[1]


async def listing(conn: AsyncConnection, account: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, name, scopes, expires_at, created_at, revoked_at IS NULL AND expires_at > now() "
        "FROM access_tokens WHERE account_id = %s ORDER BY id",
        (account,),
    )
    return [
        {
            "id": r[0],
            "name": r[1],
            "scopes": list(r[2]),
            "expires_at": r[3].isoformat(),
            "created_at": r[4].isoformat(),
            "active": r[5],
        }
        for r in await cur.fetchall()
    ]


async def revoke(conn: AsyncConnection, account: int, token_id: int) -> bool:
    """Revoke one of the account's own tokens; False when it has no such token."""
    cur = await conn.execute(
        "UPDATE access_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s AND account_id = %s",
        (token_id, account),
    )
    return cur.rowcount == 1
