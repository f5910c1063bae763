"""The owner's controls from the portal (issue 16): charge mode, departure plan, battery mode, boost.

An owner (or an installer the owner gave a role on the site) sends a device's settings with
``POST /api/v1/sites/{site}/owner/{device}``. The command travels to the site's edge over the edge's
own outbound command channel (the long poll of ``portal.maintenance``; kind ``owner``), the edge
applies it through the same function its page and MQTT use (``edge.owner``) and answers; the portal
waits up to ``WAIT_S`` for that answer and returns it (or the command's id to ask again with
``GET .../owner/commands/{id}``). A viewer may not. ``GET /api/v1/sites/{site}/owner`` asks the edge
for the controls' current state the same way (kind ``owner_state``, what the edge page's ``GET /api/owner``
shows; any role on the site may look; not audited, it changes nothing). Never queued silently: when
the edge is not in or between its long polls (``command_polls``) the portal refuses with 409 and says
since when, and a command the edge has not fetched within ``EXPIRE_S`` expires. Every command lands in
the site's audit log.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request

from wattwerk.portal import auth, sites, wakeup
from wattwerk.portal.auth import Principal
from wattwerk.portal.database import Conn, as_datetime, iso, utcnow
from wattwerk.portal.widgets import Widget

GRACE_S = 10.0  # between two long polls of an edge
EXPIRE_S = 60.0
KEEP_READS_S = 600.0  # a read's row (the card asks every 12 s while visible) is dropped after this
WAIT_S = 10.0
MAY_CONTROL = ("owner", "installer")
# the dashboard's card (widgets/owner.js): right after the live flows, across the page; drawn once
# with the first range ("series": the dashboard draws widgets when their data comes), not per range
widget = Widget("owner", "widget.owner", ("series",), "/static/portal/widgets/owner.js", order=15, wide=True)
STATE = "*state"  # the device of a read command (no device id can be it: DEVICE's pattern)
DEVICE = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
SITE = Annotated[str, Path(min_length=1, max_length=64)]
WHO = Annotated[Principal, Depends(auth.principal)]


async def note_poll(conn: Conn, site_id: int, wait_s: float) -> None:
    """The edge asks for commands now and waits ``wait_s``: online until then and ``GRACE_S`` more."""
    now = utcnow()
    await conn.execute(
        "INSERT INTO command_polls (site_id, polled_at, online_until) VALUES (%s, %s, %s) "
        "ON CONFLICT (site_id) DO UPDATE SET polled_at = EXCLUDED.polled_at, "
        "online_until = EXCLUDED.online_until",
        (site_id, now, now + timedelta(seconds=wait_s + GRACE_S)),
    )


async def hung_up(conn: Conn, site_id: int) -> None:
    """The edge closed its long poll (stopped, or its network went): offline now."""
    await conn.execute("UPDATE command_polls SET online_until = %s WHERE site_id = %s", (utcnow(), site_id))


async def online(conn: Conn, site_id: int) -> tuple[bool, Any]:
    """(online now, when it last polled)."""
    row = await conn.fetchone(
        "SELECT polled_at, online_until FROM command_polls WHERE site_id = %s", (site_id,)
    )
    if row is None:
        return False, None
    until = as_datetime(row[1])
    return until is not None and utcnow() < until, as_datetime(row[0])


async def prune_reads(conn: Conn, site_id: int) -> None:
    """Reads change nothing and are not audited: their rows go after ``KEEP_READS_S`` (a card open all
    day would otherwise leave thousands); commands stay."""
    await conn.execute(
        "DELETE FROM owner_commands WHERE site_id = %s AND device = %s AND created_at < %s",
        (site_id, STATE, utcnow() - timedelta(seconds=KEEP_READS_S)),
    )


async def take(conn: Conn, site_id: int) -> list[dict[str, Any]]:
    """Pending owner commands for the edge (marked sent), as ``{id: "o<n>", kind: owner, payload}``;
    those older than ``EXPIRE_S`` expire instead."""
    now = utcnow()
    await conn.execute(
        "UPDATE owner_commands SET state = 'expired' WHERE site_id = %s AND state = 'pending' "
        "AND created_at < %s",
        (site_id, now - timedelta(seconds=EXPIRE_S)),
    )
    cur = await conn.execute(
        "UPDATE owner_commands SET state = 'sent' WHERE site_id = %s AND state = 'pending' "
        "RETURNING id, device, settings",
        (site_id,),
    )
    rows = sorted(await cur.fetchall(), key=lambda r: r[0])
    return [
        {"id": f"o{r[0]}", "kind": "owner_state", "payload": {}}
        if r[1] == STATE
        else {"id": f"o{r[0]}", "kind": "owner", "payload": {"device": r[1], "settings": conn.unjson(r[2])}}
        for r in rows
    ]


async def finish(conn: Conn, site_id: int, command_id: int, ok: bool, result: Any) -> bool:
    cur = await conn.execute(
        "UPDATE owner_commands SET state = %s, result = %s, done_at = %s WHERE id = %s AND site_id = %s "
        "AND state = 'sent' RETURNING device",
        ("done" if ok else "failed", conn.json(result), utcnow(), command_id, site_id),
    )
    row = await cur.fetchone()
    if row is None:
        return False
    await wakeup.notify(conn, wakeup.answers(site_id))  # the owner's request waits for it (_answer)
    if row[0] == STATE:
        return True  # a read changes nothing: not in the audit log
    detail = {"command": command_id, "device": row[0], "ok": ok}
    await sites.audit(conn, site_id, None, "owner.result", detail, actor="edge")
    return True


async def command(conn: Conn, site_id: int, command_id: int) -> dict[str, Any] | None:
    row = await conn.fetchone(
        "SELECT id, device, settings, state, result, created_at, done_at FROM owner_commands "
        "WHERE id = %s AND site_id = %s",
        (command_id, site_id),
    )
    if row is None:
        return None
    return {
        "id": row[0],
        "device": row[1],
        "settings": conn.unjson(row[2]),
        "state": row[3],
        "result": conn.unjson(row[4]),
        "created_at": iso(row[5]),
        "done_at": iso(row[6]),
    }


async def _controller(conn: Conn, site: str, account: int) -> sites.SiteRef:
    ref = await sites.lookup(conn, site, account)
    if ref is None or ref.role is None:
        raise HTTPException(404, "not found")
    if ref.role not in MAY_CONTROL:
        raise HTTPException(403, f"a {ref.role} may look, not control; the owner decides")
    return ref


async def _offline_or_queue(
    conn: Conn, site_id: int, account: int, device: str, settings: dict[str, Any]
) -> int:
    """The new command's id, or 409 when the edge is not there to fetch it (nothing is queued)."""
    up, seen = await online(conn, site_id)
    if not up:
        since = f" (last contact {iso(seen)})" if seen else ""
        raise HTTPException(
            409,
            f"the edge is offline{since}: nothing was sent; try again "
            "when it is back (it connects by itself)",
        )
    cur = await conn.execute(
        "INSERT INTO owner_commands (site_id, issued_by, device, settings, created_at) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (site_id, account, device, conn.json(settings), utcnow()),
    )
    cid = int((await cur.fetchone())[0])
    await wakeup.notify(conn, site_id)  # the edge's long poll takes it at commit
    return cid


