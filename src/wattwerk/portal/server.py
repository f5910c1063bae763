"""``wattwerk portal``: serve the portal (uvicorn, optional TLS, one or several processes),
or pair/revoke a site's edge token.

    wattwerk portal                           # embedded SQLite: ./var/portal.db (--data-dir)
    wattwerk portal --db sqlite:////srv/wattwerk/portal.db
    wattwerk portal --db postgresql://localhost/wattwerk --workers 2 --tls-cert c.pem --tls-key k.pem
    wattwerk portal --db ... --pair home      # prints a new edge token for site "home"
    wattwerk portal --db ... --revoke home    # revokes every token of "home"
    wattwerk portal --db ... --invite         # prints an invitation code (registration "invite")
    wattwerk portal --db ... flukso-register --site home --sensor grid.energy_import
                                              # a Flukso/mySmartGrid logger's keys, shown once

Secure by default (docs/security.md): files are created 0600 (the SQLite database, the key
file); registration is open only on a loopback address, by invitation otherwise; a site may
have ``--max-channels`` channels and upload ``--rate`` readings/s.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import uvicorn

from wattwerk.portal import db
from wattwerk.portal import env as portal_app  # the app itself only in run(): --help stays light
from wattwerk.portal.database import SQLITE, DatabaseError, connect_sync, dialect_of, sqlite_path
from wattwerk.portal.ingest_log import LogConfig, add_log_arguments, log_config
from wattwerk.portal.migrations import migrate
from wattwerk.portal.writer import add_writer_parser

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443, help="0 picks a free port (see --port-file)")
    parser.add_argument(
        "--db",
        default=os.environ.get(portal_app.ENV_DB),
        help="postgresql://[user@]host/dbname, or sqlite:///path/portal.db "
        "(default: an SQLite file in --data-dir)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("var"),
        help="where the embedded database lives when --db is not given (default: ./var)",
    )
    parser.add_argument("--schema", help="PostgreSQL schema (default: the server's search_path)")
    parser.add_argument("--tls-cert", type=Path, help="certificate chain (PEM); serves HTTPS with --tls-key")
    parser.add_argument("--tls-key", type=Path, help="private key (PEM)")
    parser.add_argument("--workers", type=int, default=1, help="server processes sharing the socket")
    parser.add_argument(
        "--live-nats",
        metavar="URL",
        default=os.environ.get("WATTWERK_PORTAL_LIVE"),
        help="fan live values out through NATS subjects ww.live.<site> (nats://host:4222[,...]); "
        "default: dashboards poll the database (docs/scaling.md)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE,
        help=f"per-site ingest limit in readings/s, 429 beyond (default {DEFAULT_RATE:.0f}; 0: unlimited)",
    )
    parser.add_argument(
        "--max-channels",
        type=int,
        default=DEFAULT_MAX_CHANNELS,
        help=f"channels a site may have (default {DEFAULT_MAX_CHANNELS})",
    )
    parser.add_argument(
        "--registration",
        choices=("auto", *portal_app.REGISTRATION),
        default="auto",
        help="who may create an account: open, invite (a code from --invite or an admin) "
        "or closed; auto (default): open on a loopback --host, invite otherwise",
    )
    parser.add_argument("--invite", action="store_true", help="print a new invitation code, exit")
    parser.add_argument(
        "--key-file",
        type=Path,
        help="the key sealing TOTP secrets and logger keys at rest, created 0600 on first "
        "start (default: portal.key in --data-dir); every process needs the same file",
    )
    parser.add_argument("--public-url", help="the portal's address as users reach it (links in mail)")
    parser.add_argument("--smtp-host", help="SMTP server for password-reset and notification mail")
    parser.add_argument("--smtp-port", type=int, default=587)
    parser.add_argument(
        "--smtp-security",
        choices=("starttls", "tls", "none"),
        default="starttls",
        help="STARTTLS (default, port 587), TLS from the start (465), or none (a relay on loopback)",
    )
    parser.add_argument("--smtp-from", help="sender address of the portal's mail")
    parser.add_argument("--smtp-user", help="SMTP user (with --smtp-password-file)")
    parser.add_argument("--smtp-password-file", type=Path, help="file holding the SMTP password")
    parser.add_argument(
        "--retention-every",
        type=float,
        metavar="SECONDS",
        help="run the retention job in the portal this often (default: 300 on SQLite; "
        "PostgreSQL: off, run python -m wattwerk.portal.retention from a timer)",
    )
    parser.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    parser.add_argument("--pair", metavar="SITE", help="create an edge token for SITE, print it, exit")
    parser.add_argument("--revoke", metavar="SITE", help="revoke every edge token of SITE, exit")
    add_log_arguments(parser)
    add_flukso_register(parser)


def add_flukso_register(parser: argparse.ArgumentParser) -> None:
    """``wattwerk portal flukso-register``: the one subcommand (``wattwerk portal`` alone serves)."""
    actions = parser.add_subparsers(dest="action", metavar="[flukso-register|writer]")
    add_writer_parser(actions)
    flukso = actions.add_parser(
        "flukso-register",
        help="register an old mySmartGrid/Flukso logger's sensors to a site; prints its keys once",
        description="Register a mySmartGrid/Flukso logger (device id, one sensor per channel) to a "
        "site and print the keys vzlogger needs (shown once; stored sealed with the key file). "
        "The database options may also come before the command.",
    )
    flukso.add_argument("--site", required=True, help="the site's id (created if missing, as --pair does)")
    flukso.add_argument("--device", help="the logger's device id (32 hex digits; new if omitted)")
    flukso.add_argument(
        "--sensor",
        action="append",
        required=True,
        metavar="[SENSOR_ID=]CHANNEL",
        help="a sensor and the channel it feeds, e.g. grid.energy_import (repeat for each sensor)",
    )
    flukso.add_argument("--json", action="store_true", help="print the answer as JSON")
    for name in ("--db", "--schema", "--key-file"):
        flukso.add_argument(name, default=argparse.SUPPRESS, type=Path if name == "--key-file" else str)
    flukso.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS)


DEFAULT_RATE = 2000.0  # readings/s per site: 200 channels at 1 Hz with ten times that for catch-up
DEFAULT_MAX_CHANNELS = 2000


def loopback(host: str) -> bool:
    """Whether a --host serves only this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def security_settings(args: argparse.Namespace) -> dict[str, object] | str:
    """The portal's security settings from the options (for the worker processes), or why not."""
    registration = args.registration
    if registration == "auto":
        registration = "open" if loopback(args.host) else "invite"
    out: dict[str, object] = {
        "registration": registration,
        "max_channels": args.max_channels,
        "key_file": str(args.key_file or args.data_dir / "portal.key"),
        "public_url": args.public_url,
    }
    if args.smtp_host:
        if not args.smtp_from:
            return "--smtp-host needs --smtp-from (the sender address)"
        password = None
        if args.smtp_password_file:
            try:
                password = args.smtp_password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                return f"--smtp-password-file: {exc}"
        out["smtp"] = {
            "host": args.smtp_host,
            "port": args.smtp_port,
            "sender": args.smtp_from,
            "starttls": args.smtp_security == "starttls",
            "tls": args.smtp_security == "tls",
            "user": args.smtp_user,
            "password": password,
        }
    return out


