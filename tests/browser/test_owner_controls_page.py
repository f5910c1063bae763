"""The owner's controls in a real browser on ``wattwerk demo`` (a process, as a user starts it), on a
phone and on a desktop: pressing "PV" makes the control run PV mode and the page says why the car
waits; "40 kWh by 07:00 tomorrow" makes the planner charge in the cheapest slots before then."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import expect

from browser.test_demo_plan import TZ, free_port, wait_until
from wattwerk.demo import EDGE_PASSWORD

# a Saturday evening in winter: the demo's car is home, no PV, the site file's departure is Monday's
START = "2026-12-05T22:00:00"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
    "locale": "de-DE",
    "timezone_id": TZ,
}  # the section in German
DESKTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "en-GB", "timezone_id": TZ}


async def sign_in(browser: Any, edge: str, options: dict[str, Any]) -> tuple[Any, Any, list[str]]:
    ctx = await browser.new_context(**options)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{edge}/")
    await expect(page).to_have_url(re.compile(r"/login"))
    german = options["locale"].startswith("de")  # the sign-in page in the browser's language
    await expect(page.get_by_test_id("sign-in")).to_have_text("Anmelden" if german else "Sign in")
    await page.get_by_test_id("password").fill(EDGE_PASSWORD)
    await page.locator("form#login button").click()
    await expect(page.locator("#owner-card")).to_be_visible(timeout=30_000)
    return ctx, page, errors


async def press_pv(page: Any) -> Any:
    """Off, then PV, as a user does; the control's reason for the car as the page shows it."""
    charger = page.locator('[data-owner="ev1"]')
    await charger.get_by_test_id("mode-off").click()
    await expect(charger.get_by_test_id("mode-off")).to_have_attribute("aria-pressed", "true")
    await expect(charger.get_by_test_id("ev-reason")).to_have_text("aus (Ihre Wahl)")  # the phone: German
    await charger.get_by_test_id("mode-pv").click()
    await expect(charger.get_by_test_id("mode-pv")).to_have_attribute("aria-pressed", "true")
    return charger


async def test_pv_and_a_plan_for_tomorrow_on_phone_and_desktop(
    browser: Any, tmp_path: Path, shots: Path
) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wattwerk",
            "demo",
            "--port",
            str(port),
            "--no-portal",
            "--data-dir",
            str(tmp_path / "demo"),
            "--start",
            START,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    edge = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{edge}/login", timeout=2).status_code == 200, proc, "the edge page")
        ctx, page, errors = await sign_in(browser, edge, PHONE)
        charger = await press_pv(page)
        await expect(charger.get_by_test_id("mode-now")).to_have_text("Sofort")
        await expect(charger.get_by_test_id("plan-save")).to_have_text("Plan speichern")
        # no sun at night: the car waits for a surplus it names, or charges in a slot the planner
        # chose for the site file's Monday departure; in German with decimal commas either way
        await expect(charger.get_by_test_id("ev-reason")).to_have_text(
            re.compile(
                r"^(wartet auf \d+,\d kW Überschuss \(jetzt \d+,\d kW\)"
                r"|lädt in einem geplanten Zeitfenster \(\d+,\d kW\), \d+,\d A)$"
            )
        )
        await page.screenshot(path=str(shots / "owner-phone.png"), full_page=True)
        assert errors == []
        await ctx.close()

        ctx, page, errors = await sign_in(browser, edge, DESKTOP)
        charger = page.locator('[data-owner="ev1"]')
        await expect(charger.get_by_test_id("mode-pv")).to_have_attribute("aria-pressed", "true")
        await charger.get_by_test_id("plan-kwh").fill("40")
        await charger.get_by_test_id("plan-time").fill("07:00")
        await charger.get_by_test_id("plan-day").select_option("tomorrow")
        await charger.get_by_test_id("plan-save").click()
        summary = charger.get_by_test_id("plan-summary")
        await expect(summary).to_contain_text("40 kWh by 07:00")
        await expect(charger.get_by_test_id("plan-slots")).to_contain_text(
            re.compile(r"Charging \d\d:\d\d–\d\d:\d\d"), timeout=30_000
        )
        # why the car waits now: for its cheapest slots (or it charges in one already)
        await expect(charger.get_by_test_id("ev-reason")).to_have_text(
            re.compile(
                r"^(waiting for the cheapest hours \d\d:\d\d–\d\d:\d\d|charging in a planned slot .*)$"
            )
        )
        await page.screenshot(path=str(shots / "owner-desktop.png"), full_page=True)
        assert errors == []

        # the slots where the grid charges the car are the cheapest ones before the departure (the
        # battery may give the car its evening energy first: those slots are not bought)
        cookies = {c["name"]: c["value"] for c in await ctx.cookies()}
        with httpx.Client(base_url=edge, cookies=cookies, timeout=10) as api:
            ev1 = api.get("/api/owner/ev1").json()
            plan = {datetime.fromisoformat(s["start"]): s for s in api.get("/api/plan").json()["slots"]}
        leave = datetime.fromisoformat(ev1["departure"])
        assert leave.astimezone(ZoneInfo(TZ)).strftime("%a %H:%M") == "Sun 07:00"
        before = sorted(s["price"] for t, s in plan.items() if t < leave)
        bought = [
            plan[datetime.fromisoformat(s["start"])]["price"]
            for s in ev1["plan"]["slots"]
            if plan[datetime.fromisoformat(s["start"])]["grid_w"] >= 1000
        ]
        assert ev1["plan"]["energy_wh"] >= 39_000 and len(bought) >= 8
        assert max(bought) <= before[len(bought) - 1] + 1e-9
        await ctx.close()
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
