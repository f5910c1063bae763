"""Issue 8's walk in a real browser (Playwright + Debian's Chromium) against the real portal on
PostgreSQL: register an alias → add a site → pair an edge: the demo site runs the last three
simulated hours and its Outbox + Uplink upload the readings through the real ingest path → the
live view shows them → the day chart has data → the owner grants an installer maintenance for
1 h → the installer (on a phone) changes a setting through the maintenance channel, answered by
the edge's own client → the owner's audit log shows it → the grant runs out and the installer's
access ends. Screenshots go to ``$WATTWERK_SCREENSHOTS``."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import Page, expect

from page_format import kwh, pct, power
from portal_fixtures import PASSWORD
from test_ingest_support import PgSchema, pg, serve_portal  # noqa: F401
from wattwerk.config import load_demo_config
from wattwerk.demo import DemoSite
from wattwerk.edge.maintenance_client import serve
from wattwerk.edge.outbox import Outbox
from wattwerk.edge.setup_pairing import pair
from wattwerk.edge.uplink import Uplink, UplinkConfig
from wattwerk.model import ms
from wattwerk.portal.database import utcnow

TZ = "Europe/Berlin"
DESKTOP = {"viewport": {"width": 1366, "height": 900}}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
MIN = 60_000


def site_readings(now_ms: int, hours: int = 30) -> list[tuple[str, int, float]]:
    """One reading a minute per channel for the last ``hours``, signs as in DESIGN.md: PV
    producing, battery discharging +, grid importing +, house consuming; grid counters."""
    out: list[tuple[str, int, float]] = []
    start = now_ms - hours * 3_600_000
    imp = 5_000_000.0
    exp = 1_000_000.0
    for i in range(hours * 60 + 1):
        ts = start + i * MIN
        pv = max(0.0, 4000.0 * math.sin(math.pi * ((ts / 3_600_000) % 24 - 6) / 12))
        house = 600.0 + 250.0 * math.sin(i / 37.0) + (i % 5) * 10.0
        bat = -min(1500.0, pv * 0.3) if pv > 800 else 300.0
        grid = house - pv - bat
        imp += max(grid, 0.0) / 60.0
        exp += max(-grid, 0.0) / 60.0
        out += [
            ("pv.power", ts, round(pv, 1)),
            ("house.power", ts, round(house, 1)),
            ("bat.power", ts, round(bat, 1)),
            ("grid.power", ts, round(grid, 1)),
            ("bat.soc", ts, 40.0 + 20.0 * math.sin(i / 300.0)),
            ("grid.energy_import", ts, round(imp, 3)),
            ("grid.energy_export", ts, round(exp, 3)),
        ]
    return out


class Tee:
    """The demo edge's outbox, also keeping every row it queues (what the portal must then show)."""

    def __init__(self, box: Outbox) -> None:
        self.box = box
        self.rows: list[tuple[str, int, float]] = []

    def append(self, readings: Any) -> Any:
        readings = list(readings)
        self.rows += [(r.channel, ms(r.ts), r.value) for r in readings]
        return self.box.append(readings)


def demo_upload(box: Outbox, tmp_path: Path, hours: float = 3.0) -> list[tuple[str, int, float]]:
    """Run the demo site for the last ``hours`` (simulated, up to now); its readings go to the outbox."""
    cfg = load_demo_config()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    site = DemoSite(cfg, now - timedelta(hours=hours), tmp_path / "edge", step_s=10, store_every_s=60)
    tee = Tee(box)
    site.edge.recorder.outbox = tee  # every reading the edge records is queued for the portal
    site.store_all_now()
    site.advance_to(now.timestamp())
    site.store_all_now()
    site.close()
    return tee.rows


class Edge:
    """The edge's side of maintenance: its configuration, changed by ``set_config``."""

    def __init__(self) -> None:
        self.config: dict[str, Any] = {"grid_limit_w": 4000, "site": "home"}

    async def handle(self, kind: str, payload: dict[str, Any]) -> Any:
        if kind == "status":
            return {"ok": True, "devices": 4}
        if kind == "logs":
            return ["started", "uplink ok"]
        if kind == "get_config":
            return self.config
        if kind == "set_config":
            self.config.update(payload)
            return self.config
        raise ValueError(f"unknown command {kind}")


