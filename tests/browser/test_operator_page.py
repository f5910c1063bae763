"""The operator's page and the owner's logger card in Chromium (issue 14), on an SQLite portal:
the administrator finds a site by its label, sees it offline, sets its channel cap (kept);
the owner registers an old Flukso logger on the access page and is shown its keys once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, expect

from portal_fixtures import PASSWORD, unique
from test_ingest_support import serve_portal, sqlite_db


def signed_up(url: str, alias: str) -> httpx.Client:
    http = httpx.Client(base_url=url, timeout=30.0)
    assert http.post("/api/v1/accounts", json={"alias": alias, "password": PASSWORD}).status_code == 201
    csrf = http.post("/api/v1/session", json={"alias": alias, "password": PASSWORD}).json()["csrf"]
    http.headers["X-CSRF-Token"] = csrf
    return http


async def sign_in(browser: Any, url: str, alias: str, lang: str) -> Page:
    page = await (await browser.new_context(locale=lang)).new_page()
    await page.goto(f"{url}/login?lang={lang}")
    await page.fill("#login input[name=alias]", alias)
    await page.fill("#login input[name=password]", PASSWORD)
    await page.click("#login button.primary")
    await page.wait_for_url(f"{url}/sites")
    return page


async def test_operator_page_and_logger_card(browser: Any, tmp_path: Path, shots: Path) -> None:
    db = sqlite_db(tmp_path)
    with serve_portal(db) as portal:
        op_alias, owner_alias = unique("op"), unique("anna")
        signed_up(portal.url, op_alias)
        owner = signed_up(portal.url, owner_alias)
        with db.connect() as conn:
            conn.execute("UPDATE accounts SET is_admin = true WHERE alias = %s", (op_alias,))
        site = owner.post("/api/v1/sites", json={"label": "Mühle am Bach"}).json()["site"]

        op = await sign_in(browser, portal.url, op_alias, "de")
        await op.click("#operator-link")
        await op.fill("#find input[name=q]", "mühle")
        await op.click("#find button.primary")
        row = op.locator(f'#op-sites tr[data-site="{site}"]')
        await expect(row).to_contain_text("Mühle am Bach")
        await expect(row).to_contain_text("offline")
        await expect(op.locator("#op-sites tr")).to_have_count(1)
        await row.locator("input[name=max_channels]").fill("40")
        await row.locator("button.caps").click()
        await expect(row.locator(".msg")).to_have_text("Gespeichert")
        await op.screenshot(path=str(shots / "operator-de.png"), full_page=True)

        anna = await sign_in(browser, portal.url, owner_alias, "en")
        await anna.goto(f"{portal.url}/sites/{site}/access")
        await anna.fill("#logger .sensor input[name=channel]", "grid.energy_import")
        await anna.click("#logger button.primary")
        secret = anna.get_by_test_id("logger-secret")
        await expect(secret).to_have_text(re.compile(r"^[0-9a-f]{40}$"))
        await expect(anna.locator("#logger-list li[data-device]")).to_have_count(1)
        await anna.screenshot(path=str(shots / "access-loggers-en.png"), full_page=True)

    with db.connect() as conn:  # the cap the page set is kept
        assert conn.execute("SELECT max_channels FROM sites WHERE name = %s", (site,)).fetchone()[0] == 40
