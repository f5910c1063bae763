"""Maintenance access by consent, carried over the edge's own outbound connection.

Off by default. The owner grants one account (an installer) maintenance for a chosen time;
while the grant is live that account may queue commands for the site's edge (``status``,
``logs``, ``get_config``, ``set_config``, ``test_device``, ``restart``) and read their results, and
open the edge's own page through the portal (``portal.tunnel``: kind ``proxy``, one command per
HTTP request, audited there and deleted once answered). The edge fetches commands by
long-polling ``GET /api/v1/edge/commands`` with its site token (no port opened at the site)
and posts each result to ``POST /api/v1/edge/commands/{id}/result``. A grant ends by itself at
``expires_at``: commands still waiting then are marked ``expired`` and never delivered, and the
installer loses sight of the site. Every step lands in the site's audit log. The same long poll
carries the owner's controls (``portal.owner_commands``, kind ``owner``, ids ``o<n>``) and tells
the portal the edge is online.

The long poll holds no connection while waiting, so any portal process can answer any edge: it
looks once, then waits for a wake-up (``portal.wakeup``: whoever queues a command for the site
notifies in the same transaction; PostgreSQL carries it to every process at commit) and looks again
when woken, and at least every ``wakeup.RECHECK_S`` in case a notification was lost. An edge that
hangs up ends the wait at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from wattwerk.portal import auth, owner_commands, sites, wakeup
from wattwerk.portal.database import SQLITE, Conn, Cursor, iso, utcnow
from wattwerk.portal.db import SiteAuth

KINDS = ("status", "logs", "get_config", "set_config", "test_device", "restart")
PROXY = "proxy"  # the tunnel's requests (portal.tunnel): audited there, once per request
MAX_HOURS = 24 * 14
MAX_WAIT_S = 30.0
LIVE = "g.revoked_at IS NULL AND %s >= g.starts_at AND %s < g.expires_at"  # params: (now, now)


async def grant(conn: Conn, site_id: int, owner: int, installer: int, hours: float) -> dict[str, Any]:
    starts = utcnow()
    expires = starts + timedelta(hours=hours)
    cur = await conn.execute(
        "INSERT INTO maintenance_grants (site_id, account_id, granted_by, starts_at, expires_at) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (site_id, installer, owner, starts, expires),
    )
    row = await cur.fetchone()
    assert row is not None
    return {"id": row[0], "starts_at": starts.isoformat(), "expires_at": expires.isoformat()}


async def live_grants(conn: Conn, site_id: int, account: int | None = None) -> list[dict[str, Any]]:
    """Live grants of a site (all of them, or one account's)."""
    now = utcnow()
    mine = "" if account is None else " AND g.account_id = %s"
    cur = await conn.execute(
        f"SELECT g.id, a.alias, g.starts_at, g.expires_at FROM maintenance_grants g "
        f"JOIN accounts a ON a.id = g.account_id WHERE g.site_id = %s AND {LIVE}{mine} ORDER BY g.id",
        (site_id, now, now, *([] if account is None else [account])),
    )
    return [
        {"id": r[0], "installer": r[1], "starts_at": iso(r[2]), "expires_at": iso(r[3])}
        for r in await cur.fetchall()
    ]


async def end_grant(conn: Conn, site_id: int, grant_id: int) -> bool:
    now = utcnow()
    cur = await conn.execute(
        "UPDATE maintenance_grants SET revoked_at = %s WHERE id = %s AND site_id = %s "
        "AND revoked_at IS NULL AND expires_at > %s",
        (now, grant_id, site_id, now),
    )
    ended = cur.rowcount == 1
    if ended:
        await conn.execute(
            "UPDATE edge_commands SET state = 'expired' WHERE grant_id = %s AND state = 'pending'",
            (grant_id,),
        )
        await wakeup.notify(conn, wakeup.answers(site_id))  # a tunnel request waiting: expired
    return ended


async def queue(conn: Conn, site_id: int, account: int, kind: str, payload: dict[str, Any]) -> int | None:
    """Queue a command under the account's live grant; None when it has none."""
    now = utcnow()
    cur = await conn.execute(
        f"INSERT INTO edge_commands (site_id, grant_id, issued_by, kind, payload, created_at) "
        "SELECT %s, g.id, %s, %s, %s, %s FROM maintenance_grants g "
        f"WHERE g.site_id = %s AND g.account_id = %s AND {LIVE} "
        "ORDER BY g.expires_at DESC LIMIT 1 RETURNING id",
        (site_id, account, kind, conn.json(payload), now, site_id, account, now, now),
    )
    return await _queued(conn, site_id, cur)


async def queue_proxy(
    conn: Conn, site_id: int, account: int, owner: bool, payload: dict[str, Any]
) -> int | None:
    """Queue a tunnel request under the account's live grant (the owner's: any live grant of the
    site, so the owner sees what the installer sees while a window is open); None without one."""
    now = utcnow()
    mine = "" if owner else " AND g.account_id = %s"
    cur = await conn.execute(
        "INSERT INTO edge_commands (site_id, grant_id, issued_by, kind, payload, created_at) "
        "SELECT %s, g.id, %s, %s, %s, %s FROM maintenance_grants g "
        f"WHERE g.site_id = %s{mine} AND {LIVE} ORDER BY g.expires_at DESC LIMIT 1 RETURNING id",
        (site_id, account, PROXY, conn.json(payload), now, site_id, *([] if owner else [account]), now, now),
    )
    return await _queued(conn, site_id, cur)


async def _queued(conn: Conn, site_id: int, cur: Cursor) -> int | None:
    """The queued command's id (None: nothing queued); wakes the site's long poll at commit."""
    row = await cur.fetchone()
    if row is None:
        return None
    await wakeup.notify(conn, site_id)
    return int(row[0])


async def drop_proxy(conn: Conn, site_id: int, command_id: int) -> None:
    """A tunnel request the portal has answered (or stopped waiting for) leaves no row: its bodies are
    not kept (the audit log has method, path and status). One the edge has not taken is never
    delivered; an answer that comes later finds nothing (404, the edge logs it)."""
    await conn.execute(
        "DELETE FROM edge_commands WHERE id = %s AND site_id = %s AND kind = %s", (command_id, site_id, PROXY)
    )


async def ended_grant(conn: Conn, site_id: int, account: int) -> bool:
    """Whether the account had a maintenance window on the site that is over now (ended or run out)."""
    row = await conn.fetchone(
        "SELECT 1 FROM maintenance_grants g WHERE g.site_id = %s AND g.account_id = %s LIMIT 1",
        (site_id, account),
    )
    return row is not None


async def command(conn: Conn, site_id: int, command_id: int) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT c.id, c.kind, c.payload, c.state, c.result, c.created_at, c.done_at, a.alias, c.issued_by "
        "FROM edge_commands c JOIN accounts a ON a.id = c.issued_by WHERE c.id = %s AND c.site_id = %s",
        (command_id, site_id),
    )
    r = await cur.fetchone()
    if r is None:
        return None
    return {
        "id": r[0],
        "kind": r[1],
        "payload": conn.unjson(r[2]),
        "state": r[3],
        "result": conn.unjson(r[4]),
        "created_at": iso(r[5]),
        "done_at": iso(r[6]),
        "issued_by": r[7],
        "issued_by_id": r[8],
    }


