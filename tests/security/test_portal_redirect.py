"""The open redirect after sign-in, in real Chromium against the real ``wattwerk portal``
(issue 15, finding 9): ``/login?next=/%5Chost`` and ``/%09/host`` sent the browser to another host."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from security.portal_process import PASSWORD, PortalProcess, sqlite_portal  # noqa: F401

CHROMIUM = Path(os.environ.get("WATTWERK_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * 127.0.0.1",
]
TRAPS = (
    "/%5Cevil.example/x",
    "/%09/evil.example/x",
    "//evil.example/x",
    "/%2F%2Fevil.example",
    "https://evil.example/",
    "/\\evil.example",
)


async def test_sign_in_never_leaves_the_portal(sqlite_portal: PortalProcess) -> None:  # noqa: F811
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/browser.sh")
    from playwright.async_api import async_playwright

    alias = f"b{uuid.uuid4().hex[:8]}"
    assert sqlite_portal.register(alias).status_code == 201
    portal = urlsplit(sqlite_portal.url)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            for trap in TRAPS:
                context = await browser.new_context()
                page = await context.new_page()
                await page.goto(f"{sqlite_portal.url}/login?next={trap}")
                assert await page.locator("#reset-off").is_visible()  # no SMTP: the page says so
                await page.fill("#login input[name=alias]", alias)
                await page.fill("#login input[name=password]", PASSWORD)
                async with page.expect_navigation():
                    await page.click("#login button")
                await page.wait_for_load_state()
                landed = urlsplit(page.url)
                assert (landed.hostname, landed.port) == (portal.hostname, portal.port), (trap, page.url)
                assert landed.path == "/sites", (trap, page.url)
                await context.close()
        finally:
            await browser.close()
