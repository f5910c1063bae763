"""Issue 9's browser test: add an emulated SunSpec inverter through the UI, test it, save it, and
see its live power on the page (pushed over the websocket, no reload)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from edge_login import browser_sign_in, test_auth
from wattwerk.config import load_config
from wattwerk.devices.catalog import find
from wattwerk.edge.live import NotingLedger, RuntimeView
from wattwerk.edge.runtime import EdgeRuntime
from wattwerk.edge.setup import Setup
from wattwerk.edge.web import create_app
from wattwerk.sim.emulators.modbus import EmulatorServer
from wattwerk.sim.emulators.sunspec import SunSpecEmulator

SITE = """\
# a new installation: no devices yet
version: 1
site:
  name: Browser house
  location: {latitude: 52.5, longitude: 13.4}
  timezone: Europe/Berlin
"""
KEY = "pv_inverter/sunspec-inverter-int"


class Sim:
    def __init__(self) -> None:
        self.v = {"power": 4321.0, "energy": 2_345_678.0, "temperature": 39.5}

    def values(self) -> dict[str, float]:
        return self.v

    def apply(self, command: str, value: float) -> None:
        pass


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_add_sunspec_inverter_through_the_ui(
    browser: Any, serve: Callable[[Any], Awaitable[str]], tmp_path: Path, shots: Path
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(SITE)
    spec = find("sunspec-inverter-int").entry.sunspec
    assert spec is not None
    sim = Sim()
    emulator = SunSpecEmulator(spec.models, sim, rated_power=spec.rated_power)
    runtime = EdgeRuntime([], ledger=NotingLedger())
    view = RuntimeView(runtime, load_config(site))
    app = create_app(
        view,
        setup=Setup(site, runtime=runtime, on_config=lambda c: setattr(view, "cfg", c)),
        runtime=runtime,
        auth=test_auth(tmp_path),
    )
    halt = asyncio.Event()
    edge = asyncio.create_task(runtime.run(halt))
    async with EmulatorServer([emulator.bank]) as inverter:
        base = await serve(app)
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        script_errors: list[str] = []
        page.on("pageerror", lambda exc: script_errors.append(str(exc)))
        try:
            await browser_sign_in(page, base)
            await page.goto(base + "setup")
            await expect(page.locator("#site")).to_have_text("Browser house")
            await page.get_by_test_id("search").fill("sunspec inverter")
            await page.locator(f'li[data-key="{KEY}"]').click()
            await expect(page.get_by_test_id("port")).to_have_value("502")
            await expect(page.get_by_test_id("device-id")).to_have_value("pv")

            # wrong port first: the precise error, nothing saved
            dead = closed_port()
            await page.get_by_test_id("host").fill("127.0.0.1")
            await page.get_by_test_id("port").fill(str(dead))
            await page.get_by_test_id("test").click()
            error = page.get_by_test_id("test-error")
            await expect(error).to_contain_text(f"127.0.0.1:{dead}", timeout=15000)

            await page.get_by_test_id("port").fill(str(inverter.port))
            await page.get_by_test_id("test").click()
            result = page.get_by_test_id("test-result")
            await expect(result.locator('[data-quantity="power"] b')).to_have_text("4.32 kW", timeout=15000)
            await expect(result).to_contain_text("It answers")
            await page.screenshot(path=str(shots / "setup-tested.png"), full_page=True)

            # saving without the PV's kWp is refused with the check's line-exact message
            await page.get_by_test_id("save").click()
            problems = page.get_by_test_id("problems")
            await expect(problems).to_contain_text(f"{site}:")
            await expect(problems).to_contain_text("kwp")
            assert site.read_text() == SITE

            await page.get_by_test_id("field-kwp").fill("8")
            await page.locator("input[name=interval_s]").fill("1")
            await page.get_by_test_id("save").click()
            await expect(page.get_by_test_id("saved")).to_contain_text("Saved “pv”")
            cfg = load_config(site)
            assert cfg.device("pv").catalog == KEY and cfg.device("pv").connection.port == inverter.port  # type: ignore[union-attr]
            assert site.read_text().startswith(SITE)

            await page.goto(base)
            pv = page.locator('[data-flow="pv"] .value')
            await expect(pv).to_have_text("4.32 kW", timeout=10000)
            row = page.locator('tr[data-device="pv"]')
            await expect(row.locator(".badge")).to_have_text("ok")
            await expect(page.get_by_test_id("conn")).to_have_text("● live")
            await page.screenshot(path=str(shots / "live-after-setup.png"), full_page=True)

            sim.v["power"] = 2500.0  # the sun goes behind a cloud: the page follows without a reload
            await expect(pv).to_have_text("2.50 kW", timeout=10000)
            assert script_errors == []
        finally:
            await page.close()
            halt.set()
            await edge