def private_files(url: str) -> None:
    """New files only for the portal's user (umask 077); an existing SQLite database made 0600."""
    os.umask(0o077)
    if dialect_of(url) == SQLITE:
        base = sqlite_path(url)
        for path in (base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")):
            if path.exists() and path.stat().st_mode & 0o077:
                path.chmod(0o600)


def database_url(args: argparse.Namespace) -> str:
    """The --db URL, or the embedded SQLite file under --data-dir."""
    if args.db:
        return str(args.db)
    return "sqlite:///" + str(args.data_dir / "portal.db")


def check_database(url: str, args: argparse.Namespace) -> str | None:
    """Why this database cannot serve with these options, or None."""
    try:
        dialect = dialect_of(url)
        if dialect == SQLITE:
            sqlite_path(url)
    except DatabaseError as exc:
        return str(exc)
    if dialect == SQLITE and args.workers > 1:
        return (
            "--workers > 1 needs PostgreSQL: an SQLite portal is served by one process "
            "(its writes go through one connection); use --db postgresql://..."
        )
    if dialect == SQLITE and args.schema:
        return "--schema is for PostgreSQL; an SQLite portal is one file"
    return None


def flukso_register(args: argparse.Namespace) -> int:
    """``wattwerk portal flukso-register``: the logger's keys on stdout (once), 2 on bad input."""
    from wattwerk.portal import loggers, secretbox

    migrate(args.db, args.schema)
    key_file = args.key_file or args.data_dir / "portal.key"  # the one the served portal reads
    key_file.parent.mkdir(parents=True, exist_ok=True)
    box = secretbox.load_or_create(key_file)
    try:
        sensors = [loggers.parse_sensor(spec) for spec in args.sensor]
        out = loggers.register_cli(args.db, args.schema, box, args.site, args.device, sensors)
    except loggers.LoggerError as exc:
        log.error("%s", exc)
        return 2
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"device {out['device']}  key {out['key']}  (site {args.site}; shown once)")
    for s in out["sensors"]:
        print(f"sensor {s['sensor']}  secretKey {s['secret']}  -> {s['channel']}")
    return 0


