"""Registering old mySmartGrid/Flukso loggers (issue 14): the owner's API on both backends and
``wattwerk portal flukso-register``; the keys they show once sign real Flukso uploads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from portal_fixtures import Portal, account, new_site, portal  # noqa: F401
from test_compat import msg_post
from test_ingest_support import database, serve_portal, sqlite_db  # noqa: F401

NOW = int(time.time())


def measurements(*counts: int) -> bytes:
    return json.dumps(
        {"measurements": [[NOW - 60 * (len(counts) - i), c] for i, c in enumerate(counts)]}
    ).encode()


def test_owner_registers_a_logger_and_its_keys_sign_uploads(portal: Portal) -> None:  # noqa: F811
    owner, other = account(portal), account(portal)
    site, theirs = new_site(owner), new_site(other)
    base = f"/api/v1/sites/{site}/loggers"
    device = "52709939-4183-472e-a3bb-78d944da9937"
    r = owner.http.post(
        base,
        json={
            "device": device,
            "sensors": [{"channel": "grid.energy_import"}, {"channel": "heat.energy_import"}],
        },
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["device"] == device.replace("-", "")
    grid, heat = made["sensors"]
    assert grid["channel"] == "grid.energy_import" and grid["secret"] != heat["secret"]

    with portal.db.connect() as conn:  # stored sealed, never the key as shown
        stored = conn.execute(
            "SELECT hmac_key FROM compat_devices WHERE id = %s", (made["device"],)
        ).fetchone()
    assert stored[0].startswith("fernet:") and made["key"] not in stored[0]

    url = f"{portal.url}/sensor/{grid['sensor']}"
    ok = msg_post(url, measurements(1000, 1012, 1025), grid["secret"])
    assert ok.status_code == 200 and ok.json()["stored"] == 3, ok.text
    assert msg_post(url, measurements(1030), heat["secret"]).status_code == 404  # a sibling's key
    beat = json.dumps({"version": "2.4", "uptime": 5}).encode()
    assert msg_post(f"{portal.url}/device/{made['device']}", beat, made["key"]).status_code == 200

    listed = owner.http.get(base).json()
    assert [d["device"] for d in listed] == [made["device"]] and listed[0]["last_seen"] is not None
    assert {s["channel"] for s in listed[0]["sensors"]} == {"grid.energy_import", "heat.energy_import"}
    assert "key" not in json.dumps(listed) and grid["secret"] not in json.dumps(listed)
    chans = {c["name"] for c in owner.http.get(f"/api/v1/sites/{site}/channels").json()}
    assert "grid.energy_import" in chans
    audit = owner.http.get(f"/api/v1/sites/{site}/audit").json()
    assert any(e["action"] == "logger.register" for e in audit)

    # again: a new key; the old one no longer signs
    again = owner.http.post(
        base,
        json={
            "device": made["device"],
            "sensors": [{"channel": "grid.energy_import", "sensor": grid["sensor"]}],
        },
    )
    assert again.status_code == 201 and again.json()["key"] != made["key"]
    assert msg_post(url, measurements(1040), grid["secret"]).status_code == 404
    assert msg_post(url, measurements(1040), again.json()["sensors"][0]["secret"]).status_code == 200

    # nobody takes over another site's logger, ids and channels are checked, owners only
    taken = other.http.post(
        f"/api/v1/sites/{theirs}/loggers",
        json={"device": made["device"], "sensors": [{"channel": "grid.energy_import"}]},
    )
    assert taken.status_code == 409, taken.text
    bad = owner.http.post(base, json={"sensors": [{"channel": "grid.power", "sensor": "xyz"}]})
    assert bad.status_code == 400 and "32 hex digits" in bad.json()["detail"]
    assert owner.http.post(base, json={"sensors": [{"channel": "grid"}]}).status_code == 400
    assert owner.http.post(base, json={"sensors": []}).status_code == 422
    assert other.http.get(base).status_code == 404
    assert other.http.post(base, json={"sensors": "nonsense"}).status_code == 404  # the site first

    assert owner.http.delete(f"{base}/{made['device']}").status_code == 200
    assert owner.http.get(base).json() == []
    assert msg_post(url, measurements(1050), again.json()["sensors"][0]["secret"]).status_code == 404


def test_flukso_register_command(tmp_path: Path) -> None:
    """The operator's command (a real subprocess): keys printed once, a portal on the same
    database and key file accepts a Flukso upload signed with them."""
    data = tmp_path / "portal"
    env = {**os.environ, "WATTWERK_PORTAL_DB": ""}
    cmd = [sys.executable, "-m", "wattwerk", "portal", "--data-dir", str(data), "flukso-register"]
    done = subprocess.run(
        [*cmd, "--site", "cellar", "--sensor", "meter.energy_import", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    (sensor,) = out["sensors"]
    assert sensor["channel"] == "meter.energy_import" and len(out["key"]) == 32
    refused = subprocess.run(
        [*cmd, "--site", "cellar", "--sensor", "meter.nonsense"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert refused.returncode == 2 and "meter.nonsense" in refused.stderr

    with serve_portal(sqlite_db(data)) as running:
        r = msg_post(f"{running.url}/sensor/{sensor['sensor']}", measurements(5, 7), sensor["secret"])
        assert r.status_code == 200 and r.json()["stored"] == 2, r.text
        assert httpx.get(f"{running.url}/api/v1/health").json()["ok"]
