"""The endpoints for loggers already in the field, against the real ``wattwerk portal`` on both
backends (issue 15, finding 13): volkszaehler writes need the site's edge token; a Flukso body
signed for one sensor is worthless for its sibling; unknown and foreign sensors answer alike."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pyotp
from argon2 import PasswordHasher

from security.portal_process import PASSWORD, PortalProcess, backend, portal, portal_process  # noqa: F401
from test_ingest_support import PortalDb
from wattwerk.portal import db, secretbox
from wattwerk.portal.compat import digest
from wattwerk.portal.migrations import migrate

NOW = int(time.time())


def flukso(portal: PortalProcess, sensor: str, body: bytes, key: str) -> httpx.Response:  # noqa: F811
    return httpx.post(
        f"{portal.url}/sensor/{sensor}",
        content=body,
        timeout=60,
        headers={"X-Version": "1.0", "X-Digest": digest(key, body), "Content-Type": "application/json"},
    )


def test_volkszaehler_writes_need_the_sites_token(portal: PortalProcess) -> None:  # noqa: F811
    _a, site_a, token_a = portal.owner_with_site()
    _b, _site_b, token_b = portal.owner_with_site()
    vz = str(uuid.uuid4())
    with portal.db.connect() as conn:
        db.register_vz_channel(conn, site_a, vz, "grid.power")
    url = f"{portal.url}/middleware.php/data/{vz}.json"
    tuples = [[NOW * 1000 - 1000, 230.0]]
    anonymous = httpx.post(url, json=tuples, timeout=60)
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
    foreign = httpx.post(url, json=tuples, auth=("vz", token_b), timeout=60)
    unknown = httpx.post(
        f"{portal.url}/middleware.php/data/{uuid.uuid4()}.json", json=tuples, auth=("vz", token_b), timeout=60
    )
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["exception"]["type"] == unknown.json()["exception"]["type"]
    own = httpx.post(url, json=tuples, auth=("vzlogger", token_a), timeout=60)
    assert own.status_code == 200 and own.json()["rows"] == 1, own.text
    bearer = httpx.post(url, json=[[NOW * 1000, 231.0]], headers={"Authorization": f"Bearer {token_a}"})
    assert bearer.status_code == 200


def test_flukso_digests_are_bound_to_the_sensor(portal: PortalProcess) -> None:  # noqa: F811
    _a, site, _token = portal.owner_with_site()
    device, key = uuid.uuid4().hex, uuid.uuid4().hex
    first, sibling = uuid.uuid4().hex, uuid.uuid4().hex
    box = secretbox.load_or_create(portal.data_dir / "portal.key")  # the running portal's key
    with portal.db.connect() as conn:
        db.register_flukso_device(conn, site, device, key, box=box)
        db.register_flukso_sensor(conn, site, first, "meter.energy_import", device_id=device, box=box)
        db.register_flukso_sensor(conn, site, sibling, "heat.energy_import", device_id=device, box=box)
        stored = conn.execute("SELECT hmac_key FROM compat_devices WHERE id = %s", (device,)).fetchone()[0]
    assert key not in stored  # sealed at rest
    body = json.dumps({"measurements": [[NOW - 60, 1000], [NOW, 1012]]}).encode()
    replayed = flukso(portal, sibling, body, key)  # the device's key signs for no sensor
    assert replayed.status_code == 404, replayed.text
    signed = flukso(portal, first, body, db.sensor_key(key, first))
    assert signed.status_code == 200 and signed.json()["stored"] == 2, signed.text
    stolen = httpx.post(
        f"{portal.url}/sensor/{sibling}",
        content=body,
        timeout=60,
        headers={"X-Version": "1.0", "X-Digest": signed.request.headers["X-Digest"]},
    )
    assert stolen.status_code == 404  # the first sensor's signature does not fit its sibling
    unknown = flukso(portal, uuid.uuid4().hex, body, key)
    assert unknown.status_code == stolen.status_code == 404
    assert unknown.json()["exception"]["type"] == stolen.json()["exception"]["type"]


def test_secrets_stored_before_encryption_are_sealed_at_start(backend: PortalDb, tmp_path: Path) -> None:  # noqa: F811
    """Finding 10: TOTP secrets and Flukso keys were plain text; rows from before are sealed by
    the first start with a server key, and keep working."""
    migrate(backend.url, backend.schema)
    secret, key, device = pyotp.random_base32(), uuid.uuid4().hex, uuid.uuid4().hex
    with backend.connect() as conn:  # as an older portal left them
        db.create_site(conn, "old")
        conn.execute(
            "INSERT INTO accounts (alias, password_hash, totp_secret) VALUES (%s, %s, %s)",
            ("oldtimer", PasswordHasher().hash(PASSWORD), secret),
        )
        db.register_flukso_device(conn, "old", device, key)
    with portal_process(backend, tmp_path / "data") as running:
        with backend.connect() as conn:
            totp = conn.execute("SELECT totp_secret FROM accounts WHERE alias = 'oldtimer'").fetchone()[0]
            stored = conn.execute("SELECT hmac_key FROM compat_devices").fetchone()[0]
        assert totp.startswith("fernet:") and secret not in totp
        assert stored.startswith("fernet:") and key not in stored
        running.sign_in("oldtimer", totp=pyotp.TOTP(secret).now()).close()
        beat = json.dumps({"uptime": 1}).encode()
        r = httpx.post(
            f"{running.url}/device/{device}",
            content=beat,
            timeout=60,
            headers={"X-Version": "1.0", "X-Digest": digest(key, beat)},
        )
        assert r.status_code == 200, r.text
