"""Endpoints for loggers already in the field, so owners keep what they have.

* mySmartGrid / Flukso sensor API (as vzlogger's ``MySmartGrid`` api and the old devices send
  it): ``POST /sensor/<id>`` with ``{"measurements": [[unix_ts, counter], ...]}`` (or
  ``{"config": {...}}``), ``POST /device/<id>`` with ``{"key": ...}`` (registration) or a
  heartbeat (``memtotal``, ``version``, ``uptime``, ...). Every request carries
  ``X-Version: 1.0`` and ``X-Digest``: the hex HMAC-SHA1 of the raw body keyed with the
  sensor's (else its device's) secret. Errors answer ``{"exception": {"type", "message"}}``,
  which vzlogger logs.
* volkszaehler middleware: ``POST /middleware.php/data/<uuid>.json`` with
  ``[[ts_ms, value], ...]`` (vzlogger's format) or ``?ts=..&value=..``; answer
  ``{"version": "0.3", "rows": n}``.

Each sensor or vz channel is its own sequence source whose seq is the reading's ts_ms, so a
logger resending a buffer after a lost answer never duplicates a reading.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from wattwerk.errors import InputLedger
from wattwerk.portal.database import utcnow
from wattwerk.portal.db import compat_id
from wattwerk.portal.ingest import MIN_TS_MS, IngestConfig
from wattwerk.portal.readings import ReadingStore

VZ_VERSION = "0.3"


def digest(key: str | bytes, body: bytes) -> str:
    """The X-Digest of a body: hex HMAC-SHA1 keyed with the shared secret."""
    raw = key.encode() if isinstance(key, str) else key
    return hmac.new(raw, body, hashlib.sha1).hexdigest()


def _msg_error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"exception": {"type": kind, "message": message}}, status_code=status)


def _vz_error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"version": VZ_VERSION, "exception": {"type": kind, "message": message}},
                        status_code=status)


def _finite(x: Any) -> bool:
    """A finite number that fits a float (JSON integers can be of any size)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


def check_pairs(pairs: Any, ts_scale: int, now_ms: int, config: IngestConfig,
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


class Compat:
    """State shared by the legacy endpoints."""

    def __init__(self, store: ReadingStore, config: IngestConfig | None = None) -> None:
        self.store = store
        self.config = config or IngestConfig()
        self.ledger = InputLedger()

    async def _store(self, edge_id: int, channel_id: int, rows: list[tuple[int, float]]) -> int:
        return await self.store.insert_readings([(edge_id, ts, channel_id, ts, v) for ts, v in rows])

    async def _check_msg_headers(self, request: Request, who: str, key: str, body: bytes) -> Response | None:
        if request.headers.get("x-version") != "1.0":
            self.ledger.record(who, "version", f"{who}: X-Version {request.headers.get('x-version')!r}")
            return _msg_error(400, "VersionError", "X-Version must be 1.0")
        sent = request.headers.get("x-digest", "").strip().lower()
        if not hmac.compare_digest(sent, digest(key, body)):
            self.ledger.record(who, "digest", f"{who}: X-Digest does not match the body")
            return _msg_error(403, "DigestError", "X-Digest does not match the body and key")
        return None

    async def sensor(self, sensor_id: str, request: Request) -> Response:
        sid = compat_id(sensor_id)
        async with self.store.db.connection() as conn:
            cur = await conn.execute(
                "SELECT coalesce(s.hmac_key, d.hmac_key), s.channel_id, s.edge_id FROM compat_sensors s "
                "LEFT JOIN compat_devices d ON d.id = s.device_id WHERE s.id = %s", (sid,))
            row = await cur.fetchone()
        if row is None or row[0] is None:
            return _msg_error(404, "UnknownSensor", f"sensor {sid} is not registered")
        key, channel_id, edge_id = row
        body = await request.body()
        who = f"sensor {sid}"
        if (bad := await self._check_msg_headers(request, who, key, body)) is not None:
            return bad
        try:
            doc = json.loads(body)
        except ValueError as exc:
            self.ledger.record(who, "syntax", f"{who}: body is not JSON: {exc}")
            return _msg_error(400, "SyntaxError", f"body is not JSON: {exc}")
        if isinstance(doc, dict) and "config" in doc:
            async with self.store.db.connection() as conn:
                await conn.execute("UPDATE compat_sensors SET config = %s WHERE id = %s",
                                   (conn.json(doc["config"]), sid))
            return JSONResponse({"response": "ok"})
        if not isinstance(doc, dict) or "measurements" not in doc:
            return _msg_error(400, "SyntaxError", "expected {\"measurements\": [[timestamp, value], ...]}")
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
        if row is None:
            return _msg_error(404, "UnknownDevice", f"device {did} is not known to this portal")
        key = row[0]
        body = await request.body()
        who = f"device {did}"
        if (bad := await self._check_msg_headers(request, who, key, body)) is not None:
            return bad
        try:
            doc = json.loads(body)
        except ValueError as exc:
            return _msg_error(400, "SyntaxError", f"body is not JSON: {exc}")
        if not isinstance(doc, dict):
            return _msg_error(400, "SyntaxError", "expected a JSON object")
        async with self.store.db.connection() as conn:
            if "key" in doc:  # registration: the device proves it holds the key it was provisioned with
                if not hmac.compare_digest(str(doc["key"]), key):
                    return _msg_error(403, "KeyError", "registration key does not match")
                await conn.execute("UPDATE compat_devices SET registered = true, last_seen = %s "
                                   "WHERE id = %s", (utcnow(), did))
            else:  # heartbeat
                await conn.execute("UPDATE compat_devices SET last_seen = %s, heartbeat = %s "
                                   "WHERE id = %s", (utcnow(), conn.json(doc), did))
        return JSONResponse({"upgrade": 0, "timestamp": int(time.time())})

    async def vz_data(self, uuid: str, request: Request) -> Response:
        uuid = uuid.lower()
        async with self.store.db.connection() as conn:
            cur = await conn.execute("SELECT channel_id, edge_id FROM vz_channels WHERE uuid = %s", (uuid,))
            row = await cur.fetchone()
        if row is None:
            return _vz_error(404, "EntityException", f"no channel with uuid {uuid}")
        channel_id, edge_id = row
        body = await request.body()
        who = f"vz {uuid}"
        try:
            if body.strip():
                pairs = json.loads(body)
            else:
                q = request.query_params
                ts = float(q["ts"]) if "ts" in q else time.time() * 1000
                pairs = [[ts, float(q["value"])]]
        except (ValueError, KeyError) as exc:
            self.ledger.record(who, "syntax", f"{who}: {exc}")
            return _vz_error(400, "Exception", f"bad data: {exc}")
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
