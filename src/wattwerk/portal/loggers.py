"""Old mySmartGrid / Flukso loggers on a site: register a logger's sensors, list them, remove
a logger (issue 14). The owner does it on the site's access page (``/api/v1/sites/{site}/loggers``),
the portal's operator with ``wattwerk portal flukso-register``.

A logger is a device id with one secret key; each sensor feeds one channel of the site and
signs its uploads with a key derived from the device's for that sensor alone
(:func:`wattwerk.portal.db.sensor_key`, what vzlogger's ``secretKey`` takes). The answer of a
registration holds the device key and each sensor's key: shown once, stored only sealed with
the portal's key file (secretbox.py). Registering a logger again rotates its key. Ids are the
logger's own (32 hex digits; dashes and case do not matter) or new random ones; an id another
site holds answers 409, so nobody takes over a logger by naming it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from wattwerk.model import Channel
from wattwerk.portal import auth, hardening, sites
from wattwerk.portal.api import PREFIX, SiteName, Who, box_of, site_ref
from wattwerk.portal.database import Conn, iso
from wattwerk.portal.db import compat_id, sensor_key
from wattwerk.portal.secretbox import SecretBox

MAX_SENSORS = 16  # a Flukso has 3 to 6 ports; vzlogger configurations rarely more
_HEX_ID = re.compile(r"^[0-9a-f]{32}$")


class LoggerError(ValueError):
    """A registration that cannot be made, with the reason (409 when an id is another site's)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class SensorIn(BaseModel):
    channel: str = Field(min_length=3, max_length=100, description="e.g. grid.energy_import")
    sensor: str | None = Field(None, max_length=40, description="the sensor's id; new if omitted")


class LoggerIn(BaseModel):
    device: str | None = Field(None, max_length=40, description="the logger's device id; new if omitted")
    sensors: list[SensorIn] = Field(min_length=1, max_length=MAX_SENSORS)


_SENSOR_SCHEMA = {
    "type": "object",
    "required": ["channel"],
    "properties": {
        "channel": {"type": "string", "minLength": 3, "maxLength": 100},
        "sensor": {"type": ["string", "null"], "maxLength": 40},
    },
}
BODY = {  # LoggerIn, spelt out: its nested model would need a $ref the spec has no home for
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["sensors"],
                    "properties": {
                        "device": {"type": ["string", "null"], "maxLength": 40},
                        "sensors": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_SENSORS,
                            "items": _SENSOR_SCHEMA,
                        },
                    },
                }
            }
        },
    }
}


@dataclass(frozen=True)
class Sensor:
    sensor: str | None
    channel: str


def check_id(raw: str | None, what: str) -> str:
    """A device/sensor id as stored (32 lower-case hex digits), or a new random one."""
    if raw is None or not raw.strip():
        return secrets.token_hex(16)
    ident = compat_id(raw.strip())
    if not _HEX_ID.match(ident):
        if what == "device":
            raise LoggerError(f"device id {raw[:40]!r} is not 32 hex digits (a UUID with or without dashes)")
        raise LoggerError(f"sensor id {raw[:40]!r} is not 32 hex digits (a UUID with or without dashes)")
    return ident


def check_channel(name: str) -> str:
    try:
        Channel.of(name)
    except ValueError as exc:
        raise LoggerError(f"channel {name[:100]!r}: {exc}") from None
    return name


