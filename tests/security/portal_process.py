"""The portal as an attacker meets it: ``wattwerk portal`` as a subprocess on loopback, on an
SQLite file or a PostgreSQL schema of its own. Fixtures for tests/security/test_portal_*."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from test_ingest_support import PG_URL, PortalDb
from wattwerk.portal.database import POSTGRES, SQLITE

PASSWORD = "correct horse battery staple"
UNDER_TEST = "WATTWERK_PORTAL_UNDER_TEST"  # a src folder: run that checkout's ``wattwerk portal``
NOW_MS = int(time.time() * 1000)


@dataclass
class PortalProcess:
    url: str
    db: PortalDb
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    argv: list[str] = field(default_factory=list)

    def client(self, **kw: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0, **kw)  # type: ignore[arg-type]

    def log(self) -> str:
        """Everything the portal process has written to stderr so far."""
        return self.log_path.read_text(errors="replace")

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def register(self, alias: str, password: str = PASSWORD, **extra: object) -> httpx.Response:
        with self.client() as http:
            return http.post("/api/v1/accounts", json={"alias": alias, "password": password, **extra})

    def sign_in(self, alias: str, password: str = PASSWORD, **extra: object) -> httpx.Client:
        """A client signed in as ``alias`` (cookie and CSRF header set)."""
        http = self.client()
        r = http.post("/api/v1/session", json={"alias": alias, "password": password, **extra})
        assert r.status_code == 200, r.text
        http.headers["X-CSRF-Token"] = r.json()["csrf"]
        return http

    def owner_with_site(self, alias: str | None = None) -> tuple[httpx.Client, str, str]:
        """A new account with a site and an edge token: (signed-in client, site, token)."""
        alias = alias or f"u{uuid.uuid4().hex[:10]}"
        assert self.register(alias).status_code == 201
        http = self.sign_in(alias)
        site = http.post("/api/v1/sites", json={"label": "home"}).json()["site"]
        token = http.post(f"/api/v1/sites/{site}/edge-tokens").json()["token"]
        return http, site, token

    def cli(self, *args: str) -> str:
        """``wattwerk portal`` with this portal's database and extra arguments (e.g. --invite)."""
        env = {**os.environ, "PYTHONPATH": os.environ[UNDER_TEST]} if os.environ.get(UNDER_TEST) else None
        out = subprocess.run(
            [sys.executable, "-m", "wattwerk", "portal", *self.db_args(), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            env=env,
        )
        return out.stdout.strip()

    def db_args(self) -> list[str]:
        args = ["--db", self.db.url, "--data-dir", str(self.data_dir)]
        return [*args, "--schema", self.db.schema] if self.db.schema else args


@contextlib.contextmanager
def portal_process(
    db: PortalDb, data_dir: Path, *extra: str, host: str = "127.0.0.1", env: dict[str, str] | None = None
) -> Iterator[PortalProcess]:
    """``wattwerk portal`` on a free port; stopped (and waited for) afterwards."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port_file = data_dir / f"port-{uuid.uuid4().hex[:6]}"
    log_path = data_dir / f"portal-{uuid.uuid4().hex[:6]}.log"
    argv = [
        sys.executable,
        "-m",
        "wattwerk",
        "portal",
        "--host",
        host,
        "--port",
        "0",
        "--port-file",
        str(port_file),
        "--db",
        db.url,
        "--data-dir",
        str(data_dir),
        *extra,
    ]
    if db.schema:
        argv += ["--schema", db.schema]
    env = {**os.environ, **(env or {})}
    if os.environ.get(UNDER_TEST):  # another checkout's portal, e.g. to see these tests fail on an old one
        env["PYTHONPATH"] = os.environ[UNDER_TEST]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    portal = None
    try:
        for _ in range(2400):  # up to two minutes on a loaded machine
            if port_file.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert port_file.exists(), log_path.read_text()
        url = f"http://127.0.0.1:{port_file.read_text()}"
        for _ in range(1200):
            assert proc.poll() is None, log_path.read_text()
            try:
                if httpx.get(url + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        portal = PortalProcess(url, db, data_dir, proc, log_path, argv)
        yield portal
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def fresh_db(dialect: str, directory: Path) -> Iterator[PortalDb]:
    """An empty database (the portal migrates it on start): an SQLite file or a PostgreSQL schema."""
    if dialect == SQLITE:
        yield PortalDb(f"sqlite:///{directory / 'portal.db'}")
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield PortalDb(PG_URL, schema)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=[SQLITE, POSTGRES])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PortalDb]:
    """The test once on each backend."""
    with fresh_db(request.param, tmp_path) as db:
        yield db


@pytest.fixture
def portal(backend: PortalDb, tmp_path: Path) -> Iterator[PortalProcess]:
    """``wattwerk portal`` with its defaults, on each backend."""
    with portal_process(backend, tmp_path / "data") as running:
        yield running


@pytest.fixture
def sqlite_portal(tmp_path: Path) -> Iterator[PortalProcess]:
    """``wattwerk portal`` with its defaults on SQLite (where the backend does not matter)."""
    with fresh_db(SQLITE, tmp_path) as db, portal_process(db, tmp_path / "data") as running:
        yield running


def batch(site: str, readings: list[list[object]], **extra: object) -> dict[str, object]:
    return {"site": site, "edge_id": "e1", "readings": readings, **extra}


def ingest(
    portal: PortalProcess,
    token: str,
    doc: object = None,
    *,
    content: bytes | None = None,
    content_type: str = "application/json",
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    if content is None:
        return httpx.post(portal.url + "/api/v1/ingest", json=doc, headers=headers, timeout=60)
    return httpx.post(portal.url + "/api/v1/ingest", content=content, headers=headers, timeout=60)
