"""Browser tests: Playwright driving Debian's Chromium (``scripts/browser.sh`` installs it).

A missing Chromium is a failure with a clear message, never a skip. Screenshots go to
``$WATTWERK_SCREENSHOTS`` when set (to look at them), else to the test's temporary folder.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn

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
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/browser.sh (installs Debian's chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("playwright is not installed: .venv/bin/pip install -e '.[dev]'")
    from playwright.async_api import expect

    # a bounded wait, not a timing assert: pages on a loaded 2-core CI box (two test workers, the
    # portal, the edge and Chromium at once) may need longer than Playwright's 5-s default to fill
    expect.set_options(timeout=20_000)
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    where = os.environ.get("WATTWERK_SCREENSHOTS")
    path = Path(where) if where else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Any], Awaitable[str]]]:
    """``await serve(app)`` serves ``app`` on a free loopback port in this event loop and returns its
    base URL; every server stops at the end of the test."""
    running: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(app: Any) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="websockets-sansio"))
        running.append((server, asyncio.create_task(server.serve(sockets=[sock]))))
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"

    yield start
    for server, task in running:
        server.should_exit = True
        await task
