"""The edge's long poll waits on a wake-up (portal.wakeup), not on a database poll: with the safety
re-check set to an hour only the wake-up can deliver in time (real portal under uvicorn, real
PostgreSQL and SQLite, the edge's real client). A waiting poll looks at the database once; a hang-up
is seen at once; a listener whose connection is killed reconnects and wakes the next poll."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from portal_fixtures import Portal, account, edge_token, new_site, portal  # noqa: F401
from test_ingest_support import PortalDb, database, pg, serve_portal  # noqa: F401
from wattwerk.edge.maintenance_client import serve_once
from wattwerk.portal import maintenance, wakeup
from wattwerk.portal.database import as_datetime, utcnow

GUARD_S = 20.0  # a hang guard (the poll waits 30 s), not a timing assertion
HOUR = 3600.0


async def edge(kind: str, payload: dict[str, Any]) -> object:
    """The edge's side: a status, and the owner's settings applied."""
    if kind == "owner":
        return {"mode": payload["settings"]["mode"]}
    return {"kind": kind, "ok": True}


def site_id(portal: Portal, site: str) -> int:  # noqa: F811
    with portal.db.connect() as conn:
        return int(conn.execute("SELECT id FROM sites WHERE name = %s", (site,)).fetchone()[0])


async def until(ok: Callable[[], bool], what: str) -> None:
    for _ in range(int(GUARD_S / 0.02)):
        if ok():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never: {what}")


def waiting(sid: int) -> bool:
    """A long poll of the site is in its wait (subscribed in this process)."""
    return str(sid) in wakeup._waiters


async def poll_while(portal: Portal, token: str, sid: int, queue: Callable[[], Any]) -> tuple[int, Any]:  # noqa: F811
    """(commands the edge's 30-s long poll brought, what ``queue`` answered), ``queue`` run in a thread
    once the poll waits."""
    async with httpx.AsyncClient() as client:
        task = asyncio.create_task(serve_once(client, portal.url, token, edge, wait_s=30.0))
        await until(lambda: waiting(sid), "the long poll waits")
        queued = await asyncio.wait_for(asyncio.to_thread(queue), GUARD_S)
        return await asyncio.wait_for(task, GUARD_S), queued


@pytest.fixture
def slow_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wakeup, "RECHECK_S", HOUR)


@pytest.fixture
def pg_portal(pg: PortalDb) -> Iterator[Portal]:  # noqa: F811
    with serve_portal(pg) as running:
        yield Portal(running.url, pg, running.app)


def test_an_installers_command_wakes_the_long_poll(portal: Portal, slow_recheck: None) -> None:  # noqa: F811
    owner, installer = account(portal), account(portal)
    site = new_site(owner)
    token, sid = edge_token(owner, site), site_id(portal, site)
    g = owner.http.post(f"/api/v1/sites/{site}/maintenance", json={"installer": installer.alias, "hours": 1})
    assert g.status_code == 201, g.text

    def queue() -> httpx.Response:
        return installer.http.post(f"/api/v1/sites/{site}/maintenance/commands", json={"kind": "status"})

    brought, made = asyncio.run(poll_while(portal, token, sid, queue))
    assert made.status_code == 201 and brought == 1
    done = installer.http.get(f"/api/v1/sites/{site}/maintenance/commands/{made.json()['id']}").json()
    assert done["state"] == "done" and done["result"] == {"kind": "status", "ok": True}


def test_an_owners_control_wakes_the_poll_and_its_answer_the_owner(
    portal: Portal,  # noqa: F811
    slow_recheck: None,
) -> None:
    owner = account(portal)
    site = new_site(owner)
    token, sid = edge_token(owner, site), site_id(portal, site)

    def send() -> httpx.Response:  # waits for the edge's answer (WAIT_S 10 s; no re-check within)
        return owner.http.post(f"/api/v1/sites/{site}/owner/ev1", json={"mode": "now"})

    brought, answer = asyncio.run(poll_while(portal, token, sid, send))
    assert brought == 1 and answer.status_code == 200, answer.text
    assert answer.json()["state"] == "done" and answer.json()["result"] == {"mode": "now"}


def test_a_waiting_poll_looks_once_not_every_quarter_second(
    portal: Portal,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner = account(portal)
    site = new_site(owner)
    token, sid = edge_token(owner, site), site_id(portal, site)
    looks: list[int] = []
    real = maintenance.take

    async def counted(conn: Any, site: int, limit: int = 20) -> list[dict[str, Any]]:
        looks.append(site)
        return await real(conn, site, limit)

    monkeypatch.setattr(maintenance, "take", counted)
    r = httpx.get(
        f"{portal.url}/api/v1/edge/commands",
        params={"wait": 3.0},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
    )
    assert r.status_code == 200 and r.json() == {"commands": []}
    assert 1 <= looks.count(sid) <= 2, looks  # with the old 0.25-s poll: 13


def test_an_edge_hanging_up_is_offline_at_once(portal: Portal, slow_recheck: None) -> None:  # noqa: F811
    owner = account(portal)
    site = new_site(owner)
    token, sid = edge_token(owner, site), site_id(portal, site)

    def online_until() -> Any:
        with portal.db.connect() as conn:
            row = conn.execute("SELECT online_until FROM command_polls WHERE site_id = %s", (sid,)).fetchone()
        return as_datetime(row[0])

    async def go() -> None:
        async with httpx.AsyncClient() as client:
            task = asyncio.create_task(
                client.get(
                    f"{portal.url}/api/v1/edge/commands",
                    params={"wait": 30.0},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=60.0,
                )
            )
            await until(lambda: waiting(sid), "the long poll waits")
            task.cancel()  # the edge goes away mid-wait
        await until(lambda: not waiting(sid), "the portal saw the edge hang up")

    asyncio.run(go())
    assert online_until() <= utcnow()
    refused = owner.http.post(f"/api/v1/sites/{site}/owner/ev1", json={"mode": "now"})
    assert refused.status_code == 409 and "offline" in refused.json()["detail"]


def test_a_killed_listener_reconnects_and_wakes_the_next_poll(pg_portal: Portal, slow_recheck: None) -> None:
    owner, installer = account(pg_portal), account(pg_portal)
    site = new_site(owner)
    token, sid = edge_token(owner, site), site_id(pg_portal, site)
    owner.http.post(f"/api/v1/sites/{site}/maintenance", json={"installer": installer.alias, "hours": 1})
    listener: wakeup.Listener = pg_portal.app.state.wakeup  # type: ignore[attr-defined]

    async def reconnected() -> None:
        await until(lambda: listener.pid is not None, "the listener listens")
        old = listener.pid
        with pg_portal.db.connect() as conn:
            assert conn.execute("SELECT pg_terminate_backend(%s)", (old,)).fetchone()[0] is True
        await until(lambda: listener.pid not in (None, old), "the listener is back")

    asyncio.run(reconnected())
    assert listener.connects == 2

    def queue() -> httpx.Response:
        return installer.http.post(f"/api/v1/sites/{site}/maintenance/commands", json={"kind": "logs"})

    brought, made = asyncio.run(poll_while(pg_portal, token, sid, queue))
    assert made.status_code == 201 and brought == 1
