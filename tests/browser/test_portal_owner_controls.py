"""The owner's controls on the portal's site page in a real browser (issue 16), with a real
``wattwerk run`` process as the site's edge: the owner presses "PV" for the charger and the page shows
the edge's confirmation and the new state; a viewer sees the state but no buttons; with the edge
stopped the page says it is offline and that nothing was sent. The card has the edge page's controls:
a weekday departure plan, the battery's reserve, a heating rod's boost; the control's reason in the
page's language; a viewer's card follows a change made elsewhere by itself. On PostgreSQL only (the API test,
tests/test_owner_portal_state.py, covers both backends). The docs' screenshots of the card come from here:
``WATTWERK_SCREENSHOTS=docs/screenshots .venv/bin/pytest tests/browser/test_portal_owner_controls.py``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from playwright.async_api import expect
from test_portal_dashboard import sign_in
from test_portal_walk import DESKTOP, PHONE

from portal_fixtures import Portal, account, edge_token, new_site, portal  # noqa: F401
from test_ingest_support import pg  # noqa: F401
from test_ingest_support import pg as database  # noqa: F401
from test_maintenance_e2e import _stop, _wait_for
from test_owner_portal_e2e import SITE as CHARGER_ONLY
from test_owner_portal_e2e import start_edge

# the charger of the e2e site, a battery and a heating rod (Modbus on a port nobody answers: the
# control runs their laws; the owner's settings go through the same channel)
SITE = CHARGER_ONLY.replace(
    "store:",
    """  - {{id: bat, role: battery, catalog: sunspec-storage, capacity_wh: 10000, max_charge_w: 5000,
     max_discharge_w: 5000, reserve_soc: 10, connection: {{type: modbus_tcp, host: 127.0.0.1, port: {dead}}}}}
  - {{id: rod, role: heating_rod, catalog: mypv-ac-thor, limits: {{max_power_w: 3000}},
     connection: {{type: modbus_tcp, host: 127.0.0.1, port: {dead}}}}}
