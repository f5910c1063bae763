"""Each device's role at a site, as the edge knows it from its site file.

The edge sends ``{"roles": {"meter": "grid_meter", "roof": "pv", ...}}`` with its upload
batches (edge/uplink.py) until one is acknowledged; the portal keeps the latest set per site
and the site info API returns it with the power flows it implies (``flows.FLOW_ROLES``).
Legacy loggers (Flukso, volkszaehler) send no roles: the pages then guess from device ids.

With the roles a newer edge sends ``{"labels": {"hp": "Wärmepumpe Keller"}}``: the owner's names
for devices (the site file's ``name``). The pages show a device by that name, else by its role
("Heat pump"), never by its id. An edge that sends no labels leaves the stored ones as they are.
"""

from __future__ import annotations

import re
from typing import Any

from wattwerk.errors import BadInput
from wattwerk.flows import FLOW_ROLES
from wattwerk.portal.database import Conn

MAX_DEVICES = 500
DEVICE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # the device part of a channel name
ROLE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")  # a role of the site file, or a newer edge's
MAX_LABEL = 100  # as the site file's device name


def parse(value: Any) -> dict[str, str]:
    """Validate the ``roles`` of a batch: an object of device id -> role; BadInput says what is wrong."""
    if not isinstance(value, dict):
        raise BadInput("roles", "roles must be an object of device id -> role")
    if len(value) > MAX_DEVICES:
        raise BadInput("roles", f"roles name {len(value)} devices; at most {MAX_DEVICES}")
    for device, role in value.items():
        if not isinstance(device, str) or not DEVICE.match(device):
            raise BadInput("roles", f"device id {device!r:.70} is not a channel's device part")
        if not isinstance(role, str) or not ROLE.match(role):
            raise BadInput("roles", f"{device}: role {role!r:.50} is not a role name")
    return dict(value)


def parse_labels(value: Any, roles: dict[str, str]) -> dict[str, str]:
    """Validate the ``labels`` of a batch: device id (one of ``roles``) -> the owner's name for it,
    1-100 printable characters; BadInput says what is wrong."""
    if not isinstance(value, dict):
        raise BadInput("labels", "labels must be an object of device id -> name")
    out = {}
    for device, label in value.items():
        if device not in roles:
            raise BadInput("labels", f"labels name {device!r:.70}, a device the roles do not have")
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
            raise BadInput("labels", f"{device}: a name is 1-{MAX_LABEL} characters")
        if not label.isprintable():
            raise BadInput("labels", f"{device}: the name has control characters")
        out[device] = label.strip()
    return out


def flows(roles: dict[str, str]) -> dict[str, list[str]]:
    """Flow (grid, pv, battery, house, ev, heat) -> device ids playing it; only flows that have one."""
    out: dict[str, list[str]] = {}
    for device in sorted(roles):
        for flow, names in FLOW_ROLES.items():
            if roles[device] in names:
                out.setdefault(flow, []).append(device)
    return out


async def load(conn: Conn, site_id: int) -> dict[str, str]:
    rows = await conn.fetchall(
        "SELECT device, role FROM site_roles WHERE site_id = %s ORDER BY device", (site_id,)
    )
    return {str(r[0]): str(r[1]) for r in rows}


async def labels(conn: Conn, site_id: int) -> dict[str, str]:
    """The owner's names for the site's devices (only the devices that have one)."""
    rows = await conn.fetchall(
        "SELECT device, label FROM site_roles WHERE site_id = %s AND label IS NOT NULL ORDER BY device",
        (site_id,),
    )
    return {str(r[0]): str(r[1]) for r in rows}


async def store(conn: Conn, site_id: int, roles: dict[str, str], names: dict[str, str] | None = None) -> bool:
    """Make the site's roles exactly ``roles`` and, when given, its device names exactly ``names``
    (None leaves them); False if they already were (nothing written)."""
    if await load(conn, site_id) == roles and (names is None or await labels(conn, site_id) == names):
        return False
    for device, role in roles.items():
        if names is None:
            await conn.execute(
                "INSERT INTO site_roles (site_id, device, role) VALUES (%s, %s, %s) "
                "ON CONFLICT (site_id, device) DO UPDATE SET role = EXCLUDED.role",
                (site_id, device, role),
            )
        else:
            await conn.execute(
                "INSERT INTO site_roles (site_id, device, role, label) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (site_id, device) DO UPDATE SET role = EXCLUDED.role, label = EXCLUDED.label",
                (site_id, device, role, names.get(device)),
            )
    if roles:
        marks = ", ".join(["%s"] * len(roles))
        await conn.execute(
            f"DELETE FROM site_roles WHERE site_id = %s AND device NOT IN ({marks})", (site_id, *roles)
        )
    else:
        await conn.execute("DELETE FROM site_roles WHERE site_id = %s", (site_id,))
    return True


__all__ = ["flows", "labels", "load", "parse", "parse_labels", "store"]
