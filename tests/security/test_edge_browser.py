"""Issue 15, findings 1 and 5 in a real browser (Chromium): a web page on another origin cannot read
the edge's live websocket, a rebound host name gets nothing, and a first start offers only the
wizard's password step. ``attacker.test`` resolves to 127.0.0.1 inside Chromium, as DNS
rebinding makes a name resolve to the edge."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.async_api import async_playwright, expect
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from security.edge_processes import PASSWORD, running_edge

CHROMIUM = Path(os.environ.get("WATTWERK_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP attacker.test 127.0.0.1",
]
ATTACK = """<!doctype html><title>cat pictures</title><script>
window.result = {opened: false, messages: 0, closed: null};
const ws = new WebSocket("ws://127.0.0.1:EDGE_PORT/api/ws");
ws.onopen = () => { window.result.opened = true; };
ws.onmessage = (e) => { window.result.messages++; window.result.data = e.data.slice(0, 200); };
ws.onclose = (e) => { window.result.closed = e.code; };
</script>"""


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/browser.sh (installs Debian's chromium)")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


async def serve_attack_page(edge_port: int) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    async def page(_: Any) -> HTMLResponse:
        return HTMLResponse(ATTACK.replace("EDGE_PORT", str(edge_port)))

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/", page)]), log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, int(sock.getsockname()[1])


@pytest.mark.parametrize("web", ["", "web:\n  public_live: true\n"], ids=["default", "public-live"])
async def test_a_page_on_another_origin_cannot_read_the_live_websocket(
    browser: Any, tmp_path: Path, web: str
) -> None:
    # public-live is the worst case: the owner opened the live view on the LAN, no cookie is needed
    with running_edge(tmp_path, more=web) as edge:
        server, task, port = await serve_attack_page(edge.port)
        page = await browser.new_page()
        try:
            await page.goto(f"http://attacker.test:{port}/")
            await page.wait_for_function(
                "window.result.closed !== null || window.result.messages > 0", timeout=20_000
            )
            result = await page.evaluate("window.result")
            assert result["messages"] == 0 and not result["opened"], result
            # the same websocket from the edge's own page is live (the check is not simply "off")
            await page.goto(edge.url + "/login")
            if not web:
                await page.get_by_test_id("password").fill(PASSWORD)
                await page.get_by_test_id("sign-in").click()
                await page.wait_for_url(edge.url + "/")
            await page.goto(edge.url + "/")
            await expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=20_000)
        finally:
            await page.close()
            server.should_exit = True
            await task


async def test_a_rebound_host_name_gets_nothing(browser: Any, tmp_path: Path) -> None:
    with running_edge(tmp_path) as edge:
        page = await browser.new_page()
        try:
            for path in ("/api/live", "/", "/wizard"):
                response = await page.goto(f"http://attacker.test:{edge.port}{path}")
                assert response is not None and response.status == 421, path
                assert "Security house" not in await page.content()
        finally:
            await page.close()


async def test_first_start_shows_only_the_password_step(browser: Any, tmp_path: Path) -> None:
    with running_edge(tmp_path, password=None) as edge:
        page = await browser.new_page()
        try:
            await page.goto(edge.url + "/setup")
            assert page.url == edge.url + "/wizard"
            await expect(page.get_by_test_id("new-password")).to_be_visible()
            await expect(page.get_by_test_id("interfaces")).to_be_hidden()
            await page.get_by_test_id("new-password").fill(PASSWORD)
            await page.get_by_test_id("new-password-again").fill(PASSWORD + "x")
            await page.get_by_test_id("set-password").click()
            await expect(page.locator("#pw-problems")).to_contain_text("differ")
            await page.get_by_test_id("new-password-again").fill(PASSWORD)
            await page.get_by_test_id("set-password").click()
            await expect(page.get_by_test_id("interfaces")).to_contain_text("127.0.0.1/8")  # signed in
            await expect(page.get_by_test_id("new-password")).to_be_hidden()
            # changing it needs the current one (a stolen session alone is not enough)
            await page.get_by_test_id("current-password").fill("not the password")
            await page.get_by_test_id("changed-password").fill(PASSWORD + " 2")
            await page.get_by_test_id("changed-password-again").fill(PASSWORD + " 2")
            await page.get_by_test_id("change-password").click()
            await expect(page.locator("#change-problems")).to_contain_text("current password is wrong")
            await page.get_by_test_id("current-password").fill(PASSWORD)
            await page.get_by_test_id("change-password").click()
            await expect(page.locator("#change-ok")).to_contain_text("Changed")
            await page.goto(edge.url + "/setup")
            await expect(page.locator("#site")).to_have_text("Security house")
            await page.locator("#sign-out").click()
            await page.wait_for_url(edge.url + "/login")
            await page.goto(edge.url + "/setup")  # the session is over
            assert page.url == edge.url + "/login?next=/setup"
        finally:
            await page.close()


async def test_sign_in_never_sends_the_browser_to_another_site(browser: Any, tmp_path: Path) -> None:
    with running_edge(tmp_path) as edge:
        page = await browser.new_page()
        try:
            for bad in (
                "//attacker.test/x",
                "/%5Cattacker.test",
                "/%09/attacker.test",
                "https://attacker.test",
            ):
                await page.goto(f"{edge.url}/login?next={bad}")
                await page.get_by_test_id("password").fill(PASSWORD)
                await page.get_by_test_id("sign-in").click()
                await page.wait_for_url(edge.url + "/")
                await page.locator("#sign-out").click()
                await page.wait_for_url(edge.url + "/login")
            await page.goto(f"{edge.url}/login?next=/setup")  # a path of the edge's own is kept
            await page.get_by_test_id("password").fill(PASSWORD)
            await page.get_by_test_id("sign-in").click()
            await page.wait_for_url(edge.url + "/setup")
        finally:
            await page.close()
