"""Shared helpers for the store-and-forward tests: a portal database per test (a PostgreSQL
schema, or an SQLite file), a test CA, and the real portal app served by uvicorn on a free
loopback port (optionally over TLS).

Fixtures: ``pg`` is PostgreSQL only; ``database`` runs a test on both backends (ids
``[postgresql]`` and ``[sqlite]``)."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import uvicorn

from wattwerk.bench._testca import CertFiles, make_ca  # noqa: F401  (tests import them from here)
from wattwerk.portal.app import PortalConfig, create_app
from wattwerk.portal.database import POSTGRES, SQLITE, SyncConn, connect_sync, dialect_of
from wattwerk.portal.ingest import IngestConfig
from wattwerk.portal.ingest_log import LogConfig
from wattwerk.portal.migrations import migrate
from wattwerk.portal.postgres import with_schema

PG_URL = os.environ.get("WATTWERK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class PortalDb:
    """A migrated portal database of one test."""

    url: str  # PostgreSQL: the server URL (no schema); SQLite: the file's URL
    schema: str | None = None  # PostgreSQL only

    @property
    def dialect(self) -> str:
        return dialect_of(self.url)

    @property
    def scoped(self) -> str:
        return with_schema(self.url, self.schema) if self.dialect == POSTGRES else self.url

    def connect(self) -> AbstractContextManager[SyncConn]:
        """A synchronous autocommit connection (``%s`` placeholders on both backends)."""
        return connect_sync(self.url, self.schema)


PgSchema = PortalDb  # the name older tests use


@contextmanager
def pg_schema() -> Iterator[PortalDb]:
    """A fresh, migrated PostgreSQL schema of its own, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    migrate(PG_URL, schema)
    try:
        yield PortalDb(PG_URL, schema)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def sqlite_db(directory: Path) -> PortalDb:
    """A fresh, migrated SQLite portal database in ``directory``."""
    url = f"sqlite:///{directory / 'portal.db'}"
    migrate(url)
    return PortalDb(url)


@pytest.fixture
def pg() -> Iterator[PortalDb]:
    """PostgreSQL only: a fresh, migrated schema of its own, dropped afterwards."""
    with pg_schema() as db:
        yield db


@pytest.fixture(params=[POSTGRES, SQLITE])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PortalDb]:
    """The test once on each backend: a PostgreSQL schema, then an SQLite file."""
    if request.param == SQLITE:
        yield sqlite_db(tmp_path)
        return
    with pg_schema() as db:
        yield db


@dataclass
class RunningPortal:
    url: str
    app: object
    server: uvicorn.Server


@contextmanager
def serve_portal(
    pg: PortalDb,
    *,
    tls: CertFiles | None = None,
    ingest: IngestConfig | None = None,
    retention_every_s: float | None = None,
    live_nats: str | None = None,
    log: LogConfig | None = None,
) -> Iterator[RunningPortal]:
    """The real portal app under uvicorn in a thread, on a free port of 127.0.0.1."""
    app = create_app(
        PortalConfig(
            db_url=pg.url,
            schema=pg.schema,
            ingest=ingest or IngestConfig(),
            pool_size=4,
            token_ttl_s=0.0,
            retention_every_s=retention_every_s,
            live_nats=live_nats,
            log=log or LogConfig(),
        )
    )
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        access_log=False,
        ssl_certfile=tls.server_cert if tls else None,
        ssl_keyfile=tls.server_key if tls else None,
    )
    sock = config.bind_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.01)
    if not server.started:
        raise RuntimeError("portal did not start")
    scheme = "https" if tls else "http"
    try:
        yield RunningPortal(f"{scheme}://127.0.0.1:{port}", app, server)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def portal_rows(pg: PortalDb, site: str) -> list[tuple[str, int, str, int, float]]:
    """(edge, seq, channel, ts_ms, value) stored for a site, in (edge, seq) order."""
    with pg.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(  # type: ignore[misc]
                "SELECT e.name, r.seq, c.name, r.ts_ms, r.value FROM readings r "
                "JOIN edges e ON e.id = r.edge_id JOIN channels c ON c.id = r.channel_id "
                "JOIN sites s ON s.id = c.site_id WHERE s.name = %s ORDER BY e.name, r.seq",
                (site,),
            )
        ]
