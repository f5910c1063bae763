"""Tenant isolation for every route of the portal: nobody reads or changes another tenant's data,
and a foreign id answers exactly like a missing one. The route list comes from the app's own
OpenAPI document, so a new route without a case here fails the first test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from portal_fixtures import PASSWORD, Account, Portal, account, edge_token, new_site, now_ms, portal, upload  # noqa: F401
from test_ingest_support import database, pg  # noqa: F401
from wattwerk.portal import db

MISSING_SITE = "s_0000000000000000"
MISSING_ID = 2_000_000_000

# Routes that are not about one tenant's data, with the reason (and where they are tested).
EXEMPT = {
    "POST /api/v1/accounts": "creates an account; no tenant data",
    "POST /api/v1/session": "sign-in; answers the same for unknown aliases and wrong passwords",
    "POST /api/v1/password-reset": "answers the same whether the alias exists or not",
    "POST /api/v1/password-reset/confirm": "authorised by the secret reset token only",
    "POST /api/v1/pairing": "the single-use pairing code names its site; nothing else (test_portal_pairing)",
    "GET /api/v1/health": "no tenant data",
    "POST /api/v1/ingest": "edge token bound to one site; a batch for another site is refused (test_ingest)",
    "POST /sensor/{sensor_id}": "HMAC with the sensor's own key (test_compat)",
    "POST /device/{device_id}": "HMAC with the device's own key (test_compat)",
    "POST /middleware.php/data/{uuid}.json": "volkszaehler: the channel UUID is the secret (test_compat)",
}


@dataclass
class World:
    portal: Portal
    a: Account  # the tenant who tries
    b: Account  # the tenant whose data must stay out of reach
    installer: Account  # B's installer
    site_a: str
    site_b: str
    edge_a: str
    grant_b: int
    command_b: int
    token_b: dict
    sensor_b: str
    pat_a: str


def same_404(r1: httpx.Response, r2: httpx.Response) -> None:
    assert r1.status_code == r2.status_code == 404, (r1.request.url, r1.status_code, r1.text, r2.text)
    assert r1.content == r2.content and r1.headers.get("content-type") == r2.headers.get("content-type")


BODIES = {
    "PUT /api/v1/sites/{site}/grants/{alias}": {"role": "viewer"},
    "POST /api/v1/sites/{site}/maintenance": {"installer": "PLACEHOLDER", "hours": 1},
    "POST /api/v1/sites/{site}/maintenance/commands": {"kind": "set_config", "payload": {"x": 1}},
    "PUT /api/v1/sites/{site}/retention": {"archive": True, "research_consent": True},
    "PUT /api/v1/sites/{site}/timezone": {"tz": "Europe/Berlin"},
    "POST /api/v1/sites/{site}/owner/{device}": {"mode": "pv"},
}


def site_case(key: str) -> Callable[[World], None]:
    """A site route: B's site answers A exactly like a missing one; with ids, B's ids under A's
    own site answer like missing ids too."""
    method, template = key.split(" ", 1)

    def run(w: World) -> None:
        body = BODIES.get(key)
        if body and "installer" in body:
            body = {**body, "installer": w.installer.alias}

        def call(site: str, obj: int | None) -> httpx.Response:
            path = template.replace("{site}", site).replace("{alias}", w.installer.alias)
            path = path.replace("{device}", "ev1")
            if "{grant_id}" in path:
                path = path.replace("{grant_id}", str(obj))
            if "{command_id}" in path:
                path = path.replace("{command_id}", str(obj))
            return w.a.http.request(method, path, json=body)

        obj_b = w.grant_b if "{grant_id}" in template else w.command_b
        same_404(call(w.site_b, obj_b), call(MISSING_SITE, obj_b))
        if "{grant_id}" in template or "{command_id}" in template:
            same_404(call(w.site_a, obj_b), call(w.site_a, MISSING_ID))

    return run


def case_me(w: World) -> None:
    assert w.a.http.get("/api/v1/me").json()["alias"] == w.a.alias


def case_session_delete(w: World) -> None:
    extra = account(w.portal, w.a.alias + "x")
    assert extra.http.delete("/api/v1/session").status_code == 200
    assert extra.http.get("/api/v1/me").status_code == 401
    assert w.b.http.get("/api/v1/me").json()["alias"] == w.b.alias  # B's session untouched


def case_totp(w: World) -> None:
    assert w.a.http.post("/api/v1/me/totp", json={"password": PASSWORD}).status_code == 200
    assert w.a.http.post("/api/v1/me/totp/confirm", json={"code": "000000"}).status_code in (200, 400)
    with w.portal.pg.connect() as conn:
        row = conn.execute(
            "SELECT totp_pending, totp_secret FROM accounts WHERE alias = %s", (w.b.alias,)
        ).fetchone()
    assert row == (None, None)


def case_tokens_list(w: World) -> None:
    ids = {t["id"] for t in w.a.http.get("/api/v1/tokens").json()}
    assert w.token_b["id"] not in ids


def case_tokens_new(w: World) -> None:
    made = w.a.http.post("/api/v1/tokens", json={"name": "iso", "scopes": ["read"]}).json()
    assert made["id"] not in {t["id"] for t in w.b.http.get("/api/v1/tokens").json()}


def case_token_delete(w: World) -> None:
    same_404(
        w.a.http.delete(f"/api/v1/tokens/{w.token_b['id']}"), w.a.http.delete(f"/api/v1/tokens/{MISSING_ID}")
    )
    with httpx.Client(base_url=w.portal.url, headers={"Authorization": f"Bearer {w.token_b['token']}"}) as b:
        assert b.get("/api/v1/me").status_code == 200


def case_sites_list(w: World) -> None:
    assert w.site_b not in {s["site"] for s in w.a.http.get("/api/v1/sites").json()}


def case_sites_new(w: World) -> None:
    made = w.a.http.post("/api/v1/sites", json={"label": "iso"}).json()["site"]
    assert made not in {s["site"] for s in w.b.http.get("/api/v1/sites").json()}


def case_admin_only(path: str, method: str) -> Callable[[World], None]:
    def run(w: World) -> None:
        assert w.a.http.request(method, path).status_code == 403

    return run


def case_edge_poll(w: World) -> None:
    r = httpx.get(f"{w.portal.url}/api/v1/edge/commands", headers={"Authorization": f"Bearer {w.edge_a}"})
    assert r.status_code == 200 and r.json()["commands"] == []
    assert (
        w.b.http.get(f"/api/v1/sites/{w.site_b}/maintenance/commands/{w.command_b}").json()["state"]
        == "pending"
    )


def case_edge_result(w: World) -> None:
    def post(cid: int) -> httpx.Response:
        return httpx.post(
            f"{w.portal.url}/api/v1/edge/commands/{cid}/result",
            json={"ok": True, "result": 1},
            headers={"Authorization": f"Bearer {w.edge_a}"},
        )

    same_404(post(w.command_b), post(MISSING_ID))


def case_owner_result(w: World) -> None:
    """A's edge cannot answer (or learn of) an owner command queued for B's edge."""
    with w.portal.pg.connect() as conn:
        site_id = conn.execute("SELECT id FROM sites WHERE name = %s", (w.site_b,)).fetchone()[0]
        owner = conn.execute("SELECT id FROM accounts WHERE alias = %s", (w.b.alias,)).fetchone()[0]
        cid = conn.execute(
            "INSERT INTO owner_commands (site_id, issued_by, device, settings) VALUES (%s, %s, %s, %s) "
            "RETURNING id",
            (site_id, owner, "ev1", '{"mode": "pv"}'),
        ).fetchone()[0]

    def post(command_id: int) -> httpx.Response:
        return httpx.post(
            f"{w.portal.url}/api/v1/edge/commands/o{command_id}/result",
            json={"ok": True, "result": {"mode": "off"}},
            headers={"Authorization": f"Bearer {w.edge_a}"},
        )

    same_404(post(cid), post(MISSING_ID))
    with w.portal.pg.connect() as conn:
        row = conn.execute("SELECT state, result FROM owner_commands WHERE id = %s", (cid,)).fetchone()
    assert row[0] == "pending" and row[1] is None


def case_sensor_read(w: World) -> None:
    def get(sensor: str) -> httpx.Response:
        return httpx.get(
            f"{w.portal.url}/sensor/{sensor}",
            params={"interval": "hour"},
            headers={"X-Token": w.pat_a, "X-Version": "1.0"},
        )

    same_404(get(w.sensor_b), get("c" * 32))


def case_my_maintenance(w: World) -> None:
    assert w.site_b not in {m["site"] for m in w.a.http.get("/api/v1/maintenance").json()}
    assert w.site_b in {m["site"] for m in w.installer.http.get("/api/v1/maintenance").json()}


def case_plan_upload(w: World) -> None:
    """A's edge token cannot put a plan on B's site (tests/test_plans.py covers the rest)."""
    slot = now_ms() // 900_000 * 900_000
    one = {"ts_ms": slot, "price": 0.3, "sell": 0.1, "pv_w": 0, "load_w": 1, "grid_w": 1, "cost_eur": 0.0}
    doc = {
        "site": w.site_b,
        "edge_id": "e",
        "made_at_ms": now_ms(),
        "status": "optimal",
        "pv_source": "x",
        "currency": "EUR",
        "slot_minutes": 15,
        "slots": [one],
    }
    r = httpx.post(f"{w.portal.url}/api/v1/plans", json=doc, headers={"Authorization": f"Bearer {w.edge_a}"})
    assert r.status_code == 403, r.text
    assert w.b.http.get(f"/api/v1/sites/{w.site_b}/plan").json()["plan"] is None


CASES: dict[str, Callable[[World], None]] = {
    "GET /api/v1/me": case_me,
    "DELETE /api/v1/session": case_session_delete,
    "POST /api/v1/me/totp": case_totp,
    "POST /api/v1/me/totp/confirm": case_totp,
    "GET /api/v1/tokens": case_tokens_list,
    "POST /api/v1/tokens": case_tokens_new,
    "DELETE /api/v1/tokens/{token_id}": case_token_delete,
    "GET /api/v1/sites": case_sites_list,
    "POST /api/v1/sites": case_sites_new,
    "POST /api/v1/admin/retention/run": case_admin_only("/api/v1/admin/retention/run", "POST"),
    "GET /api/v1/research/export": case_admin_only("/api/v1/research/export", "GET"),
    "POST /api/v1/admin/invites": case_admin_only("/api/v1/admin/invites", "POST"),
    "GET /api/v1/operator/sites": case_admin_only("/api/v1/operator/sites", "GET"),
    "PUT /api/v1/operator/sites/{name}/caps": case_admin_only(
        f"/api/v1/operator/sites/{MISSING_SITE}/caps", "PUT"
    ),
    "GET /api/v1/operator/settings": case_admin_only("/api/v1/operator/settings", "GET"),
    "PUT /api/v1/operator/settings": case_admin_only("/api/v1/operator/settings", "PUT"),
    "GET /api/v1/edge/commands": case_edge_poll,
    "POST /api/v1/edge/commands/{command_id}/result": case_edge_result,
    "POST /api/v1/edge/commands/o{command_id}/result": case_owner_result,
    "GET /sensor/{sensor_id}": case_sensor_read,
    "GET /api/v1/maintenance": case_my_maintenance,
    "POST /api/v1/plans": case_plan_upload,
}


def routes(portal: Portal) -> set[str]:  # noqa: F811
    spec = httpx.get(f"{portal.url}/api/v1/openapi.json").json()
    return {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops}


def test_every_route_has_an_isolation_case(portal: Portal) -> None:  # noqa: F811
    all_routes = routes(portal)
    covered = set(CASES) | set(EXEMPT) | {r for r in all_routes if "{site}" in r}
    assert all_routes - covered == set(), "routes without a tenant-isolation case"
    assert set(CASES) - all_routes == set(), "cases for routes that no longer exist"


def test_no_tenant_reaches_another(portal: Portal) -> None:  # noqa: F811
    a, b, installer = account(portal), account(portal), account(portal)
    site_a, site_b = new_site(a), new_site(b)
    edge_a, edge_b = edge_token(a, site_a), edge_token(b, site_b)
    upload(portal, edge_b, site_b, [("grid.power", now_ms() - 60_000, 500.0)])
    grant_b = b.http.post(
        f"/api/v1/sites/{site_b}/maintenance", json={"installer": installer.alias, "hours": 2}
    ).json()
    command_b = installer.http.post(
        f"/api/v1/sites/{site_b}/maintenance/commands", json={"kind": "status"}
    ).json()
    token_b = b.http.post("/api/v1/tokens", json={"name": "b", "scopes": ["read"]}).json()
    b.http.put(f"/api/v1/sites/{site_b}/grants/{installer.alias}", json={"role": "installer"})
    sensor_b = "d" * 32
    with portal.pg.connect() as conn:
        db.register_flukso_sensor(conn, site_b, sensor_b, "grid.power", key="k")
    pat_a = a.http.post("/api/v1/tokens", json={"name": "a", "scopes": ["read"]}).json()["token"]
    w = World(
        portal,
        a,
        b,
        installer,
        site_a,
        site_b,
        edge_a,
        grant_b["id"],
        command_b["id"],
        token_b,
        sensor_b,
        pat_a,
    )
    before = {
        "grants": b.http.get(f"/api/v1/sites/{site_b}/grants").json(),
        "retention": b.http.get(f"/api/v1/sites/{site_b}/retention").json(),
        "maintenance": b.http.get(f"/api/v1/sites/{site_b}/maintenance").json(),
    }
    for key in sorted(routes(portal)):
        if key in CASES:
            CASES[key](w)
        elif "{site}" in key:
            site_case(key)(w)
    after = {
        "grants": b.http.get(f"/api/v1/sites/{site_b}/grants").json(),
        "retention": b.http.get(f"/api/v1/sites/{site_b}/retention").json(),
        "maintenance": b.http.get(f"/api/v1/sites/{site_b}/maintenance").json(),
    }
    assert after == before
    with portal.pg.connect() as conn:
        assert conn.execute("SELECT count(*) FROM edge_commands").fetchone()[0] == 1
        assert (
            conn.execute(
                "SELECT count(*) FROM site_tokens s JOIN sites t ON t.id = s.site_id WHERE t.name = %s",
                (site_b,),
            ).fetchone()[0]
            == 1
        )
    audit = b.http.get(f"/api/v1/sites/{site_b}/audit").json()
    assert all(e["actor"] in (b.alias, installer.alias, "edge") for e in audit)
