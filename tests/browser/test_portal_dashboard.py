"""The site dashboard in a real browser beyond the walk: sign-in form, ranges (day, week, month,
year, custom), cost with the site's tariff, comparison with the previous period, and the language
switch. The planner's schedule and PV forecast are the plan widget's (test_portal_plan.py)."""

from __future__ import annotations

import itertools
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import Page, expect
from test_portal_walk import DESKTOP, MIN, TZ, site_readings

from page_format import fixed, kwh
from portal_fixtures import PASSWORD, Portal, account, edge_token, new_site, portal, upload  # noqa: F401
from test_ingest_support import database, pg  # noqa: F401

DAY = 86_400_000
QUARTER = 900_000


def euros(x: float) -> str:
    """As Intl.NumberFormat("en", {style: "currency", currency: "EUR"}) writes it."""
    return f"-€{fixed(-x, 2)}" if x < 0 else f"€{fixed(x, 2)}"


def counter_delta(rows: list[tuple[str, int, float]], channel: str, start: int, end: int) -> float:
    """A counter's energy over [start, end): last value in it − the last one before it."""
    inside = [v for ch, ts, v in rows if ch == channel and start <= ts < end]
    before = [v for ch, ts, v in rows if ch == channel and ts < start]
    if not inside:  # a range ahead of the readings
        return 0.0
    return inside[-1] - (before[-1] if before else inside[0])


def day_plan(site: str, day0: int, day1: int) -> dict[str, Any]:
    """An edge's plan over the local day [day0, day1): import 0.10 €/kWh and feed-in 0.07 in its
    first half, 0.50 and 0.12 in its second, with the tariff's name and its mean prices."""
    half = day0 + (day1 - day0) // 2
    slots = [
        {"ts_ms": ts, "price": 0.10 if ts < half else 0.50, "sell": 0.07 if ts < half else 0.12}
        | {"pv_w": 0, "load_w": 1, "grid_w": 1, "cost_eur": 0.0}
        for ts in range(day0, day1, QUARTER)
    ]
    tariff = {"name": "Spot stündlich", "currency": "EUR", "import_per_kwh": 0.3, "export_per_kwh": 0.095}
    return {
        "site": site,
        "edge_id": "e1",
        "made_at_ms": int(time.time() * 1000),
        "status": "optimal",
        "pv_source": "x",
        "currency": "EUR",
        "slot_minutes": 15,
        "slots": slots,
        "tariff": tariff,
    }


