"""What ``wattwerk portal`` hands its worker processes through the environment, and the
registration modes; a module of its own so ``wattwerk portal --help`` imports no app."""

from __future__ import annotations

ENV_DB = "WATTWERK_PORTAL_DB"
ENV_SCHEMA = "WATTWERK_PORTAL_SCHEMA"
ENV_RATE = "WATTWERK_PORTAL_RATE"
ENV_RETENTION = "WATTWERK_PORTAL_RETENTION_EVERY"
ENV_LIVE = "WATTWERK_PORTAL_LIVE"  # NATS servers for live values fan-out (portal/live.py); empty: off
ENV_LOG = "WATTWERK_PORTAL_LOG"  # JSON: the ingest log (portal/ingest_log.py LogConfig)
ENV_SECURITY = "WATTWERK_PORTAL_SECURITY"  # JSON: registration, key_file, public_url, smtp, max_channels
REGISTRATION = ("open", "invite", "closed")
