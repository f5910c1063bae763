"""The installation page: the network commands are shown (never run here) and the grid meter is
chosen through the UI, written into the site file with its comments."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from edge_login import browser_sign_in, test_auth
from wattwerk.config import load_config
from wattwerk.edge.live import RuntimeView
from wattwerk.edge.runtime import EdgeRuntime
from wattwerk.edge.setup import Setup
from wattwerk.edge.web import create_app

SITE = """\
version: 1
site:
  name: Wizard house
  location: {latitude: 52.5, longitude: 13.4}
  timezone: Europe/Berlin
devices:
  - id: p1
    role: submeter   # the P1 port of the smart meter
    connection: {type: tcp, host: 192.168.1.30, port: 8088}
  - id: flat
    role: submeter
    connection: {type: sim}
"""


async def test_wizard_network_and_grid_meter(
    browser: Any, serve: Callable[[Any], Awaitable[str]], tmp_path: Path, shots: Path
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(SITE)
    base = await serve(
        create_app(
            RuntimeView(EdgeRuntime([]), load_config(site)), auth=test_auth(tmp_path), setup=Setup(site)
        )
    )
    page = await browser.new_page(viewport={"width": 390, "height": 844})
    try:
        await browser_sign_in(page, base)
        await page.goto(base + "wizard")
        await expect(page.get_by_test_id("interfaces")).to_contain_text("127.0.0.1/8")
        await expect(page.locator("#static")).to_be_hidden()
        await page.get_by_test_id("mode").select_option("static")
        await expect(page.locator("#static")).to_be_visible()
        await page.get_by_test_id("address").fill("192.168.1.50")
        await page.get_by_test_id("net-show").click()
        await expect(page.locator("#net-problems")).to_contain_text("add the prefix length")
        await page.get_by_test_id("address").fill("192.168.1.50/24")
        await page.get_by_test_id("net-show").click()
        await expect(page.get_by_test_id("commands")).to_contain_text(
            "ipv4.method manual ipv4.addresses 192.168.1.50/24"
        )
        await expect(page.locator("#net-note")).to_have_text(re.compile("not confirmed|nmcli|root|disabled"))

        await page.get_by_test_id("grid-meter").select_option("p1")
        await page.get_by_role("button", name="Use as grid meter").click()
        await expect(page.locator("#meter-ok")).to_have_text("Grid meter: p1")
        cfg = load_config(site)
        assert cfg.grid_meter is not None and cfg.grid_meter.id == "p1"
        assert "# the P1 port of the smart meter" in site.read_text()
        await page.screenshot(path=str(shots / "wizard-site.png"), full_page=True)
    finally:
        await page.close()
