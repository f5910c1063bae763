"""Legacy logger endpoints: mySmartGrid/Flukso sensor and device API, volkszaehler middleware."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from test_ingest_support import PortalDb, database, portal_rows, serve_portal  # noqa: F401
from wattwerk.portal import db
from wattwerk.portal.compat import digest

pytestmark = pytest.mark.postgres

DEVICE = "52709939-4183-472e-a3bb-78d944da9937"
SENSOR = "4b4f5c2a-0c7e-4f1b-9d41-1f2d3c4b5a69"
KEY = "57c56da4-5932-497c-bd80-6cb210c1a2b3"
VZ_UUID = "0b9c1a4e-7d6f-11e2-8b3a-0800200c9a66"
NOW = int(time.time())


def as_json(value: object) -> object:
    """A JSON column as read back: parsed by psycopg (jsonb), text on SQLite."""
    return json.loads(value) if isinstance(value, str) else value


def test_hmac_test_vector() -> None:
    assert digest("secret", b"Test") == "fdaa1009d29b3de5e4fa6b0f31226ead23e34c25"


def msg_post(url: str, body: bytes, key: str, **headers: str) -> httpx.Response:
    h = {"X-Version": "1.0", "X-Digest": digest(key, body), "Content-Type": "application/json"}
    h.update(headers)
    return httpx.post(url, content=body, headers=h)


def test_mysmartgrid_device_and_sensor(database: PortalDb) -> None:  # noqa: F811
    with database.connect() as conn:
        db.register_flukso_device(conn, "home", DEVICE, KEY)
        db.register_flukso_sensor(conn, "home", SENSOR, "meter.energy_import", device_id=DEVICE)
    with serve_portal(database) as portal:
        dev_url = f"{portal.url}/device/{DEVICE.replace('-', '')}"
        reg = json.dumps({"key": KEY}).encode()
        r = msg_post(dev_url, reg, KEY)
        assert r.status_code == 200 and r.json()["upgrade"] == 0
        beat = json.dumps(
            {
                "memtotal": 128,
                "version": "1.0.0",
                "memcached": 128,
                "membuffers": 12,
                "memfree": 1,
                "uptime": 1,
                "reset": 1,
            }
        ).encode()
        assert msg_post(dev_url, beat, KEY).status_code == 200
        assert msg_post(dev_url, beat, "wrong-key").status_code == 404  # as for an unknown device

        sensor_url = f"{portal.url}/sensor/{SENSOR.replace('-', '')}"
        skey = db.sensor_key(KEY, SENSOR)  # a sensor without a key of its own: derived for it alone
        cfg = json.dumps({"config": {"device": DEVICE, "function": "Haushalt", "enable": 1}}).encode()
        assert msg_post(sensor_url, cfg, skey).status_code == 200
        body = json.dumps({"measurements": [[NOW - 120, 1000], [NOW - 60, 1012], [NOW, 1025]]}).encode()
        first = msg_post(sensor_url, body, skey)
        assert first.status_code == 200 and first.json()["stored"] == 3
        again = msg_post(sensor_url, body, skey)  # vzlogger resends its buffer after a lost answer
        assert again.status_code == 200 and again.json()["stored"] == 0

        bad_digest = httpx.post(sensor_url, content=body, headers={"X-Version": "1.0", "X-Digest": "00" * 20})
        assert bad_digest.status_code == 404 and bad_digest.json()["exception"]["type"] == "UnknownSensor"
        assert msg_post(sensor_url, body, skey, **{"X-Version": "2.0"}).status_code == 400
        unknown = msg_post(f"{portal.url}/sensor/{'ab' * 16}", body, skey)
        assert unknown.status_code == 404 and "not registered" in unknown.json()["exception"]["message"]
        mixed = json.dumps({"measurements": [[NOW + 86_400, 1], [NOW + 1, "x"], [NOW + 1, 1030]]}).encode()
        r = msg_post(sensor_url, mixed, skey)
        assert r.status_code == 200 and r.json()["stored"] == 1 and len(r.json()["rejected"]) == 2
    with database.connect() as conn:
        registered, heartbeat = conn.execute("SELECT registered, heartbeat FROM compat_devices").fetchone()
        config = conn.execute("SELECT config FROM compat_sensors").fetchone()[0]
    assert bool(registered) is True and as_json(heartbeat)["memtotal"] == 128
    assert as_json(config)["function"] == "Haushalt"
    rows = portal_rows(database, "home")
    assert [(r[2], r[3], r[4]) for r in rows] == [
        ("meter.energy_import", (NOW - 120) * 1000, 1000.0),
        ("meter.energy_import", (NOW - 60) * 1000, 1012.0),
        ("meter.energy_import", NOW * 1000, 1025.0),
        ("meter.energy_import", (NOW + 1) * 1000, 1030.0),
    ]


def test_volkszaehler_middleware(database: PortalDb) -> None:  # noqa: F811
    with database.connect() as conn:
        db.register_vz_channel(conn, "home", VZ_UUID, "grid.power")
        token = db.pair_site(conn, "home")
    now_ms = NOW * 1000
    with serve_portal(database) as portal:
        url = f"{portal.url}/middleware.php/data/{VZ_UUID}.json"
        tuples = [[now_ms - 2000, 230.5], [now_ms - 1000, 231.0]]
        assert httpx.post(url, json=tuples).status_code == 401  # writes need the site's edge token
        vz = httpx.Client(auth=("vzlogger", token))  # HTTP Basic, as vzlogger sends user:token@ of its URL
        r = vz.post(url, json=tuples)
        assert r.status_code == 200 and r.json() == {"version": "0.3", "rows": 2}
        assert vz.post(url, json=tuples).json()["rows"] == 2  # resent: accepted, not duplicated
        r = vz.post(url, params={"ts": now_ms, "value": 232})
        assert r.status_code == 200 and r.json()["rows"] == 1
        r = vz.post(url, json=[[now_ms + 500, "NaN"], [now_ms + 600, 233.0], ["x", 1]])
        assert r.status_code == 200 and r.json()["rows"] == 1 and len(r.json()["rejected"]) == 2
        huge = b"[[" + str(now_ms).encode() + b", 1" + b"0" * 400 + b"], [1" + b"0" * 400 + b", 1]]"
        r = vz.post(url, content=huge, headers={"Content-Type": "application/json"})
        assert r.status_code == 200 and r.json()["rows"] == 0 and len(r.json()["rejected"]) == 2
        r = vz.post(f"{portal.url}/middleware.php/data/{'0' * 8}-0000-0000-0000-{'0' * 12}.json", json=tuples)
        assert r.status_code == 404 and r.json()["exception"]["type"] == "EntityException"
        r = vz.post(url, content=b"[[1,", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["version"] == "0.3"
    rows = portal_rows(database, "home")
    assert [(r[2], r[3], r[4]) for r in rows] == [
        ("grid.power", now_ms - 2000, 230.5),
        ("grid.power", now_ms - 1000, 231.0),
        ("grid.power", now_ms, 232.0),
        ("grid.power", now_ms + 600, 233.0),
    ]
