"""The portal pages' server side: languages, the widget plugin interface (entry points), page
shells, the pages' API additions (tariff, the caller's maintenance grants, the widget list) and
the static files, against the real portal on PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from portal_fixtures import Portal, account, new_site, portal  # noqa: F401
from test_ingest_support import database, pg  # noqa: F401
from wattwerk.portal import i18n, pages, widgets
from wattwerk.portal.database import utcnow

NEWS = widgets.Widget("coop_news", "Cooperative news", html="<p>Annual meeting on Friday</p>", order=5)
NOT_A_WIDGET = {"id": "nope"}


def boot(html: str) -> dict:
    m = re.search(r'<script id="boot" type="application/json">(.*?)</script>', html, re.S)
    assert m, "no boot data in the page"
    return json.loads(m.group(1))


# ------------------------------------------------------------ languages


def test_catalogues_have_the_same_keys_and_no_empty_strings() -> None:
    keys = {lang: set(i18n.catalog(lang)) for lang in i18n.LANGS}
    assert keys["de"] == keys["en"] == keys["fr"]
    for lang in i18n.LANGS:
        assert all(v.strip() for v in i18n.catalog(lang).values()), lang
    assert i18n.text("de", "login.title") == "Anmelden"
    assert i18n.text("fr", "no.such.key") == "no.such.key"


@pytest.mark.parametrize(
    ("query", "cookie", "header", "want"),
    [
        (None, None, "de-DE,de;q=0.9,en;q=0.8", "de"),
        (None, None, "fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fr"),
        (None, None, "it-IT,it;q=0.9,fr;q=0.3,de;q=0.5", "de"),  # by q, not by order
        (None, None, "ja,zh", "en"),
        (None, None, "de;q=0,fr", "fr"),  # q=0 means "not this"
        (None, None, "", "en"),
        (None, "fr", "de", "fr"),  # the switch wins over the browser
        ("de", "fr", "en", "de"),  # and ?lang= over the switch
        ("xx", None, "fr", "fr"),  # an unknown choice is ignored
        (None, None, "de;q=abc,fr;q=0.5", "fr"),  # a malformed q is no preference
    ],
)
def test_negotiate(query: str | None, cookie: str | None, header: str, want: str) -> None:
    assert i18n.negotiate(query, cookie, header) == want


# ------------------------------------------------------------ widgets


def test_builtin_widgets_come_from_entry_points_and_their_scripts_exist() -> None:
    reg = widgets.load()
    ids = [w.id for w in reg.widgets]
    assert ids[0] == "live" and {"energy", "selfuse", "cost", "plan", "compare"} <= set(ids)
    assert not {"forecast", "schedule"} & set(ids)  # the plan widget shows both (one way, issue #8)
    assert reg.broken == {}
    for w in reg.widgets:
        assert w.script and (pages.STATIC / w.script.removeprefix("/static/")).is_file(), w.id
        assert w.title in i18n.catalog("en"), w.id


def test_plugins_are_checked_and_broken_ones_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    group = "wattwerk.portal.widgets"
    eps = [
        EntryPoint("news", "test_portal_pages:NEWS", group),
        EntryPoint("bad", "test_portal_pages:NOT_A_WIDGET", group),
        EntryPoint("gone", "no_such_module_x:W", group),
        EntryPoint("zz_dup", "wattwerk.portal.widgets:live", group),
        EntryPoint("live", "wattwerk.portal.widgets:live", group),
    ]
    monkeypatch.setattr(widgets, "entry_points", lambda group: [e for e in eps if e.group == group])
    reg = widgets.load()
    assert [w.id for w in reg.widgets] == ["coop_news", "live"]  # ordered by `order`
    assert set(reg.broken) == {"bad", "gone", "zz_dup"}
    assert "not a Widget" in reg.broken["bad"] and "duplicate" in reg.broken["zz_dup"]


@pytest.mark.parametrize(
    ("widget", "why"),
    [
        (widgets.Widget("a b", "t", html="x"), "bad widget id"),
        (widgets.Widget("a", "t", ("weather",), html="x"), "unknown data"),
        (widgets.Widget("a", "t", script="https://cdn.example/x.js"), "path on this server"),
        (widgets.Widget("a", "t"), "neither"),
    ],
)
def test_check_refuses_bad_widgets(widget: widgets.Widget, why: str) -> None:
    with pytest.raises(widgets.WidgetError, match=why):
        widgets.check(widget)


# ------------------------------------------------------------ pages on the real portal


def test_pages_signed_out_redirect_and_speak_the_browsers_language(portal: Portal) -> None:  # noqa: F811
    with portal.client(follow_redirects=False) as http:
        r = http.get("/sites")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/sites"
        assert http.get("/").headers["location"] == "/login"
        r = http.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
        assert r.status_code == 200 and '<html lang="de">' in r.text and "Anmelden" in r.text
        b = boot(r.text)
        assert b["page"] == "login" and b["csrf"] is None and b["strings"]["login.submit"] == "Anmelden"
        r = http.get("/login?lang=fr&next=//evil.example/")
        assert "Connexion" in r.text and boot(r.text)["next"] == "/sites"  # no open redirect
        assert r.cookies.get(i18n.COOKIE) == "fr"
        assert "Connexion" in http.get("/login", headers={"Accept-Language": "de"}).text  # the cookie wins
        for path in (
            "/static/vendor/uplot/uPlot.iife.min.js",
            "/static/portal/portal.js",
            "/static/portal/i18n/fr.json",
            "/static/style.css",
        ):
            assert http.get(path).status_code == 200, path


def test_dashboard_shell_lists_widgets_and_carries_the_csrf_token(portal: Portal) -> None:  # noqa: F811
    owner = account(portal)
    site = new_site(owner)
    r = owner.http.get(f"/sites/{site}", headers={"Accept-Language": "fr"})
    assert r.status_code == 200
    b = boot(r.text)
    assert b["csrf"] == owner.csrf and b["site"] == site and b["lang"] == "fr"
    assert b["widgets"][0]["id"] == "live"
    assert b["widgets"][0]["title"] == "Flux de puissance maintenant"
    for w in b["widgets"]:
        assert f'<script src="{w["script"]}"></script>' in r.text
    german = boot(owner.http.get(f"/sites/{site}", headers={"Accept-Language": "de"}).text)
    assert german["widgets"][0]["title"] == "Leistungsflüsse jetzt"


def test_a_foreign_sites_pages_answer_like_a_missing_ones(portal: Portal) -> None:  # noqa: F811
    owner, stranger, installer = account(portal), account(portal), account(portal)
    site = new_site(owner)
    for path in ("", "/access", "/maintain"):
        assert owner.http.get(f"/sites/{site}{path}").status_code == 200
        foreign = stranger.http.get(f"/sites/{site}{path}")
        missing = stranger.http.get(f"/sites/s_0000000000000000{path}")
        assert foreign.status_code == missing.status_code == 404
        assert foreign.text == missing.text
    assert installer.http.get(f"/sites/{site}/maintain").status_code == 404
    owner.http.post(f"/api/v1/sites/{site}/maintenance", json={"installer": installer.alias, "hours": 1})
    assert installer.http.get(f"/sites/{site}/maintain").status_code == 200
    assert installer.http.get(f"/sites/{site}").status_code == 404  # maintenance is not data access


def test_tariff_owner_sets_viewer_reads_stranger_sees_nothing(portal: Portal) -> None:  # noqa: F811
    owner, viewer, stranger = account(portal), account(portal), account(portal)
    site = new_site(owner)
    grant = owner.http.put(f"/api/v1/sites/{site}/grants/{viewer.alias}", json={"role": "viewer"})
    assert grant.status_code == 200
    first = owner.http.get(f"/api/v1/sites/{site}/tariff").json()
    assert first["default"] is True and first["edge"] is None  # no plan from the edge yet
    body = {"import_per_kwh": 0.3412, "export_per_kwh": 0.0811, "currency": "EUR"}
    r = owner.http.put(f"/api/v1/sites/{site}/tariff", json=body)
    assert r.status_code == 200, r.text
    seen = viewer.http.get(f"/api/v1/sites/{site}/tariff").json()
    assert seen == {**body, "default": False, "edge": None}
    assert viewer.http.put(f"/api/v1/sites/{site}/tariff", json=body).status_code == 403
    assert stranger.http.get(f"/api/v1/sites/{site}/tariff").status_code == 404
    assert stranger.http.put(f"/api/v1/sites/{site}/tariff", json=body).status_code == 404
    for bad in ({**body, "import_per_kwh": -1}, {**body, "currency": "<b>"}, {"currency": "EUR"}):
        r = owner.http.put(f"/api/v1/sites/{site}/tariff", json=bad)
        assert r.status_code == 422 and r.json()["detail"], bad
    assert owner.http.put(f"/api/v1/sites/{site}/tariff", content=b"{not json").status_code == 422
    assert stranger.http.put(f"/api/v1/sites/{site}/tariff", content=b"{not json").status_code == 404
    no_csrf = portal.client(cookies=owner.http.cookies)
    assert no_csrf.put(f"/api/v1/sites/{site}/tariff", json=body).status_code == 403
    actions = [e["action"] for e in owner.http.get(f"/api/v1/sites/{site}/audit").json()]
    assert actions.count("tariff.set") == 1


def test_my_maintenance_lists_live_grants_only(portal: Portal) -> None:  # noqa: F811
    owner, installer = account(portal), account(portal)
    site = new_site(owner)
    assert installer.http.get("/api/v1/maintenance").json() == []
    g = owner.http.post(f"/api/v1/sites/{site}/maintenance", json={"installer": installer.alias, "hours": 1})
    assert g.status_code == 201
    mine = installer.http.get("/api/v1/maintenance").json()
    assert [m["site"] for m in mine] == [site] and mine[0]["grant"] == g.json()["id"]
    assert owner.http.get("/api/v1/maintenance").json() == []  # the owner granted, holds none
    with portal.pg.connect() as conn:
        conn.execute(
            "UPDATE maintenance_grants SET starts_at = %s, expires_at = %s",
            (utcnow() - timedelta(hours=2), utcnow() - timedelta(seconds=1)),
        )
    assert installer.http.get("/api/v1/maintenance").json() == []
    with portal.client() as anon:
        assert anon.get("/api/v1/maintenance").status_code == 401


def test_static_folder_has_the_three_languages() -> None:
    folder = Path(pages.STATIC) / "portal" / "i18n"
    assert sorted(p.stem for p in folder.glob("*.json")) == sorted(i18n.LANGS)
