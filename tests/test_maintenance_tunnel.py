"""The maintenance tunnel in process: a real portal on loopback (both backends), an assembled edge
(one simulated meter) whose maintenance client long-polls it from a thread, and the installer's
HTTP client asking for the edge's own page under ``/sites/{site}/edge/``. The end to end run with
``wattwerk portal`` and ``wattwerk run`` as processes is in test_maintenance_e2e.py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge_login import test_auth
from portal_fixtures import Portal, account, edge_token, new_site, portal  # noqa: F401
from test_ingest_support import database, pg  # noqa: F401
from wattwerk.config.loader import parse_config
from wattwerk.edge.assembly import Edge, EdgeOptions, assemble
from wattwerk.edge.maintenance_client import serve
from wattwerk.portal.database import utcnow

SITE = """\
version: 1
site:
  name: Tunnelled house
  location: {latitude: 48.0, longitude: 7.8}
  timezone: Europe/Berlin
devices:
  - id: grid
    role: grid_meter
    connection: {type: sim}
store:
  data_dir: DATA
"""


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[Edge]:
    from wattwerk.sim.drivers import SimDrivers
    from wattwerk.sim.from_config import site_params
    from wattwerk.sim.site import SiteSim

    site_file = tmp_path / "site.yaml"  # known: the setup pages work (add a device, test it)
    site_file.write_text(SITE.replace("DATA", str(tmp_path / "edge")))
    cfg = parse_config(site_file.read_text())
    params, names = site_params(cfg)
    drivers = SimDrivers(SiteSim(params, datetime(2026, 6, 1, 10, tzinfo=UTC)), names)
    options = EdgeOptions(sim_drivers=drivers, auth=test_auth(tmp_path / "edge"), site_path=site_file)
    built = assemble(cfg, options)
    built.sim = drivers  # type: ignore[attr-defined]
    yield built
    built.close()


class Polling:
    """The edge's maintenance client in a thread of its own (the test thread plays the browser)."""

    def __init__(self, edge: Any, url: str, token: str) -> None:
        self.handler = edge.commands if isinstance(edge, Edge) else edge  # an edge, or a bare handler
        self.url, self.token = url, token
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),), daemon=True)

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=30.0) as client:
            await serve(client, self.url, self.token, self.handler, self.stop, wait_s=2.0, backoff_s=0.2)

    def __enter__(self) -> Polling:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(15)


