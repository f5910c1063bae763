"""The plan widget in a real browser: the edge's plan (uploaded ahead of time) shows as PV
forecast against actual with the devices' schedule, the expected cost, the PV yield forecast
of the coming days and the edge's PV under-performance alert; a site whose edge sent no plan
does not show the widget."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import expect
from test_portal_dashboard import sign_in
from test_portal_walk import DESKTOP, MIN, TZ, site_readings

from portal_fixtures import Portal, account, edge_token, new_site, portal, upload  # noqa: F401
from test_ingest_support import database, pg  # noqa: F401
from test_plans import ALERT, document, slot_start


async def test_plan_widget_shows_forecast_schedule_and_pv_days(
    browser: Any,
    portal: Portal,  # noqa: F811
    shots: Path,
) -> None:
    owner = account(portal)
    site, bare = new_site(owner, "Hof"), new_site(owner, "Scheune")
    token = edge_token(owner, site)
    now_ms = int(time.time() * 1000) // MIN * MIN
    rows = site_readings(now_ms, hours=6)
    for i in range(0, len(rows), 5000):
        upload(portal, token, site, rows[i : i + 5000], first_seq=i + 1)
    now = datetime.now(UTC)
    doc = {**document(site, slot_start(now), now), "pv_alert": ALERT}
    first_ms = doc["slots"][0]["ts_ms"]
    doc["tariff"]["published_until_ms"] = first_ms + 48 * 900_000  # the rest priced by the edge's forecast
    r = httpx.post(f"{portal.url}/api/v1/plans", json=doc, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["stored"] == 96, r.text

    ctx = await browser.new_context(**DESKTOP, locale="en-GB", timezone_id=TZ)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await sign_in(page, f"{portal.url}/sites/{site}", owner.alias)
    card = page.locator("#w-plan")
    await expect(card).to_be_visible()
    await expect(card.locator("h2")).to_have_text("Plan and PV forecast")
    await expect(card.locator(".plan-summary")).to_contain_text("expected cost ahead")
    await expect(card.locator(".plan-summary")).to_contain_text("forecast prices from")
    await expect(card.locator(".pv-alert")).to_have_text(
        "PV yields less than expected (55 %): measured 33.0 kWh against 60.0 kWh expected"
    )
    await expect(card.locator(".chart canvas")).to_have_count(1)
    await expect(card.locator(".u-legend")).to_contain_text("Forecast")
    await expect(card.locator(".u-legend")).to_contain_text("Battery")  # the role's label, not the id "bat"
    days = card.locator(".pv-day")
    await expect(days).to_have_count(3)  # the edge's local days from today; the browser is in its zone
    for i, day in enumerate(doc["pv_days"]):
        await expect(days.nth(i)).to_have_attribute("data-day", day["day"])
        # as Intl.NumberFormat rounds: the shortest decimal form, half away from zero
        one_decimal = Decimal(repr(day["wh"] / 1000)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        await expect(days.nth(i)).to_contain_text(f"{one_decimal:,} kWh")
    await page.screenshot(path=str(shots / "portal-plan.png"), full_page=True)

    await page.goto(f"{portal.url}/sites/{bare}")  # no plan: no widget
    await expect(page.locator("#w-live")).to_be_attached()
    await expect(page.locator("#w-plan")).to_be_hidden()
    assert errors == []
    await ctx.close()
