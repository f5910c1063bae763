"""The endpoints for loggers already in the field, against the real ``wattwerk portal`` on both
backends (issue 15, finding 13): volkszaehler writes need the site's edge token; a Flukso body
signed for one sensor is worthless for its sibling; unknown and foreign sensors answer alike."""

from __future__ import annotations

import json
import time
import uuid

import httpx

from security.portal_process import PortalProcess, backend, portal  # noqa: F401
from wattwerk.portal import db, secretbox
from wattwerk.portal.compat import digest

NOW = int(time.time())


def flukso(portal: PortalProcess, sensor: str, body: bytes, key: str) -> httpx.Response:  # noqa: F811
    return httpx.post(f"{portal.url}/sensor/{sensor}", content=body, timeout=60,
                      headers={"X-Version": "1.0", "X-Digest": digest(key, body),
                               "Content-Type": "application/json"})


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
    unknown = httpx.post(f"{portal.url}/middleware.php/data/{uuid.uuid4()}.json", json=tuples,
                         auth=("vz", token_b), timeout=60)
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
    stolen = httpx.post(f"{portal.url}/sensor/{sibling}", content=body, timeout=60, headers={
        "X-Version": "1.0", "X-Digest": signed.request.headers["X-Digest"]})
    assert stolen.status_code == 404  # the first sensor's signature does not fit its sibling
    unknown = flukso(portal, uuid.uuid4().hex, body, key)
    assert unknown.status_code == stolen.status_code == 404
    assert unknown.json()["exception"]["type"] == stolen.json()["exception"]["type"]
