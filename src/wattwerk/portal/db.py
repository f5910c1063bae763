"""The portal's registry: sites, edge tokens, edges, channels, legacy loggers.

Tokens: 32 random bytes (url-safe text); only their SHA-256 is stored. A fast hash is enough
for a 256-bit random secret (nothing to brute-force); pairing creates one, revoking sets
``revoked_at``. Lookups are cached in the process for ``ttl`` seconds, so a revocation takes
effect on every portal process within that time.

Admin functions (pairing, registration) are synchronous and take a connection from
:func:`wattwerk.portal.database.connect_sync` (a psycopg connection works too); the request path
uses :class:`Registry` on the portal's :class:`~wattwerk.portal.database.Database`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from wattwerk.model import Channel
from wattwerk.portal.database import Database, utcnow
from wattwerk.portal.secretbox import SecretBox

SyncConn = Any  # database.SyncConn or a psycopg.Connection: .execute(sql, params) -> cursor


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# ------------------------------------------------------------ admin (sync)


def create_site(conn: SyncConn, name: str) -> int:
    row = conn.execute(
        "INSERT INTO sites (name) VALUES (%s) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name "
        "RETURNING id",
        (name,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def pair_site(conn: SyncConn, site: str) -> str:
    """Create the site if needed and a new edge token for it; return the token (shown once)."""
    site_id = create_site(conn, site)
    token = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO site_tokens (site_id, token_hash) VALUES (%s, %s)", (site_id, hash_token(token))
    )
    return token


def revoke_tokens(conn: SyncConn, site: str, token: str | None = None) -> int:
    """Revoke one token of a site, or all of them; return how many."""
    if token is None:
        cur = conn.execute(
            "UPDATE site_tokens SET revoked_at = %s WHERE revoked_at IS NULL AND site_id = "
            "(SELECT id FROM sites WHERE name = %s)",
            (utcnow(), site),
        )
    else:
        cur = conn.execute(
            "UPDATE site_tokens SET revoked_at = %s WHERE revoked_at IS NULL AND token_hash = %s AND "
            "site_id = (SELECT id FROM sites WHERE name = %s)",
            (utcnow(), hash_token(token), site),
        )
    return cur.rowcount


def ensure_channel(conn: SyncConn, site_id: int, name: str) -> int:
    ch = Channel.of(name)
    row = conn.execute(
        "INSERT INTO channels (site_id, name, unit, kind) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (site_id, name) DO UPDATE SET unit = EXCLUDED.unit RETURNING id",
        (site_id, name, ch.unit, ch.kind.value),
    ).fetchone()
    assert row is not None
    return int(row[0])


def ensure_edge(conn: SyncConn, site_id: int, name: str) -> int:
    row = conn.execute(
        "INSERT INTO edges (site_id, name) VALUES (%s, %s) ON CONFLICT (site_id, name, stream) "
        "DO UPDATE SET name = EXCLUDED.name RETURNING id",
        (site_id, name),
    ).fetchone()
    assert row is not None
    return int(row[0])


def register_vz_channel(conn: SyncConn, site: str, uuid: str, channel: str) -> int:
    """Map a volkszaehler channel UUID onto one of the site's channels; return its channel id."""
    site_id = create_site(conn, site)
    channel_id = ensure_channel(conn, site_id, channel)
    edge_id = ensure_edge(conn, site_id, f"vz:{uuid.lower()}")
    conn.execute(
        "INSERT INTO vz_channels (uuid, channel_id, edge_id) VALUES (%s, %s, %s) "
        "ON CONFLICT (uuid) DO UPDATE SET channel_id = EXCLUDED.channel_id",
        (uuid.lower(), channel_id, edge_id),
    )
    return channel_id


def register_flukso_device(
    conn: SyncConn, site: str, device_id: str, key: str, *, box: SecretBox | None = None
) -> None:
    """A Flukso/mySmartGrid device; its key sealed with ``box`` (else by the portal's next start)."""
    site_id = create_site(conn, site)
    conn.execute(
        "INSERT INTO compat_devices (id, site_id, hmac_key) VALUES (%s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET hmac_key = EXCLUDED.hmac_key",
        (compat_id(device_id), site_id, box.seal(key) if box else key),
    )


def register_flukso_sensor(
    conn: SyncConn,
    site: str,
    sensor_id: str,
    channel: str,
    *,
    device_id: str | None = None,
    key: str | None = None,
    box: SecretBox | None = None,
) -> int:
    """A Flukso/mySmartGrid sensor feeding one channel; HMAC key its own or its device's."""
    if key is None and device_id is None:
        raise ValueError("a sensor needs its own key or a device")
    site_id = create_site(conn, site)
    channel_id = ensure_channel(conn, site_id, channel)
    sid = compat_id(sensor_id)
    edge_id = ensure_edge(conn, site_id, f"msg:{sid}")
    conn.execute(
        "INSERT INTO compat_sensors (id, device_id, hmac_key, channel_id, edge_id) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET hmac_key = EXCLUDED.hmac_key, "
        "channel_id = EXCLUDED.channel_id",
        (
            sid,
            compat_id(device_id) if device_id else None,
            box.seal(key) if box and key else key,
            channel_id,
            edge_id,
        ),
    )
    return channel_id


