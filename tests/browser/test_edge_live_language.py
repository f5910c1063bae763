"""The live page in German and in French (Chromium): every card's labels come from the page's
catalogue (static/i18n), none of the English page's labels is left; a screenshot to look at
(``WATTWERK_SCREENSHOTS=dir``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import pytest
from playwright.async_api import expect

from browser.demo_site import stored_demo
from browser.test_browser_live import PlannedDemo
from edge_login import browser_sign_in, test_auth
from wattwerk.edge.web import create_app

# the English page's labels (app.js, index.html before they were translated): none on a German page
ENGLISH = [
    "State of charge",
    "Your controls",
    "grid import",
    "grid export",
    "battery charges",
    "battery discharges",
    "expected over the plan",
    "Vehicle",
    "PV only",
    "Feed-in limit",
    "Temperature",
    "grid connection",
    "prices:",
    "Phases",
    "discharging",
    "No history",
]


class OutlookDemo(PlannedDemo):
    """The planned demo with what a real plan also says (test data): where its prices come from,
    the PV it curtails and the cost and CO₂ expected over it."""

    def plan(self) -> dict[str, Any]:
        return super().plan() | {
            "source": "SMARD.de",
            "fresh": False,
            "curtailed_kwh": 1.25,
            "cost_eur": 2.5,
            "co2": {
                "kg": 3.5,
                "source": "Electricity Maps",
                "effect": {"co2_kg_saved": 0.4, "cost_eur_more": 0.12},
            },
        }


class Owner:
    """Owner settings for the demo's charger and battery (test data), as GET api/owner shows them."""

    roles: ClassVar[dict[str, str]] = {"ev1": "ev_charger", "bat": "battery"}

    def state(self) -> dict[str, Any]:
        ev = {"id": "ev1", "role": "ev_charger", "mode": "pv", "min_current_a": 6, "max_current_a": 16}
        ev |= {"phases": 0, "can_switch_phases": True, "top_current_a": 16, "settings": {}}
        ev["why"] = {"key": "ev.no_car", "vars": {}, "text": "no car plugged in"}
        bat = {"id": "bat", "role": "battery", "mode": "self_consumption", "reserve_soc": 20, "planner": True}
        return {"devices": [ev, bat]}


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[OutlookDemo]:
    site = stored_demo(tmp_path, date(2026, 6, 21), 14, store_every_s=300)
    yield OutlookDemo(site)
    site.close()


async def cards_filled(page: Any) -> None:
    """Every card has what it shows (bounded waits for the first render, not timing asserts)."""
    await expect(page.locator("#owner-card")).to_be_visible()
    await expect(page.locator('[data-charger="ev1"]')).to_be_visible()
    await expect(page.locator('[data-heat="hp"]')).to_be_visible()
    await expect(page.get_by_test_id("restrictions").locator("li").first).to_be_visible()
    await expect(page.get_by_test_id("plan-outlook")).to_be_visible()
    await expect(page.get_by_test_id("chart").locator("canvas")).to_have_count(1)
    await expect(page.get_by_test_id("energy").locator("tr").first).to_be_visible()


async def test_live_page_in_german_and_french(
    browser: Any, serve: Callable[[Any], Awaitable[str]], demo: OutlookDemo, shots: Path, tmp_path: Path
) -> None:
    base = await serve(create_app(demo, auth=test_auth(tmp_path), owner=Owner()))
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="de-DE", color_scheme="light"
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await browser_sign_in(page, base)  # a German browser: the live page in German
        await cards_filled(page)
        await expect(page.locator("html")).to_have_attribute("lang", "de")
        await expect(page.locator("#owner-title")).to_have_text("Ihre Steuerung")
        battery = page.get_by_test_id("battery")
        await expect(battery).to_contain_text("Ladezustand")
        await expect(battery).to_contain_text("Leistung")
        await expect(battery).to_contain_text(" von ")  # "20 % von 10,0 kWh"
        energy = page.get_by_test_id("energy")
        await expect(energy).to_contain_text("Netzbezug")
        await expect(energy).to_contain_text("Einspeisung")
        await expect(page.get_by_test_id("chart").locator(".u-legend")).to_contain_text("Zeit")
        charger = page.locator('[data-charger="ev1"]')
        for label in ("Modus", "Strom", "nur PV"):
            await expect(charger).to_contain_text(label)
        heat = page.locator('[data-heat="hp"]')
        await expect(heat).to_contain_text("SG-Ready")
        await expect(heat).to_contain_text("Temperatur")
        restrictions = page.get_by_test_id("restrictions")
        await expect(restrictions).to_contain_text("Einspeisegrenze")
        await expect(restrictions).to_contain_text("(Netzanschluss)")
        plan = page.get_by_test_id("plan")
        for label in ("Preis EUR/kWh", "Batterie lädt", "Batterie entlädt"):
            await expect(plan).to_contain_text(label)
        await expect(page.get_by_test_id("plan-prices")).to_have_text(
            "Preise: SMARD.de (zwischengespeichert)"
        )
        await expect(page.get_by_test_id("plan-outlook")).to_contain_text("erwartet im Planzeitraum: 2,50 €")
        text = await page.evaluate("document.body.textContent")  # hidden texts (tooltips) too
        assert [e for e in ENGLISH if e in text] == []
        await page.screenshot(path=str(shots / "edge-live-de-desktop-light.png"), full_page=True)

        await page.goto(base + "?lang=fr")  # the page's language asked for: French
        await cards_filled(page)
        await expect(page.locator("html")).to_have_attribute("lang", "fr")
        await expect(page.get_by_test_id("battery")).to_contain_text("État de charge")
        await expect(page.locator('[data-charger="ev1"]')).to_contain_text("PV uniquement")
        await expect(page.get_by_test_id("energy")).to_contain_text("soutirage")
        await expect(page.get_by_test_id("restrictions")).to_contain_text("Limite d'injection")
        text = await page.evaluate("document.body.textContent")
        assert [e for e in ENGLISH if e in text and e != "Phases"] == []  # (French "Phases" too)
        assert errors == []
    finally:
        await context.close()