def buckets(rows: list[tuple[str, int, float]], start: int, end: int, step: int) -> int:
    """How many chart points the power channels have for a range [start, end) at ``step``: days
    are the site's local days, shorter steps are whole UTC steps."""
    inside = [ts for ch, ts, _ in rows if ch == "grid.power" and start <= ts < end]
    if step == DAY:
        return len({datetime.fromtimestamp(ts / 1000, ZoneInfo(TZ)).date() for ts in inside})
    return len({ts // step for ts in inside})


def discharged(rows: list[tuple[str, int, float]], start: int, end: int) -> float:
    """The battery's discharge (Wh) over [start, end): its power above zero, each reading held
    until the next one (a minute later); the newest reading holds nothing yet."""
    pts = sorted((ts, v) for ch, ts, v in rows if ch == "bat.power")
    return sum(
        max(v, 0.0) * (min(t1, end) - max(t0, start)) / 3_600_000
        for (t0, v), (t1, _) in itertools.pairwise(pts)
        if min(t1, end) > max(t0, start)
    )


async def sign_in(page: Page, url: str, alias: str) -> None:
    await page.goto(url)
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await page.locator("form#login input[name=alias]").fill(alias)
    await page.locator("form#login input[name=password]").fill("wrong password")
    await page.locator("form#login button").click()
    await expect(page.locator("#login-err")).to_contain_text("wrong alias or password")
    await page.locator("form#login input[name=password]").fill(PASSWORD)
    await page.locator("form#login button").click()


async def test_ranges_cost_compare_and_language(
    browser: Any,
    portal: Portal,  # noqa: F811
    shots: Path,
) -> None:
    tz = ZoneInfo(TZ)
    owner = account(portal)
    site = new_site(owner, "Hof")
    assert owner.http.put(f"/api/v1/sites/{site}/timezone", json={"tz": TZ}).status_code == 200
    token = edge_token(owner, site)
    now_ms = int(time.time() * 1000) // MIN * MIN
    rows = site_readings(now_ms, hours=60)
    for i in range(0, len(rows), 5000):
        upload(portal, token, site, rows[i : i + 5000], first_seq=i + 1)
    tariff = {"import_per_kwh": 0.4, "export_per_kwh": 0.1, "currency": "EUR"}
    assert owner.http.put(f"/api/v1/sites/{site}/tariff", json=tariff).status_code == 200
    ripple = {
        "kind": "ripple_control",
        "source": "ripple",
        "start_ms": now_ms - 60_000,
        "end_ms": now_ms - 1000,
    }
    batch = {"site": site, "edge_id": "e1", "readings": [[len(rows) + 1, "grid.power", now_ms, 1.0]]}
    r = httpx.post(
        f"{portal.url}/api/v1/ingest",
        json={**batch, "episodes": [{**ripple, "limit": "60%", "curtailed_wh": 1234.5}]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.json()["episodes"] == 1, r.text

    ctx = await browser.new_context(**DESKTOP, locale="en-GB", timezone_id=TZ)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await sign_in(page, f"{portal.url}/sites/{site}", owner.alias)
    await expect(page).to_have_url(re.compile(f"/sites/{site}$"))
    await expect(page.locator("#title")).to_have_text("Hof")
    # en-GB is not US: "6 Dec 2026", "06/12/2026, 14:05" (not "Dec 6, 2026", "12/6/26, 2:05 PM")
    await expect(page.locator("#range-label")).to_have_text(re.compile(r"^\d{1,2} \w{3,4} \d{4}$"))
    await expect(page.locator("#w-live time")).to_have_text(re.compile(r"^\d\d/\d\d/\d{4}, \d\d:\d\d$"))
    # a logger without roles: labels from the guessed role, never the raw ids
    for dev, name in {"grid": "Grid", "pv": "PV", "bat": "Battery", "house": "House"}.items():
        await expect(page.locator(f'#w-live .flow[data-channel="{dev}.power"] .name')).to_have_text(name)

    midnight = datetime.fromtimestamp(now_ms / 1000, tz).replace(hour=0, minute=0, second=0, microsecond=0)
    day0 = int(midnight.timestamp() * 1000)
    day1 = int((midnight + timedelta(days=1)).timestamp() * 1000)
    yday = int((midnight - timedelta(days=1)).timestamp() * 1000)
    chart = page.locator("#w-power_chart .body")
    await expect(chart).to_have_attribute("data-points", str(buckets(rows, day0, day1, 300_000)))

    # cost with the site's tariff, from the grid counters of the day
    imp = counter_delta(rows, "grid.energy_import", day0, day1)
    exp = counter_delta(rows, "grid.energy_export", day0, day1)
    await expect(page.locator("#w-cost .net")).to_have_text(euros(imp / 1000 * 0.4 - exp / 1000 * 0.1))
    # no plan: no slot prices, all of it at the owner's tariff, and the card says so
    await expect(page.locator("#w-cost .cost-note")).to_have_text(
        "0 % priced per slot, the rest at €0.40 / €0.10 per kWh (your tariff)"
    )
    # compared with yesterday
    row = page.locator("#w-compare tr", has_text="Grid import")
    await expect(row.locator("td").nth(1)).to_have_text(kwh(imp))
    before = counter_delta(rows, "grid.energy_import", yday, day0)
    await expect(row.locator("td").nth(2)).to_have_text(kwh(before))
    # the edge's restriction episodes of the day (portal/episodes.py)
    ripple_row = page.locator("#w-restrictions tr[data-kind=ripple_control]")
    await expect(ripple_row).to_contain_text("Ripple control")
    await expect(ripple_row.locator("td.num")).to_have_text(kwh(1234.5))
    # no plan uploaded: no plan widget, and the old forecast and schedule widgets are gone
    await expect(page.locator("#w-plan")).to_be_hidden()
    await expect(page.locator("#w-forecast, #w-schedule")).to_have_count(0)

    # week, month, year: hourly and daily points over the whole range
    week0 = midnight - timedelta(days=midnight.weekday())
    await page.locator("[data-range=week]").click()
    await expect(page.locator("[data-range=week]")).to_have_attribute("aria-selected", "true")
    w0, w1 = int(week0.timestamp() * 1000), int((week0 + timedelta(days=7)).timestamp() * 1000)
    await expect(chart).to_have_attribute("data-points", str(buckets(rows, w0, w1, 3_600_000)))
    await page.locator("[data-range=month]").click()
    m0 = int(midnight.replace(day=1).timestamp() * 1000)
    await expect(chart).to_have_attribute("data-points", str(buckets(rows, m0, now_ms + DAY, DAY)))
    # the month's energy (issue 14): counters' differences and the battery's covered-time integral
    # over the site's local month, not a daily mean power times 24 h
    energy = page.locator("#w-energy")
    await expect(energy.locator("tr", has_text="Grid import").locator("td.num")).to_have_text(
        kwh(counter_delta(rows, "grid.energy_import", m0, now_ms + DAY))
    )
    await expect(energy.locator("tr", has_text="discharging").locator("td.num")).to_have_text(
        kwh(discharged(rows, m0, now_ms + DAY))
    )
    await page.locator("[data-range=year]").click()
    await expect(page.locator("#range-label")).to_have_text(str(midnight.year))
    y0 = int(midnight.replace(month=1, day=1).timestamp() * 1000)
    await expect(chart).to_have_attribute("data-points", str(buckets(rows, y0, now_ms + DAY, DAY)))
    await expect(energy.locator("tr", has_text="discharging").locator("td.num")).to_have_text(
        kwh(discharged(rows, y0, now_ms + DAY))
    )
    await page.locator("#prev").click()
    await expect(page.locator("#range-label")).to_have_text(str(midnight.year - 1))
    await page.locator("#prev").click()  # two years back: no data there, even in early January
    await expect(page.locator("#range-label")).to_have_text(str(midnight.year - 2))
    # a year without data: no feed-in credit and no cost, written "€0.00", never "-€0.00"
    await expect(page.locator("#w-cost .credit")).to_have_text("€0.00")
    await expect(page.locator("#w-cost .net")).to_have_text("€0.00")
    # and a year before it without data either: nothing to compare with, not "0.00 kWh"
    await expect(page.locator("#w-compare tr", has_text="Grid import").locator("td").nth(2)).to_have_text("–")

    # a custom range: yesterday and today
    await page.locator("[data-range=custom]").click()
    custom = page.locator("form#custom")
    await expect(custom).to_be_visible()
    await custom.locator("input[name=from]").fill((midnight - timedelta(days=1)).strftime("%Y-%m-%d"))
    await custom.locator("input[name=to]").fill(midnight.strftime("%Y-%m-%d"))
    await custom.locator("button").click()
    await expect(chart).to_have_attribute("data-points", str(buckets(rows, yday, day1, 300_000)))
    await page.screenshot(path=str(shots / "portal-dashboard-custom.png"), full_page=True)

    # the language switch: German from now on, also after a reload
    await page.locator("a[data-lang=de]").click()
    await expect(page.locator("#w-live h2")).to_have_text("Leistungsflüsse jetzt")
    await expect(page.locator("html")).to_have_attribute("lang", "de")
    await page.reload()
    await expect(page.locator("[data-range=week]")).to_have_text("Woche")
    await expect(page.locator("#w-cost .net")).to_contain_text("€")
    await page.screenshot(path=str(shots / "portal-dashboard-de.png"), full_page=True)
    # the system's dark theme: dark page, charts' grid lines in the theme's colour
    await page.emulate_media(color_scheme="dark")
    await expect(page.locator("body")).to_have_css("background-color", "rgb(18, 21, 19)")
    # the page took the theme's colours. Asked from here: wait_for_function's in-page polling evals
    # its string, which the portal's CSP (script-src 'self') refuses whenever the first try is false
    for _ in range(300):
        if await page.evaluate("WWP.colors.line") == "#2d3530":
            break
        await page.wait_for_timeout(100)
    assert await page.evaluate("WWP.colors.line") == "#2d3530"
    await page.screenshot(path=str(shots / "portal-dashboard-de-dark.png"), full_page=True)
    await page.emulate_media(color_scheme="light")

    # the tariff in German: the decimal comma; the server's refusal in German too
    await page.goto(f"{portal.url}/sites/{site}/access")
    form = page.locator("form#tariff")
    await expect(form.locator("input[name=import_per_kwh]")).to_have_value("0,4")
    await form.locator("input[name=import_per_kwh]").fill("0,32")
    await form.locator("input[name=export_per_kwh]").fill("0,0825")
    await form.locator("button").click()
    await expect(page.locator("#tariff-msg")).to_have_text("Tarif gespeichert")
    saved = owner.http.get(f"/api/v1/sites/{site}/tariff").json()
    assert (saved["import_per_kwh"], saved["export_per_kwh"]) == (0.32, 0.0825)
    await form.locator("input[name=import_per_kwh]").fill("0,3x")
    await form.locator("button").click()
    await expect(page.locator("#tariff-msg")).to_have_text("Bezugspreis je kWh: keine Zahl: 0,3x")
    await form.locator("input[name=import_per_kwh]").fill("150")  # the server's limit (422), in German
    await form.locator("button").click()
    await expect(page.locator("#tariff-msg")).to_have_text("Bezugspreis je kWh: darf höchstens 100 sein")
    await page.locator("form#give input[name=alias]").fill("niemand_hier")
    await page.locator("form#give button").click()
    await expect(page.locator("#give-err")).to_have_text("kein Konto 'niemand_hier'")

    # a plan with the day's slot prices: each quarter hour's energy at its slot's price (cost_api.py)
    plan = day_plan(site, day0, day1)
    r = httpx.post(f"{portal.url}/api/v1/plans", json=plan, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["stored"] == len(plan["slots"]), r.text
    net = sum(
        counter_delta(rows, "grid.energy_import", s["ts_ms"], s["ts_ms"] + QUARTER) / 1000 * s["price"]
        - counter_delta(rows, "grid.energy_export", s["ts_ms"], s["ts_ms"] + QUARTER) / 1000 * s["sell"]
        for s in plan["slots"]
    )
    await page.goto(f"{portal.url}/sites/{site}")
    await expect(page.locator("#w-cost .cost-note")).to_have_text(
        "Je Zeitfenster mit dem Tarif der Edge bepreist: Spot stündlich"
    )
    await expect(page.locator("#w-cost .cost-note")).to_have_attribute("data-share", "1")
    german = fixed(abs(net), 2).replace(",", "").replace(".", ",")
    await expect(page.locator("#w-cost .net")).to_have_text(re.compile(rf"^-?{german}\s€$"))
    assert errors == [], errors
    await ctx.close()


async def test_today_is_the_site_s_day_in_a_browser_of_another_zone(
    browser: Any,
    portal: Portal,  # noqa: F811
) -> None:
    # a zone whose date differs from UTC's right now: 14 h ahead from 10:00 UTC, else 11 h behind
    now = datetime.now(ZoneInfo("UTC"))
    zone = "Pacific/Kiritimati" if now.hour >= 10 else "Pacific/Pago_Pago"
    today = datetime.now(ZoneInfo(zone)).date()
    assert today != now.date()
    owner = account(portal)
    site = new_site(owner, "Atoll")
    assert owner.http.put(f"/api/v1/sites/{site}/timezone", json={"tz": zone}).status_code == 200
    now_ms = int(time.time() * 1000) // MIN * MIN
    rows = [r for r in site_readings(now_ms, hours=2) if r[1] > now_ms - 60 * MIN]  # the last hour only
    upload(portal, edge_token(owner, site), site, rows, first_seq=1)

    ctx = await browser.new_context(**DESKTOP, locale="en-GB", timezone_id="UTC")
    page = await ctx.new_page()
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/series?" in r.url else None)
    await sign_in(page, f"{portal.url}/sites/{site}", owner.alias)
    label = page.locator("#range-label")
    await expect(label).to_have_text(re.compile(rf"^{today.day} \w{{3,4}} {today.year}$"))
    await expect(page.locator("#w-energy tr[data-row=import]")).to_be_visible()  # the last hour is today's
    assert any(f"date={today.isoformat()}" in url and "period=day" in url for url in asked), asked
    await page.locator("[data-range=month]").click()  # another range: still the site's current one
    await expect(label).to_have_text(re.compile(rf"\b{today.year}$"))
    assert any(f"date={today.replace(day=1).isoformat()}" in url and "period=month" in url for url in asked)
    await ctx.close()
