"""``wattwerk portal``: serve the portal (uvicorn, optional TLS, one or several processes),
or pair/revoke a site's edge token.

    wattwerk portal                           # embedded SQLite: ./var/portal.db (--data-dir)
    wattwerk portal --db sqlite:////srv/wattwerk/portal.db
    wattwerk portal --db postgresql://localhost/wattwerk --workers 2 --tls-cert c.pem --tls-key k.pem
    wattwerk portal --db ... --pair home      # prints a new edge token for site "home"
    wattwerk portal --db ... --revoke home    # revokes every token of "home"
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import uvicorn

from wattwerk.portal import app as portal_app
from wattwerk.portal import db
from wattwerk.portal.database import SQLITE, DatabaseError, connect_sync, dialect_of, sqlite_path
from wattwerk.store.migrations import migrate

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443, help="0 picks a free port (see --port-file)")
    parser.add_argument("--db", default=os.environ.get(portal_app.ENV_DB),
                        help="postgresql://[user@]host/dbname, or sqlite:///path/portal.db "
                             "(default: an SQLite file in --data-dir)")
    parser.add_argument("--data-dir", type=Path, default=Path("var"),
                        help="where the embedded database lives when --db is not given (default: ./var)")
    parser.add_argument("--schema", help="PostgreSQL schema (default: the server's search_path)")
    parser.add_argument("--tls-cert", type=Path, help="certificate chain (PEM); serves HTTPS with --tls-key")
    parser.add_argument("--tls-key", type=Path, help="private key (PEM)")
    parser.add_argument("--workers", type=int, default=1, help="server processes sharing the socket")
    parser.add_argument("--rate", type=float, help="per-site ingest limit in readings/s (429 beyond)")
    parser.add_argument("--retention-every", type=float, metavar="SECONDS",
                        help="run the retention job in the portal this often (default: 300 on SQLite; "
                             "PostgreSQL: off, run python -m wattwerk.portal.retention from a timer)")
    parser.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    parser.add_argument("--pair", metavar="SITE", help="create an edge token for SITE, print it, exit")
    parser.add_argument("--revoke", metavar="SITE", help="revoke every edge token of SITE, exit")


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
        return ("--workers > 1 needs PostgreSQL: an SQLite portal is served by one process "
                "(its writes go through one connection); use --db postgresql://...")
    if dialect == SQLITE and args.schema:
        return "--schema is for PostgreSQL; an SQLite portal is one file"
    return None


def run(args: argparse.Namespace) -> int:
    args.db = database_url(args)
    problem = check_database(args.db, args)
    if problem:
        log.error("%s", problem)
        return 2
    if args.pair or args.revoke:
        migrate(args.db, args.schema)
        with connect_sync(args.db, args.schema) as conn:
            if args.pair:
                print(db.pair_site(conn, args.pair))
            else:
                print(f"revoked {db.revoke_tokens(conn, args.revoke)} token(s) of {args.revoke}")
        return 0
    if bool(args.tls_cert) != bool(args.tls_key):
        log.error("--tls-cert and --tls-key go together")
        return 2
    migrate(args.db, args.schema)  # once, before the workers start
    os.environ[portal_app.ENV_DB] = args.db
    os.environ[portal_app.ENV_SCHEMA] = args.schema or ""
    os.environ[portal_app.ENV_RATE] = str(args.rate) if args.rate else ""
    every = args.retention_every if args.retention_every is not None else (
        300.0 if dialect_of(args.db) == SQLITE else 0.0)
    os.environ[portal_app.ENV_RETENTION] = str(every) if every > 0 else ""
    config = uvicorn.Config(
        "wattwerk.portal.app:app_from_env", factory=True, host=args.host, port=args.port,
        workers=args.workers, ssl_certfile=args.tls_cert, ssl_keyfile=args.tls_key,
        log_level="warning", access_log=False, timeout_graceful_shutdown=5,
    )
    sock = config.bind_socket()
    port = sock.getsockname()[1]
    if args.port_file:
        tmp = args.port_file.with_suffix(".tmp")
        tmp.write_text(str(port))
        tmp.replace(args.port_file)
    log.info("portal listening on %s://%s:%d (%d process(es), %s)", "https" if args.tls_cert else "http",
             args.host, port, args.workers, dialect_of(args.db))
    server = uvicorn.Server(config)
    if args.workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[sock]).run()
    else:
        server.run(sockets=[sock])
    return 0
