"""Pairing codes on the real portal, on PostgreSQL and on SQLite: the owner's code is spent once
for a site token that ingest accepts; expired, used, wrong and malformed codes are clear 4xx;
failures are limited per address; only the code's hash is stored."""

from __future__ import annotations

from datetime import timedelta

import httpx

from portal_fixtures import Portal, account, database, new_site, now_ms, pg, portal, upload  # noqa: F401
from wattwerk.portal import auth, pairing
from wattwerk.portal.database import utcnow


def _code(portal: Portal, label: str = "Haus am See") -> tuple[str, str, dict]:  # noqa: F811
    acc = account(portal)
    site = new_site(acc, label)
    r = acc.http.post(f"/api/v1/sites/{site}/pairing-codes")
    assert r.status_code == 201, r.text
    return acc.alias, site, r.json()


def _spend(portal: Portal, code: str) -> httpx.Response:  # noqa: F811
    return httpx.post(f"{portal.url}/api/v1/pairing", json={"code": code}, timeout=30.0)


def test_code_pairs_once_and_the_token_uploads(portal: Portal) -> None:  # noqa: F811
    _, site, shown = _code(portal)
    assert len(shown["code"]) == 14 and shown["code"].count("-") == 2 and shown["minutes"] == 10
    assert shown["qr_svg"].startswith("<svg") and "<script" not in shown["qr_svg"]
    with portal.db.connect() as conn:  # only the hash is kept
        stored = conn.execute("SELECT code_hash FROM pairing_codes").fetchall()
    assert [bytes(r[0]) for r in stored] == [auth.sha256(pairing.normalise(shown["code"]))]

    r = _spend(portal, " " + shown["code"].lower().replace("-", " ") + " ")  # as typed from a phone
    assert r.status_code == 201, r.text
    paired = r.json()
    assert paired["site"] == site and paired["label"] == "Haus am See" and paired["token"]
    upload(portal, paired["token"], site, [("pv1.power", now_ms(), 1234.5)])

    again = _spend(portal, shown["code"])
    assert again.status_code == 410 and "used already" in again.json()["detail"]


def test_expired_wrong_and_malformed_codes(portal: Portal) -> None:  # noqa: F811
    _, _, shown = _code(portal)
    with portal.db.connect() as conn:
        conn.execute("UPDATE pairing_codes SET expires_at = %s", (utcnow() - timedelta(seconds=1),))
    r = _spend(portal, shown["code"])
    assert r.status_code == 410 and "expired" in r.json()["detail"]

    r = _spend(portal, "ABCD-EFGH-JKMN")
    assert r.status_code == 404 and "unknown pairing code" in r.json()["detail"]
    r = _spend(portal, "not-a-code")
    assert r.status_code == 400 and "12 letters and digits" in r.json()["detail"]
    r = _spend(portal, "")
    assert r.status_code == 422


def test_only_the_owner_makes_codes(portal: Portal) -> None:  # noqa: F811
    owner = account(portal)
    site = new_site(owner)
    other = account(portal)
    assert other.http.post(f"/api/v1/sites/{site}/pairing-codes").status_code == 404
    r = owner.http.put(f"/api/v1/sites/{site}/grants/{other.alias}", json={"role": "viewer"})
    assert r.status_code == 200, r.text
    r = other.http.post(f"/api/v1/sites/{site}/pairing-codes")
    assert r.status_code == 403 and "owner" in r.json()["detail"]
    anonymous = httpx.post(f"{portal.url}/api/v1/sites/{site}/pairing-codes", timeout=30.0)
    assert anonymous.status_code == 401


def test_wrong_codes_are_limited_per_address(portal: Portal) -> None:  # noqa: F811
    _, _, shown = _code(portal)
    for _ in range(pairing.FAIL_LIMIT):
        assert _spend(portal, "ZZZZ-ZZZZ-ZZZZ").status_code == 404
    r = _spend(portal, shown["code"])  # even the right code waits: guessing must not go on
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "too many" in r.json()["detail"]
    with portal.db.connect() as conn:  # the window passes
        conn.execute("UPDATE pairing_failures SET at = %s", (utcnow() - pairing.FAIL_WINDOW,))
    assert _spend(portal, shown["code"]).status_code == 201