def sensor_key(device_key: str, sensor_id: str) -> str:
    """The X-Digest key of a sensor that has none of its own: derived from its device's key for
    this sensor alone (hex HMAC-SHA1 of the sensor id), so a sibling's signature does not fit."""
    return hmac.new(device_key.encode(), compat_id(sensor_id).encode(), hashlib.sha1).hexdigest()


def create_invite(conn: SyncConn, days: int = 14) -> str:
    """An invitation code for registration "invite" (shown once; only its SHA-256 is kept)."""
    code = secrets.token_urlsafe(18)
    conn.execute(
        "INSERT INTO invites (code_hash, expires_at) VALUES (%s, %s)",
        (hash_token(code), utcnow() + timedelta(days=days)),
    )
    return code


def compat_id(raw: str) -> str:
    """Device/sensor ids as vzlogger sends them: lower-case hex without dashes."""
    return raw.replace("-", "").lower()


# ------------------------------------------------------------ request path (async, cached)


@dataclass(frozen=True)
class SiteAuth:
    site_id: int
    site: str
    max_channels: int | None = None  # the operator's caps for this site (None: the portal's)
    rate_per_s: float | None = None


class Registry:
    """Cached lookups the ingest path needs on every request."""

    def __init__(self, db: Database, *, ttl: float = 5.0) -> None:
        self.db = db
        self.ttl = ttl
        self._tokens: dict[bytes, tuple[float, SiteAuth | None]] = {}
        self._edges: dict[tuple[int, str, str], int] = {}
        self._channels: dict[tuple[int, str], int] = {}

    async def site_for_token(self, token: str) -> SiteAuth | None:
        key = hash_token(token)
        now = time.monotonic()
        hit = self._tokens.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        async with self.db.connection(readonly=True) as conn:
            cur = await conn.execute(
                "SELECT s.id, s.name, s.max_channels, s.rate_per_s FROM site_tokens t "
                "JOIN sites s ON s.id = t.site_id WHERE t.token_hash = %s AND t.revoked_at IS NULL",
                (key,),
            )
            row = await cur.fetchone()
        auth = SiteAuth(int(row[0]), str(row[1]), row[2], row[3]) if row else None
        if len(self._tokens) > 100_000:
            self._tokens.clear()
        self._tokens[key] = (now, auth)
        return auth

    async def edge_id(self, site_id: int, name: str, stream: str = "") -> int:
        """Id of the sequence source (site, edge name, outbox stream), created on first use."""
        key = (site_id, name, stream)
        if key not in self._edges:
            async with self.db.connection() as conn:
                cur = await conn.execute(
                    "INSERT INTO edges (site_id, name, stream) VALUES (%s, %s, %s) "
                    "ON CONFLICT (site_id, name, stream) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                    (site_id, name, stream),
                )
                row = await cur.fetchone()
            assert row is not None
            self._edges[key] = int(row[0])
        return self._edges[key]

    async def channel_ids(
        self, site_id: int, channels: dict[str, Channel], cap: int | None = None
    ) -> dict[str, int]:
        """Ids of the site's channels, registering new (already validated) ones while the site
        has fewer than ``cap`` channels; names beyond the cap are left out of the answer."""
        missing = [name for name in channels if (site_id, name) not in self._channels]
        if missing:
            async with self.db.connection() as conn:
                if cap is not None:
                    known = await conn.fetchall(
                        "SELECT name, id FROM channels WHERE site_id = %s AND name = ANY(%s)"
                        if not conn.sqlite
                        else "SELECT name, id FROM channels WHERE site_id = %s AND name IN "
                        "(SELECT value FROM json_each(%s))",
                        (site_id, missing if not conn.sqlite else json.dumps(missing)),
                    )
                    for name, ident in known:
                        self._channels[(site_id, name)] = int(ident)
                    missing = [name for name in missing if (site_id, name) not in self._channels]
                    count = int(
                        await conn.fetchval("SELECT count(*) FROM channels WHERE site_id = %s", (site_id,))
                    )
                    missing = missing[: max(0, cap - count)]
                for name in missing:
                    ch = channels[name]
                    cur = await conn.execute(
                        "INSERT INTO channels (site_id, name, unit, kind) VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (site_id, name) DO UPDATE SET unit = EXCLUDED.unit RETURNING id",
                        (site_id, name, ch.unit, ch.kind.value),
                    )
                    row = await cur.fetchone()
                    assert row is not None
                    self._channels[(site_id, name)] = int(row[0])
        known_ids = self._channels
        return {name: known_ids[(site_id, name)] for name in channels if (site_id, name) in known_ids}
