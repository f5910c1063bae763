"""Pairing against the real portal (PostgreSQL and SQLite on loopback): the owner's pairing code
goes into the edge's wizard; the edge ends with its own site token, which the portal's ingest
accepts, and knows the site by the owner's name for it."""

from __future__ import annotations

from pathlib import Path

import httpx

from edge_login import signed_in_async, test_auth
from portal_fixtures import Portal, account, database, new_site, now_ms, pg, portal  # noqa: F401
from wattwerk.config import load_config
from wattwerk.edge.live import RuntimeView
from wattwerk.edge.runtime import EdgeRuntime
from wattwerk.edge.setup import Setup
from wattwerk.edge.web import create_app

SITE = """\
version: 1
site:
  name: Paired house   # kept
  location: {latitude: 48.1, longitude: 11.6}
  timezone: Europe/Berlin
"""


async def test_wizard_pairs_with_the_real_portal(portal: Portal, tmp_path: Path) -> None:  # noqa: F811
    acc = account(portal)
    site_name = new_site(acc, "Ferienhaus")
    code = acc.http.post(f"/api/v1/sites/{site_name}/pairing-codes").json()["code"]
    path = tmp_path / "site.yaml"
    path.write_text(SITE)
    app = create_app(
        RuntimeView(EdgeRuntime([]), load_config(path)), auth=test_auth(tmp_path / "var"), setup=Setup(path)
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as edge:
        await signed_in_async(edge)
        form = {"portal_url": portal.url, "code": code}
        r = await edge.post("/api/wizard/pair", json=form | {"code": "ZZZZ-ZZZZ-ZZZZ"})
        assert r.status_code == 422 and "refused the pairing code: unknown" in r.json()["errors"][0]
        r = await edge.post("/api/wizard/pair", json=form | {"code": "wwp_token"})
        assert r.status_code == 422 and "pairing code" in r.json()["errors"][0]
        r = await edge.post("/api/wizard/pair", json=form | {"portal_url": portal.url + "/nothing"})
        assert r.status_code == 422 and "no pairing there" in r.json()["errors"][0]
        assert path.read_text() == SITE
        r = await edge.post("/api/wizard/pair", json=form | {"code": code.lower()})
        assert r.status_code == 200, r.text
        assert r.json() | {"ok": True} == {
            "ok": True,
            "portal": portal.url,
            "site": site_name,
            "label": "Ferienhaus",
        }
        shown = (await edge.get("/api/setup/config")).json()
        assert shown["portal_label"] == "Ferienhaus" and shown["portal_site"] == site_name
        r = await edge.post("/api/wizard/pair", json=form)
        assert r.status_code == 422 and "used already" in r.json()["errors"][0]
    cfg = load_config(path)
    assert cfg.portal is not None and cfg.portal.site == site_name and "# kept" in path.read_text()
    assert cfg.portal.label == "Ferienhaus"
    token = cfg.portal.token.get_secret_value()
    batch = {"site": site_name, "edge_id": "edge", "readings": [[1, "pv1.power", now_ms(), 1234.5]]}
    r = httpx.post(
        f"{portal.url}/api/v1/ingest", headers={"Authorization": f"Bearer {token}"}, timeout=30.0, json=batch
    )
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text