async def _channel_id(conn: Conn, site_id: int, name: str) -> int:
    ch = Channel.of(name)
    cur = await conn.execute(
        "INSERT INTO channels (site_id, name, unit, kind) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (site_id, name) DO UPDATE SET unit = EXCLUDED.unit RETURNING id",
        (site_id, name, ch.unit, ch.kind.value),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def _edge_id(conn: Conn, site_id: int, name: str) -> int:
    cur = await conn.execute(
        "INSERT INTO edges (site_id, name) VALUES (%s, %s) ON CONFLICT (site_id, name, stream) "
        "DO UPDATE SET name = EXCLUDED.name RETURNING id",
        (site_id, name),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def _owned_elsewhere(conn: Conn, site_id: int, device: str, sensors: list[str]) -> str | None:
    """Why not: the first of these ids another site holds; None if none."""
    other = await conn.fetchval(
        "SELECT id FROM compat_devices WHERE id = %s AND site_id <> %s", (device, site_id)
    )
    if other is not None:
        return f"device {device} is registered to another site"
    for sid in sensors:
        held = await conn.fetchval(
            "SELECT s.id FROM compat_sensors s JOIN channels c ON c.id = s.channel_id "
            "WHERE s.id = %s AND c.site_id <> %s",
            (sid, site_id),
        )
        if held is not None:
            return f"sensor {sid} is registered to another site"
    return None


async def register(
    conn: Conn, site_id: int, device: str | None, sensors: list[Sensor], box: SecretBox | None
) -> dict[str, Any]:
    """Register (or re-key) a logger and its sensors on a site; the answer holds the secrets
    (shown once). LoggerError for a bad id or channel, or an id another site holds."""
    if not 0 < len(sensors) <= MAX_SENSORS:
        raise LoggerError(f"a logger has 1 to {MAX_SENSORS} sensors")
    did = check_id(device, "device")
    rows = [(check_id(s.sensor, "sensor"), check_channel(s.channel)) for s in sensors]
    if len({sid for sid, _ in rows}) < len(rows) or did in {sid for sid, _ in rows}:
        raise LoggerError("each sensor needs an id of its own")
    if (held := await _owned_elsewhere(conn, site_id, did, [sid for sid, _ in rows])) is not None:
        raise LoggerError(held, 409)
    key = secrets.token_hex(16)
    await conn.execute(
        "INSERT INTO compat_devices (id, site_id, hmac_key) VALUES (%s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET hmac_key = EXCLUDED.hmac_key",
        (did, site_id, box.seal(key) if box else key),
    )
    out = []
    for sid, channel in rows:
        channel_id = await _channel_id(conn, site_id, channel)
        edge_id = await _edge_id(conn, site_id, f"msg:{sid}")
        await conn.execute(
            "INSERT INTO compat_sensors (id, device_id, hmac_key, channel_id, edge_id) "
            "VALUES (%s, %s, NULL, %s, %s) ON CONFLICT (id) DO UPDATE SET device_id = EXCLUDED.device_id, "
            "hmac_key = NULL, channel_id = EXCLUDED.channel_id, edge_id = EXCLUDED.edge_id",
            (sid, did, channel_id, edge_id),
        )
        out.append({"sensor": sid, "channel": channel, "secret": sensor_key(key, sid)})
    return {"device": did, "key": key, "sensors": out}


async def listing(conn: Conn, site_id: int) -> list[dict[str, Any]]:
    """The site's loggers with their sensors (no secrets)."""
    rows = await conn.fetchall(
        "SELECT d.id, d.registered, d.last_seen, s.id, c.name, e.last_seen FROM compat_devices d "
        "LEFT JOIN compat_sensors s ON s.device_id = d.id LEFT JOIN channels c ON c.id = s.channel_id "
        "LEFT JOIN edges e ON e.id = s.edge_id WHERE d.site_id = %s ORDER BY d.id, s.id",
        (site_id,),
    )
    out: dict[str, dict[str, Any]] = {}
    for did, registered, seen, sid, channel, uploaded in rows:
        item = out.setdefault(
            did, {"device": did, "registered": bool(registered), "last_seen": iso(seen), "sensors": []}
        )
        if sid is not None:
            item["sensors"].append({"sensor": sid, "channel": channel, "last_upload": iso(uploaded)})
    return list(out.values())


async def remove(conn: Conn, site_id: int, device: str) -> bool:
    """Remove a logger and its sensors (their readings stay); False if the site has no such logger."""
    did = compat_id(device)
    cur = await conn.execute("DELETE FROM compat_devices WHERE id = %s AND site_id = %s", (did, site_id))
    return cur.rowcount == 1


# ------------------------------------------------------------ the owner's API


async def loggers_get(site: SiteName, who: Who, request: Request) -> list[dict[str, Any]]:
    """The site's mySmartGrid/Flukso loggers and their sensors (owner)."""
    async with auth.db_of(request).connection(readonly=True) as conn:
        ref = await site_ref(conn, site, who, owner=True)
        return await listing(conn, ref.site_id)


async def loggers_post(site: SiteName, who: Who, request: Request) -> dict[str, Any]:
    """Register a logger's sensors to the site (owner); the answer's keys are shown only now.
    The body is checked after the site, so a foreign site answers 404 whatever is sent."""
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who, owner=True)
        try:
            body = LoggerIn.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from None
        try:
            sensors = [Sensor(s.sensor, s.channel) for s in body.sensors]
            out = await register(conn, ref.site_id, body.device, sensors, box_of(request))
        except LoggerError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        detail = {"device": out["device"], "sensors": [s["sensor"] for s in out["sensors"]]}
        await sites.audit(conn, ref.site_id, who.account_id, "logger.register", detail)
    return out


async def loggers_delete(site: SiteName, device: str, who: Who, request: Request) -> dict[str, Any]:
    """Remove a logger from the site (owner); its readings stay."""
    async with auth.db_of(request).connection() as conn:
        ref = await site_ref(conn, site, who, owner=True)
        if not await remove(conn, ref.site_id, device[:64]):
            raise HTTPException(404, "not found")
        await sites.audit(conn, ref.site_id, who.account_id, "logger.remove", {"device": compat_id(device)})
    return {"ok": True}


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["loggers"])
    small = hardening.BODY_SMALL
    r.add_api_route("/sites/{site}/loggers", loggers_get, methods=["GET"])
    r.add_api_route(
        "/sites/{site}/loggers",
        loggers_post,
        methods=["POST"],
        status_code=201,
        max_body_size=small,
        openapi_extra=BODY,
    )
    r.add_api_route("/sites/{site}/loggers/{device}", loggers_delete, methods=["DELETE"])
    return r


# ------------------------------------------------------------ the operator's command


def parse_sensor(spec: str) -> Sensor:
    """``CHANNEL`` or ``SENSOR_ID=CHANNEL`` of ``wattwerk portal flukso-register --sensor``."""
    sensor, sep, channel = spec.partition("=")
    return Sensor(sensor if sep else None, channel if sep else spec)


def register_cli(
    url: str, schema: str | None, box: SecretBox, site: str, device: str | None, sensors: list[Sensor]
) -> dict[str, Any]:
    """``wattwerk portal flukso-register``: register a logger to the site named ``site`` (made
    if missing, as ``--pair`` does); LoggerError with the reason."""
    import asyncio

    from wattwerk.portal.database import open_database

    async def go() -> dict[str, Any]:
        db = open_database(url, schema=schema, pool_size=1)
        await db.open()
        try:
            async with db.connection() as conn:
                cur = await conn.execute(
                    "INSERT INTO sites (name) VALUES (%s) "
                    "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                    (site,),
                )
                row = await cur.fetchone()
                assert row is not None
                out = await register(conn, int(row[0]), device, sensors, box)
                detail = {"device": out["device"], "sensors": [s["sensor"] for s in out["sensors"]]}
                await sites.audit(conn, int(row[0]), None, "logger.register", detail, actor="operator")
                return out
        finally:
            await db.close()

    return asyncio.run(go())