async def expire(conn: Conn, site_id: int) -> None:
    """Commands whose grant is no longer live are never delivered."""
    now = utcnow()
    cur = await conn.execute(
        "UPDATE edge_commands SET state = 'expired' WHERE site_id = %s AND state = 'pending' AND grant_id IN "
        f"(SELECT g.id FROM maintenance_grants g WHERE g.site_id = %s AND NOT ({LIVE}))",
        (site_id, site_id, now, now),
    )
    if cur.rowcount:
        await wakeup.notify(conn, wakeup.answers(site_id))  # a tunnel request waiting: expired


async def take(conn: Conn, site_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """Hand pending commands of live grants to the edge (marking them sent)."""
    await expire(conn, site_id)
    # PostgreSQL: portal processes polling at once skip each other's rows; SQLite has one writer.
    lock = "" if conn.dialect == SQLITE else " FOR UPDATE SKIP LOCKED"
    cur = await conn.execute(
        "UPDATE edge_commands SET state = 'sent', sent_at = %s WHERE id IN (SELECT id FROM edge_commands "
        f"WHERE site_id = %s AND state = 'pending' ORDER BY id LIMIT %s{lock}) "
        "RETURNING id, kind, payload",
        (utcnow(), site_id, limit),
    )
    out = [{"id": r[0], "kind": r[1], "payload": conn.unjson(r[2])} for r in await cur.fetchall()]
    out.sort(key=lambda c: c["id"])
    for c in out:
        if c["kind"] == PROXY:
            continue
        await sites.audit(
            conn,
            site_id,
            None,
            "maintenance.delivered",
            {"command": c["id"], "kind": c["kind"]},
            actor="edge",
        )
    return out


async def finish(conn: Conn, site_id: int, command_id: int, ok: bool, result: Any) -> bool:
    cur = await conn.execute(
        "UPDATE edge_commands SET state = %s, result = %s, done_at = %s WHERE id = %s AND site_id = %s "
        "AND state = 'sent' RETURNING kind",
        ("done" if ok else "failed", conn.json(result), utcnow(), command_id, site_id),
    )
    row = await cur.fetchone()
    if row is None:
        return False
    if row[0] == PROXY:
        await wakeup.notify(conn, wakeup.answers(site_id))  # the tunnel's request waits for it
        return True
    await sites.audit(
        conn,
        site_id,
        None,
        "maintenance.result",
        {"command": command_id, "kind": row[0], "ok": ok},
        actor="edge",
    )
    return True


# ------------------------------------------------------------ the edge's side of the channel


class CommandResult(BaseModel):
    ok: bool = True
    result: Any = Field(default=None, description="what the edge answers: status, log lines, the config")


async def _edge(request: Request) -> SiteAuth:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    found = None
    if scheme.lower() == "bearer" and token.strip():
        found = await request.app.state.ingestor.registry.site_for_token(token.strip())
    if found is None:
        raise HTTPException(
            401, "missing, unknown or revoked edge token", headers={"WWW-Authenticate": "Bearer"}
        )
    return found


async def _hung_up(request: Request) -> None:
    """Returns when the client has closed the request (a GET: its body is empty, nothing is lost)."""
    with contextlib.suppress(Exception):  # a connection that broke has hung up too
        while (await request.receive())["type"] != "http.disconnect":
            pass


async def _woken(waiter: wakeup.Waiter, gone: asyncio.Future[None], timeout_s: float) -> bool:
    """Wait for a wake-up (True), the timeout or the client hanging up (``gone`` done)."""
    woke = asyncio.ensure_future(waiter.wait(timeout_s))
    try:
        await asyncio.wait([gone, woke], return_when=asyncio.FIRST_COMPLETED)
    finally:
        woke.cancel()
    return woke.done() and not woke.cancelled() and woke.result()


def edge_router() -> APIRouter:
    r = APIRouter(prefix="/api/v1/edge", tags=["edge"])

    @r.get("/commands")
    async def poll(request: Request, wait: float = Query(0.0, ge=0.0, le=MAX_WAIT_S)) -> dict[str, Any]:
        """Long poll: waits up to ``wait`` seconds for maintenance commands for this edge's site."""
        edge = await _edge(request)
        deadline = time.monotonic() + wait
        db = auth.db_of(request)
        async with db.connection() as conn:
            await owner_commands.note_poll(conn, edge.site_id, wait)  # online: the owner's controls may send
        with wakeup.subscribe(edge.site_id) as woken:  # before the first look: nothing slips between
            gone = asyncio.ensure_future(_hung_up(request))
            try:
                while True:
                    async with db.connection() as conn:
                        found = await take(conn, edge.site_id) + await owner_commands.take(conn, edge.site_id)
                    left = deadline - time.monotonic()
                    if found or left <= 0:
                        return {"commands": found}
                    woke = await _woken(woken, gone, min(left, wakeup.RECHECK_S))
                    if gone.done():  # the edge stopped: offline now, not when the wait ends
                        async with db.connection() as conn:
                            await owner_commands.hung_up(conn, edge.site_id)
                        return {"commands": []}
                    if not woke and time.monotonic() >= deadline:
                        return {"commands": []}  # nothing came (its next poll looks first)
            finally:
                gone.cancel()

    @r.post("/commands/o{command_id:int}/result")
    async def owner_result(command_id: int, body: CommandResult, request: Request) -> dict[str, Any]:
        """The edge's answer to one of the owner's commands (``portal.owner_commands``)."""
        edge = await _edge(request)
        async with auth.db_of(request).connection() as conn:
            if not await owner_commands.finish(conn, edge.site_id, command_id, body.ok, body.result):
                raise HTTPException(404, "not found")
        return {"ok": True}

    @r.post("/commands/{command_id}/result")
    async def result(command_id: int, body: CommandResult, request: Request) -> dict[str, Any]:
        """The edge's answer to one command it was given."""
        edge = await _edge(request)
        async with auth.db_of(request).connection() as conn:
            if not await finish(conn, edge.site_id, command_id, body.ok, body.result):
                raise HTTPException(404, "not found")
        return {"ok": True}

    return r
