"""The owner's notifications (issue 14): conditions -> events as pure functions, then the real
portal (both backends) with a real SMTP server on loopback (aiosmtpd): the owner's choices over
the API (owner only, address sealed and masked), and a notifier on an injected clock that mails
each change once — PV alert, maintenance window opened and ended, edge offline for N minutes,
a device stale — and again after a restart sends nothing twice. ``wattwerk run`` with a silent
device bringing its owner one mail through ``wattwerk portal`` is part of the browser journey
(tests/browser/test_portal_journey.py)."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from portal_fixtures import Portal, account, edge_token, new_site, now_ms, portal  # noqa: F401
from smtp_fixtures import Inbox, smtp  # noqa: F401
from test_assembly import site as site_file
from test_ingest_support import database, pg  # noqa: F401
from wattwerk.config import parse_config
from wattwerk.edge.assembly import assemble
from wattwerk.edge.outbox import Outbox
from wattwerk.edge.uplink import Uplink, UplinkConfig
from wattwerk.portal import mail, notify, notify_store
from wattwerk.portal.database import open_database
from wattwerk.portal.notify_store import Facts, Prefs, Target

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def target(**kinds: bool) -> Target:
    return Target(1, "s_1", "home", "alice", Prefs(**kinds, offline_min=30), None)


def facts(**kw: object) -> Facts:
    return Facts(**{"pv_alerts": {}, "last_seen": {}, "bad_devices": {}, "grants": {}, "states": {}, **kw})


def subjects(events: list[notify.Event]) -> list[tuple[str, bool]]:
    return [(e.subject, e.active) for e in events]


# ------------------------------------------------------------ pure: conditions and events


def test_conditions_follow_the_owners_kinds_and_thresholds() -> None:
    grace = timedelta(minutes=5)
    seen = {1: T0 - timedelta(minutes=31)}
    bad = {1: [("inv", "stale", T0 - timedelta(minutes=4)), ("hp", "error", T0 - timedelta(minutes=6))]}
    grants = {1: [(7, "ines", T0 - timedelta(hours=1), T0 + timedelta(hours=1), None)]}
    f = facts(pv_alerts={1: {"active": True, "ratio": 0.5, "message": "low"}}, last_seen=seen)
    f.bad_devices, f.grants = bad, grants
    everything = target(pv=True, offline=True, device=True, maintenance=True)
    holds = {c.subject: c.active for c in notify.conditions(everything, f, T0, grace)}
    assert holds == {
        "pv": True,
        "offline": True,
        "device:inv": False,
        "device:hp": True,
        "maintenance:7": True,
    }
    assert notify.conditions(target(pv=True), f, T0, grace)[0].subject == "pv"  # only what was chosen
    assert len(notify.conditions(target(pv=True), f, T0, grace)) == 1
    f.last_seen = {1: T0 - timedelta(minutes=29)}
    assert not notify.conditions(target(offline=True), f, T0, grace)[0].active
    assert notify.conditions(target(offline=True), facts(), T0, grace) == []  # never seen: not offline
    f.grants = {1: [(7, "ines", T0 - timedelta(hours=1), T0 + timedelta(hours=1), T0 - timedelta(minutes=1))]}
    assert not notify.conditions(target(maintenance=True), f, T0, grace)[0].active  # ended by the owner


def test_events_are_the_changes_from_what_the_owner_was_told() -> None:
    t = target(pv=True, device=True)
    holds = [
        notify.Condition("pv", True, "mail.pv.on", "mail.pv.text", "mail.pv.off"),
        notify.Condition("device:inv", False, "mail.device.stale", "mail.device.text", "mail.device.off"),
    ]
    assert subjects(notify.events(t, holds, {})) == [("pv", True)]
    assert notify.events(t, holds, {"pv": True}) == []  # told already
    assert subjects(notify.events(t, holds, {"pv": True, "device:inv": True})) == [("device:inv", False)]
    # a device the edge no longer reports bad: resolved; a kind switched off: no mail
    gone = notify.events(t, [], {"device:hp": True, "offline": True})
    assert subjects(gone) == [("device:hp", False)] and gone[0].vars == {"device": "hp"}
    assert notify.events(t, [], {"device:hp": False}) == []


def test_the_mail_is_in_the_owners_language_with_the_sites_local_times() -> None:
    config = mail.SmtpConfig(host="127.0.0.1", sender="portal@example.org")
    t = Target(1, "s_1", "Haus", "alice", Prefs(device=True, lang="de"), None, "Europe/Berlin")
    f = facts(bad_devices={1: [("inv", "error", T0 - timedelta(minutes=10))]})
    (event,) = notify.events(t, notify.conditions(t, f, T0, timedelta(minutes=5)), {})
    msg = notify.message(config, "a@example.org", t, event, "https://p.example")
    assert msg["Subject"] == "wattwerk Haus: Gerät inv: Fehler"
    body = msg.get_content()
    assert body.startswith("Hallo alice,") and "seit 2026-12-06 12:50 CET" in body  # 11:50 UTC
    assert "https://p.example/sites/s_1/access" in body
    (back,) = notify.events(t, [], {"device:inv": True})
    assert notify.message(config, "a@example.org", t, back, None)["Subject"] == (
        "wattwerk Haus: Gerät inv liefert wieder Werte (behoben)"
    )
    pv = target(pv=True)
    pv.prefs.lang = "fr"
    alert = {"active": True, "ratio": 0.5, "measured_wh": 12_340.0, "expected_wh": 24_680.0}
    (event,) = notify.events(pv, notify.conditions(pv, facts(pv_alerts={1: alert}), T0, timedelta(0)), {})
    text = notify.message(config, "a@example.org", pv, event, None).get_content()
    assert "Mesuré 12,3 kWh pour 24,7 kWh prévus" in text and "(50 % de la prévision)" in text


def test_the_access_page_card_has_its_strings_in_every_language() -> None:
    static = Path(notify.__file__).resolve().parent.parent / "static" / "portal"
    js = (static / "notify.js").read_text()
    keys = set(re.findall(r't\("(notify\.[a-z_]+)"\)', js)) | {
        f"notify.{k}" for k in re.findall(r'box\("([a-z_]+)"', js)
    }
    assert {"notify.title", "notify.pv", "notify.use_account", "notify.offline"} <= keys
    for lang in ("de", "en", "fr"):
        catalogue = json.loads((static / "i18n" / f"{lang}.json").read_text())
        assert keys <= set(catalogue), (lang, keys - set(catalogue))


def test_bad_health_objects_are_refused_with_the_reason() -> None:
    assert notify_store.parse_health({"inv": "stale", "meter": "ok"}) == {"inv": "stale", "meter": "ok"}
    for bad, words in (
        ([], "an object"),
        ({"inv": "broken"}, "one of ok"),
        ({"in v": "ok"}, "bad device id"),
        ({f"d{i}": "ok" for i in range(201)}, "at most 200"),
    ):
        with pytest.raises(notify_store.HealthError, match=words):
            notify_store.parse_health(bad)


# ------------------------------------------------------------ on the real portal, real SMTP


def ingest(portal: Portal, token: str, site: str, seq: int, health: dict | None = None) -> dict:  # noqa: F811
    doc = {"site": site, "edge_id": "e1", "readings": [[seq, "grid.power", int(time.time() * 1000), 100.0]]}
    if health is not None:
        doc["health"] = health
    r = httpx.post(
        f"{portal.url}/api/v1/ingest", json=doc, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert r.status_code == 200, r.text
    return r.json()


def plan_with_alert(site: str) -> dict:
    now = int(time.time() * 1000)
    slot = now - now % 900_000
    return {
        "site": site,
        "edge_id": "e1",
        "made_at_ms": now,
        "status": "optimal",
        "pv_source": "test",
        "currency": "EUR",
        "slot_minutes": 15,
        "slots": [
            {
                "ts_ms": slot,
                "price": 0.3,
                "sell": 0.08,
                "pv_w": 0,
                "load_w": 500,
                "grid_w": 500,
                "cost_eur": 0.04,
            }
        ],
        "pv_alert": {"active": True, "ratio": 0.55, "threshold": 0.8, "message": "measured 33 kWh vs 60 kWh"},
    }


def test_the_owner_chooses_and_each_change_is_mailed_once(
    portal: Portal,  # noqa: F811
    smtp: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp
    owner = account(portal, email="owner@example.org")
    viewer, installer = account(portal), account(portal)
    site = new_site(owner)
    token = edge_token(owner, site)
    base = f"/api/v1/sites/{site}/notifications"
    assert owner.http.put(f"/api/v1/sites/{site}/grants/{viewer.alias}", json={"role": "viewer"}).is_success
    assert viewer.http.get(base).status_code == 403  # the owner's only
    got = owner.http.get(base).json()
    assert got["email"] == "o…r@example.org" and got["email_from"] == "account" and not got["pv"]
    assert owner.http.put(base, json={"pv": True, "email": "no-address"}).status_code == 400
    assert owner.http.put(base, json={"offline_min": 2}).status_code == 422
    no_csrf = portal.client(cookies=owner.http.cookies)
    assert no_csrf.put(base, json={"pv": True}).status_code == 403  # a cookie route needs the CSRF header
    choice = {"pv": True, "offline": True, "offline_min": 5, "device": True, "maintenance": True}
    r = owner.http.put(base, json={**choice, "email": "alerts@example.net"})
    assert (
        r.status_code == 200 and r.json()["email"] == "a…s@example.net" and r.json()["email_from"] == "site"
    )
    with portal.db.connect() as conn:
        stored = conn.execute("SELECT email FROM site_notifications").fetchall()
        row = conn.execute("SELECT email FROM accounts WHERE alias = %s", (owner.alias,)).fetchone()
    assert stored[0][0].startswith("fernet:") and row[0].startswith("fernet:")  # sealed at rest
    assert "alerts@" not in str(owner.http.get(f"/api/v1/sites/{site}/audit").json())
    assert "/static/portal/notify.js" in owner.http.get(f"/sites/{site}/access").text  # the page's card

    ingest(portal, token, site, 1, {"inv": "stale", "meter": "ok"})
    r = httpx.post(
        f"{portal.url}/api/v1/plans", json=plan_with_alert(site), headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200, r.text
    grant = owner.http.post(
        f"/api/v1/sites/{site}/maintenance", json={"installer": installer.alias, "hours": 1}
    )
    assert grant.status_code == 201, grant.text

    config = mail.SmtpConfig(host="127.0.0.1", sender="portal@example.org", port=port, starttls=False)
    box = portal.app.state.secrets
    now = [datetime.now(UTC)]

    async def rounds(*shifts: float) -> list[int]:
        """Rounds of two portal processes at once (their own pools), started afresh each call: what a
        restarted portal finds. The mails sent per round, by both together."""
        dbs = [open_database(portal.db.url, schema=portal.db.schema, pool_size=2) for _ in range(2)]
        for db in dbs:
            await db.open()
        try:
            ns = [
                notify.Notifier(db, box, config, clock=lambda: now[0], public_url="https://p.example")
                for db in dbs
            ]
            out = []
            for minutes in shifts:
                now[0] = datetime.now(UTC) + timedelta(minutes=minutes)
                out.append(sum(await asyncio.gather(*(n.tick() for n in ns))))
            return out
        finally:
            for db in dbs:
                await db.close()

    assert asyncio.run(rounds(0, 0)) == [2, 0]  # PV alert, window opened; then nothing new
    subjects_ = sorted(str(m["Subject"]) for m in inbox.wait(2))
    assert [m["To"] for m in inbox.messages] == ["alerts@example.net"] * 2
    assert "PV yields less than expected (55 % of the forecast)" in subjects_[0]
    assert f"maintenance window opened for {installer.alias}" in subjects_[1]
    assert f"https://p.example/sites/{site}" in inbox.messages[0].get_payload()
    assert asyncio.run(rounds(6, 7)) == [2, 0]  # 6 minutes on: offline (5) and the stale device (5)
    later = sorted(str(m["Subject"]) for m in inbox.wait(4)[2:])
    assert (
        "device inv: no recent values" in later[0] and "has not uploaded for more than 5 minutes" in later[1]
    )
    assert asyncio.run(rounds(8)) == [0]  # a restart sends nothing again

    grant_id = grant.json()["id"]
    assert owner.http.delete(f"/api/v1/sites/{site}/maintenance/{grant_id}").is_success
    ingest(portal, token, site, 2, {"inv": "ok", "meter": "ok"})
    assert asyncio.run(rounds(0)) == [3]  # window ended, uploading again, inv back
    resolved = sorted(str(m["Subject"]) for m in inbox.wait(7)[4:])
    assert all(s.endswith("(resolved)") for s in resolved), resolved
    assert len(inbox.messages) == 7

    assert owner.http.put(base, json={"pv": False}).json()["pv"] is False  # switched off: forgotten
    with portal.db.connect() as conn:
        left = conn.execute("SELECT subject FROM notify_state WHERE active = %s", (True,)).fetchall()
    assert left == []


# ------------------------------------------------------------ device health: edge -> portal


async def test_the_uplink_sends_device_health_when_it_changes(portal: Portal, tmp_path: Path) -> None:  # noqa: F811
    acc = account(portal)
    site = new_site(acc)
    token = edge_token(acc, site)
    states = {"inv": "ok", "meter": "ok"}
    box = Outbox(tmp_path / "o.db")
    up = Uplink(
        box,
        UplinkConfig(
            url=portal.url, site=site, edge_id="e1", token=token, health=lambda: dict(states), fmt="json"
        ),
    )
    sent: list[dict] = []
    post = up.client.post

    async def spy(url: str, **kw: object) -> httpx.Response:
        doc = json.loads(gzip.decompress(kw["content"]))  # type: ignore[arg-type]
        sent.append(doc.get("health"))
        return await post(url, **kw)  # type: ignore[arg-type]

    up.client.post = spy  # type: ignore[method-assign]

    def health_rows() -> dict[str, tuple[str, str]]:
        with portal.db.connect() as conn:
            rows = conn.execute("SELECT device, state, since FROM device_health").fetchall()
        return {d: (s, str(t)) for d, s, t in rows}

    try:
        for i in range(4):
            states["inv"] = ("ok", "ok", "stale", "error")[i]
            box.append_raw([("meter.power", now_ms() - 1000 + i, 100.0 + i)])
            assert await up.drain() == 1
            if i == 0:
                first = health_rows()
            if i == 2:
                went_stale = health_rows()

        def broken() -> dict[str, str]:
            raise RuntimeError("no view")

        up.config.health = broken  # a failing health source never stops the readings
        box.append_raw([("meter.power", now_ms(), 1.0)])
        assert await up.drain() == 1
    finally:
        await up.aclose()
    assert sent == [
        {"inv": "ok", "meter": "ok"},
        None,
        {"inv": "stale", "meter": "ok"},
        {"inv": "error", "meter": "ok"},
        None,
    ]
    now = health_rows()
    assert (
        went_stale["inv"][0] == "stale" and went_stale["inv"][1] != first["inv"][1]
    )  # turned bad: since moves
    assert now["inv"] == ("error", went_stale["inv"][1])  # stale to error: one spell, 'since' stays
    assert now["meter"] == first["meter"]  # unchanged: its 'since' stays
    r = httpx.post(
        f"{portal.url}/api/v1/ingest",
        json={
            "site": site,
            "edge_id": "e1",
            "readings": [[9, "meter.power", now_ms(), 1.0]],
            "health": ["x"],
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200 and "an object" in r.json()["health_error"] and r.json()["stored"] == 1
    assert health_rows() == now  # a bad health object changes nothing


def test_the_edge_reports_each_devices_state(tmp_path: Path) -> None:
    cfg = parse_config(site_file(tmp_path))
    edge = assemble(cfg)
    try:
        assert edge.device_health() == {"grid": "stale", "pv1": "stale"}  # nothing read yet: "no value yet"
    finally:
        edge.close()


def test_the_portal_runs_its_notifier_when_it_has_smtp(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:  # noqa: F811
    """The app's own task (no injected clock): a maintenance window opened is mailed within a round."""
    from fastapi.testclient import TestClient

    from wattwerk.portal.app import PortalConfig, create_app

    inbox, port = smtp
    config = PortalConfig(
        db_url=f"sqlite:///{tmp_path}/portal.db",
        smtp=mail.SmtpConfig(host="127.0.0.1", sender="portal@example.org", port=port, starttls=False),
        notify_every_s=0.2,
    )
    with TestClient(create_app(config), base_url="http://127.0.0.1") as http:
        for alias in ("owner1", "ines1"):
            body = {"alias": alias, "password": "correct horse battery", "email": f"{alias}@example.org"}
            assert http.post("/api/v1/accounts", json=body).status_code == 201
        csrf = http.post("/api/v1/session", json={"alias": "owner1", "password": "correct horse battery"})
        http.headers["X-CSRF-Token"] = csrf.json()["csrf"]
        site = http.post("/api/v1/sites", json={"label": "flat"}).json()["site"]
        assert http.put(f"/api/v1/sites/{site}/notifications", json={"maintenance": True}).status_code == 200
        assert http.post(
            f"/api/v1/sites/{site}/maintenance", json={"installer": "ines1", "hours": 1}
        ).is_success
        got = inbox.wait(1)
        time.sleep(0.6)  # three more rounds: nothing sent twice
    assert len(got) == 1 and got[0]["To"] == "owner1@example.org"
    assert got[0]["Subject"] == "wattwerk flat: maintenance window opened for ines1"
