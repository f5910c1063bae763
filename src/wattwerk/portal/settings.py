"""Portal settings the operator changes at run time (portal_settings; operator_api.py), read by
every process from the database: the registration mode (open, invite, closed), which once set
replaces the ``--registration`` the portal was started with."""

from __future__ import annotations

from fastapi import Request

from wattwerk.portal import auth
from wattwerk.portal.database import Conn
from wattwerk.portal.env import REGISTRATION


async def registration(conn: Conn, default: str) -> tuple[str, str]:
    """The registration mode in force and who set it (``operator`` or ``config``)."""
    value = await conn.fetchval("SELECT value FROM portal_settings WHERE name = 'registration'")
    return (str(value), "operator") if value in REGISTRATION else (default, "config")


async def registration_mode(request: Request) -> str:
    """The mode ``POST /api/v1/accounts`` enforces and the sign-in page offers: the operator's
    choice, else the portal config's."""
    config = getattr(request.app.state, "config", None)
    async with auth.db_of(request).connection(readonly=True) as conn:
        return (await registration(conn, config.registration if config else "open"))[0]
