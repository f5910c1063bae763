"""The site's time zone comes from the edge's site file (issue 14): the real uplink sends it with
its first batch, the real portal app takes it unless the owner chose a zone, and from then on the
site's days are local days. On both backends (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from portal_fixtures import Account, Portal, account, edge_token, new_site, now_ms, portal  # noqa: F401
from test_ingest_support import PortalDb, database, pg, serve_portal  # noqa: F401
from test_portal_series import make_admin, run_retention
from wattwerk.edge.outbox import Outbox
from wattwerk.edge.uplink import Uplink, UplinkConfig
from wattwerk.portal import embedded

BERLIN = ZoneInfo("Europe/Berlin")
MIN = 60_000


def local_midnight_ms(day: datetime, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000)


def info(acc: Account, site: str) -> dict:
    r = acc.http.get(f"/api/v1/sites/{site}")
    assert r.status_code == 200, r.text
    return r.json()


async def upload(portal: Portal, box: Outbox, site: str, token: str, tz: str | None) -> Uplink:  # noqa: F811
    up = Uplink(
        box,
        UplinkConfig(url=portal.url, site=site, edge_id="e1", token=token, tz=tz, fmt="json", gzip_level=0),
    )
    await up.drain()
    await up.aclose()
    return up


def two_local_days(tmp_path: Path) -> tuple[Outbox, int, int]:
    """An outbox with a reading a minute over the two Berlin days before yesterday."""
    today = datetime.now(BERLIN)
    first = local_midnight_ms(today - timedelta(days=3), BERLIN)
    end = local_midnight_ms(today - timedelta(days=1), BERLIN)
    box = Outbox(tmp_path / "outbox.db")
    box.append_raw([("grid.power", ts, 1000.0) for ts in range(first, end, MIN)])
    return box, first, end


def test_the_edges_zone_makes_the_sites_days_local(portal: Portal, tmp_path: Path) -> None:  # noqa: F811
    owner, admin = account(portal), account(portal)
    make_admin(portal, admin)
    site = new_site(owner)
    assert (info(owner, site)["tz"], info(owner, site)["tz_source"]) == ("UTC", "default")
    box, first, end = two_local_days(tmp_path)
    up = asyncio.run(upload(portal, box, site, edge_token(owner, site), "Europe/Berlin"))
    assert box.pending() == 0 and up.stats.acked == (end - first) // MIN
    assert (info(owner, site)["tz"], info(owner, site)["tz_source"]) == ("Europe/Berlin", "edge")
    audit = owner.http.get(f"/api/v1/sites/{site}/audit").json()
    assert any(e["action"] == "site.tz" and e["actor"] == "edge" for e in audit)

    run_retention(portal, admin)
    day = datetime.fromtimestamp(first / 1000, BERLIN).date()
    r = owner.http.get(f"/api/v1/sites/{site}/series", params={"period": "day", "date": day.isoformat()})
    body = r.json()
    assert (body["tz"], body["from_ms"]) == ("Europe/Berlin", first)
    r = owner.http.get(
        f"/api/v1/sites/{site}/series",
        params={
            "from": datetime.fromtimestamp(first / 1000, UTC).isoformat(),
            "to": datetime.fromtimestamp(end / 1000, UTC).isoformat(),
            "resolution": "1d",
        },
    )
    days = [p for p in r.json()["points"] if p[1] == "grid.power"]
    second = local_midnight_ms(datetime.fromtimestamp(first / 1000, BERLIN) + timedelta(days=1), BERLIN)
    assert [p[0] for p in days] == [first, second]  # local midnights, not UTC ones
    assert [p[8] for p in days] == pytest.approx(
        [(second - first) / 3_600_000 * 1000.0, (end - second - MIN) / 3_600_000 * 1000.0]
    )


def test_the_owners_choice_wins_and_an_older_edge_keeps_working(portal: Portal, tmp_path: Path) -> None:  # noqa: F811
    owner = account(portal)
    chosen, legacy = new_site(owner, "chosen"), new_site(owner, "legacy")
    put = owner.http.put(f"/api/v1/sites/{chosen}/timezone", json={"tz": "America/New_York"})
    assert put.status_code == 200, put.text
    box, _, _ = two_local_days(tmp_path)
    asyncio.run(upload(portal, box, chosen, edge_token(owner, chosen), "Europe/Berlin"))
    assert box.pending() == 0
    assert (info(owner, chosen)["tz"], info(owner, chosen)["tz_source"]) == ("America/New_York", "owner")

    box = Outbox(tmp_path / "legacy.db")
    box.append_raw([("grid.power", now_ms() - 5000, 5.0)])
    asyncio.run(upload(portal, box, legacy, edge_token(owner, legacy), None))  # an edge without the field
    assert box.pending() == 0
    assert (info(owner, legacy)["tz"], info(owner, legacy)["tz_source"]) == ("UTC", "default")

    made = owner.http.post("/api/v1/sites", json={"label": "zoned", "tz": "Europe/Paris"}).json()["site"]
    assert info(owner, made)["tz_source"] == "owner"


@pytest.mark.parametrize(
    "tz, reason", [("Mars/Olympus", "unknown timezone 'Mars/Olympus'"), (7, "tz 7 is not a time zone name")]
)
def test_a_bad_zone_is_answered_and_the_readings_stored(portal: Portal, tz: object, reason: str) -> None:  # noqa: F811
    owner = account(portal)
    site = new_site(owner)
    doc = {"site": site, "edge_id": "e1", "tz": tz, "readings": [[1, "grid.power", now_ms(), 5.0]]}
    r = httpx.post(
        f"{portal.url}/api/v1/ingest",
        json=doc,
        headers={"Authorization": f"Bearer {edge_token(owner, site)}"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 1 and r.json()["tz_error"] == reason
    assert info(owner, site)["tz"] == "UTC"


def test_the_demo_portal_is_in_the_demo_sites_zone(tmp_path: Path) -> None:
    url = embedded.database_url(tmp_path)
    pairing = asyncio.run(embedded.pair_demo(url, "demo", "demo-password", "Demo house", "Europe/Berlin"))
    with serve_portal(PortalDb(url)) as running:
        login = httpx.post(
            f"{running.url}/api/v1/session", json={"alias": "demo", "password": "demo-password"}
        )
        got = httpx.get(f"{running.url}/api/v1/sites/{pairing.site}", cookies=login.cookies).json()
    assert (got["tz"], got["tz_source"]) == ("Europe/Berlin", "edge")