async def register(page: Page, url: str, alias: str) -> None:
    await page.goto(url)
    await expect(page).to_have_url(re.compile(r"/login"))
    form = page.locator("form#register")
    await form.locator("input[name=alias]").fill(alias)
    await form.locator("input[name=password]").fill(PASSWORD)
    await form.locator("button").click()
    await expect(page).to_have_url(re.compile(r"/sites$"))


async def no_sideways_scroll(page: Page) -> None:
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px"


async def test_portal_walk(browser: Any, pg: PgSchema, shots: Path, tmp_path: Path) -> None:  # noqa: F811
    owner_alias, installer_alias = f"sonne{int(time.time())}", f"elektro{int(time.time())}"
    with serve_portal(pg) as portal:
        owner_ctx = await browser.new_context(**DESKTOP, locale="en-GB", timezone_id=TZ)
        page = await owner_ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # register an alias → add a site → pair an edge
        await register(page, portal.url + "/", owner_alias)
        await page.locator("form#add input[name=label]").fill("Home")
        await page.locator("form#add button").click()
        item = page.locator("#sites li[data-site]")
        await expect(item).to_have_count(1)
        await expect(item.locator("b")).to_have_text("Home")
        site = await item.get_attribute("data-site")
        assert site
        await item.locator("button.pair").click()
        code = (await item.get_by_test_id("pairing-code").text_content() or "").strip()
        await expect(item.get_by_test_id("pairing-qr").locator("svg")).to_be_visible()
        token = (await pair(portal.url, code))["token"]  # what the edge's wizard does with the code

        # the demo's edge uploads through its outbox and uplink (the real ingest path)
        box = Outbox(tmp_path / "outbox.sqlite")
        rows = demo_upload(box, tmp_path)
        roles = {d.id: d.role for d in load_demo_config().devices}  # as the edge sends them
        labels = {"hp": "Wärmepumpe Keller"}  # the owner named one device in the site file
        up = Uplink(
            box,
            UplinkConfig(
                url=portal.url,
                site=site,
                edge_id="edge-1",
                token=token,
                fmt="json",
                roles=roles,
                labels=labels,
                tz=load_demo_config().site.timezone,  # as the edge sends its site file's zone
            ),
        )
        assert await up.drain() == len(rows) > 1000
        await up.aclose()
        assert box.pending() == 0
        box.close()
        newest: dict[str, tuple[int, float]] = {}
        for ch, ts, v in rows:
            if ts >= newest.get(ch, (0, 0.0))[0]:
                newest[ch] = (ts, v)
        now_ms = max(ts for ts, _ in newest.values())

        # the live view shows the newest values, the day chart has data
        await item.locator("a").first.click()
        await expect(page).to_have_url(re.compile(f"/sites/{site}$"))
        flow = page.locator('#w-live .flow[data-channel="grid.power"]')
        grid_now = newest["grid.power"][1]
        await expect(flow.locator(".value")).to_have_text(power(grid_now))
        # each channel's flow comes from its device's role as the edge sent it, not from its name
        flows = {
            "grid": "grid",
            "pv1": "pv",
            "bat": "bat",
            "house": "house",
            "ev1": "ev",
            "hp": "heat",
            "rod": "heat",
        }
        assert await page.evaluate("WWP.devices") == flows
        # labels from the owner's names and the roles, never the raw ids (issue 14, polish)
        names = {"grid": "Grid", "pv1": "PV", "bat": "Battery", "house": "House", "ev1": "Car charger"}
        names |= {"hp": "Wärmepumpe Keller", "rod": "Heating rod"}
        for dev, name in names.items():
            await expect(page.locator(f'#w-live .flow[data-channel="{dev}.power"] .name')).to_have_text(name)
        css = "e => getComputedStyle(e).getPropertyValue('--c')"
        hp_colour = await page.locator('#w-live .flow[data-channel="hp.power"]').evaluate(css)
        assert hp_colour and hp_colour != await page.locator(
            '#w-live .flow[data-channel="rod.power"]'
        ).evaluate(css)
        energy_rows = page.locator("#w-energy tr[data-row^='device:'] td:first-child")
        await expect(energy_rows).to_have_text(["Car charger", "Heating rod", "House", "Wärmepumpe Keller"])
        legend = page.locator("#w-power_chart .u-legend")
        await expect(legend).to_contain_text("Wärmepumpe Keller")
        await expect(legend).not_to_contain_text("(hp)")
        for ch in ("pv1.power", "bat.power", "house.power", "ev1.power", "hp.power"):
            await expect(page.locator(f'#w-live .flow[data-channel="{ch}"] .value')).to_have_text(
                power(newest[ch][1])
            )
        if abs(grid_now) >= 1:
            await expect(flow.locator(".dir")).to_have_text("import" if grid_now > 0 else "export")
        await expect(page.locator("#w-live .soc-value")).to_have_text(pct(newest["bat.soc"][1]))
        await expect(page.locator("[data-range=day]")).to_have_attribute("aria-selected", "true")
        chart = page.locator("#w-power_chart .body")
        await expect(chart.locator("canvas")).to_have_count(1)
        midnight = datetime.fromtimestamp(now_ms / 1000, ZoneInfo(TZ)).replace(hour=0, minute=0, second=0)
        day_start = int(midnight.timestamp() * 1000)
        buckets = {ts // 300_000 for ch, ts, _ in rows if ch == "grid.power" and ts >= day_start}
        await expect(chart).to_have_attribute("data-points", str(len(buckets)))
        # energy of the day from the grid counters: last value − the last one before the day
        imp = [v for ch, ts, v in rows if ch == "grid.energy_import" and ts < day_start + 86_400_000]
        before = [v for ch, ts, v in rows if ch == "grid.energy_import" and ts < day_start]
        want = imp[-1] - (before[-1] if before else imp[0])
        imported = page.locator("#w-energy tr", has_text="Grid import").locator("td.num")
        await expect(imported).to_have_text(kwh(want))
        await expect(page.locator("#w-plan")).to_be_hidden()  # this edge sent no plan
        await expect(page.locator("#w-selfuse [data-kpi=autarky] b")).to_have_text(re.compile(r"^\d+ %$"))
        await page.screenshot(path=str(shots / "portal-dashboard-desktop.png"), full_page=True)

        # the live view refreshes without a reload: a new reading appears within a few seconds
        marker = await page.evaluate("performance.timeOrigin")
        async with httpx.AsyncClient() as http:
            r = await http.post(
                f"{portal.url}/api/v1/ingest",
                headers={"Authorization": f"Bearer {token}"},
                json={"site": site, "edge_id": "edge-2", "readings": [[1, "grid.power", now_ms + 1, 1234.0]]},
            )
            assert r.status_code == 200, r.text
        await expect(flow.locator(".value")).to_have_text("1.23 kW", timeout=10_000)
        assert await page.evaluate("performance.timeOrigin") == marker  # same document, no reload

        # the previous day in the range switcher: the chart follows
        await page.locator("#prev").click()
        await expect(chart).to_have_attribute(
            "data-points",
            str(
                len(
                    {
                        ts // 300_000
                        for ch, ts, _ in rows
                        if ch == "grid.power" and day_start - 86_400_000 <= ts < day_start
                    }
                )
            ),
        )

        # an installer registers (on a phone) and the owner grants maintenance for 1 h
        inst_ctx = await browser.new_context(**PHONE, locale="de-DE", timezone_id=TZ)
        phone = await inst_ctx.new_page()
        phone.on("pageerror", lambda e: errors.append(str(e)))
        await register(phone, portal.url + "/sites", installer_alias)
        await expect(phone.locator("#maint-card")).to_be_hidden()

        await page.goto(f"{portal.url}/sites/{site}/access")
        await expect(page.locator("#maint-off")).to_be_visible()
        await page.locator("form#maint input[name=installer]").fill(installer_alias)
        await page.locator("form#maint input[name=hours]").fill("1")
        await page.locator("form#maint button").click()
        await expect(page.locator("#maint-live li")).to_contain_text(installer_alias)
        await expect(page.locator("#maint-off")).to_be_hidden()

        # the installer changes a setting through the edge's own outbound connection
        edge = Edge()
        stop = asyncio.Event()
        async with httpx.AsyncClient() as client:
            edge_task = asyncio.create_task(serve(client, portal.url, token, edge.handle, stop, wait_s=1.0))
            try:
                await phone.reload()
                await expect(phone.locator("#maint-card")).to_be_visible()
                await phone.locator(f'#maint a[href="/sites/{site}/maintain"]').click()
                await expect(phone.locator("#grant-state")).to_contain_text("bis")  # German page
                await phone.locator("select[name=kind]").select_option("set_config")
                await phone.locator("input[name=key]").fill("grid_limit_w")
                await phone.locator("input[name=value]").fill("3000")
                await phone.locator("form#cmd button").click()
                result = phone.locator("#results li").first
                await expect(result).to_have_attribute("data-state", "done", timeout=15_000)
                await expect(result.locator("pre")).to_contain_text('"grid_limit_w": 3000')
                assert edge.config["grid_limit_w"] == 3000
                await no_sideways_scroll(phone)
                await phone.screenshot(path=str(shots / "portal-maintain-phone.png"), full_page=True)
            finally:
                stop.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(edge_task, 10)

        # the owner's audit log shows it
        await page.reload()
        cmd_row = page.locator("#audit tr[data-action='maintenance.command']")
        await expect(cmd_row).to_have_count(1)
        await expect(cmd_row).to_contain_text(installer_alias)
        await expect(cmd_row).to_contain_text('set_config {"grid_limit_w":3000}')
        await expect(page.locator("#audit tr[data-action='maintenance.result']")).to_contain_text("edge")
        await expect(page.locator("#audit tr[data-action='maintenance.grant']")).to_contain_text(owner_alias)
        await page.screenshot(path=str(shots / "portal-access-desktop.png"), full_page=True)

        # the grant runs out (moved into the past, as the clock would): the installer's access ends
        with pg.connect() as conn:
            conn.execute(
                "UPDATE maintenance_grants SET starts_at = %s, expires_at = %s",
                (utcnow() - timedelta(hours=2), utcnow() - timedelta(seconds=1)),
            )
        await expect(phone.locator("#grant-state .ended")).to_be_visible(timeout=10_000)
        await expect(phone.locator("#console")).to_be_hidden()
        await phone.goto(f"{portal.url}/sites")
        await expect(phone.locator("#maint-card")).to_be_hidden()
        await page.reload()
        await expect(page.locator("#maint-off")).to_be_visible()
        cookies = {c["name"]: c["value"] for c in await inst_ctx.cookies()}
        async with httpx.AsyncClient(base_url=portal.url, cookies=cookies) as http:
            # the site is as invisible to the installer as a missing one again
            assert (await http.get(f"/api/v1/sites/{site}/maintenance")).status_code == 404
            refused = await http.post(f"/api/v1/sites/{site}/maintenance/commands", json={"kind": "status"})
            assert refused.status_code == 403  # CSRF first: the cookie alone changes nothing
            csrf = await phone.evaluate("JSON.parse(document.getElementById('boot').textContent).csrf")
            refused = await http.post(
                f"/api/v1/sites/{site}/maintenance/commands",
                json={"kind": "status"},
                headers={"X-CSRF-Token": csrf},
            )
            assert refused.status_code == 404

        # the owner's dashboard on a phone: the same widgets, one column, no sideways scrolling
        owner_phone = await browser.new_context(
            **PHONE, locale="fr-FR", timezone_id=TZ, storage_state=await owner_ctx.storage_state()
        )
        mobile = await owner_phone.new_page()
        await mobile.goto(f"{portal.url}/sites/{site}")
        await expect(mobile.locator("#w-live h2")).to_have_text("Flux de puissance maintenant")
        await expect(mobile.locator("#w-power_chart canvas")).to_have_count(1)
        await no_sideways_scroll(mobile)
        widths = await mobile.evaluate(
            "[...document.querySelectorAll('.widget:not([hidden])')]"
            ".map(e => e.getBoundingClientRect().width)"
        )
        assert widths and max(widths) <= 390 and min(widths) > 300  # one column, full width
        await mobile.screenshot(path=str(shots / "portal-dashboard-phone.png"), full_page=True)
        assert errors == [], errors
        for ctx in (owner_ctx, inst_ctx, owner_phone):
            await ctx.close()
