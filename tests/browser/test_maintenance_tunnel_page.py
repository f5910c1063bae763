"""Issue 14's remote maintenance in Chromium: the installer, given a window by the owner, opens the
edge's own page from the portal's maintenance page, goes to its setup page, searches the catalogue
and tests a connection (a write, with the portal's CSRF token) — all through the portal, over the
edge's outbound command channel; the owner sees the link and the requests on the access page, ends
the window there, and the installer's page is gone. The edge is an assembled one in process (a
simulated meter) whose maintenance client polls the real portal from a thread;
``tests/test_maintenance_e2e.py`` runs ``wattwerk run`` as a process. PostgreSQL only (the API test,
tests/test_maintenance_tunnel.py, covers both backends)."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

from playwright.async_api import expect
from test_portal_dashboard import sign_in
from test_portal_walk import DESKTOP

from portal_fixtures import Portal, account, new_site, portal  # noqa: F401
from portal_fixtures import edge_token as make_token
from test_ingest_support import pg  # noqa: F401
from test_ingest_support import pg as database  # noqa: F401
from test_maintenance_tunnel import Polling, edge  # noqa: F401

KEY = "pv_inverter/sunspec-inverter-int"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_installer_opens_the_edge_setup_page_through_the_portal(
    browser: Any,
    portal: Portal,  # noqa: F811
    edge: Any,  # noqa: F811
    shots: Path,
) -> None:
    owner, installer = account(portal), account(portal)
    site = new_site(owner)
    g = owner.http.post(f"/api/v1/sites/{site}/maintenance", json={"installer": installer.alias, "hours": 1})
    assert g.status_code == 201, g.text
    base = f"{portal.url}/sites/{site}/edge/"
    with Polling(edge, portal.url, make_token(owner, site)):
        ctx = await browser.new_context(**DESKTOP, locale="en-GB")
        page = await ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await sign_in(page, f"{portal.url}/sites/{site}/maintain", installer.alias)
        await expect(page.locator("#edge-page")).to_be_visible()
        portal_csrf = await page.evaluate("BOOT.csrf")  # this browser's portal session
        await page.locator("#edge-page").click()  # the maintenance page's link, while the window is open
        await expect(page).to_have_url(base)
        await expect(page.locator("#site")).to_have_text("Tunnelled house")  # the edge's live page
        assert await page.evaluate("WW.csrf()") == portal_csrf  # the edge page's scripts echo it

        await page.locator('nav a[href="setup"]').click()  # a relative link stays under the prefix
        await expect(page).to_have_url(base + "setup")
        await page.get_by_test_id("search").fill("sunspec inverter")
        await page.locator(f'li[data-key="{KEY}"]').click()
        dead = closed_port()
        await page.get_by_test_id("host").fill("127.0.0.1")
        await page.get_by_test_id("port").fill(str(dead))
        await page.get_by_test_id("test").click()  # POST api/setup/test through the tunnel
        await expect(page.get_by_test_id("test-error")).to_contain_text(f"127.0.0.1:{dead}", timeout=20000)
        await page.screenshot(path=str(shots / "portal-maintenance-tunnel-setup.png"))

        # the owner's access page: the same link while the window is open, every request in the log;
        # "End now" ends the window at once and the installer's page is gone, with a page saying so
        own = await (await browser.new_context(**DESKTOP, locale="en-GB")).new_page()
        own.on("pageerror", lambda e: errors.append(str(e)))
        await sign_in(own, f"{portal.url}/sites/{site}/access", owner.alias)
        await expect(own.locator("#maint-edge #edge-page")).to_be_visible()
        await expect(own.locator("#audit")).to_contain_text("GET /setup → 200")
        await own.locator(f'#maint-live button.end[data-id="{g.json()["id"]}"]').click()
        await expect(own.locator("#maint-edge")).to_be_hidden()
        await expect(own.locator("#maint-off")).to_be_visible()
        await page.reload()
        await expect(page.locator("#tunnel-refused")).to_contain_text("has ended")
        await expect(page.locator("h1")).to_have_text("410")
        assert errors == [], errors

    entries = owner.http.get(f"/api/v1/sites/{site}/audit").json()
    proxied = {
        (e["actor"], e["detail"]["method"], e["detail"]["path"], e["detail"]["status"])
        for e in entries
        if e["action"] == "maintenance.proxy"
    }
    for wanted in [("GET", "/", 200), ("GET", "/setup", 200), ("GET", "/api/catalog", 200)]:
        assert (installer.alias, *wanted) in proxied, proxied
    assert any(p[1:3] == ("POST", "/api/setup/test") for p in proxied), proxied
    assert any(p[0] == installer.alias and re.fullmatch(r"/static/.+\.js", p[2]) for p in proxied)
