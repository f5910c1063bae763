"""``wattwerk bench tunnel [--json] [--loads N] [--requests N] [--db URL]``: how fast the edge's own page
comes through the portal's maintenance tunnel (issue 14).

``wattwerk portal`` (SQLite in a temporary folder unless ``--db``) and ``wattwerk run --no-web`` (a site
without devices, its admin password set) run as processes on loopback; an installer with a maintenance
window loads ``/sites/{site}/edge/`` as a browser does: the HTML, then its scripts, styles, icon,
manifest and first API calls at once. Figures: the time for a whole page (p50, p95, max over
``--loads``) and for one API request (``api/live``, one after the other, over ``--requests``). Each
request is a ``proxy`` command on the edge's long poll, so a figure is the poll's wake-up (the portal
looks for new commands every 0.25 s) plus the edge's answer and the portal's wait for it (every 0.1 s).
Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from wattwerk.bench.ingest import start_portal

SITE = """\
version: 1
site:
  name: Bench house
  location: {{latitude: 48.0, longitude: 7.8}}
  timezone: Europe/Berlin
devices: []
store:
  data_dir: {data}
portal:
  url: {url}
  token: {token}
  site: {site}
  edge_id: bench-edge
"""
PASSWORD = "bench password 1"
FIRST_CALLS = ("api/live", "api/today", "api/auth", "static/i18n/en.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--loads", type=int, default=10, help="whole page loads to time (default 10)")
    parser.add_argument("--requests", type=int, default=30, help="single API requests to time (default 30)")
    parser.add_argument("--db", default=None, help="portal database (default: SQLite in a temporary folder)")


def _account(base: str) -> httpx.Client:
    alias = f"b{time.time_ns() % 10**12}"
    http = httpx.Client(base_url=base, timeout=60.0)
    assert http.post("/api/v1/accounts", json={"alias": alias, "password": PASSWORD}).status_code == 201
    r = http.post("/api/v1/session", json={"alias": alias, "password": PASSWORD})
    http.headers["X-CSRF-Token"] = r.json()["csrf"]
    http.alias = alias  # type: ignore[attr-defined]
    return http


async def _page(client: httpx.AsyncClient, base: str) -> float:
    """One page as a browser loads it: the HTML, then everything it names and its first calls at once."""
    started = time.perf_counter()
    page = await client.get(base, headers={"Accept": "text/html"})
    page.raise_for_status()
    assets = re.findall(r'(?:src|href)="((?:static/|manifest)[^"]+)"', page.text)
    answers = await asyncio.gather(*(client.get(base + a) for a in [*assets, *FIRST_CALLS]))
    for a in answers:
        a.raise_for_status()
    return time.perf_counter() - started


async def _measure(cookies: httpx.Cookies, base: str, loads: int, requests: int) -> dict[str, list[float]]:
    async with httpx.AsyncClient(cookies=cookies, timeout=60.0) as client:
        await _page(client, base)  # warm: the edge builds its page on the first request
        pages = [await _page(client, base) for _ in range(loads)]
        single = []
        for _ in range(requests):
            started = time.perf_counter()
            (await client.get(base + "api/live")).raise_for_status()
            single.append(time.perf_counter() - started)
    return {"page": pages, "api": single}


def _figures(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50_s": round(statistics.median(ordered), 3),
        "p95_s": round(p95, 3),
        "max_s": round(ordered[-1], 3),
    }


def run(args: argparse.Namespace) -> int:
    from wattwerk.edge.auth import EdgeAuth

    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would bury the figures
    with tempfile.TemporaryDirectory(prefix="wattwerk-bench-tunnel-") as tmp:
        work = Path(tmp)
        proc, url = start_portal(args.db or f"sqlite:///{work / 'portal.db'}", None, 1, work)
        edge = None
        try:
            owner, installer = _account(url), _account(url)
            site = owner.post("/api/v1/sites", json={"label": "bench"}).json()["site"]
            token = owner.post(f"/api/v1/sites/{site}/edge-tokens").json()["token"]
            grant = {"installer": installer.alias, "hours": 1}  # type: ignore[attr-defined]
            owner.post(f"/api/v1/sites/{site}/maintenance", json=grant).raise_for_status()
            (work / "site.yaml").write_text(SITE.format(data=work / "edge", url=url, token=token, site=site))
            EdgeAuth(work / "edge").set_password(PASSWORD)
            edge = subprocess.Popen(
                [sys.executable, "-m", "wattwerk", "run", str(work / "site.yaml"), "--no-web"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            base = f"{url}/sites/{site}/edge/"
            for _ in range(600):  # until the edge's first long poll has come
                if installer.get(base + "api/auth").status_code == 200:
                    break
                time.sleep(0.1)
            seen = asyncio.run(_measure(installer.cookies, base, args.loads, args.requests))
        finally:
            for p in (edge, proc):
                if p is not None:
                    p.terminate()
                    p.wait(30)
    report = {"loads": args.loads, "page": _figures(seen["page"]), "api_live": _figures(seen["api"])}
    if args.json:
        print(json.dumps(report))
    else:
        pg, one = report["page"], report["api_live"]
        print(
            f"tunnel: a whole page (HTML, then its {len(FIRST_CALLS)} first calls and assets at once) "
            f"p50 {pg['p50_s']} s, p95 {pg['p95_s']} s, max {pg['max_s']} s over {args.loads}; "
            f"one api/live p50 {one['p50_s']} s, p95 {one['p95_s']} s over {args.requests}"
        )
    return 0
