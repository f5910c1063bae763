"""The live page's plan chart (Chromium) tells forecast prices from published ones: the slots after
the plan's ``published_slots`` are drawn paler behind a dashed line, named in the legend and the
tooltips, and the outlook says from when its prices are a forecast (German, French, English)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from browser.demo_site import stored_demo
from browser.test_edge_live_language import OutlookDemo
from edge_login import browser_sign_in, test_auth
from wattwerk.edge.web import create_app

PUBLISHED = 8  # of the demo plan's 12 hourly slots


class ForecastDemo(OutlookDemo):
    """The demo plan (test data) whose last four slots are planned on forecast prices."""

    def plan(self) -> dict[str, Any]:
        return super().plan() | {"published_slots": PUBLISHED}


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[ForecastDemo]:
    site = stored_demo(tmp_path, date(2026, 6, 21), 14, store_every_s=300)
    yield ForecastDemo(site)
    site.close()


@pytest.mark.parametrize(
    ("locale", "legend", "outlook", "tooltip"),
    [
        (
            "de-DE",
            "Prognosepreis (noch nicht veröffentlicht)",
            r"erwartet im Planzeitraum, ab \d\d:\d\d mit Prognosepreisen: 2,50",
            "(Prognose)",
        ),
        ("fr-FR", "prix prévu (pas encore publié)", r"à partir de \d\d:\d\d : 2,50", "(prévision)"),
        (
            "en-GB",
            "forecast price (not yet published)",
            r"with forecast prices from \d\d:\d\d: ",
            "(forecast)",
        ),
    ],
)
async def test_forecast_prices_are_drawn_and_said_apart(
    browser: Any,
    serve: Callable[[Any], Awaitable[str]],
    demo: ForecastDemo,
    tmp_path: Path,
    locale: str,
    legend: str,
    outlook: str,
    tooltip: str,
) -> None:
    base = await serve(create_app(demo, auth=test_auth(tmp_path)))
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await browser_sign_in(page, base)
        plan = page.get_by_test_id("plan")
        await expect(page.get_by_test_id("plan-forecast")).to_have_text(legend)
        await expect(plan.locator("rect.price")).to_have_count(12)
        await expect(plan.locator("rect.price.forecast")).to_have_count(12 - PUBLISHED)
        await expect(plan.locator("line.forecast-from")).to_have_count(1)
        assert tooltip in await plan.locator("rect.price.forecast title").first.text_content()
        assert tooltip not in await plan.locator("rect.price title").first.text_content()
        await expect(page.get_by_test_id("plan-outlook")).to_have_text(re.compile(outlook))
    finally:
        await context.close()
    assert errors == []
