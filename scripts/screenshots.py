"""Screenshots of every edge page for docs/screenshots/: phone and desktop, light and dark.

Then the portal's pages (site list, dashboard, access) the same way, from a second ``wattwerk demo``
with its embedded portal: today up to now is simulated and uploaded, so the dashboard's day has
data; saved as ``portal-<page>-<device>-<scheme>.png``, and the dashboard's owner controls card
alone as ``portal-owner-<device>-<scheme>.png``.

Runs ``wattwerk demo`` as a user would: first headless over the October DST weekend (so History
and Sessions have a store to show), then interactive on that store; signs in with the demo's
password and saves one PNG per page, device and theme (the visible screen, to keep them small).

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from wattwerk.demo import EDGE_PASSWORD, PORTAL_ALIAS, PORTAL_PASSWORD

PAGES = {"live": "", "history": "history?period=month&date=2026-10-24", "sessions": "sessions?month=2026-10",
         "setup": "setup", "wizard": "wizard"}
DEVICES = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
DEMO = [sys.executable, "-m", "wattwerk", "demo", "--no-portal"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, proc: subprocess.Popen[bytes], seconds: float = 180.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"wattwerk demo ended with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


async def shoot(base: str, out: Path, chromium: str) -> list[Path]:
    saved = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"], headless=True)
        for device, options in DEVICES.items():
            for scheme in ("light", "dark"):
                ctx = await browser.new_context(**options, color_scheme=scheme, locale="en-GB",
                                                timezone_id="Europe/Berlin")
                page = await ctx.new_page()
                await page.goto(base + "login")
                await page.get_by_test_id("password").fill(EDGE_PASSWORD)
                async with page.expect_navigation(url=base):
                    await page.get_by_test_id("sign-in").click()
                for name, path in PAGES.items():
                    await page.goto(base + path)
                    await page.wait_for_load_state("networkidle")
                    await page.wait_for_timeout(1500)  # the live values' first push, charts drawn
                    target = out / f"{name}-{device}-{scheme}.png"
                    await page.screenshot(path=str(target))
                    saved.append(target)
                await ctx.close()
        await browser.close()
    return saved


async def shoot_portal(base: str, out: Path, chromium: str) -> list[Path]:
    saved = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"], headless=True)
        for device, options in DEVICES.items():
            for scheme in ("light", "dark"):
                ctx = await browser.new_context(**options, color_scheme=scheme, locale="en-GB",
                                                timezone_id="Europe/Berlin")
                page = await ctx.new_page()
                await page.goto(base + "login")
                await page.locator("form#login input[name=alias]").fill(PORTAL_ALIAS)
                await page.locator("form#login input[name=password]").fill(PORTAL_PASSWORD)
                await page.locator("form#login button").click()
                await page.wait_for_url("**/sites")
                site = await page.locator("#sites li[data-site]").first.get_attribute("data-site")
                pages = {"sites": "sites", "dashboard": f"sites/{site}", "access": f"sites/{site}/access"}
                for name, path in pages.items():
                    await page.goto(base + path)
                    await page.wait_for_load_state("networkidle")
                    await page.wait_for_timeout(2500)  # the live values, the series, the charts drawn
                    target = out / f"portal-{name}-{device}-{scheme}.png"
                    whole = name == "dashboard" and device == "desktop"  # the widgets below the fold too
                    await page.screenshot(path=str(target), full_page=whole)
                    saved.append(target)
                    if name == "dashboard":
                        saved.append(await owner_card(page, out / f"portal-owner-{device}-{scheme}.png"))
                await ctx.close()
        await browser.close()
    return saved


async def owner_card(page: Any, target: Path) -> Path:
    """The owner's controls card (widgets/owner.js: modes, plan, battery, heat pump and rod, each with
    the control's reason) once the edge has answered over its channel."""
    card = page.locator("#w-owner")
    await card.locator("[data-owner]").first.wait_for(timeout=90_000)
    await card.scroll_into_view_if_needed()
    await card.screenshot(path=str(target))
    return target


def portal_shots(out: Path, chromium: str, tmp: str) -> list[Path]:
    """The portal's pages from a demo with its embedded portal (today up to now, then live)."""
    port, portal_port = free_port(), free_port()
    run = [sys.executable, "-m", "wattwerk", "demo", "--port", str(port), "--portal-port", str(portal_port),
           "--data-dir", str(Path(tmp) / "portal-demo")]
    proc = subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{portal_port}/"
        wait_for(base + "login", proc, seconds=600)  # after simulating today up to now
        return asyncio.run(shoot_portal(base, out, chromium))
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = str(Path(tmp) / "demo")
        history = [*DEMO, "--for", "36h", "--start", "2026-10-24", "--step", "60", "--store-every", "60s",
                   "--data-dir", data]
        subprocess.run(history, check=True, stdout=subprocess.DEVNULL)
        port = free_port()
        live = [*DEMO, "--port", str(port), "--data-dir", data, "--start", "2026-10-25T12:00"]
        proc = subprocess.Popen(live,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}/"
            wait_for(base + "login", proc)
            saved = asyncio.run(shoot(base, out, args.chromium))
        finally:
            proc.terminate()
            proc.wait(30)
        saved += portal_shots(out, args.chromium, tmp)
    for path in saved:
        print(f"{path}  {path.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