def log_or_writer(args: argparse.Namespace) -> LogConfig | int:
    """The ingest log's configuration (``--ingest-via``, portal/ingest_log.py), or the exit status
    of ``wattwerk portal writer`` or of a bad option."""
    try:
        config = log_config(args)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    if getattr(args, "action", None) == "writer":
        from wattwerk.portal import writer

        migrate(args.db, args.schema)  # a writer may start before any portal
        return writer.run_cli(args, config)
    if config.via == "nats" and dialect_of(args.db) == SQLITE:
        log.error("--ingest-via nats needs PostgreSQL (the writers write there): use --db postgresql://...")
        return 2
    return config


def run(args: argparse.Namespace) -> int:
    args.db = database_url(args)
    problem = check_database(args.db, args)
    if problem:
        log.error("%s", problem)
        return 2
    private_files(args.db)
    if getattr(args, "action", None) == "flukso-register":
        return flukso_register(args)
    ingest_log = log_or_writer(args)
    if isinstance(ingest_log, int):
        return ingest_log
    if args.pair or args.revoke or args.invite:
        migrate(args.db, args.schema)
        with connect_sync(args.db, args.schema) as conn:
            if args.pair:
                print(db.pair_site(conn, args.pair))
            elif args.invite:
                print(db.create_invite(conn))
            else:
                print(f"revoked {db.revoke_tokens(conn, args.revoke)} token(s) of {args.revoke}")
        return 0
    settings = security_settings(args)
    if isinstance(settings, str):
        log.error("%s", settings)
        return 2
    if bool(args.tls_cert) != bool(args.tls_key):
        log.error("--tls-cert and --tls-key go together")
        return 2
    migrate(args.db, args.schema)  # once, before the workers start
    os.environ[portal_app.ENV_DB] = args.db
    os.environ[portal_app.ENV_SCHEMA] = args.schema or ""
    os.environ[portal_app.ENV_RATE] = str(args.rate) if args.rate else ""
    os.environ[portal_app.ENV_SECURITY] = json.dumps(settings)
    os.environ[portal_app.ENV_LOG] = json.dumps(asdict(ingest_log))
    os.environ[portal_app.ENV_LIVE] = args.live_nats or ""
    every = (
        args.retention_every
        if args.retention_every is not None
        else (300.0 if dialect_of(args.db) == SQLITE else 0.0)
    )
    os.environ[portal_app.ENV_RETENTION] = str(every) if every > 0 else ""
    config = uvicorn.Config(
        "wattwerk.portal.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        ssl_certfile=args.tls_cert,
        ssl_keyfile=args.tls_key,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    sock = config.bind_socket()
    port = sock.getsockname()[1]
    if args.port_file:
        tmp = args.port_file.with_suffix(".tmp")
        tmp.write_text(str(port))
        tmp.replace(args.port_file)
    log.info(
        "portal listening on %s://%s:%d (%d process(es), %s; registration %s)",
        "https" if args.tls_cert else "http",
        args.host,
        port,
        args.workers,
        dialect_of(args.db),
        settings["registration"],
    )
    server = uvicorn.Server(config)
    if args.workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[sock]).run()
    else:
        server.run(sockets=[sock])
    return 0
