"""Accounts by alias: argon2 passwords, session cookie flags, CSRF, login rate limit, TOTP,
password reset, personal access tokens and their scopes — against the real portal."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pyotp

from portal_fixtures import PASSWORD, Portal, account, new_site, portal, unique  # noqa: F401
from test_ingest_support import database, pg  # noqa: F401
from wattwerk.portal import accounts
from wattwerk.portal.database import utcnow


def test_register_login_cookie_flags_and_argon2(portal: Portal) -> None:  # noqa: F811
    alias = unique()
    with portal.client() as http:
        assert http.post("/api/v1/accounts", json={"alias": alias, "password": PASSWORD}).status_code == 201
        again = http.post("/api/v1/accounts", json={"alias": alias, "password": PASSWORD})
        assert again.status_code == 409
        short = http.post("/api/v1/accounts", json={"alias": unique(), "password": "short"})
        assert short.status_code == 400 and "password" in short.json()["detail"]
        r = http.post("/api/v1/session", json={"alias": alias, "password": PASSWORD})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie  # plain http
        assert http.get("/api/v1/me").json()["alias"] == alias
    with portal.pg.connect() as conn:
        stored = conn.execute("SELECT password_hash FROM accounts WHERE alias = %s", (alias,)).fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    with portal.client(headers={"X-Forwarded-Proto": "https"}) as http:
        r = http.post("/api/v1/session", json={"alias": alias, "password": PASSWORD})
        assert "secure" in r.headers["set-cookie"].lower()


def test_csrf_needed_for_cookie_changes_not_for_bearer(portal: Portal) -> None:  # noqa: F811
    acc = account(portal)
    del acc.http.headers["X-CSRF-Token"]
    r = acc.http.post("/api/v1/sites", json={"label": "x"})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = acc.http.post("/api/v1/sites", json={"label": "x"}, headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403
    assert acc.http.get("/api/v1/sites").status_code == 200  # reads need no CSRF token
    made = acc.http.post(
        "/api/v1/tokens", json={"name": "cli", "scopes": ["admin"]}, headers={"X-CSRF-Token": acc.csrf}
    )
    assert made.status_code == 201
    with portal.client(headers={"Authorization": f"Bearer {made.json()['token']}"}) as api:
        assert api.post("/api/v1/sites", json={"label": "by token"}).status_code == 201


def test_login_rate_limit_per_alias(portal: Portal) -> None:  # noqa: F811
    acc = account(portal)
    with portal.client() as http:
        for _ in range(5):
            assert (
                http.post(
                    "/api/v1/session", json={"alias": acc.alias, "password": "wrong!wrong!"}
                ).status_code
                == 401
            )
        blocked = http.post("/api/v1/session", json={"alias": acc.alias, "password": PASSWORD})
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        other = account(portal)  # another alias from the same address is still let in
        assert other.http.get("/api/v1/me").status_code == 200


def test_login_rate_limit_per_address(portal: Portal) -> None:  # noqa: F811
    with portal.client() as http:
        for i in range(20):
            r = http.post("/api/v1/session", json={"alias": f"nobody{i}", "password": "wrong!wrong!"})
            assert r.status_code == 401
        acc_alias = unique()
        http.post("/api/v1/accounts", json={"alias": acc_alias, "password": PASSWORD})
        assert (
            http.post("/api/v1/session", json={"alias": acc_alias, "password": PASSWORD}).status_code == 429
        )


def test_totp_once_confirmed_is_required(portal: Portal) -> None:  # noqa: F811
    acc = account(portal)
    secret = acc.http.post("/api/v1/me/totp", json={"password": PASSWORD}).json()["secret"]
    assert acc.http.post("/api/v1/me/totp/confirm", json={"code": "000000"}).status_code in (200, 400)
    assert (
        acc.http.post("/api/v1/me/totp/confirm", json={"code": pyotp.TOTP(secret).now()}).status_code == 200
    )
    assert acc.http.get("/api/v1/me").json()["totp"] is True
    with portal.client() as http:
        no_code = http.post("/api/v1/session", json={"alias": acc.alias, "password": PASSWORD})
        assert no_code.status_code == 401 and "TOTP" in no_code.json()["detail"]
        ok = http.post(  # the next step's code: the current one was spent confirming
            "/api/v1/session",
            json={"alias": acc.alias, "password": PASSWORD, "totp": pyotp.TOTP(secret).at(time.time() + 30)},
        )
        assert ok.status_code == 200


def test_password_reset_only_with_email(portal: Portal) -> None:  # noqa: F811
    with_mail = account(portal, email="me@example.org")
    without = account(portal)
    with portal.client() as http:
        assert http.post("/api/v1/password-reset", json={"alias": without.alias}).json().get("token") is None
        token = http.post("/api/v1/password-reset", json={"alias": with_mail.alias}).json()["token"]
        assert token
        new = "a brand new passphrase"
        assert (
            http.post("/api/v1/password-reset/confirm", json={"token": token, "password": new}).status_code
            == 200
        )
        assert (
            http.post("/api/v1/password-reset/confirm", json={"token": token, "password": new}).status_code
            == 400
        )
        assert (
            http.post("/api/v1/session", json={"alias": with_mail.alias, "password": PASSWORD}).status_code
            == 401
        )
        assert (
            http.post("/api/v1/session", json={"alias": with_mail.alias, "password": new}).status_code == 200
        )
    assert with_mail.http.get("/api/v1/me").status_code == 401  # old sessions ended with the reset


def test_token_scopes_expiry_and_revocation(portal: Portal) -> None:  # noqa: F811
    acc = account(portal)
    site = new_site(acc)
    read = acc.http.post("/api/v1/tokens", json={"name": "read", "scopes": ["read"], "days": 1}).json()
    ingest = acc.http.post("/api/v1/tokens", json={"name": "pair", "scopes": ["ingest"]}).json()
    with portal.pg.connect() as conn:
        stored = conn.execute("SELECT token_hash FROM access_tokens WHERE id = %s", (read["id"],)).fetchone()[
            0
        ]
    assert read["token"].encode() not in bytes(stored)
    with httpx.Client(base_url=portal.url, headers={"Authorization": f"Bearer {read['token']}"}) as api:
        assert api.get(f"/api/v1/sites/{site}").status_code == 200
        denied = api.post("/api/v1/sites", json={"label": "nope"})
        assert denied.status_code == 403 and "scope" in denied.json()["detail"]
        assert api.post(f"/api/v1/sites/{site}/edge-tokens").status_code == 403
    with httpx.Client(base_url=portal.url, headers={"Authorization": f"Bearer {ingest['token']}"}) as api:
        assert api.post(f"/api/v1/sites/{site}/edge-tokens").status_code == 201  # pairing an edge
        assert api.get(f"/api/v1/sites/{site}").status_code == 403  # but no reading
    with portal.pg.connect() as conn:
        conn.execute(
            "UPDATE access_tokens SET expires_at = %s WHERE id = %s",
            (utcnow() - timedelta(seconds=1), read["id"]),
        )
    with httpx.Client(base_url=portal.url, headers={"Authorization": f"Bearer {read['token']}"}) as api:
        assert api.get("/api/v1/me").status_code == 401
    assert acc.http.delete(f"/api/v1/tokens/{ingest['id']}").status_code == 200
    with httpx.Client(base_url=portal.url, headers={"Authorization": f"Bearer {ingest['token']}"}) as api:
        assert api.post(f"/api/v1/sites/{site}/edge-tokens").status_code == 401
    listed = {t["name"]: t["active"] for t in acc.http.get("/api/v1/tokens").json()}
    assert listed == {"read": False, "pair": False}


def test_operator_makes_an_admin(portal: Portal) -> None:  # noqa: F811
    acc = account(portal)
    assert acc.http.post("/api/v1/admin/retention/run").status_code == 403
    schema = ["--schema", portal.db.schema] if portal.db.schema else []
    argv = ["--db", portal.db.url, *schema, "--make-admin"]
    assert accounts.main([*argv, "nobody-here"]) == 1
    assert accounts.main([*argv, acc.alias]) == 0
    assert acc.http.get("/api/v1/me").json()["admin"] is True
    assert acc.http.post("/api/v1/admin/retention/run").status_code == 200
