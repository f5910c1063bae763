"""Shared helpers for the portal's account/API tests: the real app under uvicorn on loopback,
on a database of its own — once on PostgreSQL and once on SQLite (the ``database`` fixture;
a module that needs only PostgreSQL defines ``database`` as ``pg``) — and signed-in accounts
as httpx clients."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from argon2 import PasswordHasher

from test_ingest_support import PgSchema, PortalDb, database, pg, serve_portal  # noqa: F401
from wattwerk.portal import auth

PASSWORD = "correct horse battery"
auth.set_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))  # fast for tests


@dataclass
class Portal:
    url: str
    db: PortalDb
    app: object

    @property
    def pg(self) -> PortalDb:
        """The database (the older name, from when it was PostgreSQL only)."""
        return self.db

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def client(self, **kw: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, **kw)  # type: ignore[arg-type]


@pytest.fixture
def portal(database: PortalDb) -> Iterator[Portal]:  # noqa: F811
    with serve_portal(database) as running:
        running.app.state.reset_tokens_in_response = True  # type: ignore[attr-defined]
        yield Portal(running.url, database, running.app)


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@dataclass
class Account:
    alias: str
    http: httpx.Client  # carries the session cookie and the CSRF header
    csrf: str


def account(portal: Portal, alias: str | None = None, email: str | None = None) -> Account:
    """Register an alias and sign in."""
    alias = alias or unique()
    http = portal.client()
    r = http.post("/api/v1/accounts", json={"alias": alias, "password": PASSWORD, "email": email})
    assert r.status_code == 201, r.text
    r = http.post("/api/v1/session", json={"alias": alias, "password": PASSWORD})
    assert r.status_code == 200, r.text
    csrf = r.json()["csrf"]
    http.headers["X-CSRF-Token"] = csrf
    return Account(alias, http, csrf)


def new_site(acc: Account, label: str = "home") -> str:
    r = acc.http.post("/api/v1/sites", json={"label": label})
    assert r.status_code == 201, r.text
    return r.json()["site"]


def edge_token(acc: Account, site: str) -> str:
    r = acc.http.post(f"/api/v1/sites/{site}/edge-tokens")
    assert r.status_code == 201, r.text
    return r.json()["token"]


def upload(
    portal: Portal,
    token: str,
    site: str,
    readings: list[tuple[str, int, float]],
    edge: str = "e1",
    first_seq: int = 1,
) -> dict:
    """Send (channel, ts_ms, value) readings through the real ingest endpoint."""
    rows = [[first_seq + i, ch, ts, v] for i, (ch, ts, v) in enumerate(readings)]
    r = httpx.post(
        f"{portal.url}/api/v1/ingest",
        json={"site": site, "edge_id": edge, "readings": rows},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rejected"] == [], body
    return body


def now_ms() -> int:
    return int(time.time() * 1000)
