"""Each device's role at a site, as the edge knows it from its site file.

The edge sends ``{"roles": {"meter": "grid_meter", "roof": "pv", ...}}`` with its upload
batches (edge/uplink.py) until one is acknowledged; the portal keeps the latest set per site
and the site info API returns it with the power flows it implies (``flows.FLOW_ROLES``).
Legacy loggers (Flukso, volkszaehler) send no roles: the pages then guess from device ids.
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


async def store(conn: Conn, site_id: int, roles: dict[str, str]) -> bool:
    """Make the site's roles exactly ``roles``; False if they already were (nothing written)."""
    if await load(conn, site_id) == roles:
        return False
    for device, role in roles.items():
        await conn.execute(
            "INSERT INTO site_roles (site_id, device, role) VALUES (%s, %s, %s) "
            "ON CONFLICT (site_id, device) DO UPDATE SET role = EXCLUDED.role",
            (site_id, device, role),
        )
    if roles:
        marks = ", ".join(["%s"] * len(roles))
        await conn.execute(
            f"DELETE FROM site_roles WHERE site_id = %s AND device NOT IN ({marks})", (site_id, *roles)
        )
    else:
        await conn.execute("DELETE FROM site_roles WHERE site_id = %s", (site_id,))
    return True


__all__ = ["flows", "load", "parse", "store"]
