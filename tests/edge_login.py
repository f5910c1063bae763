"""Tests of the edge's page sign in like a user: an ``EdgeAuth`` with a known password, and a
``TestClient`` (or an httpx client) that has signed in and echoes the CSRF token on writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from wattwerk.edge.auth import EdgeAuth

PASSWORD = "correct horse battery"
# TestClient's host, and what the browser tests open
TEST_HOSTS = ("testserver", "127.0.0.1", "localhost")


def test_auth(data_dir: str | Path, **kw: Any) -> EdgeAuth:
    """An ``EdgeAuth`` in ``data_dir`` with ``PASSWORD`` set, answering to ``TEST_HOSTS``."""
    kw.setdefault("hosts", TEST_HOSTS)
    auth = EdgeAuth(data_dir, default_names=False, **kw)
    auth.set_password(PASSWORD, replace=True)
    return auth


test_auth.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def signed_in(client: TestClient | httpx.Client, password: str = PASSWORD) -> Any:
    """Sign ``client`` in; later writes carry the CSRF token."""
    res = client.post("/api/auth/login", json={"password": password})
    assert res.status_code == 200, res.text
    client.headers["X-CSRF-Token"] = res.json()["csrf"]
    return client


async def signed_in_async(client: httpx.AsyncClient, password: str = PASSWORD) -> httpx.AsyncClient:
    res = await client.post("/api/auth/login", json={"password": password})
    assert res.status_code == 200, res.text
    client.headers["X-CSRF-Token"] = res.json()["csrf"]
    return client


async def browser_sign_in(page: Any, base: str, password: str = PASSWORD) -> None:
    """Sign in through the login page as a user does (``base`` ends with ``/``); lands on the live page."""
    await page.goto(base + "login")
    await page.get_by_test_id("password").fill(password)
    async with page.expect_navigation(url=base):
        await page.get_by_test_id("sign-in").click()
