"""``make demo`` in a real browser: ``wattwerk demo`` started as a user starts it (a process) shows the
plan widget on the edge's own page (signed in with the password it prints) and on its embedded portal
(signed in as the demo owner), fed by the demo edge's real plan upload; the edge page says which
prices the plan uses."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import expect

from wattwerk.demo import EDGE_PASSWORD, PORTAL_ALIAS, PORTAL_PASSWORD

TZ = "Europe/Berlin"
DESKTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "en-GB", "timezone_id": TZ}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(ok: Any, proc: subprocess.Popen[bytes], what: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise AssertionError(f"{what}: wattwerk demo ended: {err}")
        try:
            if ok():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {seconds} s")


async def test_demo_shows_the_plan_on_the_edge_page_and_in_the_portal(
    browser: Any, tmp_path: Path, shots: Path
) -> None:
    edge_port, portal_port = free_port(), free_port()
    start = datetime.now(ZoneInfo(TZ)).replace(second=0, microsecond=0)  # now: no catch-up from midnight
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wattwerk",
            "demo",
            "--port",
            str(edge_port),
            "--portal-port",
            str(portal_port),
            "--data-dir",
            str(tmp_path / "demo"),
            "--start",
            start.isoformat(),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    edge, portal = f"http://127.0.0.1:{edge_port}", f"http://127.0.0.1:{portal_port}"
    try:
        wait_until(lambda: httpx.get(f"{edge}/login", timeout=2).status_code == 200, proc, "the edge page")
        wait_until(
            lambda: httpx.get(f"{portal}/api/v1/health", timeout=2).status_code == 200, proc, "the portal"
        )
        ctx = await browser.new_context(**DESKTOP)
        page = await ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        await page.goto(f"{edge}/")
        await expect(page).to_have_url(re.compile(r"/login"))
        await page.get_by_test_id("password").fill(EDGE_PASSWORD)
        await page.locator("form#login button").click()
        card = page.locator("#plan-card")
        await expect(card).to_be_visible(timeout=60_000)  # the first plan, made at start
        await expect(card.locator("#plan svg rect.price").first).to_be_attached()
        await expect(page.get_by_test_id("plan-prices")).to_contain_text("SMARD.de")
        await page.screenshot(path=str(shots / "demo-edge-plan.png"), full_page=True)

        with httpx.Client(base_url=portal, timeout=10) as owner:  # which site the demo owner has
            assert (
                owner.post(
                    "/api/v1/session", json={"alias": PORTAL_ALIAS, "password": PORTAL_PASSWORD}
                ).status_code
                == 200
            )
            site = owner.get("/api/v1/sites").json()[0]["site"]
        await page.goto(f"{portal}/sites/{site}")
        await expect(page).to_have_url(re.compile(r"/login\?next="))
        await page.locator("form#login input[name=alias]").fill(PORTAL_ALIAS)
        await page.locator("form#login input[name=password]").fill(PORTAL_PASSWORD)
        await page.locator("form#login button").click()
        widget = page.locator("#w-plan")
        for _ in range(12):  # the plan upload follows the plan within seconds
            if await widget.is_visible():
                break
            await page.wait_for_timeout(5000)
            await page.reload()
        await expect(widget).to_be_visible()
        # the plan widget fills once its data arrive; the owner card before it may wait for the edge
        await expect(widget.locator(".plan-summary")).to_contain_text("expected cost ahead", timeout=30_000)
        await page.screenshot(path=str(shots / "demo-portal-plan.png"), full_page=True)
        assert errors == []
        await ctx.close()
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
