"""Endpoints for loggers already in the field, so owners keep what they have.

* mySmartGrid / Flukso sensor API (as vzlogger's ``MySmartGrid`` api and the old devices send
  it): ``POST /sensor/<id>`` with ``{"measurements": [[unix_ts, counter], ...]}`` (or
  ``{"config": {...}}``), ``POST /device/<id>`` with ``{"key": ...}`` (registration) or a
  heartbeat (``memtotal``, ``version``, ``uptime``, ...). Every request carries
  ``X-Version: 1.0`` and ``X-Digest``: the hex HMAC-SHA1 of the raw body keyed with the
  sensor's (else its device's) secret. Errors answer ``{"exception": {"type", "message"}}``,
  which vzlogger logs.
  A sensor without a key of its own signs with a key derived from its device's for it alone,
  :func:`wattwerk.portal.db.sensor_key` (``hex HMAC-SHA1(device key, sensor id)``; put it in
  the logger's channel ``secretKey``), so a body signed for one sensor is worthless for its
  siblings. An unknown sensor and a wrong digest answer the same 404 (no probing which exist).
* volkszaehler middleware: ``POST /middleware.php/data/<uuid>.json`` with
  ``[[ts_ms, value], ...]`` (vzlogger's format) or ``?ts=..&value=..``; answer
  ``{"version": "0.3", "rows": n}``. Writes need the site's edge token, as
  ``Authorization: Bearer <token>`` or HTTP Basic with the token as password (vzlogger: put
  ``user:<token>@`` in the middleware URL); an unknown and another site's UUID both answer 404.

Each sensor or vz channel is its own sequence source whose seq is the reading's ts_ms, so a
logger resending a buffer after a lost answer never duplicates a reading.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from wattwerk.errors import InputLedger
from wattwerk.portal import hardening
from wattwerk.portal.database import utcnow
from wattwerk.portal.db import Registry, compat_id, sensor_key
from wattwerk.portal.ingest import MIN_TS_MS, IngestConfig
from wattwerk.portal.readings import ReadingStore
from wattwerk.portal.secretbox import SecretBox

VZ_VERSION = "0.3"


def digest(key: str | bytes, body: bytes) -> str:
    """The X-Digest of a body: hex HMAC-SHA1 keyed with the shared secret."""
    raw = key.encode() if isinstance(key, str) else key
    return hmac.new(raw, body, hashlib.sha1).hexdigest()


def _msg_error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"exception": {"type": kind, "message": message}}, status_code=status)


def _vz_error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"version": VZ_VERSION, "exception": {"type": kind, "message": message}}, status_code=status
    )


def _finite(x: Any) -> bool:
    """A finite number that fits a float (JSON integers can be of any size)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


def check_pairs(
    pairs: Any, ts_scale: int, now_ms: int, config: IngestConfig
) -> tuple[list[tuple[int, float]], list[str]]:
    """Validate ``[[ts, value], ...]``; return (ts_ms, value) rows and the reasons for rejects."""
    if not isinstance(pairs, list):
        raise ValueError("expected a list of [timestamp, value] pairs")
    rows: list[tuple[int, float]] = []
    errors: list[str] = []
    limit = now_ms + config.future_ms
    for pair in pairs:
        if not isinstance(pair, list) or len(pair) != 2:
            errors.append(f"{pair!r:.60} is not [timestamp, value]")
            continue
        ts, value = pair
        if not _finite(ts):
            errors.append(f"timestamp {ts!r:.40} is not a number")
            continue
        if not _finite(value):
            errors.append(f"value {value!r:.40} is not a finite number")
            continue
        ts_ms = round(ts * ts_scale)
        if ts_ms > limit:
            errors.append(f"timestamp {ts} is in the future")
            continue
        if ts_ms < MIN_TS_MS:
            errors.append(f"timestamp {ts} is before 2000")
            continue
        rows.append((ts_ms, float(value)))
    return rows, errors


def _loads(body: bytes) -> Any:
    """JSON of a legacy body; ValueError for bad syntax or too deep a nesting."""
    return hardening.loads(body)


