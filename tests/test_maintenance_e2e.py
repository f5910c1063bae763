"""Maintenance end to end, started the way the docs tell a user: ``wattwerk portal`` and ``wattwerk run
site.yaml`` as processes. The owner grants an installer maintenance, the installer queues commands in
the portal, the running edge collects them over its own connection (``edge.assembly`` wires the
maintenance client), executes them against itself and answers; every step is in the owner's audit log."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from unittest.mock import ANY

import httpx

from portal_fixtures import Portal, account, edge_token, new_site
from security.portal_process import fresh_db, portal_process
from wattwerk.edge.auth import EdgeAuth
from wattwerk.edge.maintenance_client import EX_RESTART
from wattwerk.portal.database import SQLITE

SITE = """\
version: 1
site:
  name: Maintained house
  location: {{latitude: 48.0, longitude: 7.8}}
  timezone: Europe/Berlin
devices: []
store:
  data_dir: {data}
portal:
  url: {url}
  token: {token}
  site: {site}
  edge_id: edge-1
"""


def _wait_for(check: object, seconds: float, what: str, proc: subprocess.Popen[bytes]) -> object:
    """Poll ``check()`` until it answers something truthy; a process that died fails with its stderr."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise AssertionError(f"{what}: the process ended: {err}")
        try:
            found = check()  # type: ignore[operator]
        except httpx.HTTPError:
            found = None
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what}: nothing within {seconds} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def test_a_queued_command_is_run_by_the_edge_process_and_audited(tmp_path: Path) -> None:
    edge_proc = None
    with fresh_db(SQLITE, tmp_path) as db, portal_process(db, tmp_path / "portal") as running:
        url = running.url
        try:
            portal = Portal(url, None, None)  # type: ignore[arg-type]  # only its url and clients are used
            owner, installer = account(portal), account(portal)
            site = new_site(owner)
            token = edge_token(owner, site)
            site_file = tmp_path / "site.yaml"
            site_file.write_text(SITE.format(data=tmp_path / "edge", url=url, token=token, site=site))
            EdgeAuth(tmp_path / "edge").set_password(
                "an edge admin password"
            )  # installed: its wizard is done
            edge_proc = subprocess.Popen(
                [sys.executable, "-m", "wattwerk", "run", str(site_file), "--no-web"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )

            grant = {"installer": installer.alias, "hours": 1}
            g = owner.http.post(f"/api/v1/sites/{site}/maintenance", json=grant)
            assert g.status_code == 201, g.text
            commands = {"status": {}, "set_config": {"control.peak_shaving_w": 9000}, "get_config": {}}
            ids = {}
            for kind, payload in commands.items():
                made = installer.http.post(
                    f"/api/v1/sites/{site}/maintenance/commands", json={"kind": kind, "payload": payload}
                )
                assert made.status_code == 201, made.text
                ids[kind] = made.json()["id"]

            def finished() -> dict[str, dict] | None:
                out = {
                    k: installer.http.get(f"/api/v1/sites/{site}/maintenance/commands/{i}").json()
                    for k, i in ids.items()
                }
                return out if all(c["state"] in ("done", "failed") for c in out.values()) else None

            done = _wait_for(finished, 90, "the edge's answers", edge_proc)
            assert isinstance(done, dict)
            assert all(c["state"] == "done" for c in done.values()), done
            status = done["status"]["result"]
            assert status["site"] == "Maintained house" and status["read_only"] is False
            assert done["set_config"]["result"]["restart_needed"] is True
            assert "peak_shaving_w: 9000" in site_file.read_text()  # written into the site file, validated
            config = done["get_config"]["result"]
            assert config["site"]["name"] == "Maintained house"
            assert config["portal"]["token"] != token  # secrets never leave the edge

            audit = [(e["actor"], e["action"]) for e in owner.http.get(f"/api/v1/sites/{site}/audit").json()]
            assert audit.count((installer.alias, "maintenance.command")) == 3
            assert audit.count(("edge", "maintenance.delivered")) == 3
            assert audit.count(("edge", "maintenance.result")) == 3

            # the tunnel: the edge's own setup page through the portal (the edge serves no port: --no-web)
            base = f"/sites/{site}/edge"
            setup = installer.http.get(base + "/setup", headers={"Accept": "text/html"})
            assert setup.status_code == 200, setup.text
            assert 'src="static/setup.js"' in setup.text and setup.headers["cache-control"] == "no-store"
            assert installer.http.get(base + "/static/setup.js").status_code == 200
            catalog = installer.http.get(base + "/api/catalog", params={"q": "sunspec"})
            assert catalog.status_code == 200 and catalog.json()

            # restart: acknowledged first, then the process ends with the code systemd restarts on
            made = installer.http.post(f"/api/v1/sites/{site}/maintenance/commands", json={"kind": "restart"})
            ids["restart"] = made.json()["id"]
            assert edge_proc.wait(60) == EX_RESTART  # it ends only once the portal has its answer:
            restart = installer.http.get(f"/api/v1/sites/{site}/maintenance/commands/{ids['restart']}").json()
            assert restart["state"] == "done"
            assert restart["result"] == {"restarting": True, "exit_code": EX_RESTART}

            # the owner ends the window: the proxied page is gone, with a page that says why
            assert owner.http.delete(f"/api/v1/sites/{site}/maintenance/{g.json()['id']}").status_code == 200
            gone = installer.http.get(base + "/setup", headers={"Accept": "text/html"})
            assert gone.status_code == 410 and "has ended" in gone.text
            entries = owner.http.get(f"/api/v1/sites/{site}/audit").json()
            proxied = [(e["actor"], e["detail"]) for e in entries if e["action"] == "maintenance.proxy"]
            assert (
                installer.alias,
                {"method": "GET", "path": "/setup", "status": 200, "command": ANY},
            ) in proxied
            assert all(
                set(d) == {"method", "path", "status", "command"} for _, d in proxied
            )  # no query, no body
        finally:
            if edge_proc is not None:
                _stop(edge_proc)
