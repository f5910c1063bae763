"""Pairing against the real portal (PostgreSQL on loopback): an owner's ingest access token is the
pairing code; the edge gets a site token that the portal's ingest accepts."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from edge_login import signed_in_async, test_auth
from portal_fixtures import Portal, account, database, new_site, now_ms, pg, portal  # noqa: F401
from wattwerk.config import load_config
from wattwerk.edge.live import RuntimeView
from wattwerk.edge.runtime import EdgeRuntime
from wattwerk.edge.setup import Setup
from wattwerk.edge.web import create_app

pytestmark = pytest.mark.postgres

SITE = """\
version: 1
site:
  name: Paired house   # kept
  location: {latitude: 48.1, longitude: 11.6}
  timezone: Europe/Berlin
"""


async def test_wizard_pairs_with_the_real_portal(portal: Portal, tmp_path: Path) -> None:  # noqa: F811
    acc = account(portal)
    site_name = new_site(acc)
    code = acc.http.post("/api/v1/tokens", json={"name": "pair", "scopes": ["ingest"]}).json()["token"]
    path = tmp_path / "site.yaml"
    path.write_text(SITE)
    app = create_app(RuntimeView(EdgeRuntime([]), load_config(path)), auth=test_auth(tmp_path / "var"),
                     setup=Setup(path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as edge:
        await signed_in_async(edge)
        form = {"portal_url": portal.url, "site": site_name, "code": code}
        r = await edge.post("/api/wizard/pair", json=form | {"code": "wwp_nope"})
        assert r.status_code == 422 and "refused the pairing code" in r.json()["errors"][0]
        r = await edge.post("/api/wizard/pair", json=form | {"site": "nosuchsite"})
        assert r.status_code == 422 and 'no site "nosuchsite"' in r.json()["errors"][0]
        assert path.read_text() == SITE
        r = await edge.post("/api/wizard/pair", json=form)
        assert r.status_code == 200, r.text
    cfg = load_config(path)
    assert cfg.portal is not None and cfg.portal.site == site_name and "# kept" in path.read_text()
    token = cfg.portal.token.get_secret_value()
    batch = {"site": site_name, "edge_id": "edge", "readings": [[1, "pv1.power", now_ms(), 1234.5]]}
    r = httpx.post(f"{portal.url}/api/v1/ingest", headers={"Authorization": f"Bearer {token}"}, timeout=30.0,
                   json=batch)
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text
