"""An embedded portal beside a local edge (``wattwerk demo``): an SQLite portal in the data
folder, an owner account, a site and an edge token, so a newcomer sees both sides at once.

The account is made once; a later run with the same data folder signs in with the same alias
and password and gets the same site (and a fresh edge token for this run).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wattwerk.portal import accounts, sites
from wattwerk.portal.database import open_database
from wattwerk.portal.migrations import migrate


@dataclass(frozen=True)
class Pairing:
    db_url: str
    alias: str
    site: str
    token: str  # the edge token for POST /api/v1/ingest


def database_url(data_dir: Path) -> str:
    """The embedded portal's SQLite file in ``data_dir`` (created and migrated)."""
    url = "sqlite:///" + str(data_dir / "portal.db")
    migrate(url)
    return url


async def pair_demo(url: str, alias: str, password: str, label: str, tz: str = "UTC") -> Pairing:
    """The owner ``alias`` (registered on first use), their first site in the edge's zone ``tz``
    (unless the owner chose another on the portal), and a new edge token."""
    db = open_database(url)
    await db.open()
    try:
        async with db.connection() as conn:
            owner = await accounts.account_id(conn, alias)
            if owner is None:
                owner = await accounts.register(conn, alias, password)
            owned = [s for s in await sites.listing(conn, owner) if s["role"] == "owner"]
            name = owned[0]["site"] if owned else await sites.create(conn, owner, label, tz, "edge")
            ref = await sites.lookup(conn, name, owner)
            assert ref is not None
            await sites.tz_from_edge(conn, ref.site_id, tz)
            token = await sites.new_edge_token(conn, ref.site_id)
            await sites.audit(conn, ref.site_id, owner, "edge.pair", {"by": "wattwerk demo"})
    finally:
        await db.close()
    return Pairing(url, alias, name, token)
