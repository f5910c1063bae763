"""Issue 14's whole journey in Chromium with real processes: ``wattwerk portal`` (PostgreSQL, SMTP to
an aiosmtpd server on loopback, notifier rounds of 1 s) and ``wattwerk run`` (a fresh site file
without a ``portal`` section: its grid meter a DSMR P1 stream on loopback, its submeter on a port
nobody serves, so it goes stale).

register → add a site → "Pair an edge" shows a code and its QR code → the owner chooses mail for a
stale device → the edge's wizard (signed in at the edge) takes the code → the edge uploads without a
restart → the portal's live view shows its values → the meter stops, and the month view's totals
equal the edge's own store (``/api/history``) to the Wh → the owner gets one mail for the stale device
→ the owner opens a maintenance window for an installer (a second account) → the installer opens
the edge's page and its setup page through the portal → the owner's audit log lists those requests
→ the owner ends the window → the installer's proxied page is gone (410). The pairing code works
once (this walk took over the pairing walk's checks). Screenshots of each step go to
``$WATTWERK_SCREENSHOTS``."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, expect

from edge_login import browser_sign_in
from page_format import kwh
from security.edge_processes import PASSWORD as EDGE_PASSWORD
from security.edge_processes import RunningEdge, start_edge, stop_edge
from security.portal_process import PASSWORD, fresh_db, portal_process
from smtp_fixtures import Inbox, smtp  # noqa: F401
from wattwerk.config import load_config
from wattwerk.portal import notify
from wattwerk.portal.database import POSTGRES
from wattwerk.sim.emulators.p1 import P1Emulator
from wattwerk.sim.site import SiteSim

PAGE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
FAST = {notify.ENV: '{"every_s": 1, "device_grace_s": 3}'}  # notifier rounds for a test
STEP_S = 60  # simulated seconds per telegram, once the meter moves
ARGS = ("--store-every", "1")  # the edge's store takes each second's readings


class Meter:
    """The grid meter from the site model, stamped with the wall clock. Standing still (the
    counters do not move) until the edge is paired, as the edge uploads only where the counters
    stood at pairing (its history before stays in its own store); then a simulated minute a
    telegram, so that the counters move by kWh
    within a minute, still below the stores' plausible rate (1 MW for a Wh counter,
    store/counters.py), so no reading is a glitch."""

    def __init__(self) -> None:
        self.sim = SiteSim(start=datetime(2025, 6, 21, 5, tzinfo=UTC))
        self.moving = False

    def __call__(self) -> Any:
        if self.moving:
            self.sim.step(STEP_S)
        return self.sim.meter_state_now()


def mailing(port: int) -> list[str]:
    server = ["--smtp-host", "127.0.0.1", "--smtp-port", str(port), "--smtp-security", "none"]
    return [*server, "--smtp-from", "portal@example.org"]


def no_page_errors(page: Page, errors: list[str]) -> Page:
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    return page


async def show_pairing_code(owner: Page, url: str, shots: Path) -> tuple[str, str, str]:
    """Register, add a site, press "Pair an edge": (alias, site id, code)."""
    csp: list[str] = []
    owner.on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None)
    await owner.goto(url + "/")
    alias = f"sonne{int(time.time())}"
    await owner.locator("form#register input[name=alias]").fill(alias)
    await owner.locator("form#register input[name=password]").fill(PASSWORD)
    await owner.screenshot(path=str(shots / "journey-01-register.png"))
    await owner.locator("form#register button").click()
    await expect(owner).to_have_url(re.compile(r"/sites$"))
    await owner.locator("form#add input[name=label]").fill("Sonnenhaus")
    await owner.locator("form#add button").click()
    item = owner.locator("#sites li[data-site]")
    await expect(item.locator("b")).to_have_text("Sonnenhaus")
    site = await item.get_attribute("data-site")
    await item.locator("button.pair").click()
    code = (await item.get_by_test_id("pairing-code").text_content() or "").strip()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code), code
    qr = item.get_by_test_id("pairing-qr").locator("svg")
    await expect(qr).to_be_visible()
    assert (await qr.bounding_box() or {}).get("width", 0) > 60
    await owner.screenshot(path=str(shots / "journey-02-pairing-code.png"))
    assert csp == [], csp  # the inline SVG passes the portal's CSP
    assert site
    return alias, site, code


async def choose_mail(owner: Page, url: str, site: str, shots: Path) -> None:
    """The owner's access page, card "Notifications by e-mail": a stale device, to an address."""
    await owner.goto(f"{url}/sites/{site}/access")
    form = owner.locator("form#notify-form")
    await expect(owner.locator("#notify-nomail")).to_have_count(0)  # this portal has SMTP
    await form.locator("input[name=device]").check()
    await form.locator("input[name=email]").fill("sonne@example.org")
    await form.locator("button").click()
    await expect(owner.locator("#notify-msg")).to_have_text("Saved.")
    await expect(owner.get_by_test_id("notify-to")).to_have_text("s…e@example.org")
    await owner.screenshot(path=str(shots / "journey-03-notifications.png"), full_page=True)