def _token(request: Request) -> str | None:
    """The edge token of a request: ``Bearer <token>`` or HTTP Basic with it as the password."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic":
        try:
            _user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return password or None
    return None


class Compat:
    """State shared by the legacy endpoints."""

    def __init__(
        self, store: ReadingStore, config: IngestConfig | None = None, box: SecretBox | None = None
    ) -> None:
        self.store = store
        self.config = config or IngestConfig()
        self.ledger = InputLedger()
        self.box = box
        self.registry: Registry | None = None  # set by the app: edge tokens for volkszaehler writes

    def _key(self, stored: str) -> str:
        return self.box.open(stored) or "" if self.box is not None else stored

    async def _store(self, edge_id: int, channel_id: int, rows: list[tuple[int, float]]) -> int:
        return await self.store.insert_readings([(edge_id, ts, channel_id, ts, v) for ts, v in rows])

    def _check_version(self, request: Request, who: str) -> Response | None:
        if request.headers.get("x-version") != "1.0":
            self.ledger.record(who, "version", f"{who}: X-Version {request.headers.get('x-version')!r:.40}")
            return _msg_error(400, "VersionError", "X-Version must be 1.0")
        return None

    def _digest_ok(self, request: Request, who: str, key: str, body: bytes) -> bool:
        sent = request.headers.get("x-digest", "").strip().lower()
        if not hmac.compare_digest(sent.encode(), digest(key, body).encode()):
            self.ledger.record(who, "digest", f"{who}: X-Digest does not match the body")
            return False
        return True

    async def sensor(self, sensor_id: str, request: Request) -> Response:
        sid = compat_id(sensor_id)
        who = f"sensor {sid[:64]}"
        if (bad := self._check_version(request, who)) is not None:
            return bad
        async with self.store.db.connection() as conn:
            cur = await conn.execute(
                "SELECT s.hmac_key, d.hmac_key, s.channel_id, s.edge_id FROM compat_sensors s "
                "LEFT JOIN compat_devices d ON d.id = s.device_id WHERE s.id = %s",
                (sid,),
            )
            row = await cur.fetchone()
        body = await request.body()
        if row is not None and (row[0] or row[1]):
            own, device_key, channel_id, edge_id = row
            key = self._key(own) if own else sensor_key(self._key(device_key), sid)
        if row is None or not (row[0] or row[1]) or not self._digest_ok(request, who, key, body):
            return _msg_error(
                404,
                "UnknownSensor",
                f"sensor {sid[:64]} is not registered (or the X-Digest is not this sensor's)",
            )
        try:
            doc = _loads(body)
        except ValueError as exc:
            self.ledger.record(who, "syntax", f"{who}: body is not JSON: {exc}")
            return _msg_error(400, "SyntaxError", f"body is not JSON: {exc}")
        if isinstance(doc, dict) and "config" in doc:
            async with self.store.db.connection() as conn:
                await conn.execute(
                    "UPDATE compat_sensors SET config = %s WHERE id = %s", (conn.json(doc["config"]), sid)
                )
            return JSONResponse({"response": "ok"})
        if not isinstance(doc, dict) or "measurements" not in doc:
            return _msg_error(400, "SyntaxError", 'expected {"measurements": [[timestamp, value], ...]}')
        try:
            rows, errors = check_pairs(doc["measurements"], 1000, int(time.time() * 1000), self.config)
        except ValueError as exc:
            return _msg_error(400, "SyntaxError", str(exc))
        for err in errors:
            self.ledger.record(who, "measurement", f"{who}: {err}")
        stored = await self._store(edge_id, channel_id, rows)
        return JSONResponse({"response": "ok", "stored": stored, "rejected": errors})

    async def device(self, device_id: str, request: Request) -> Response:
        did = compat_id(device_id)
        async with self.store.db.connection() as conn:
            cur = await conn.execute("SELECT hmac_key FROM compat_devices WHERE id = %s", (did,))
            row = await cur.fetchone()
        who = f"device {did[:64]}"
        body = await request.body()
        if (bad := self._check_version(request, who)) is not None:
            return bad
        key = self._key(row[0]) if row is not None else ""
        if row is None or not self._digest_ok(request, who, key, body):
            return _msg_error(
                404,
                "UnknownDevice",
                f"device {did[:64]} is not known to this portal (or the X-Digest is not this device's)",
            )
        try:
            doc = _loads(body)
        except ValueError as exc:
            return _msg_error(400, "SyntaxError", f"body is not JSON: {exc}")
        if not isinstance(doc, dict):
            return _msg_error(400, "SyntaxError", "expected a JSON object")
        async with self.store.db.connection() as conn:
            if "key" in doc:  # registration: the device proves it holds the key it was provisioned with
                if not hmac.compare_digest(str(doc["key"]).encode(), key.encode()):
                    return _msg_error(403, "KeyError", "registration key does not match")
                await conn.execute(
                    "UPDATE compat_devices SET registered = true, last_seen = %s WHERE id = %s",
                    (utcnow(), did),
                )
            else:  # heartbeat
                await conn.execute(
                    "UPDATE compat_devices SET last_seen = %s, heartbeat = %s WHERE id = %s",
                    (utcnow(), conn.json(doc), did),
                )
        return JSONResponse({"upgrade": 0, "timestamp": int(time.time())})

    async def vz_data(self, uuid: str, request: Request) -> Response:
        uuid = uuid.lower()[:64]
        token = _token(request)
        site = await self.registry.site_for_token(token) if token and self.registry is not None else None
        if site is None:
            return JSONResponse(
                {
                    "version": VZ_VERSION,
                    "exception": {
                        "type": "AuthenticationException",
                        "message": "missing, unknown or revoked edge token",
                    },
                },
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="wattwerk", charset="UTF-8"'},
            )
        async with self.store.db.connection() as conn:
            cur = await conn.execute(
                "SELECT v.channel_id, v.edge_id FROM vz_channels v JOIN channels c ON c.id = v.channel_id "
                "WHERE v.uuid = %s AND c.site_id = %s",
                (uuid, site.site_id),
            )
            row = await cur.fetchone()
        if row is None:  # unknown, or another site's: the same answer
            return _vz_error(404, "EntityException", f"no channel with uuid {uuid}")
        channel_id, edge_id = row
        body = await request.body()
        who = f"vz {uuid}"
        try:
            if body.strip():
                pairs = _loads(body)
            else:
                q = request.query_params
                ts = float(q["ts"]) if "ts" in q else time.time() * 1000
                pairs = [[ts, float(q["value"])]]
        except (ValueError, KeyError, OverflowError) as exc:
            self.ledger.record(who, "syntax", f"{who}: {str(exc)[:200]}")
            return _vz_error(400, "Exception", f"bad data: {str(exc)[:200]}")
        try:
            rows, errors = check_pairs(pairs, 1, int(time.time() * 1000), self.config)
        except ValueError as exc:
            return _vz_error(400, "Exception", str(exc))
        for err in errors:
            self.ledger.record(who, "tuple", f"{who}: {err}")
        await self._store(edge_id, channel_id, rows)
        out: dict[str, Any] = {"version": VZ_VERSION, "rows": len(rows)}
        if errors:
            out["rejected"] = errors
        return JSONResponse(out)


def router(compat: Compat) -> APIRouter:
    r = APIRouter()

    @r.post("/sensor/{sensor_id}")
    async def sensor(sensor_id: str, request: Request) -> Response:
        """mySmartGrid/Flukso sensor measurements or configuration."""
        return await compat.sensor(sensor_id, request)

    @r.post("/device/{device_id}")
    async def device(device_id: str, request: Request) -> Response:
        """mySmartGrid/Flukso device registration or heartbeat."""
        return await compat.device(device_id, request)

    @r.post("/middleware.php/data/{uuid}.json")
    async def vz_data(uuid: str, request: Request) -> Response:
        """volkszaehler middleware: add tuples to a channel."""
        return await compat.vz_data(uuid, request)

    return r