def _audit(owner, site: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return [
        e for e in owner.http.get(f"/api/v1/sites/{site}/audit").json() if e["action"] == "maintenance.proxy"
    ]


def test_the_edge_page_through_the_tunnel_until_the_window_ends(portal: Portal, edge: Edge) -> None:  # noqa: F811
    owner, installer, stranger = account(portal), account(portal), account(portal)
    site = new_site(owner)
    base = f"/sites/{site}/edge"
    page = {"Accept": "text/html"}
    # a body over the bound is refused before anything else runs; then: who is asking
    assert portal.client().post(base + "/api/setup/test", content=b"x" * (1024 * 1024 + 1)).status_code == 413
    assert portal.client().get(base + "/").status_code == 401
    with Polling(edge, portal.url, edge_token(owner, site)):
        # off by default: a stranger sees nothing, the owner is told to open a window first
        foreign, missing = stranger.http.get(base + "/"), stranger.http.get("/sites/s_0000000000000000/edge/")
        assert foreign.status_code == missing.status_code == 404 and foreign.content == missing.content
        assert installer.http.get(base + "/").status_code == 404
        closed = owner.http.get(base + "/setup", headers=page)
        assert closed.status_code == 403 and "access page" in closed.text

        g = owner.http.post(
            f"/api/v1/sites/{site}/maintenance", json={"installer": installer.alias, "hours": 1}
        )
        assert g.status_code == 201, g.text
        moved = installer.http.get(base, headers=page)
        assert moved.status_code == 307 and moved.headers["location"] == base + "/"
        live = _once_online(lambda: installer.http.get(base + "/", headers=page))
        assert live.status_code == 200, live.text
        assert 'src="static/app.js"' in live.text  # relative: it loads from under the prefix
        assert live.headers["cache-control"] == "no-store"
        cookies = live.headers.get_list("set-cookie")
        assert not any(c.startswith("ww_session") for c in cookies)  # the edge's session stays on the edge
        assert any(c.startswith(f"ww_csrf={installer.csrf}") and f"Path={base}/" in c for c in cookies)
        assert "frame-ancestors 'none'" in live.headers["content-security-policy"]  # the portal's own
        setup = installer.http.get(base + "/setup", headers=page)
        assert setup.status_code == 200 and 'src="static/setup.js"' in setup.text
        script = installer.http.get(base + "/static/common.js")
        assert script.status_code == 200 and "ww_csrf" in script.text
        assert "javascript" in script.headers["content-type"]
        devices = installer.http.get(base + "/api/devices")
        assert devices.status_code == 200 and "grid" in devices.text
        assert installer.http.get(base + "/api/auth").json()["signed_in"] is True  # the tunnel's session
        assert installer.http.get(base + "/sw.js").status_code == 404  # it would outlive the window

        # writes: the portal's CSRF token, then the edge's own (the tunnel's) behind it
        bare = portal.client(cookies=installer.http.cookies)
        assert bare.post(base + "/api/auth/logout", json={}).status_code == 403  # no X-CSRF-Token
        out = installer.http.post(base + "/api/auth/logout", json={})
        assert out.status_code == 200 and out.json() == {"ok": True}
        assert installer.http.get(base + "/api/auth").json()["signed_in"] is True  # a new tunnel session
        # the owner may look too while a window is open
        assert owner.http.get(base + "/api/live").status_code == 200

        # an installer's command beside the page: read a device once
        made = installer.http.post(
            f"/api/v1/sites/{site}/maintenance/commands",
            json={"kind": "test_device", "payload": {"device": "grid"}},
        )
        assert made.status_code == 201, made.text
        result = _wait_done(installer, site, made.json()["id"])
        assert result["ok"] is True and "grid.power" in result["values"]
        edge.sim.silence("grid")  # type: ignore[attr-defined]
        made = installer.http.post(
            f"/api/v1/sites/{site}/maintenance/commands",
            json={"kind": "test_device", "payload": {"device": "grid"}},
        )
        silent = _wait_done(installer, site, made.json()["id"])
        assert silent["ok"] is False and "does not answer" in silent["error"]

        # the owner ends the window: the page is gone at once, with a page that says so
        assert owner.http.delete(f"/api/v1/sites/{site}/maintenance/{g.json()['id']}").status_code == 200
        gone = installer.http.get(base + "/setup", headers=page)
        assert gone.status_code == 410 and "has ended" in gone.text
        assert installer.http.get(base + "/api/live").json()["ok"] is False

        # a new window runs out by itself (moved into the past rather than waited for)
        g = owner.http.post(
            f"/api/v1/sites/{site}/maintenance", json={"installer": installer.alias, "hours": 1}
        )
        assert installer.http.get(base + "/api/live").status_code == 200
        with portal.pg.connect() as conn:
            conn.execute(
                "UPDATE maintenance_grants SET starts_at = %s, expires_at = %s WHERE id = %s",
                (utcnow() - timedelta(hours=2), utcnow() - timedelta(seconds=1), g.json()["id"]),
            )
        assert installer.http.get(base + "/setup", headers=page).status_code == 410

    with portal.pg.connect() as conn:  # the tunnel's bodies are not kept once answered
        left = conn.execute(
            "SELECT count(*) FROM edge_commands c JOIN sites s ON s.id = c.site_id "
            "WHERE s.name = %s AND c.kind = 'proxy'",
            (site,),
        ).fetchone()
    assert left[0] == 0
    entries = _audit(owner, site)
    seen = {(e["actor"], e["detail"]["method"], e["detail"]["path"], e["detail"]["status"]) for e in entries}
    assert (installer.alias, "GET", "/setup", 200) in seen
    assert (installer.alias, "GET", "/static/common.js", 200) in seen
    assert (installer.alias, "POST", "/api/auth/logout", 200) in seen
    assert (owner.alias, "GET", "/api/live", 200) in seen
    assert all(set(e["detail"]) == {"method", "path", "status", "command"} for e in entries)  # no bodies
    assert not any(e["detail"]["status"] == 410 for e in entries)  # refused at the portal: not sent


def _once_online(ask):  # type: ignore[no-untyped-def]
    """``ask()`` again while the portal says the edge is offline (its first long poll is on its way)."""
    for _ in range(200):
        got = ask()
        if got.status_code != 502 or 'data-reason="offline"' not in got.text:
            return got
        threading.Event().wait(0.05)
    raise AssertionError("the edge never polled")


def _wait_done(acc, site: str, cid: int) -> dict:  # type: ignore[no-untyped-def]
    for _ in range(200):
        got = acc.http.get(f"/api/v1/sites/{site}/maintenance/commands/{cid}").json()
        if got["state"] in ("done", "failed"):
            assert got["state"] == "done", got
            return got["result"]
        threading.Event().wait(0.05)
    raise AssertionError("the edge did not answer")


def test_the_edge_answer_is_filtered_and_its_paths_stay_under_the_prefix() -> None:
    from starlette.requests import Request

    from wattwerk.portal.tunnel import _response

    request = Request(
        {"type": "http", "method": "GET", "headers": [], "path_params": {}, "query_string": b""}
    )

    def answer(location: str, **extra: object) -> object:
        headers = [["Location", location], ["Set-Cookie", "ww_session=x"], ["X-Other", "1"]]
        return _response(request, "/sites/s1/edge", {"status": 303, "headers": headers, "body": "", **extra})

    moved = answer("/login?next=/setup")
    assert moved.headers["location"] == "/sites/s1/edge/login?next=/setup"
    assert "set-cookie" not in moved.headers and "x-other" not in moved.headers
    assert moved.headers["cache-control"] == "no-store"
    assert answer("login").headers["location"] == "login"  # relative: under the prefix anyway
    for elsewhere in ("https://evil.example/", "//evil.example/", "/\\evil.example", "\t//evil.example"):
        assert "location" not in answer(elsewhere).headers, elsewhere
    assert answer("/", body="not base64!").status_code == 502
    assert answer("/", status=700).status_code == 502


class SlowLogs:
    """A handler whose ``logs`` waits until released; every other kind answers at once."""

    def __init__(self) -> None:
        self.release = threading.Event()

    async def __call__(self, kind: str, payload: dict) -> object:
        while kind == "logs" and not self.release.is_set():
            await asyncio.sleep(0.05)
        return {"kind": kind}


def test_a_slow_command_does_not_hold_up_the_next_ones(portal: Portal) -> None:  # noqa: F811
    owner, installer = account(portal), account(portal)
    site = new_site(owner)
    grant = {"installer": installer.alias, "hours": 1}
    assert owner.http.post(f"/api/v1/sites/{site}/maintenance", json=grant).status_code == 201
    commands = f"/api/v1/sites/{site}/maintenance/commands"
    handler = SlowLogs()
    with Polling(handler, portal.url, edge_token(owner, site)):
        slow = installer.http.post(commands, json={"kind": "logs"}).json()["id"]
        for _ in range(200):  # until the edge has it
            if installer.http.get(f"{commands}/{slow}").json()["state"] == "sent":
                break
            threading.Event().wait(0.05)
        fast = installer.http.post(commands, json={"kind": "status"}).json()["id"]
        assert _wait_done(installer, site, fast) == {"kind": "status"}  # answered beside the slow one
        assert installer.http.get(f"{commands}/{slow}").json()["state"] == "sent"
        handler.release.set()
        assert _wait_done(installer, site, slow) == {"kind": "logs"}