async def pair_at_the_edge(
    browser: Any, edge: RunningEdge, url: str, code: str, site: str, shots: Path
) -> None:
    """The installer at the edge: its wizard takes the code (typed loosely) and pairs."""
    assert load_config(edge.site).portal is None
    local = await browser.new_page(viewport=PHONE)
    await browser_sign_in(local, edge.url + "/", EDGE_PASSWORD)
    await local.goto(edge.url + "/wizard")
    await local.get_by_test_id("portal-url").fill(url)
    await local.get_by_test_id("pairing-code").fill(code.lower().replace("-", " "))
    await local.get_by_role("button", name="Pair", exact=True).click()
    await expect(local.get_by_test_id("pair-ok")).to_have_text(f"Uploads to “Sonnenhaus” on {url}")
    await local.screenshot(path=str(shots / "journey-04-edge-wizard-paired.png"), full_page=True)
    await local.close()
    cfg = load_config(edge.site)
    assert cfg.portal is not None and cfg.portal.site == site and cfg.portal.label == "Sonnenhaus"


async def same_month(owner_http: httpx.Client, edge: RunningEdge, site: str) -> dict:
    """Wait (bounded) until the portal's month and the edge store's month agree to the Wh for the
    grid's counters, once the meter has stopped and the last readings are up: the edge's figures."""
    chans = "grid.energy_import,grid.energy_export"
    deadline, got = time.monotonic() + 90, None
    with edge.signed_in() as local:
        while time.monotonic() < deadline:
            hist = local.get("/api/history", params={"period": "month"}).json()
            mine = {k: round(v * 1000) for k, v in (hist["total"] or {}).get("energy_kwh", {}).items()}
            q = {"channels": chans, "period": "month", "date": hist["date"]}
            doc = owner_http.get(f"/api/v1/sites/{site}/series", params=q).json()
            theirs = {
                ch: round(s["energy_wh"])
                for ch, s in doc["summary"].items()
                if s.get("energy_wh") is not None
            }
            got = (mine, theirs)
            wanted = {
                "grid.energy_import": mine.get("grid_import"),
                "grid.energy_export": mine.get("grid_export"),
            }
            if theirs == wanted and sum(theirs.values()) > 500:
                return mine
            await asyncio.sleep(0.5)
    raise AssertionError(f"the portal's month never matched the edge's store: (edge, portal) = {got}")


async def month_view(owner: Page, url: str, site: str, edge_wh: dict, shots: Path) -> None:
    """The owner's month view shows the edge's figures."""
    await owner.goto(f"{url}/sites/{site}?range=month")
    await expect(owner.locator("[data-range=month]")).to_have_attribute("aria-selected", "true")
    energy = owner.locator("#w-energy")
    for row, flow in (("import", "grid_import"), ("export", "grid_export")):
        await expect(energy.locator(f"tr[data-row={row}] td.num")).to_have_text(kwh(edge_wh[flow]))
    await owner.screenshot(path=str(shots / "journey-06-month.png"), full_page=True)


async def grant_window(owner: Page, url: str, site: str, installer: str, shots: Path) -> None:
    """The owner opens a maintenance window for the installer on the access page."""
    await owner.goto(f"{url}/sites/{site}/access")
    await owner.locator("form#maint input[name=installer]").fill(installer)
    await owner.locator("form#maint button").click()
    await expect(owner.locator("#maint-live li", has_text=installer)).to_be_visible()
    await expect(owner.locator("#maint-edge #edge-page")).to_be_visible()
    await owner.screenshot(path=str(shots / "journey-08-window-open.png"), full_page=True)


async def installer_opens_setup(page: Page, url: str, site: str, installer: str, shots: Path) -> None:
    """The installer signs in to the portal, and from the maintenance page opens the edge's own page
    and its setup page, both through the portal (the edge serves them over its outbound channel)."""
    await page.goto(f"{url}/sites/{site}/maintain")
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await page.locator("form#login input[name=alias]").fill(installer)
    await page.locator("form#login input[name=password]").fill(PASSWORD)
    await page.locator("form#login button").click()
    await expect(page.locator("#edge-page")).to_be_visible()
    await page.screenshot(path=str(shots / "journey-09-installer-maintain.png"), full_page=True)
    await page.locator("#edge-page").click()
    base = f"{url}/sites/{site}/edge/"
    await expect(page).to_have_url(base)
    await expect(page.locator("#site")).to_have_text("Security house")  # the edge's live page
    await page.locator('nav a[href="setup"]').click()  # relative: it stays under the portal's prefix
    await expect(page).to_have_url(base + "setup")
    await page.get_by_test_id("search").fill("sunspec inverter")
    await expect(page.locator("li[data-key]").first).to_be_visible()  # the catalogue, through the tunnel
    await page.screenshot(path=str(shots / "journey-10-installer-edge-setup.png"), full_page=True)