store:""",
)


async def test_the_owner_presses_pv_in_the_portal_and_the_edge_confirms(
    browser: Any,
    portal: Portal,  # noqa: F811
    shots: Path,
    tmp_path: Path,
) -> None:
    owner, viewer = account(portal), account(portal)
    site = new_site(owner, "Haus")
    assert owner.http.put(f"/api/v1/sites/{site}/grants/{viewer.alias}", json={"role": "viewer"}).is_success
    edge = start_edge(SITE, tmp_path, portal.url, edge_token(owner, site), site)
    send = f"/api/v1/sites/{site}/owner/wb"
    try:
        _wait_for(lambda: owner.http.post(send, json={"mode": "now"}).status_code == 200, 90, "online", edge)

        ctx = await browser.new_context(**DESKTOP, locale="en-GB")
        page = await ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await sign_in(page, f"{portal.url}/sites/{site}", owner.alias)
        card = page.locator("#w-owner")
        await expect(card.locator("h2")).to_have_text("Your controls")
        charger = card.locator('[data-owner="wb"]')
        (
            await expect(charger.get_by_test_id("owner-mode-now")).to_have_attribute(
                "aria-pressed", "true", timeout=15000
            ),
            errors,
        )
        await charger.get_by_test_id("owner-mode-pv").click()
        await expect(card.get_by_test_id("owner-note")).to_contain_text(
            "Confirmed by the edge", timeout=15000
        )
        await expect(card.locator('[data-owner="wb"]').get_by_test_id("owner-mode-pv")).to_have_attribute(
            "aria-pressed", "true"
        )
        await expect(card.locator('[data-owner="wb"]').get_by_test_id("owner-mode-now")).to_have_attribute(
            "aria-pressed", "false"
        )
        assert owner.http.get(f"/api/v1/sites/{site}/owner").json()["result"]["devices"][0]["mode"] == "pv"

        plan = charger.locator("form[data-form=plan]")  # 20 kWh by 07:00 on Mondays and Wednesdays
        await plan.get_by_test_id("owner-energy_kwh").fill("20")
        await plan.get_by_test_id("owner-car").fill("Zoe")
        await plan.get_by_test_id("owner-departure-time").fill("07:00")
        await plan.get_by_test_id("owner-day").select_option("days")
        await plan.get_by_test_id("owner-plan-set").click()
        await expect(card.get_by_test_id("owner-err")).to_have_text("tick at least one day")
        await plan.get_by_test_id("owner-day-mon").check()
        await plan.get_by_test_id("owner-day-wed").check()
        await plan.get_by_test_id("owner-plan-set").click()
        await expect(charger.get_by_test_id("owner-departure")).to_contain_text("Mon Wed", timeout=15000)
        await expect(charger.get_by_test_id("owner-departure")).to_contain_text("20 kWh")
        await expect(charger.get_by_test_id("owner-departure")).to_contain_text("Zoe")
        battery = card.locator('[data-owner="bat"]')
        await battery.get_by_test_id("owner-reserve_soc").fill("30")
        await battery.get_by_test_id("owner-reserve-set").click()
        await expect(battery.get_by_test_id("owner-reserve")).to_have_text("Reserve: 30 %", timeout=15000)
        rod = card.locator('[data-owner="rod"]')
        await rod.get_by_test_id("owner-boost").click()
        await expect(rod.get_by_test_id("owner-reason")).to_contain_text("boost until", timeout=15000)
        doc = {d["id"]: d for d in owner.http.get(f"/api/v1/sites/{site}/owner").json()["result"]["devices"]}
        assert doc["wb"]["settings"]["plan"]["days"] == ["mon", "wed"]
        assert doc["wb"]["settings"]["plan"]["car"] == "Zoe"
        assert doc["bat"]["reserve_soc"] == 30.0 and doc["rod"]["override"]["kind"] == "boost"
        await card.screenshot(path=str(shots / "portal-owner-desktop-light.png"))

        seen = await (await browser.new_context(**PHONE, locale="de-DE")).new_page()
        await seen.goto(f"{portal.url}/login?lang=en")  # the sign-in helper reads English messages
        await sign_in(seen, f"{portal.url}/sites/{site}", viewer.alias)
        await expect(seen.locator("#w-owner")).to_be_visible()  # signed in
        await seen.goto(f"{portal.url}/sites/{site}?lang=de")  # then the viewer's own language
        mine = seen.locator("#w-owner")
        await expect(mine.get_by_test_id("owner-mode")).to_have_text("PV", timeout=15000)
        await expect(mine.get_by_test_id("owner-viewer")).to_have_text(
            "Sie dürfen ansehen; der Besitzer entscheidet."
        )
        assert await mine.locator("button").count() == 0
        # the control's reason in German (no charger at the OCPP port: no reading)
        await expect(mine.locator('[data-owner="wb"]').get_by_test_id("owner-reason")).to_have_text(
            "keine Messwerte vom Ladepunkt: die Regelung lässt ihn aus"
        )
        await mine.screenshot(path=str(shots / "portal-owner-viewer-phone-light.png"))
        assert owner.http.post(send, json={"mode": "now"}).json()["state"] == "done"  # elsewhere
        await expect(mine.get_by_test_id("owner-mode")).to_have_text("Sofort", timeout=40000)  # no reload
    finally:
        _stop(edge)
    deadline = time.monotonic() + 90  # the last long poll (25 s) and its grace, on a loaded box
    while owner.http.get(f"/api/v1/sites/{site}/owner").status_code != 409:
        assert time.monotonic() < deadline, "the portal still sees the edge"
        time.sleep(0.2)
    await page.reload()
    card = page.locator("#w-owner")
    await expect(card.get_by_test_id("owner-offline")).to_have_text("The edge is offline — nothing was sent.")
    # since when, in the page's own words, and the headline's sentence only once
    await expect(card.get_by_test_id("owner-offline-hint")).to_contain_text("Last contact ")
    assert (await card.inner_text()).count("nothing was sent") == 1
    await card.screenshot(path=str(shots / "portal-owner-offline-desktop-light.png"))
    assert errors == []
