"""The tables behind the owner's notifications (migration 0180; portal/notify.py decides and sends):

* ``site_notifications``: per site what the owner wants mailed and, optionally, an address of its
  own (sealed with the portal's key, portal/secretbox.py; else the owner account's address).
* ``device_health``: per device the state the edge last reported with an upload (``health`` in an
  ingest batch: ``{"inverter": "stale", "meter": "ok"}``) and since when the portal knows it.
* ``notify_state``: per condition (``pv``, ``offline``, ``device:<id>``, ``maintenance:<grant>``)
  whether the owner was told it holds. A change is claimed here before its mail goes, so any
  number of portal processes send it once, and a restart sends nothing again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wattwerk.errors import BadInput
from wattwerk.portal.database import Conn, as_datetime

KINDS = ("pv", "offline", "device", "maintenance")
STATES = ("ok", "stale", "error")  # edge.status.device_status: what the local page shows
BAD = ("stale", "error")
MAX_DEVICES = 200
OFFLINE_MIN = (5, 10080)  # minutes: five minutes to a week
DEVICE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class HealthError(BadInput):
    """A ``health`` object in a batch the portal will not keep (the readings are kept)."""


@dataclass
class Prefs:
    """The owner's choices for one site (``email``: sealed, None for the account's own)."""

    pv: bool = False
    offline: bool = False
    offline_min: int = 30
    device: bool = False
    maintenance: bool = False
    email: str | None = None
    lang: str = "en"  # of the mail: de, en or fr

    @property
    def any(self) -> bool:
        return self.pv or self.offline or self.device or self.maintenance


@dataclass
class Target:
    """A site with at least one notification on, and where its mail goes."""

    site_id: int
    site: str
    label: str
    owner: str  # alias
    prefs: Prefs
    account_email: str | None  # sealed
    tz: str = "UTC"  # the site's zone: times in the mail are local

    def kinds(self) -> set[str]:
        return {k for k in KINDS if getattr(self.prefs, k)}


# ------------------------------------------------------------ preferences


async def load_prefs(conn: Conn, site_id: int) -> Prefs:
    row = await conn.fetchone(
        "SELECT pv, offline, offline_min, device, maintenance, email, lang FROM site_notifications "
        "WHERE site_id = %s",
        (site_id,),
    )
    if row is None:
        return Prefs()
    return Prefs(bool(row[0]), bool(row[1]), int(row[2]), bool(row[3]), bool(row[4]), row[5], str(row[6]))


async def save_prefs(conn: Conn, site_id: int, prefs: Prefs, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO site_notifications (site_id, email, pv, offline, offline_min, device, maintenance, "
        "lang, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (site_id) DO UPDATE "
        "SET email = excluded.email, pv = excluded.pv, offline = excluded.offline, "
        "offline_min = excluded.offline_min, device = excluded.device, "
        "maintenance = excluded.maintenance, lang = excluded.lang, updated_at = excluded.updated_at",
        (
            site_id,
            prefs.email,
            prefs.pv,
            prefs.offline,
            prefs.offline_min,
            prefs.device,
            prefs.maintenance,
            prefs.lang,
            now,
        ),
    )
    off = [k for k in KINDS if not getattr(prefs, k)]
    for kind in off:  # switched off: forgotten without a "resolved" mail
        await conn.execute(
            "DELETE FROM notify_state WHERE site_id = %s AND (subject = %s OR subject LIKE %s)",
            (site_id, kind, kind + ":%"),
        )


async def account_email(conn: Conn, site_id: int) -> str | None:
    """The site owner's account address (sealed), or None."""
    return await conn.fetchval(
        "SELECT a.email FROM site_access sa JOIN accounts a ON a.id = sa.account_id "
        "WHERE sa.site_id = %s AND sa.role = 'owner'",
        (site_id,),
    )


async def targets(conn: Conn) -> list[Target]:
    """Every site with a notification on, with its owner."""
    rows = await conn.fetchall(
        "SELECT n.site_id, s.name, sa.label, a.alias, n.pv, n.offline, n.offline_min, n.device, "
        "n.maintenance, n.email, n.lang, a.email, s.tz FROM site_notifications n "
        "JOIN sites s ON s.id = n.site_id "
        "JOIN site_access sa ON sa.site_id = n.site_id AND sa.role = 'owner' "
        "JOIN accounts a ON a.id = sa.account_id "
        "WHERE n.pv OR n.offline OR n.device OR n.maintenance ORDER BY n.site_id"
    )
    return [
        Target(
            int(r[0]),
            str(r[1]),
            str(r[2] or ""),
            str(r[3]),
            Prefs(bool(r[4]), bool(r[5]), int(r[6]), bool(r[7]), bool(r[8]), r[9], str(r[10])),
            r[11],
            str(r[12] or "UTC"),
        )
        for r in rows
    ]


# ------------------------------------------------------------ what the conditions are made of


@dataclass
class Facts:
    """What the portal knows, per site id, for the sites being watched."""

    pv_alerts: dict[int, dict[str, Any]]
    last_seen: dict[int, datetime]
    bad_devices: dict[int, list[tuple[str, str, datetime]]]  # (device, state, since)
    grants: dict[int, list[tuple[int, str, datetime, datetime, datetime | None]]]
    states: dict[int, dict[str, bool]]


