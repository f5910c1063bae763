"""Issue 14's pairing flow with real processes: ``wattwerk portal`` (PostgreSQL) and ``wattwerk run``
(a fresh site file without a ``portal`` section, its grid meter a DSMR P1 stream on loopback),
Chromium as the owner and as the installer at the edge.

register → add a site → "Pair an edge" shows a code and its QR code → the edge's wizard (signed in)
takes the code → the edge shows the site's name on the portal → it uploads without a restart →
the portal's live view shows its values. The code works once."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, expect

from edge_login import browser_sign_in
from security.edge_processes import PASSWORD as EDGE_PASSWORD
from security.edge_processes import start_edge, stop_edge
from security.portal_process import PASSWORD, fresh_db, portal_process
from wattwerk.config import load_config
from wattwerk.portal.database import POSTGRES
from wattwerk.sim.emulators.p1 import P1Emulator
from wattwerk.sim.site import SiteSim

PAGE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def p1_meter() -> P1Emulator:
    """The grid meter's P1 port on loopback (a real DSMR stream), from the site model."""
    sim = SiteSim(start=datetime(2025, 6, 21, 10, tzinfo=UTC))
    sim.step(60)

    return P1Emulator(sim.meter_state_now, interval=1.0)


async def show_pairing_code(owner: Page, url: str, shots: Path) -> tuple[str, str]:
    """Register, add a site, press "Pair an edge": (site id, code)."""
    csp: list[str] = []
    owner.on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None)
    await owner.goto(url + "/")
    await owner.locator("form#register input[name=alias]").fill(f"sonne{int(time.time())}")
    await owner.locator("form#register input[name=password]").fill(PASSWORD)
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
    await owner.screenshot(path=str(shots / "portal-pairing-code.png"))
    assert csp == [], csp  # the inline SVG passes the portal's CSP
    assert site
    return site, code


async def test_pair_an_edge_through_the_pages(browser: Any, tmp_path: Path, shots: Path) -> None:
    edge_dir = tmp_path / "edge"
    edge_dir.mkdir()
    with fresh_db(POSTGRES, tmp_path) as db, portal_process(db, tmp_path / "portal") as portal:
        owner = await browser.new_page(viewport=PAGE)
        site, code = await show_pairing_code(owner, portal.url, shots)
        async with p1_meter() as p1:
            grid = f"{{type: tcp, host: 127.0.0.1, port: {p1.port}, format: dsmr}}"
            edge = start_edge(edge_dir, grid=grid, args=("--store-every", "1"))
            try:
                assert load_config(edge.site).portal is None
                installer = await browser.new_page(viewport=PHONE)
                await browser_sign_in(installer, edge.url + "/", EDGE_PASSWORD)
                await installer.goto(edge.url + "/wizard")
                await installer.get_by_test_id("portal-url").fill(portal.url)
                await installer.get_by_test_id("pairing-code").fill(code.lower().replace("-", " "))
                await installer.get_by_role("button", name="Pair", exact=True).click()
                await expect(installer.get_by_test_id("pair-ok")).to_have_text(
                    f"Uploads to “Sonnenhaus” on {portal.url}"
                )
                await installer.screenshot(path=str(shots / "edge-wizard-paired.png"), full_page=True)
                cfg = load_config(edge.site)
                assert cfg.portal is not None and cfg.portal.site == site and cfg.portal.label == "Sonnenhaus"

                # the running edge uploads at once: the owner's live view shows its grid meter
                await owner.goto(f"{portal.url}/sites/{site}")
                value = owner.locator('#w-live .flow[data-channel="grid.power"] .value')
                await expect(value).to_have_text(re.compile(r"\d"), timeout=90_000)
                await owner.screenshot(path=str(shots / "portal-live-after-pairing.png"))
            finally:
                stop_edge(edge)
        again = httpx.post(portal.url + "/api/v1/pairing", json={"code": code}, timeout=30)
        assert again.status_code == 410 and "used already" in again.json()["detail"]
    log = edge.log.read_text()
    assert "paired with" in log and "Traceback" not in log, log[-3000:]
