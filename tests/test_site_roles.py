"""Device roles travel from the edge's site file to the portal's site info (issue #8), on both
backends: the real uplink against the real portal app, and raw ingest batches for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from portal_fixtures import Portal, account, edge_token, new_site, now_ms, portal  # noqa: F401
from test_ingest_support import database, pg  # noqa: F401
from wattwerk.edge.outbox import Outbox
from wattwerk.edge.uplink import Uplink, UplinkConfig, encode_batch
from wattwerk.portal import site_roles

ROLES = {
    "meter": "grid_meter",
    "roof": "pv",
    "garage": "pv",
    "store": "battery",
    "box": "ev_charger",
    "hp1": "heat_pump",
    "kitchen": "submeter",
    "relay": "switch",
}


def ingest(portal: Portal, token: str, doc: dict) -> dict:  # noqa: F811
    r = httpx.post(f"{portal.url}/api/v1/ingest", json=doc, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


async def test_uplink_sends_roles_and_the_site_info_returns_flows(portal: Portal, tmp_path: Path) -> None:  # noqa: F811
    acc = account(portal)
    site = new_site(acc)
    box = Outbox(tmp_path / "o.db")
    box.append_raw([("meter.power", now_ms() - 5000, 300.0), ("roof.power", now_ms() - 5000, 1200.0)])
    up = Uplink(
        box,
        UplinkConfig(
            url=portal.url,
            site=site,
            edge_id="e1",
            token=edge_token(acc, site),
            roles=ROLES,
            fmt="json",
            gzip_level=0,
        ),
    )
    assert await up.drain() == 2
    info = acc.http.get(f"/api/v1/sites/{site}").json()
    assert info["roles"] == ROLES
    assert info["flows"] == {
        "grid": ["meter"],
        "pv": ["garage", "roof"],
        "battery": ["store"],
        "house": ["kitchen"],
        "ev": ["box"],
        "heat": ["hp1"],
    }
    # acknowledged once: later batches go without them
    box.append_raw([("meter.power", now_ms() - 4000, 310.0)])
    body, _ = encode_batch(up.config, box.peek(10), "", None)
    assert "roles" not in json.loads(body)
    seen: list[dict] = []
    real = up.client

    async def spy(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return await real.post(request.url.path, content=request.content, headers=request.headers)

    up.client = httpx.AsyncClient(base_url=portal.url, transport=httpx.MockTransport(spy))
    assert await up.drain() == 1
    await up.aclose()
    await real.aclose()
    assert len(seen) == 1 and "roles" not in seen[0]


def test_newer_roles_replace_older_and_legacy_sites_have_none(portal: Portal) -> None:  # noqa: F811
    acc = account(portal)
    site, legacy = new_site(acc), new_site(acc, "old logger")
    token = edge_token(acc, site)
    ingest(portal, token, {"site": site, "edge_id": "e1", "readings": [], "roles": ROLES})
    newer = {"grid": "grid_meter", "roof": "battery"}
    answer = ingest(
        portal,
        token,
        {"site": site, "edge_id": "e1", "roles": newer, "readings": [[1, "grid.power", now_ms(), 5.0]]},
    )
    assert answer["roles"] == 2 and answer["stored"] == 1
    info = acc.http.get(f"/api/v1/sites/{site}").json()
    assert info["roles"] == newer
    assert info["flows"] == {"grid": ["grid"], "battery": ["roof"]}
    with portal.db.connect() as conn:
        n = conn.execute(
            "SELECT count(*) FROM site_roles r JOIN sites s ON s.id = r.site_id WHERE s.name = %s", (site,)
        ).fetchone()
    assert n[0] == 2
    other = acc.http.get(f"/api/v1/sites/{legacy}").json()
    assert other["roles"] == {} and other["flows"] == {}


@pytest.mark.parametrize(
    "roles, reason",
    [
        (["pv"], "must be an object"),
        ({"Roof": "pv"}, "'Roof' is not a channel's device part"),
        ({"roof": 3}, "roof: role 3 is not a role name"),
        ({f"d{i}": "pv" for i in range(501)}, "at most 500"),
    ],
)
def test_bad_roles_are_named_and_the_readings_kept(portal: Portal, roles: object, reason: str) -> None:  # noqa: F811
    acc = account(portal)
    site = new_site(acc)
    token = edge_token(acc, site)
    answer = ingest(
        portal,
        token,
        {"site": site, "edge_id": "e1", "roles": roles, "readings": [[1, "grid.power", now_ms(), 5.0]]},
    )
    assert reason in answer["roles_error"]
    assert answer["stored"] == 1 and answer["ack"] == [1, 1]
    assert acc.http.get(f"/api/v1/sites/{site}").json()["roles"] == {}


def test_flows_ignore_roles_outside_the_power_flows() -> None:
    assert site_roles.flows({"chp1": "chp", "relay": "switch", "rod": "heating_rod"}) == {"heat": ["rod"]}


def test_the_owners_device_names_ride_with_the_roles(portal: Portal) -> None:  # noqa: F811
    """The site file's device names (``labels``) reach the site info; an edge that sends none
    leaves them; a bad one is named and the roles and readings are kept (issue 14, polish)."""
    acc = account(portal)
    site = new_site(acc)
    token = edge_token(acc, site)
    cfg = UplinkConfig(
        url=portal.url, site=site, edge_id="e1", token=token, roles=ROLES, fmt="json", gzip_level=0
    )
    cfg.labels = {"hp1": "Wärmepumpe Keller", "roof": "Süddach"}
    body, _ = encode_batch(cfg, [(1, "meter.power", now_ms(), 5.0)], "", ROLES)
    sent = json.loads(body)
    assert sent["labels"] == cfg.labels
    assert ingest(portal, token, sent)["roles"] == len(ROLES)
    assert acc.http.get(f"/api/v1/sites/{site}").json()["labels"] == cfg.labels
    older = {"site": site, "edge_id": "e1", "roles": ROLES, "readings": [[2, "meter.power", now_ms(), 6.0]]}
    ingest(portal, token, older)  # an older edge: roles without labels
    assert acc.http.get(f"/api/v1/sites/{site}").json()["labels"] == cfg.labels
    renamed = {**older, "readings": [], "labels": {"hp1": "  WP  "}}
    ingest(portal, token, renamed)
    assert acc.http.get(f"/api/v1/sites/{site}").json()["labels"] == {"hp1": "WP"}
    for labels, reason in (
        (["WP"], "must be an object"),
        ({"nowhere": "x"}, "a device the roles do not have"),
        ({"hp1": ""}, "1-100 characters"),
        ({"hp1": "a\nb"}, "control characters"),
    ):
        answer = ingest(
            portal, token, {**older, "readings": [[3, "meter.power", now_ms(), 7.0]], "labels": labels}
        )
        assert reason in answer["labels_error"] and answer["ack"] == [3, 3] and answer["roles"] == len(ROLES)
    info = acc.http.get(f"/api/v1/sites/{site}").json()
    assert info["labels"] == {"hp1": "WP"} and info["roles"] == ROLES
