"""The dashboard's live view through NATS (issue 19, portal/live.py) in a real browser: with
``--live-nats`` the page asks ``/live`` once, then listens to ``/live/stream``; a batch uploaded
to another portal worker shows without a reload and without another ``/live`` poll."""

from __future__ import annotations

import os
import re
from typing import Any

from playwright.async_api import expect
from test_portal_dashboard import sign_in
from test_portal_walk import DESKTOP

from portal_fixtures import Portal, account, edge_token, new_site, now_ms, upload
from test_ingest_support import PortalDb, pg, serve_portal  # noqa: F401  (fixture)

NATS = os.environ.get("WATTWERK_TEST_NATS", "nats://127.0.0.1:4222")


async def test_dashboard_listens_instead_of_polling(browser: Any, pg: PortalDb) -> None:  # noqa: F811
    with serve_portal(pg, live_nats=NATS) as web, serve_portal(pg, live_nats=NATS) as ingest:
        owner = account(Portal(web.url, pg, web.app))
        site = new_site(owner, "Hof")
        token = edge_token(owner, site)
        t0 = now_ms()
        upload(Portal(ingest.url, pg, ingest.app), token, site, [("grid.power", t0, 500.0)])
        ctx = await browser.new_context(**DESKTOP, locale="en-GB")
        page = await ctx.new_page()
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url.split("?")[0]))
        await sign_in(page, f"{web.url}/sites/{site}", owner.alias)
        await expect(page).to_have_url(re.compile(f"/sites/{site}$"))
        flow = page.locator('#w-live .flow[data-channel="grid.power"] .value')
        await expect(flow).to_have_text("500 W")
        for _ in range(200):  # the page opens its stream after the first poll and the series
            if web.app.state.live.streams == 1:
                break
            await page.wait_for_timeout(50)
        assert web.app.state.live.streams == 1
        upload(
            Portal(ingest.url, pg, ingest.app), token, site, [("grid.power", t0 + 1000, 1234.0)], first_seq=2
        )
        await expect(flow).to_have_text("1.23 kW", timeout=10_000)
        live = f"{web.url}/api/v1/sites/{site}/live"
        assert asked.count(live) == 1 and asked.count(live + "/stream") >= 1, asked
        await ctx.close()
