"""The portal's side of the owner's controls on both database backends, in process: refused while the
edge is offline, carried by the edge's long poll (the real maintenance client and the edge's real
command handler with its ``OwnerControls``), confirmed back; a viewer may not; an expired command is
never delivered."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path

import httpx

from portal_fixtures import Portal, account, edge_token, new_site, portal  # noqa: F401
from test_ingest_support import database, pg  # noqa: F401
from test_owner_controls import Site
from wattwerk.edge.maintenance_client import EdgeCommands, LogTail, serve_once
from wattwerk.portal.database import utcnow


def long_poll(portal: Portal, token: str, handler: EdgeCommands, wait: float) -> threading.Thread:  # noqa: F811
    async def go() -> None:
        async with httpx.AsyncClient() as client:
            await serve_once(client, portal.url, token, handler, wait_s=wait)

    thread = threading.Thread(target=lambda: asyncio.run(go()))
    thread.start()
    return thread


def test_sent_over_the_long_poll_and_confirmed(portal: Portal, tmp_path: Path) -> None:  # noqa: F811
    owner, viewer = account(portal), account(portal)
    site = new_site(owner)
    token = edge_token(owner, site)
    role = owner.http.put(f"/api/v1/sites/{site}/grants/{viewer.alias}", json={"role": "viewer"})
    assert role.status_code < 300, role.text
    edge = Site(tmp_path, ev_mode="pv")
    handler = EdgeCommands(lambda: {}, lambda: None, None, LogTail(), edge.owner)
    send = f"/api/v1/sites/{site}/owner/ev1"

    refused = owner.http.post(send, json={"mode": "now"})
    assert refused.status_code == 409 and refused.json()["detail"].startswith("the edge is offline")
    assert viewer.http.post(send, json={"mode": "now"}).status_code == 403

    poller = long_poll(portal, token, handler, wait=20.0)
    for _ in range(100):  # the poll has begun: the portal knows the edge is there
        if (r := owner.http.post(send, json={"mode": "now"})).status_code != 409:
            break
        threading.Event().wait(0.05)
    poller.join(30)
    assert r.status_code == 200 and r.json()["state"] == "done", r.text
    assert r.json()["result"]["mode"] == "now" and edge.step.modes()["ev1"] == "now"

    with portal.db.connect() as conn:  # an old pending command expires instead of being delivered
        conn.execute(
            "INSERT INTO owner_commands (site_id, issued_by, device, settings, created_at) "
            "SELECT s.id, a.id, 'ev1', %s, %s FROM sites s, accounts a WHERE s.name = %s "
            "AND a.alias = %s",
            ('{"mode": "off"}', utcnow() - timedelta(minutes=5), site, owner.alias),
        )
    poller = long_poll(portal, token, handler, wait=0.0)
    poller.join(30)
    assert edge.step.modes()["ev1"] == "now"
    with portal.db.connect() as conn:
        states = [r[0] for r in conn.execute("SELECT state FROM owner_commands ORDER BY id").fetchall()]
    assert states == ["done", "expired"]
    audit = [e["action"] for e in owner.http.get(f"/api/v1/sites/{site}/audit").json()]
    assert audit.count("owner.command") == 1 and audit.count("owner.result") == 1

    with portal.db.connect() as conn:  # an old read (the card asks every 12 s) is dropped, commands stay
        conn.execute(
            "INSERT INTO owner_commands (site_id, issued_by, device, settings, created_at, state) "
            "SELECT s.id, a.id, '*state', %s, %s, 'done' FROM sites s, accounts a WHERE s.name = %s "
            "AND a.alias = %s",
            ("{}", utcnow() - timedelta(minutes=11), site, owner.alias),
        )
    owner.http.get(f"/api/v1/sites/{site}/owner")  # offline now (409) or answered: either way it prunes
    with portal.db.connect() as conn:
        rows = conn.execute("SELECT device, state FROM owner_commands ORDER BY id").fetchall()
    assert [tuple(r) for r in rows][:2] == [("ev1", "done"), ("ev1", "expired")]
    assert not [r for r in rows if r[0] == "*state" and r[1] == "done"]
