"""The portal's ASGI app factory (FastAPI). Stateless apart from its database (PostgreSQL scales
out to several processes; an embedded SQLite file serves one)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from wattwerk import __version__
from wattwerk.portal import (
    compat,
    hardening,
    ingest,
    mail,
    messages,
    notify,
    retention,
    routes,
    secretbox,
    wakeup,
)
from wattwerk.portal.database import POSTGRES, SQLITE, dialect_of, open_database, sqlite_path
from wattwerk.portal.db import Registry
from wattwerk.portal.env import (
    ENV_DB,
    ENV_LIVE,
    ENV_LOG,
    ENV_RATE,
    ENV_RETENTION,
    ENV_SCHEMA,
    ENV_SECURITY,
    REGISTRATION,
)
from wattwerk.portal.ingest_log import LogConfig, NatsLog
from wattwerk.portal.live import LiveHub
from wattwerk.portal.migrations import migrate
from wattwerk.portal.readings import ReadingStore


@dataclass
class PortalConfig:
    db_url: str  # postgresql://... or sqlite:///path/portal.db
    schema: str | None = None  # PostgreSQL only
    migrate: bool = True
    pool_size: int = 8
    token_ttl_s: float = 5.0  # how long a token lookup is cached (revocation delay)
    retention_every_s: float | None = None  # run the retention job in-process this often (None: a timer does)
    ingest: ingest.IngestConfig = field(default_factory=ingest.IngestConfig)
    log: LogConfig = field(default_factory=LogConfig)  # via: direct (default) or nats (ingest_log.py)
    live_nats: str | None = None  # live values fan-out through NATS (live.py); None: pages poll
    registration: str = "open"  # open, invite (a code from an admin) or closed (see docs/security.md)
    key_file: Path | None = None  # the server key sealing secrets at rest (SQLite: beside the file)
    public_url: str | None = None  # the portal's address, for links in mail
    smtp: mail.SmtpConfig | None = None  # password-reset mail; None: resets are not offered
    notify_every_s: float = notify.EVERY_S  # the owners' notifications (with smtp), this often
    notify_device_grace_s: float = notify.DEVICE_GRACE.total_seconds()  # a device bad this long is mailed

    def __post_init__(self) -> None:
        if self.registration not in REGISTRATION:
            raise ValueError(f"registration must be one of {', '.join(REGISTRATION)}")


def secret_box(config: PortalConfig) -> secretbox.SecretBox:
    """The key sealing secrets at rest: the key file (created 0600 on first start; for SQLite
    beside the database by default), else one held in memory (in-process PostgreSQL portals)."""
    path = config.key_file
    if path is None and dialect_of(config.db_url) == SQLITE:
        path = sqlite_path(config.db_url).parent / "portal.key"
    if path is None:
        return secretbox.ephemeral()
    path.parent.mkdir(parents=True, exist_ok=True)
    return secretbox.load_or_create(path)


def create_app(config: PortalConfig) -> FastAPI:
    """The portal app; connects (and migrates) on startup, closes the database on shutdown."""
    db = open_database(config.db_url, schema=config.schema, pool_size=config.pool_size)
    store = ReadingStore(db)
    registry = Registry(db, ttl=config.token_ttl_s)
    ingestor = ingest.Ingestor(store, registry, config.ingest)
    if config.log.via == "nats":
        ingestor.log = NatsLog(config.log)
    ingestor.live = LiveHub(config.live_nats) if config.live_nats else None
    box = secret_box(config)
    legacy = compat.Compat(store, config.ingest, box)
    legacy.registry = registry

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if config.migrate:
            await asyncio.to_thread(migrate, config.db_url, config.schema)
        await db.open()
        async with db.connection() as conn:
            await secretbox.seal_existing(conn, box)
        if ingestor.log is not None:
            await ingestor.log.open()
        if ingestor.live is not None:
            await ingestor.live.open()
        timers = []
        if config.retention_every_s:
            timers.append(asyncio.create_task(retention.every(db, config.retention_every_s)))
        if app.state.notifier is not None:
            timers.append(asyncio.create_task(app.state.notifier.run(config.notify_every_s)))
        if db.dialect == POSTGRES:  # wakes this process's long polls (SQLite: notify wakes them itself)
            timers.append(asyncio.create_task(app.state.wakeup.run()))
        try:
            yield
        finally:
            for timer in timers:
                timer.cancel()
            await asyncio.gather(*timers, return_exceptions=True)
            if ingestor.log is not None:
                await ingestor.log.close()
            if ingestor.live is not None:
                await ingestor.live.close()
            await db.close()

    app = FastAPI(
        title="wattwerk portal",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        max_body_size=hardening.BODY_DEFAULT,
    )  # counted while streaming, before any route
    hardening.install(app)
    messages.install(app)  # error answers carry a code the pages translate
    app.state.db = db
    app.state.store = store
    app.state.ingestor = ingestor
    app.state.live = ingestor.live
    app.state.compat = legacy
    app.state.config = config
    app.state.secrets = box
    app.state.wakeup = wakeup.Listener(db.url)  # one LISTEN connection per process (PostgreSQL)
    app.state.notifier = (
        notify.Notifier(
            db,
            box,
            config.smtp,
            public_url=config.public_url,
            device_grace=timedelta(seconds=config.notify_device_grace_s),
        )
        if config.smtp
        else None
    )  # one per process; the database keeps them from sending twice
    app.include_router(ingest.router(ingestor))
    app.include_router(compat.router(legacy))
    routes.include_all(app)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` and multi-process serving: config from the environment."""
    rate = os.environ.get(ENV_RATE)
    every = os.environ.get(ENV_RETENTION)
    sec = json.loads(os.environ.get(ENV_SECURITY) or "{}")
    limits = ingest.IngestConfig(rate_per_site=float(rate) if rate else None)
    every_s, grace_s = notify.timing(os.environ.get(notify.ENV))
    if sec.get("max_channels"):
        limits.max_channels = int(sec["max_channels"])
    cfg = PortalConfig(
        db_url=os.environ[ENV_DB],
        schema=os.environ.get(ENV_SCHEMA) or None,
        ingest=limits,
        retention_every_s=float(every) if every else None,
        registration=sec.get("registration", "open"),
        key_file=Path(sec["key_file"]) if sec.get("key_file") else None,
        public_url=sec.get("public_url"),
        smtp=mail.SmtpConfig(**sec["smtp"]) if sec.get("smtp") else None,
        notify_every_s=every_s,
        notify_device_grace_s=grace_s,
        log=LogConfig(**json.loads(os.environ.get(ENV_LOG) or "{}")),
        live_nats=os.environ.get(ENV_LIVE) or None,
    )
    return create_app(cfg)
