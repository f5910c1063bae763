"""The owner's controls on the portal's site page (issue 16), on PostgreSQL and on SQLite, with a real
``wattwerk run`` process as the site's edge: ``GET /api/v1/sites/{site}/owner`` asks the edge for its
controls' state over the edge's own channel (kind ``owner_state``) and shows a change made from the
portal; a viewer sees the state but may not change it; reads stay out of the audit log; with the edge
stopped the portal answers 409 and sends nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from portal_fixtures import Portal, account, edge_token, new_site, portal  # noqa: F401
from test_ingest_support import database, pg  # noqa: F401
from test_maintenance_e2e import _stop, _wait_for
from test_owner_portal_e2e import SITE, start_edge


def _until(check: Callable[[], object], seconds: float, what: str) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: nothing within {seconds} s")


def test_the_portal_shows_and_changes_the_edges_controls(portal: Portal, tmp_path: Path) -> None:  # noqa: F811
    owner, viewer = account(portal), account(portal)
    site = new_site(owner)
    granted = owner.http.put(f"/api/v1/sites/{site}/grants/{viewer.alias}", json={"role": "viewer"})
    assert granted.status_code in (200, 201), granted.text
    state = f"/api/v1/sites/{site}/owner"
    page = owner.http.get(f"/sites/{site}")
    assert page.status_code == 200 and "/static/portal/widgets/owner.js" in page.text
    never = owner.http.get(state)
    assert never.status_code == 409 and "the edge is offline: nothing was sent" in never.json()["detail"]

    edge = start_edge(SITE, tmp_path, portal.url, edge_token(owner, site), site)
    try:
        answered = lambda: (r := owner.http.get(state)).status_code == 200 and r  # noqa: E731
        first = _wait_for(answered, 90, "the edge online", edge)
        doc = first.json()  # type: ignore[union-attr]
        assert doc["state"] == "done" and doc["may_control"] is True, doc
        wb = {d["id"]: d for d in doc["result"]["devices"]}["wb"]
        assert wb["role"] == "ev_charger" and wb["mode"] in doc["result"]["ev_modes"] and "reason" in wb

        plan = {"energy_kwh": 40, "departure": "07:00", "day": "tomorrow"}
        sent = owner.http.post(f"{state}/wb", json={"mode": "pv", "plan": plan}).json()
        assert sent["state"] == "done", sent
        after = {d["id"]: d for d in owner.http.get(state).json()["result"]["devices"]}["wb"]
        assert after["mode"] == "pv" and after["settings"]["plan"]["energy_kwh"] == 40.0
        assert after["departure"] is not None

        seen = viewer.http.get(state).json()
        assert seen["may_control"] is False and seen["result"]["devices"][0]["mode"] == "pv"
        assert viewer.http.post(f"{state}/wb", json={"mode": "now"}).status_code == 403
        audit = [(e["actor"], e["action"]) for e in owner.http.get(f"/api/v1/sites/{site}/audit").json()]
        assert audit.count(("edge", "owner.result")) == 1 and audit.count((owner.alias, "owner.command")) == 1
    finally:
        _stop(edge)
    gone = _until(lambda: (r := owner.http.get(state)).status_code == 409 and r, 90, "the edge gone")
    assert "offline (last contact" in gone.json()["detail"]  # type: ignore[union-attr]
