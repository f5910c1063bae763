"""Sites owned by accounts, grants to other accounts, roles, and the audit log.

A site's public id is its ``sites.name``, which the edge also sends with every batch. Sites
made through the API get a random id (``s_`` + 16 hex digits): names are global, so an
owner-chosen one would tell others which names exist. The owner's own name for the site is a
label only the owner's grants see.

Roles on a site: ``owner`` (one), ``viewer`` (reads data), ``installer`` (reads data; may be
given maintenance access). ``admin`` is a portal role (accounts.is_admin), not a site role:
administrators see sites only through the anonymised research export.

Every lookup answers ``None`` alike for a missing site and for one the caller has no role on,
so a foreign id answers exactly like a missing one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from wattwerk.portal.database import SQLITE, Conn, iso, utcnow
from wattwerk.portal.db import hash_token
from wattwerk.store import buckets

ROLES = ("owner", "viewer", "installer")
GRANTABLE = ("viewer", "installer")


@dataclass(frozen=True)
class SiteRef:
    site_id: int
    name: str
    role: str | None  # None: no role, but a live maintenance grant


def check_tz(tz: str) -> str:
    """A site's time zone (its local days, weeks, months, years); ValueError naming it if unknown."""
    buckets.zone(tz)
    return tz


async def create(conn: Conn, owner: int, label: str, tz: str = "UTC", tz_source: str = "default") -> str:
    """A new site owned by ``owner``; ``tz_source`` says who chose ``tz`` (see set_tz)."""
    name = "s_" + secrets.token_hex(8)
    cur = await conn.execute(
        "INSERT INTO sites (name, tz, tz_source) VALUES (%s, %s, %s) RETURNING id",
        (name, check_tz(tz), tz_source),
    )
    row = await cur.fetchone()
    assert row is not None
    await conn.execute(
        "INSERT INTO site_access (site_id, account_id, role, label) VALUES (%s, %s, 'owner', %s)",
        (row[0], owner, label),
    )
    await conn.execute("INSERT INTO site_retention (site_id) VALUES (%s) ON CONFLICT DO NOTHING", (row[0],))
    await audit(conn, row[0], owner, "site.create", {"label": label, "tz": tz})
    return name


async def tz_of(conn: Conn, site_id: int) -> str:
    return str(await conn.fetchval("SELECT tz FROM sites WHERE id = %s", (site_id,)) or "UTC")


async def set_tz(conn: Conn, site_id: int, tz: str) -> None:
    """The owner's choice of zone (it wins over the edge's from then on); the retention job
    rebuilds the site's local days (retention.py)."""
    await conn.execute("UPDATE sites SET tz = %s, tz_source = 'owner' WHERE id = %s", (check_tz(tz), site_id))


async def tz_from_edge(conn: Conn, site_id: int, tz: str) -> bool:
    """Take the zone of the edge's site file unless the owner has chosen one; True if it changed.

    ValueError naming the zone if it is not a known IANA zone."""
    cur = await conn.execute(
        "UPDATE sites SET tz = %s, tz_source = 'edge' WHERE id = %s AND tz_source <> 'owner' "
        "AND (tz <> %s OR tz_source <> 'edge') RETURNING id",
        (check_tz(tz), site_id, tz),
    )
    return await cur.fetchone() is not None


async def lookup(conn: Conn, name: str, account: int) -> SiteRef | None:
    """The site if the account holds a role on it or a live maintenance grant; else None."""
    cur = await conn.execute(
        "SELECT s.id, s.name, a.role FROM sites s "
        "LEFT JOIN site_access a ON a.site_id = s.id AND a.account_id = %s "
        "WHERE s.name = %s AND (a.role IS NOT NULL OR EXISTS (SELECT 1 FROM maintenance_grants g "
        "WHERE g.site_id = s.id AND g.account_id = %s AND g.revoked_at IS NULL "
        "AND %s >= g.starts_at AND %s < g.expires_at))",
        (account, name, account, now := utcnow(), now),
    )
    row = await cur.fetchone()
    return SiteRef(int(row[0]), str(row[1]), row[2]) if row else None


async def listing(conn: Conn, account: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT s.name, a.role, CASE WHEN a.role = 'owner' THEN a.label END, s.created_at "
        "FROM site_access a JOIN sites s ON s.id = a.site_id WHERE a.account_id = %s ORDER BY s.id",
        (account,),
    )
    return [
        {"site": r[0], "role": r[1], "label": r[2], "created_at": iso(r[3])} for r in await cur.fetchall()
    ]