async def audit_and_end(owner: Page, page: Page, shots: Path) -> None:
    """The owner's audit log lists the installer's requests; "End now"; the proxied page is gone."""
    await owner.reload()
    audit = owner.locator("#audit")
    for line in ("GET / → 200", "GET /setup → 200", "GET /api/catalog → 200"):
        await expect(audit).to_contain_text(line)
    await owner.screenshot(path=str(shots / "journey-11-audit.png"), full_page=True)
    await owner.locator("#maint-live button.end").click()
    await expect(owner.locator("#maint-edge")).to_be_hidden()
    await expect(owner.locator("#maint-off")).to_be_visible()
    await page.reload()
    await expect(page.locator("h1")).to_have_text("410")
    await expect(page.locator("#tunnel-refused")).to_contain_text("has ended")
    await page.screenshot(path=str(shots / "journey-12-proxied-page-gone.png"), full_page=True)


async def test_the_whole_journey(browser: Any, tmp_path: Path, shots: Path, smtp: tuple[Inbox, int]) -> None:  # noqa: F811
    inbox, smtp_port = smtp
    (tmp_path / "edge").mkdir()
    errors: list[str] = []
    meter = Meter()
    p1 = await P1Emulator(meter, interval=1.0).start()  # a real DSMR stream on loopback
    grid = f"{{type: tcp, host: 127.0.0.1, port: {p1.port}, format: dsmr}}"
    # the edge starts beside the portal and the owner's first pages (a process start takes seconds)
    starting = asyncio.create_task(asyncio.to_thread(start_edge, tmp_path / "edge", grid=grid, args=ARGS))
    try:
        with (
            fresh_db(POSTGRES, tmp_path) as db,
            portal_process(db, tmp_path / "portal", *mailing(smtp_port), env=FAST) as portal,
        ):
            ctx = await browser.new_context(viewport=PAGE, locale="en-GB")
            owner = no_page_errors(await ctx.new_page(), errors)
            alias, site, code = await show_pairing_code(owner, portal.url, shots)
            await choose_mail(owner, portal.url, site, shots)
            await owner.goto(f"{portal.url}/sites/{site}")  # the owner waits on the dashboard
            await expect(owner.locator("#w-energy .empty")).to_be_visible()  # nothing uploaded yet
            edge = await starting
            await pair_at_the_edge(browser, edge, portal.url, code, site, shots)
            meter.moving, paired_at = True, p1.sent
            # the running edge uploads at once: the owner's live view shows its grid meter, and the
            # day's figures come without a reload
            value = owner.locator('#w-live .flow[data-channel="grid.power"] .value')
            await expect(value).to_have_text(re.compile(r"[1-9]"), timeout=90_000)  # the meter moves
            await expect(owner.locator("#w-energy tr[data-row=import]")).to_be_visible()
            await expect(owner.locator("#w-restrictions [data-restrictions]")).to_be_visible()  # asked
            await expect(owner.locator("#widgets .err:not(:empty)")).to_have_count(0)  # no card failed
            await owner.screenshot(path=str(shots / "journey-05-live.png"), full_page=True)
            while p1.sent < paired_at + 10:  # ten minutes of the model's counters
                await asyncio.sleep(0.2)
            await p1.stop()  # no new readings: the edge's store and the portal must come to agree
            owner_http = portal.sign_in(alias)
            edge_wh = await same_month(owner_http, edge, site)
            await month_view(owner, portal.url, site, edge_wh, shots)

            # the submeter nobody serves: one mail from the notifier's rounds (no fixed sleep)
            got = await inbox.first(lambda m: "device sub: " in str(m["Subject"]))
            assert got["To"] == "sonne@example.org" and "Sonnenhaus" in str(got["Subject"]), got["Subject"]

            installer = "ines" + site[-6:]
            assert portal.register(installer).status_code == 201
            await grant_window(owner, portal.url, site, installer, shots)
            ictx = await browser.new_context(viewport=PAGE, locale="en-GB")
            page = no_page_errors(await ictx.new_page(), errors)
            await installer_opens_setup(page, portal.url, site, installer, shots)
            await audit_and_end(owner, page, shots)
            again = httpx.post(portal.url + "/api/v1/pairing", json={"code": code}, timeout=30)
            assert again.status_code == 410 and "used already" in again.json()["detail"]  # it worked once
            entries = owner_http.get(f"/api/v1/sites/{site}/audit").json()
            assert {e["actor"] for e in entries if e["action"] == "maintenance.proxy"} == {installer}
            # many notifier rounds later, the stale submeter was still mailed once
            assert [str(m["Subject"]) for m in inbox.messages].count(str(got["Subject"])) == 1, inbox.messages
            stop_edge(edge)  # before the portal, whose shutdown would wait for the edge's long poll
    finally:
        await p1.stop()
        for started in await asyncio.gather(starting, return_exceptions=True):
            if isinstance(started, RunningEdge):
                stop_edge(started)
    assert errors == [], errors
    log = edge.log.read_text()
    assert "paired with" in log and "Traceback" not in log, log[-3000:]
