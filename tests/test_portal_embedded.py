"""The embedded portal of ``wattwerk demo``: an SQLite file in the data folder, the demo owner,
a site and an edge token that the real ingest endpoint accepts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from test_ingest_support import PortalDb, portal_rows, serve_portal
from wattwerk.portal import embedded


def test_pair_demo_once_then_the_same_site(tmp_path: Path) -> None:
    url = embedded.database_url(tmp_path)
    first = asyncio.run(embedded.pair_demo(url, "demo", "demo-password", "Demo house"))
    again = asyncio.run(embedded.pair_demo(url, "demo", "demo-password", "Demo house"))
    assert (tmp_path / "portal.db").is_file()
    assert again.site == first.site and again.token != first.token
    with serve_portal(PortalDb(url)) as portal:
        login = httpx.post(
            f"{portal.url}/api/v1/session", json={"alias": "demo", "password": "demo-password"}
        )
        assert login.status_code == 200
        listed = httpx.get(f"{portal.url}/api/v1/sites", cookies=login.cookies).json()
        assert [(s["site"], s["label"]) for s in listed] == [(first.site, "Demo house")]
        now_ms = int(time.time() * 1000)
        for seq, token in enumerate((first.token, again.token), start=1):
            doc = {"site": first.site, "edge_id": "demo", "readings": [[seq, "grid.power", now_ms, 1.0]]}
            r = httpx.post(
                f"{portal.url}/api/v1/ingest", json=doc, headers={"Authorization": f"Bearer {token}"}
            )
            assert r.status_code == 200 and r.json()["stored"] == 1
    assert len(portal_rows(PortalDb(url), first.site)) == 2
