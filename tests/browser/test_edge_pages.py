"""The edge's history, sessions and status in Chromium over the demo site (30 simulated hours from
the October DST weekend in its store): the month view shows what the store says, the sessions page
lists the car's session and its CSV downloads, the header turns amber and red as devices go stale,
and the pages follow a dark system theme and a German browser."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from browser.demo_site import stored_demo
from edge_login import browser_sign_in, test_auth
from page_format import pct
from wattwerk.demo import DemoSite
from wattwerk.edge.web import create_app

DESKTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "en-GB"}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "de-DE",
}


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoSite]:
    site = stored_demo(tmp_path, date(2026, 10, 24), 30, store_every_s=60)
    yield site
    site.close()


async def page_of(browser: Any, base: str, options: dict[str, Any]) -> tuple[Any, Any, list[str]]:
    ctx = await browser.new_context(**options)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await browser_sign_in(page, base)
    return ctx, page, errors


async def test_history_sessions_status_and_dark(
    browser: Any, serve: Callable[[Any], Awaitable[str]], demo: DemoSite, shots: Path, tmp_path: Path
) -> None:
    base = await serve(create_app(demo, auth=test_auth(tmp_path)))
    month = demo.history("month", date(2026, 10, 24))
    ctx, page, errors = await page_of(browser, base, DESKTOP)

    # the month view: 31 days (the 25th has 25 hours), the totals the store's figures
    await page.goto(base + "history?period=month&date=2026-10-24")
    await expect(page.get_by_test_id("history-rows").locator("tbody tr")).to_have_count(31)
    total = month["total"]["energy_kwh"]
    grid = page.get_by_test_id("history-totals").locator('[data-flow="grid_import"] b')
    await expect(grid).to_have_text(f"{total['grid_import']:,.2f} kWh")
    ev = page.get_by_test_id("history-totals").locator('[data-flow="ev"] b')
    await expect(ev).to_have_text(f"{total['ev']:,.2f} kWh")
    own = month["total"]["self_consumption_pct"]
    await expect(page.get_by_test_id("self-consumption")).to_have_text(pct(own))
    await page.screenshot(path=str(shots / "history-month-desktop.png"), full_page=True)

    # the sessions page and its CSV
    listed = demo.sessions(date(2026, 10, 1))
    assert listed and listed[0]["energy_kwh"] > 0
    await page.goto(base + "sessions?month=2026-10")
    await expect(page.get_by_test_id("sessions-count")).to_have_text(str(len(listed)))
    await expect(page.get_by_test_id("sessions").locator("tbody tr")).to_have_count(len(listed))
    async with page.expect_download() as info:
        await page.get_by_test_id("sessions-csv").click()
    download = await info.value
    assert download.suggested_filename == "sessions-2026-10.csv"
    rows = list(csv.DictReader(io.StringIO(Path(await download.path()).read_text())))
    assert [float(r["energy_kwh"]) for r in rows] == [s["energy_kwh"] for s in listed]
    assert [r["car"] for r in rows] == [s["car"] or "" for s in listed]  # the car column, also on the page
    await expect(page.get_by_test_id("session-car")).to_have_text([s["car"] or "–" for s in listed])
    await page.screenshot(path=str(shots / "sessions-desktop.png"), full_page=True)

    # status: green, amber when the heat pump is silent, red when the grid meter is
    await page.goto(base)
    health = page.get_by_test_id("health")
    await expect(health).to_have_attribute("data-level", "ok")
    demo.silence("hp")
    demo.advance_to(demo.sim.t + 120)
    await expect(health).to_have_attribute("data-level", "warn")
    # a silent device whose writes fail: an error with the cause in plain words
    await expect(page.locator('[data-device="hp"]')).to_have_attribute("data-status", "error")
    await expect(page.locator('[data-device="hp"] .badge')).to_have_text("error")
    await expect(page.locator('[data-device="hp"]').get_by_test_id("device-cause")).to_have_text(
        "no answer from the device"
    )
    assert await health.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(240, 180, 41)"
    demo.silence("grid")
    demo.advance_to(demo.sim.t + 120)
    await expect(health).to_have_attribute("data-level", "bad")
    await expect(health).to_contain_text("grid meter")
    assert await health.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(217, 48, 37)"
    assert errors == []
    await ctx.close()

    # dark theme on a phone in German: every page dark, numbers with a decimal comma
    ctx, page, errors = await page_of(browser, base, PHONE | {"color_scheme": "dark"})
    for path in ("", "history?period=month&date=2026-10-24", "sessions?month=2026-10", "setup"):
        await page.goto(base + path)
        bg = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(18, 21, 19)", (path, bg)
    total = demo.history("month", date(2026, 10, 24))["total"]["energy_kwh"]  # the demo went on
    await page.goto(base + "history?period=month&date=2026-10-24")
    grid = page.get_by_test_id("history-totals").locator('[data-flow="grid_import"] b')
    german = f"{total['grid_import']:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    await expect(grid).to_have_text(f"{german} kWh")
    await expect(page.locator("#history-title")).to_have_text("Verlauf")  # de-DE: the German strings
    await expect(page.locator("html")).to_have_attribute("lang", "de")
    await page.goto(base)  # flow labels, device states and causes, the header in German too
    await expect(page.locator('[data-flow="grid"] .name')).to_have_text("Netz")
    await expect(page.locator('[data-device="hp"] .badge')).to_have_text("Fehler")
    await expect(page.locator('[data-device="hp"]').get_by_test_id("device-cause")).to_have_text(
        "keine Antwort von dem Gerät"
    )
    await expect(page.get_by_test_id("health")).to_contain_text("Netzzähler")
    await page.goto(base + "setup")  # the installer's pages too: heading and the search's example
    await expect(page.locator("#find-title")).to_have_text("1 · Gerät finden")
    await expect(page.get_by_test_id("search")).to_have_attribute(
        "placeholder", "z. B. Fronius, SunSpec, Eastron SDM630"
    )
    off = "Diese Edge läuft ohne Anlagendatei (Demo): die Einrichtung ist aus."  # a coded refusal
    await expect(page.locator("#off")).to_have_text(off)
    await page.get_by_test_id("search").fill("sdm630")  # the catalogue's categories in German
    await expect(page.locator("li[data-key]").first).to_contain_text("Stromzähler")
    await page.screenshot(path=str(shots / "setup-phone-de.png"), full_page=True)
    await page.screenshot(path=str(shots / "history-month-phone-dark.png"), full_page=True)
    assert errors == []
    await ctx.close()
