"""The owner's controls from the portal, with ``wattwerk portal`` and ``wattwerk run`` as processes:
the owner (and an installer with a role on the site) sends a charge mode, a plan and a battery mode;
the command travels over the edge's own outbound channel, the edge applies and stores it and the
portal shows its answer; a viewer may not; with the edge stopped the portal says it is offline and
sends nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from portal_fixtures import Portal, account, edge_token, new_site
from security.portal_process import fresh_db, portal_process
from test_maintenance_e2e import _stop, _wait_for
from wattwerk.portal.database import SQLITE

SITE = """\
version: 1
site:
  name: Controlled house
  location: {{latitude: 48.0, longitude: 7.8}}
  timezone: Europe/Berlin
devices:
  - id: grid
    role: grid_meter
    catalog: sunspec-meter-int
    connection: {{type: modbus_tcp, host: 127.0.0.1, port: {dead}}}
  - id: wb
    role: ev_charger
    connection: {{type: ocpp, charge_point_id: CP-PORTAL, port: {ocpp}}}
    limits: {{min_current_a: 6, max_current_a: 16}}
store:
  data_dir: {data}
portal:
  url: {url}
  token: {token}
  site: {site}
  edge_id: edge-1
"""


def start_edge(template: str, tmp_path: Path, url: str, token: str, site: str) -> subprocess.Popen[bytes]:
    """``wattwerk run --no-web`` on the site file ``template`` makes for this portal site: its charger
    on a free OCPP port, its grid meter on a port nobody serves."""
    from security.edge_processes import free_port

    site_file = tmp_path / "site.yaml"
    site_file.write_text(
        template.format(
            data=tmp_path / "edge", url=url, token=token, site=site, ocpp=free_port(), dead=free_port()
        )
    )
    return subprocess.Popen(
        [sys.executable, "-m", "wattwerk", "run", str(site_file), "--no-web"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_the_owners_command_reaches_the_edge_and_is_confirmed(tmp_path: Path) -> None:

    edge_proc = None
    with fresh_db(SQLITE, tmp_path) as db, portal_process(db, tmp_path / "portal") as running:
        url = running.url
        try:
            portal = Portal(url, None, None)  # type: ignore[arg-type]
            owner, installer, viewer = account(portal), account(portal), account(portal)
            site = new_site(owner)
            for who, role in ((installer, "installer"), (viewer, "viewer")):
                r = owner.http.put(f"/api/v1/sites/{site}/grants/{who.alias}", json={"role": role})
                assert r.status_code in (200, 201), r.text
            send = f"/api/v1/sites/{site}/owner/wb"

            never = owner.http.post(send, json={"mode": "now"})  # no edge has ever connected
            assert never.status_code == 409 and "the edge is offline" in never.json()["detail"]

            edge_proc = start_edge(SITE, tmp_path, url, edge_token(owner, site), site)
            first = _wait_for(
                lambda: (r := owner.http.post(send, json={"mode": "now"})).status_code == 200 and r,
                90,
                "the edge online",
                edge_proc,
            )
            done = first.json()  # type: ignore[union-attr]
            assert done["state"] == "done" and done["result"]["mode"] == "now", done

            plan = {"plan": {"energy_kwh": 30, "departure": "06:30", "days": ["mon", "tue"]}, "mode": "pv"}
            done = installer.http.post(send, json=plan).json()
            assert done["state"] == "done", done
            assert done["result"]["mode"] == "pv" and done["result"]["settings"]["plan"]["energy_kwh"] == 30.0
            assert done["result"]["departure"] is not None

            bad = owner.http.post(send, json={"mode": "turbo"}).json()
            assert bad["state"] == "failed" and "mode: Input should be" in bad["result"]["error"]
            assert viewer.http.post(send, json={"mode": "off"}).status_code == 403
            again = owner.http.get(f"/api/v1/sites/{site}/owner/commands/{done['id']}").json()
            assert again["state"] == "done" and again["device"] == "wb"

            stored = json.loads((tmp_path / "edge" / "owner.json").read_text())["devices"]["wb"]
            assert stored["mode"] == "pv" and stored["plan"]["departure"] == "06:30"
            audit = [(e["actor"], e["action"]) for e in owner.http.get(f"/api/v1/sites/{site}/audit").json()]
            assert audit.count((installer.alias, "owner.command")) == 1
            assert audit.count(("edge", "owner.result")) == 3

            _stop(edge_proc)
            edge_proc = None
            gone = _wait_for(
                lambda: (r := owner.http.post(send, json={"mode": "off"})).status_code == 409 and r,
                90,  # its last 25-s long poll plus grace
                "the portal sees the edge gone",
                running.proc,
            )
            assert "offline (last contact" in gone.json()["detail"]  # type: ignore[union-attr]
            stored = json.loads((tmp_path / "edge" / "owner.json").read_text())["devices"]["wb"]
            assert stored["mode"] == "pv"  # nothing was sent, nothing waits for the edge
        finally:
            if edge_proc is not None:
                _stop(edge_proc)
