"""The portal's ASGI app factory (FastAPI). Stateless apart from its database (PostgreSQL scales
out to several processes; an embedded SQLite file serves one)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI

from wattwerk import __version__
from wattwerk.portal import compat, hardening, ingest, retention, routes
from wattwerk.portal.database import open_database
from wattwerk.portal.db import Registry
from wattwerk.portal.readings import ReadingStore
from wattwerk.store.migrations import migrate

ENV_DB = "WATTWERK_PORTAL_DB"
ENV_SCHEMA = "WATTWERK_PORTAL_SCHEMA"
ENV_RATE = "WATTWERK_PORTAL_RATE"
ENV_RETENTION = "WATTWERK_PORTAL_RETENTION_EVERY"


@dataclass
class PortalConfig:
    db_url: str  # postgresql://... or sqlite:///path/portal.db
    schema: str | None = None  # PostgreSQL only
    migrate: bool = True
    pool_size: int = 8
    token_ttl_s: float = 5.0  # how long a token lookup is cached (revocation delay)
    retention_every_s: float | None = None  # run the retention job in-process this often (None: a timer does)
    ingest: ingest.IngestConfig = field(default_factory=ingest.IngestConfig)


def create_app(config: PortalConfig) -> FastAPI:
    """The portal app; connects (and migrates) on startup, closes the database on shutdown."""
    db = open_database(config.db_url, schema=config.schema, pool_size=config.pool_size)
    store = ReadingStore(db)
    registry = Registry(db, ttl=config.token_ttl_s)
    ingestor = ingest.Ingestor(store, registry, config.ingest)
    legacy = compat.Compat(store, config.ingest)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if config.migrate:
            await asyncio.to_thread(migrate, config.db_url, config.schema)
        await db.open()
        timer = (asyncio.create_task(retention.every(db, config.retention_every_s))
                 if config.retention_every_s else None)
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()
                await asyncio.gather(timer, return_exceptions=True)
            await db.close()

    app = FastAPI(title="wattwerk portal", version=__version__, lifespan=lifespan,
                  openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None,
                  max_body_size=hardening.BODY_DEFAULT)  # counted while streaming, before any route
    hardening.install(app)
    app.state.db = db
    app.state.store = store
    app.state.ingestor = ingestor
    app.state.compat = legacy
    app.include_router(ingest.router(ingestor))
    app.include_router(compat.router(legacy))
    routes.include_all(app)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` and multi-process serving: config from the environment."""
    rate = os.environ.get(ENV_RATE)
    every = os.environ.get(ENV_RETENTION)
    cfg = PortalConfig(
        db_url=os.environ[ENV_DB],
        schema=os.environ.get(ENV_SCHEMA) or None,
        ingest=ingest.IngestConfig(rate_per_site=float(rate) if rate else None),
        retention_every_s=float(every) if every else None,
    )
    return create_app(cfg)
