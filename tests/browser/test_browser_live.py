"""The live page on a desktop and on a phone, over the demo site with a plan: assertions on what
the page shows, and screenshots to look at (``WATTWERK_SCREENSHOTS=dir``)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from browser.demo_site import stored_demo
from edge_login import browser_sign_in, test_auth
from page_format import pct, power
from wattwerk.demo import DemoSite
from wattwerk.edge.live import enrich
from wattwerk.edge.web import create_app


class PlannedDemo:
    """The demo site plus a day-ahead plan (test data: hourly prices and battery schedule)."""

    def __init__(self, site: DemoSite) -> None:
        self.site = site
        start = site.sim.now.replace(minute=0, second=0, microsecond=0)
        self.slots = [
            {
                "start": (start + timedelta(hours=h)).isoformat(),
                "end": (start + timedelta(hours=h + 1)).isoformat(),
                "price": round(0.30 - 0.12 * (3 <= h <= 6) + 0.1 * (h >= 8), 3),
                "battery_w": -3000.0 if 3 <= h <= 6 else 2000.0 if h >= 8 else 0.0,
                "ev_w": 0.0,
                "grid_w": 0.0,
            }
            for h in range(12)
        ]

    def plan(self) -> dict[str, Any]:
        return {"currency": "EUR", "slots": self.slots}

    def live(self) -> dict[str, Any]:
        return enrich(self.site, self.site.live()) | {"plan": self.plan()}

    def today(self) -> dict[str, Any]:
        return self.site.today()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[PlannedDemo]:
    site = stored_demo(tmp_path, date(2026, 6, 21), 14, store_every_s=300)
    yield PlannedDemo(site)
    site.close()


VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}


@pytest.mark.parametrize("kind", list(VIEWPORTS))
async def test_live_page(
    kind: str,
    browser: Any,
    serve: Callable[[Any], Awaitable[str]],
    demo: PlannedDemo,
    shots: Path,
    tmp_path: Path,
) -> None:
    base = await serve(create_app(demo, auth=test_auth(tmp_path)))
    context = await browser.new_context(**VIEWPORTS[kind])
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        await browser_sign_in(page, base)
        live = demo.live()
        await expect(page.locator("#site")).to_have_text("Demo house")
        flows = page.locator(".flow")
        await expect(flows).to_have_count(6)
        pv = live["flows"]["pv"]
        await expect(page.locator('[data-flow="pv"] .value')).to_have_text(power(pv))
        await expect(page.get_by_test_id("soc")).to_have_text(pct(live["battery"]["soc_pct"]))
        await expect(page.locator('[data-charger="ev1"]')).to_contain_text("PV only")
        await expect(page.locator('[data-heat="hp"]')).to_contain_text("SG-Ready")
        await expect(page.get_by_test_id("restrictions")).to_contain_text("Feed-in limit 4.80 kW")
        await expect(page.locator("#plan rect.price")).to_have_count(12)
        await expect(page.locator("#plan rect.price.charge")).to_have_count(4)
        await expect(page.locator("tr[data-device]")).to_have_count(len(demo.site.cfg.devices))
        chart = page.get_by_test_id("chart")
        await expect(chart.locator("canvas")).to_have_count(1)
        await expect(chart.locator(".u-legend")).to_contain_text("pv")
        assert int(await chart.get_attribute("data-points") or 0) >= 14 * 4 - 1  # 15-min means since midnight
        over = chart.locator(".u-over")
        box = await over.bounding_box()
        assert box is not None
        await page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] / 2)  # ~10:48 local
        pv_value = chart.locator(".u-legend .u-series", has_text="pv").locator(".u-value")
        await expect(pv_value).to_have_text(re.compile(r"^\d+\.\d\d kW$"))
        await expect(page.get_by_test_id("energy")).to_contain_text("kWh")
        # nothing wider than the screen, on a phone too
        overflow = await page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        boxes = [await page.locator(sel).bounding_box() for sel in ("#flows", "#chart")]
        assert boxes[0] and boxes[1]
        if kind == "phone":  # one column: the cards stack
            assert boxes[1]["y"] > boxes[0]["y"] + boxes[0]["height"]
            assert abs(boxes[1]["x"] - boxes[0]["x"]) < 2
        else:  # two columns: side by side
            assert boxes[1]["x"] > boxes[0]["x"] + boxes[0]["width"]
        await page.screenshot(path=str(shots / f"live-{kind}.png"), full_page=True)
        assert errors == []  # no script errors, no failed requests
        await page.goto(base + "wizard")
        await expect(page.get_by_test_id("interfaces")).to_contain_text("lo")
        await page.screenshot(path=str(shots / f"wizard-{kind}.png"), full_page=True)
        assert not [e for e in errors if "409" not in e]  # the demo has no site file: setup answers 409
    finally:
        await context.close()