_ON = "JOIN site_notifications n ON n.site_id = {t}.site_id AND n.{kind}"


async def facts(conn: Conn, since: datetime) -> Facts:
    """Five queries for all watched sites at once; grants expiring after ``since`` only."""
    out = Facts({}, {}, {}, {}, {})
    for site_id, alert in await conn.fetchall(
        f"SELECT p.site_id, p.pv_alert FROM site_plans p {_ON.format(t='p', kind='pv')} "
        "WHERE p.pv_alert IS NOT NULL"
    ):
        out.pv_alerts[int(site_id)] = conn.unjson(alert)
    for site_id, seen in await conn.fetchall(
        f"SELECT e.site_id, max(e.last_seen) FROM edges e {_ON.format(t='e', kind='offline')} "
        "GROUP BY e.site_id"
    ):
        if seen is not None:
            out.last_seen[int(site_id)] = as_datetime(seen)  # type: ignore[assignment]
    for site_id, device, state, at in await conn.fetchall(
        f"SELECT h.site_id, h.device, h.state, h.since FROM device_health h "
        f"{_ON.format(t='h', kind='device')} WHERE h.state IN ('stale', 'error')"
    ):
        out.bad_devices.setdefault(int(site_id), []).append((str(device), str(state), as_datetime(at)))  # type: ignore[arg-type]
    for site_id, grant, alias, starts, expires, revoked in await conn.fetchall(
        f"SELECT g.site_id, g.id, a.alias, g.starts_at, g.expires_at, g.revoked_at FROM maintenance_grants g "
        f"{_ON.format(t='g', kind='maintenance')} JOIN accounts a ON a.id = g.account_id "
        "WHERE g.expires_at > %s",
        (since,),
    ):
        out.grants.setdefault(int(site_id), []).append(
            (int(grant), str(alias), as_datetime(starts), as_datetime(expires), as_datetime(revoked))  # type: ignore[arg-type]
        )
    for site_id, subject, active in await conn.fetchall("SELECT site_id, subject, active FROM notify_state"):
        out.states.setdefault(int(site_id), {})[str(subject)] = bool(active)
    return out


# ------------------------------------------------------------ claims


async def claim(conn: Conn, site_id: int, subject: str, active: bool, now: datetime) -> bool:
    """Record that the owner is told ``subject`` holds (``active``) or ended; False when another
    process did already (or the state is that already)."""
    if active:
        row = await conn.fetchone(
            "INSERT INTO notify_state (site_id, subject, active, changed_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (site_id, subject) DO UPDATE SET active = excluded.active, "
            "changed_at = excluded.changed_at WHERE notify_state.active = %s RETURNING site_id",
            (site_id, subject, True, now, False),
        )
    else:
        row = await conn.fetchone(
            "UPDATE notify_state SET active = %s, changed_at = %s WHERE site_id = %s AND subject = %s "
            "AND active = %s RETURNING site_id",
            (False, now, site_id, subject, True),
        )
    return row is not None


async def unclaim(conn: Conn, site_id: int, subject: str, active: bool, now: datetime) -> None:
    """Put a claim back (its mail did not go): the next round tries again."""
    await conn.execute(
        "UPDATE notify_state SET active = %s, changed_at = %s WHERE site_id = %s AND subject = %s",
        (not active, now, site_id, subject),
    )


async def forget_resolved(conn: Conn, before: datetime) -> None:
    """Conditions that ended before ``before`` need no row any more."""
    await conn.execute("DELETE FROM notify_state WHERE active = %s AND changed_at < %s", (False, before))


# ------------------------------------------------------------ device health from the edge


def parse_health(value: Any) -> dict[str, str]:
    """The ``health`` object of a batch, or HealthError naming what is wrong."""
    if not isinstance(value, dict) or len(value) > MAX_DEVICES:
        raise HealthError("health", f"health: an object of at most {MAX_DEVICES} devices")
    for device, state in value.items():
        if not isinstance(device, str) or not DEVICE.match(device):
            raise HealthError("health", f"health: bad device id {str(device)[:70]!r}")
        if state not in STATES:
            raise HealthError("health", f"health.{device}: one of {', '.join(STATES)}")
    return dict(value)


async def store_health(conn: Conn, site_id: int, health: dict[str, str], now: datetime) -> int:
    """Keep each device's state. ``since`` moves when a device turns bad or good, not from stale to
    error and back (one spell without values). Devices the edge no longer names are dropped.
    Returns the devices whose state changed."""
    known = {
        str(d): (str(s), t)
        for d, s, t in await conn.fetchall(
            "SELECT device, state, since FROM device_health WHERE site_id = %s", (site_id,)
        )
    }
    changed = []
    for device, state in health.items():
        old, since = known.get(device, (None, None))
        if old != state:
            still_bad = old in BAD and state in BAD
            changed.append((site_id, device, state, as_datetime(since) if still_bad else now))
    if changed:
        await conn.executemany(
            "INSERT INTO device_health (site_id, device, state, since) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (site_id, device) DO UPDATE SET state = excluded.state, since = excluded.since",
            changed,
        )
    for device in set(known) - set(health):
        await conn.execute("DELETE FROM device_health WHERE site_id = %s AND device = %s", (site_id, device))
    return len(changed)
