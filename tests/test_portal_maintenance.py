"""Maintenance by consent: off by default, granted for a time, carried over the edge's own
long poll (the edge's client function), ends by itself, every action in the owner's audit log."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from portal_fixtures import Portal, account, edge_token, new_site, portal  # noqa: F401
from test_ingest_support import database, pg  # noqa: F401
from wattwerk.edge.maintenance_client import serve_once
from wattwerk.portal.database import utcnow


class FakeEdge:
    """What the edge will do with commands: answer status, logs, and change its config."""

    def __init__(self) -> None:
        self.config = {"grid_limit_w": 4000}

    async def handle(self, kind: str, payload: dict) -> object:
        if kind == "status":
            return {"ok": True, "devices": 3}
        if kind == "logs":
            return ["line 1", "line 2"]
        if kind == "get_config":
            return self.config
        if kind == "set_config":
            if "bad" in payload:
                raise ValueError("refusing a bad setting")
            self.config.update(payload)
            return self.config
        raise ValueError(kind)


def poll(portal: Portal, token: str, edge: FakeEdge, wait: float = 0.0) -> int:  # noqa: F811
    async def go() -> int:
        async with httpx.AsyncClient() as client:
            return await serve_once(client, portal.url, token, edge.handle, wait_s=wait)

    return asyncio.run(go())


def test_maintenance_round_trip_expiry_and_audit(portal: Portal) -> None:  # noqa: F811
    owner, installer = account(portal), account(portal)
    site = new_site(owner)
    token = edge_token(owner, site)
    edge = FakeEdge()
    # off by default: the installer cannot see the site nor queue anything
    assert installer.http.get(f"/api/v1/sites/{site}").status_code == 404
    cmd = {"kind": "set_config", "payload": {"grid_limit_w": 3000}}
    assert installer.http.post(f"/api/v1/sites/{site}/maintenance/commands", json=cmd).status_code == 404
    assert poll(portal, token, edge) == 0

    g = owner.http.post(f"/api/v1/sites/{site}/maintenance", json={"installer": installer.alias, "hours": 1})
    assert g.status_code == 201, g.text
    grant_id = g.json()["id"]
    assert installer.http.get(f"/api/v1/sites/{site}/maintenance").json()[0]["installer"] == installer.alias
    assert (
        installer.http.get(f"/api/v1/sites/{site}/series").status_code == 404
    )  # maintenance is not data access
    made = installer.http.post(f"/api/v1/sites/{site}/maintenance/commands", json=cmd)
    assert made.status_code == 201
    cid = made.json()["id"]
    bad = installer.http.post(
        f"/api/v1/sites/{site}/maintenance/commands", json={"kind": "set_config", "payload": {"bad": 1}}
    ).json()["id"]
    assert poll(portal, token, edge, wait=2.0) == 2
    assert edge.config["grid_limit_w"] == 3000
    done = installer.http.get(f"/api/v1/sites/{site}/maintenance/commands/{cid}").json()
    assert done["state"] == "done" and done["result"]["grid_limit_w"] == 3000
    failed = installer.http.get(f"/api/v1/sites/{site}/maintenance/commands/{bad}").json()
    assert failed["state"] == "failed" and "bad setting" in failed["result"]["error"]

    # the grant runs out (moved into the past rather than waited for): access ends by itself
    waiting = installer.http.post(
        f"/api/v1/sites/{site}/maintenance/commands", json={"kind": "status"}
    ).json()["id"]
    with portal.pg.connect() as conn:
        conn.execute(
            "UPDATE maintenance_grants SET starts_at = %s, expires_at = %s WHERE id = %s",
            (utcnow() - timedelta(hours=2), utcnow() - timedelta(seconds=1), grant_id),
        )
    assert poll(portal, token, edge) == 0  # the queued command is never delivered
    assert owner.http.get(f"/api/v1/sites/{site}/maintenance/commands/{waiting}").json()["state"] == "expired"
    assert installer.http.post(f"/api/v1/sites/{site}/maintenance/commands", json=cmd).status_code == 404
    assert installer.http.get(f"/api/v1/sites/{site}/maintenance/commands/{cid}").status_code == 404

    actions = [(e["actor"], e["action"]) for e in owner.http.get(f"/api/v1/sites/{site}/audit").json()]
    assert (owner.alias, "maintenance.grant") in actions
    assert actions.count((installer.alias, "maintenance.command")) == 3
    assert actions.count(("edge", "maintenance.result")) == 2
    assert installer.http.get(f"/api/v1/sites/{site}/audit").status_code == 404


def test_owner_ends_grant_early_and_viewer_cannot_grant(portal: Portal) -> None:  # noqa: F811
    owner, installer, viewer = account(portal), account(portal), account(portal)
    site = new_site(owner)
    assert (
        owner.http.put(f"/api/v1/sites/{site}/grants/{viewer.alias}", json={"role": "viewer"}).status_code
        == 200
    )
    assert viewer.http.get(f"/api/v1/sites/{site}").json()["role"] == "viewer"
    r = viewer.http.post(f"/api/v1/sites/{site}/maintenance", json={"installer": installer.alias, "hours": 1})
    assert r.status_code == 403
    gid = owner.http.post(
        f"/api/v1/sites/{site}/maintenance", json={"installer": installer.alias, "hours": 24}
    ).json()["id"]
    assert (
        installer.http.post(f"/api/v1/sites/{site}/maintenance/commands", json={"kind": "logs"}).status_code
        == 201
    )
    assert owner.http.delete(f"/api/v1/sites/{site}/maintenance/{gid}").status_code == 200
    assert (
        installer.http.post(f"/api/v1/sites/{site}/maintenance/commands", json={"kind": "logs"}).status_code
        == 404
    )
    assert owner.http.delete(f"/api/v1/sites/{site}/grants/{viewer.alias}").status_code == 200
    assert viewer.http.get(f"/api/v1/sites/{site}").status_code == 404


def test_long_poll_wakes_for_a_new_command(portal: Portal) -> None:  # noqa: F811
    owner, installer = account(portal), account(portal)
    site = new_site(owner)
    token = edge_token(owner, site)
    owner.http.post(f"/api/v1/sites/{site}/maintenance", json={"installer": installer.alias, "hours": 1})
    edge = FakeEdge()

    async def go() -> int:
        async with httpx.AsyncClient() as client:
            task = asyncio.create_task(serve_once(client, portal.url, token, edge.handle, wait_s=20.0))
            await asyncio.sleep(0.5)
            await asyncio.to_thread(
                installer.http.post, f"/api/v1/sites/{site}/maintenance/commands", json={"kind": "get_config"}
            )
            return await task

    assert asyncio.run(go()) == 1
    assert owner.http.delete(f"/api/v1/sites/{site}/edge-tokens").json() == {"revoked": 1}
    with httpx.Client(base_url=portal.url) as anon:
        revoked = anon.get("/api/v1/edge/commands", headers={"Authorization": f"Bearer {token}"})
        assert revoked.status_code == 401
        assert anon.get("/api/v1/edge/commands").status_code == 401
        assert anon.get("/api/v1/edge/commands", headers={"Authorization": "Bearer nope"}).status_code == 401