async def _answer(request: Request, site_id: int, cid: int) -> dict[str, Any]:
    """The command once the edge answered it, or as it stands after ``WAIT_S`` (woken by the edge's
    answer: ``portal.wakeup``)."""
    deadline = time.monotonic() + WAIT_S
    with wakeup.subscribe(wakeup.answers(site_id)) as answered:
        while True:
            async with auth.db_of(request).connection() as conn:
                out = await command(conn, site_id, cid)
            assert out is not None
            left = deadline - time.monotonic()
            if out["state"] in ("done", "failed", "expired") or left <= 0:
                return out
            await answered.wait(min(left, wakeup.RECHECK_S))


def router() -> APIRouter:
    r = APIRouter(prefix="/api/v1/sites", tags=["owner controls"])

    @r.post("/{site}/owner/{device}")
    async def send(
        site: SITE,
        device: DEVICE,
        who: WHO,
        request: Request,
        settings: dict[str, Any] = Body(...),  # noqa: B008
    ) -> dict[str, Any]:
        """Send a device's settings to the edge (``edge.owner``); the edge's answer within ``WAIT_S``."""
        if not settings or len(str(settings)) > 2000:
            raise HTTPException(422, 'send the settings to change as a small object, e.g. {"mode": "pv"}')
        async with auth.db_of(request).connection() as conn:
            ref = await _controller(conn, site, who.account_id)
            cid = await _offline_or_queue(conn, ref.site_id, who.account_id, device, settings)
            await sites.audit(
                conn,
                ref.site_id,
                who.account_id,
                "owner.command",
                {"command": cid, "device": device, "settings": settings},
            )
        return await _answer(request, ref.site_id, cid)

    @r.get("/{site}/owner")
    async def state(site: SITE, who: WHO, request: Request) -> dict[str, Any]:
        """The edge's owner controls as they run now (``result``: devices, decisions, reasons, plans),
        and whether this account may change them (``may_control``)."""
        async with auth.db_of(request).connection() as conn:
            ref = await sites.lookup(conn, site, who.account_id)
            if ref is None or ref.role is None:
                raise HTTPException(404, "not found")
            await prune_reads(conn, ref.site_id)
            cid = await _offline_or_queue(conn, ref.site_id, who.account_id, STATE, {})
        out = await _answer(request, ref.site_id, cid)
        return {**out, "device": None, "may_control": ref.role in MAY_CONTROL}

    @r.get("/{site}/owner/commands/{command_id}")
    async def one(
        site: SITE, command_id: Annotated[int, Path(ge=1, le=2**62)], who: WHO, request: Request
    ) -> dict[str, Any]:
        async with auth.db_of(request).connection() as conn:
            ref = await _controller(conn, site, who.account_id)
            out = await command(conn, ref.site_id, command_id)
        if out is None:
            raise HTTPException(404, "no such command")
        return out

    return r