async def info(conn: Conn, ref: SiteRef) -> dict[str, Any]:
    cur = await conn.execute(
        "SELECT a.label, s.created_at, (SELECT max(last_seen) FROM edges e WHERE e.site_id = s.id), s.tz, "
        "s.tz_source "
        "FROM sites s JOIN site_access a ON a.site_id = s.id AND a.role = 'owner' WHERE s.id = %s",
        (ref.site_id,),
    )
    row = await cur.fetchone()
    return {
        "site": ref.name,
        "role": ref.role,
        "label": row[0] if row and ref.role == "owner" else None,
        "created_at": iso(row[1]) if row else None,
        "last_seen": iso(row[2]) if row else None,
        "tz": row[3] if row else "UTC",
        "tz_source": row[4] if row else "default",  # default, edge (its site file) or owner
    }


async def grants(conn: Conn, site_id: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT c.alias, a.role, a.created_at FROM site_access a JOIN accounts c ON c.id = a.account_id "
        "WHERE a.site_id = %s ORDER BY a.created_at, c.alias",
        (site_id,),
    )
    return [{"alias": r[0], "role": r[1], "since": iso(r[2])} for r in await cur.fetchall()]


async def grant(conn: Conn, site_id: int, account: int, role: str) -> bool:
    """Give an account a role (not owner); False if that account is the owner."""
    cur = await conn.execute(
        "INSERT INTO site_access (site_id, account_id, role) VALUES (%s, %s, %s) "
        "ON CONFLICT (site_id, account_id) DO UPDATE SET role = EXCLUDED.role "
        "WHERE site_access.role <> 'owner'",
        (site_id, account, role),
    )
    return cur.rowcount == 1


async def revoke(conn: Conn, site_id: int, account: int) -> bool:
    cur = await conn.execute(
        "DELETE FROM site_access WHERE site_id = %s AND account_id = %s AND role <> 'owner'",
        (site_id, account),
    )
    return cur.rowcount == 1


async def new_edge_token(conn: Conn, site_id: int) -> str:
    """Pair an edge: a new site token (the ingest side checks it), shown once."""
    token = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO site_tokens (site_id, token_hash) VALUES (%s, %s)", (site_id, hash_token(token))
    )
    return token


async def revoke_edge_tokens(conn: Conn, site_id: int) -> int:
    cur = await conn.execute(
        "UPDATE site_tokens SET revoked_at = %s WHERE site_id = %s AND revoked_at IS NULL",
        (utcnow(), site_id),
    )
    return cur.rowcount


async def channels(conn: Conn, site_id: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT name, unit, kind FROM channels WHERE site_id = %s ORDER BY name", (site_id,)
    )
    return [{"name": r[0], "unit": r[1], "kind": r[2]} for r in await cur.fetchall()]


async def live(conn: Conn, site_id: int) -> list[dict[str, Any]]:
    """The newest raw value of every channel (the live view polls this every few seconds)."""
    if conn.dialect == SQLITE:  # no LATERAL: the row at each channel's newest time (by index)
        sql = (
            "SELECT c.name, c.unit, c.kind, r.ts_ms, r.value FROM channels c JOIN readings r "
            "ON r.channel_id = c.id "
            "AND r.ts_ms = (SELECT max(ts_ms) FROM readings x WHERE x.channel_id = c.id) "
            "WHERE c.site_id = %s ORDER BY c.name, r.seq DESC"
        )
    else:
        sql = (
            "SELECT c.name, c.unit, c.kind, r.ts_ms, r.value FROM channels c CROSS JOIN LATERAL "
            "(SELECT ts_ms, value FROM readings x WHERE x.channel_id = c.id "
            "ORDER BY ts_ms DESC LIMIT 1) r "
            "WHERE c.site_id = %s ORDER BY c.name"
        )
    cur = await conn.execute(sql, (site_id,))
    out: dict[str, dict[str, Any]] = {}
    for r in await cur.fetchall():
        out.setdefault(r[0], {"channel": r[0], "unit": r[1], "kind": r[2], "ts_ms": r[3], "value": r[4]})
    return list(out.values())


async def audit(
    conn: Conn,
    site_id: int | None,
    account: int | None,
    action: str,
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
) -> None:
    """Append to the audit log (actor: the account's alias unless given, e.g. "edge")."""
    await conn.execute(
        "INSERT INTO audit_log (site_id, account_id, actor, action, detail) VALUES (%s, %s, "
        "coalesce(%s, (SELECT alias FROM accounts WHERE id = %s), 'unknown'), %s, %s)",
        (site_id, account, actor, account, action, conn.json(detail or {})),
    )


async def audit_entries(
    conn: Conn, site_id: int, limit: int = 200, before: int | None = None
) -> list[dict[str, Any]]:
    older = "" if before is None else " AND id < %s"
    cur = await conn.execute(
        f"SELECT id, at, actor, action, detail FROM audit_log WHERE site_id = %s{older} "
        "ORDER BY id DESC LIMIT %s",
        (site_id, *([] if before is None else [before]), limit),
    )
    return [
        {"id": r[0], "at": iso(r[1]), "actor": r[2], "action": r[3], "detail": conn.unjson(r[4])}
        for r in await cur.fetchall()
    ]
