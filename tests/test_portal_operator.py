"""The operator view (issue 14) on both backends: the site list (status, last upload, the edge's
own report, search, keyset paging), per-site caps enforced by ingest, registration
open / invite / closed at POST /api/v1/accounts, and administrators only."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from portal_fixtures import PASSWORD, Account, Portal, account, edge_token, new_site, now_ms, portal, unique  # noqa: F401
from test_ingest_support import database  # noqa: F401
from test_portal_series import make_admin
from wattwerk import __version__
from wattwerk.edge.outbox import Outbox
from wattwerk.edge.uplink import Uplink, UplinkConfig


def ingest(portal: Portal, token: str, site: str, rows: list[list], **extra: object) -> httpx.Response:  # noqa: F811
    return httpx.post(
        f"{portal.url}/api/v1/ingest",
        json={"site": site, "edge_id": "e1", "readings": rows, **extra},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
    )


def all_pages(op: Account, **params: object) -> list[dict]:
    out, after = [], 0
    while True:
        page = op.http.get("/api/v1/operator/sites", params={**params, "after": after, "limit": 2}).json()
        out += page["sites"]
        if page["next"] is None:
            return out
        assert len(page["sites"]) == 2
        after = page["next"]


def test_operator_list_reports_and_caps(portal: Portal) -> None:  # noqa: F811
    op, owner, other = account(portal), account(portal), account(portal, unique("Zoe"))
    make_admin(portal, op)
    quiet = new_site(other, "Kellerzähler")
    site = new_site(owner, "Scheune Nord")
    token = edge_token(owner, site)
    extra = [new_site(owner, f"spare {i}") for i in range(3)]
    t = now_ms() - 60_000
    status = {"version": "9.8.7", "backlog": 1234, "read_errors": 5}
    r = ingest(portal, token, site, [[1, "grid.power", t, 100.0]], status=status)
    assert r.status_code == 200 and r.json()["status"] is True, r.text
    bad = ingest(portal, token, site, [[2, "grid.power", t + 1000, 1.0]], status={"backlog": -1})
    assert bad.status_code == 200 and "backlog" in bad.json()["status_error"] and bad.json()["stored"] == 1

    everything = all_pages(op)  # keyset paging, two at a time
    names = [s["site"] for s in everything]
    assert set(names) >= {quiet, site, *extra} and len(names) == len(set(names))
    row = next(s for s in everything if s["site"] == site)
    assert row["online"] is True and row["last_upload"] is not None and row["owner"] == owner.alias
    assert (
        row["edge"]["version"] == "9.8.7"
        and row["edge"]["backlog"] == 1234
        and row["edge"]["read_errors"] == 5
    )
    assert row["channels"] == 1 and row["label"] == "Scheune Nord"
    silent = next(s for s in everything if s["site"] == quiet)
    assert silent["online"] is False and silent["last_upload"] is None and silent["edge"] is None

    def search(q: str, **kw: object) -> list[str]:
        return [s["site"] for s in all_pages(op, q=q, **kw)]

    assert search("scheune") == [site]  # label, any case
    assert search(other.alias[2:].upper()) == [quiet]  # owner alias, a substring
    assert search(site[3:]) == [site]  # site id
    assert search("100%_") == []  # LIKE wildcards are plain characters
    assert site in search("", status="online") and quiet not in search("", status="online")
    assert quiet in search("", status="offline") and site not in search("", status="offline")

    # caps: 2 channels and 5 readings/s for this site; the ingest enforces them
    caps = op.http.put(f"/api/v1/operator/sites/{site}/caps", json={"max_channels": 2, "rate_per_s": 5})
    assert caps.status_code == 200, caps.text
    many = [[10 + i, f"dev{i}.power", t + i, 1.0] for i in range(3)]
    r = ingest(portal, token, site, many)
    assert r.status_code == 200 and [x["kind"] for x in r.json()["rejected"]] == [
        "channel_cap",
        "channel_cap",
    ]
    burst = [[100 + i, "grid.power", t + 10_000 + i, 1.0] for i in range(30)]
    assert ingest(portal, token, site, burst).status_code == 429  # over 5/s with 2 s of burst
    assert op.http.put(f"/api/v1/operator/sites/{site}/caps", json={"max_channels": None}).status_code == 200
    assert ingest(portal, token, site, burst).status_code == 200  # the portal's defaults again
    assert ingest(portal, token, site, [[200, "dev9.power", t, 1.0]]).json()["rejected"] == []
    audit = owner.http.get(f"/api/v1/sites/{site}/audit").json()
    assert [e["detail"] for e in audit if e["action"] == "operator.caps"][-1] == {
        "max_channels": 2,
        "rate_per_s": 5.0,
    }
    assert op.http.put("/api/v1/operator/sites/s_0000000000000000/caps", json={}).status_code == 404
    assert op.http.put(f"/api/v1/operator/sites/{site}/caps", json={"max_channels": 0}).status_code == 422

    # administrators only; the page too
    for who in (owner, other):
        assert who.http.get("/api/v1/operator/sites").status_code == 403
        assert who.http.put(f"/api/v1/operator/sites/{site}/caps", json={}).status_code == 403
        assert who.http.put("/api/v1/operator/settings", json={"registration": "open"}).status_code == 403
        assert who.http.get("/operator").status_code == 404
    assert httpx.get(f"{portal.url}/api/v1/operator/sites").status_code == 401
    page = op.http.get("/operator?lang=de")
    assert page.status_code == 200 and "/static/portal/operator.js" in page.text and "Betrieb" in page.text


def test_registration_modes_set_by_the_operator(portal: Portal) -> None:  # noqa: F811
    op = account(portal)
    make_admin(portal, op)
    assert op.http.get("/api/v1/operator/settings").json()["source"] == "config"
    anon = portal.client()

    def register(**extra: object) -> int:
        body = {"alias": unique(), "password": PASSWORD, **extra}
        return anon.post("/api/v1/accounts", json=body).status_code

    assert op.http.put("/api/v1/operator/settings", json={"registration": "closed"}).status_code == 200
    assert register() == 403
    assert '"registration": "closed"' in anon.get("/login").text  # the page says so
    assert op.http.put("/api/v1/operator/settings", json={"registration": "invite"}).status_code == 200
    assert register() == 403
    code = op.http.post("/api/v1/admin/invites").json()["invite"]
    assert register(invite=code) == 201
    assert register(invite=code) == 403  # used once
    settings = op.http.get("/api/v1/operator/settings").json()
    assert settings["registration"] == "invite" and settings["source"] == "operator"
    assert op.http.put("/api/v1/operator/settings", json={"registration": "maybe"}).status_code == 422
    assert op.http.put("/api/v1/operator/settings", json={"registration": "open"}).status_code == 200
    assert register() == 201


def test_the_real_uplink_reports_version_backlog_and_read_errors(portal: Portal, tmp_path: Path) -> None:  # noqa: F811
    """The edge's uplink sends its own report with a batch (once a minute at most); the operator
    sees the edge's version, the backlog left when it was sent and the read errors."""
    op, owner = account(portal), account(portal)
    make_admin(portal, op)
    site = new_site(owner)
    box = Outbox(tmp_path / "outbox.db")
    t = now_ms() - 3_600_000
    box.append_raw([("grid.power", t + i * 1000, 100.0) for i in range(30)])
    cfg = UplinkConfig(
        url=portal.url,
        site=site,
        edge_id="e1",
        token=edge_token(owner, site),
        fmt="json",
        gzip_level=0,
        batch_size=10,
        read_errors=lambda: 7,
    )

    async def go() -> None:
        up = Uplink(box, cfg)
        await up.drain()
        await up.aclose()

    asyncio.run(go())
    assert box.pending() == 0
    (row,) = [s for s in op.http.get("/api/v1/operator/sites", params={"q": site}).json()["sites"]]
    assert row["edge"]["version"] == __version__ and row["edge"]["read_errors"] == 7
    assert (
        row["edge"]["backlog"] == 30
    )  # counted before the first batch left; the next report is a minute away
    assert row["online"] is True and row["channels"] == 1
