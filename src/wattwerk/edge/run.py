"""``wattwerk run site.yaml``: the edge for a real site.

Reads every device of the site file, keeps the site state, records history in the local store
(``store.data_dir``), queues every reading durably in the outbox and uploads it when a portal is
configured, collects an installer's maintenance commands from the portal, and serves the local
page. Stops cleanly on Ctrl-C or SIGTERM (systemd). The edge itself is put together in
``wattwerk.edge.assembly`` (the one place, shared with ``wattwerk demo`` and ``wattwerk check``);
this module is only the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wattwerk.edge.assembly import Edge

log = logging.getLogger("wattwerk.edge")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="the site file (see `wattwerk check`)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address of the local page (default 127.0.0.1; 0.0.0.0 for the LAN)",
    )
    parser.add_argument("--port", type=int, default=8080, help="port of the local page (default 8080)")
    parser.add_argument("--no-web", action="store_true", help="do not serve the local page")
    parser.add_argument("--store-every", type=float, default=10.0, help="storage interval in s (default 10)")
    parser.add_argument("--read-only", action="store_true", help="read and record only; write no setpoints")


def run(args: argparse.Namespace) -> int:
    from wattwerk.config import ConfigError
    from wattwerk.edge.check import EX_CONFIG, site_problems
    from wattwerk.errors import PermanentError

    # the very lines `wattwerk check` prints; nothing opened yet, and nothing of the edge imported:
    # a wrong file is refused without loading the web stack (fastapi, httpx), about 0.5 s of CPU
    cfg, problems = site_problems(args.config, read_only=args.read_only)
    if problems or cfg is None:
        print("\n".join(problems), file=sys.stderr)
        return EX_CONFIG  # the systemd unit does not restart on it: a wrong file stays wrong
    from wattwerk.edge.assembly import EdgeOptions, assemble

    options = EdgeOptions(
        store_every_s=args.store_every,
        read_only=args.read_only,
        site_path=Path(args.config),
        web=not args.no_web,
        host=args.host,
        port=args.port,
    )
    try:
        edge = assemble(cfg, options)
    except ConfigError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        return 1
    except PermanentError as exc:
        print(f"wattwerk run: {args.config}: {exc}", file=sys.stderr)
        return 1
    if edge.devices.ocpp is not None:  # OCPP chargers connect where the page listens (--host)
        try:
            edge.devices.ocpp.listen_on(args.host)
        except PermanentError as exc:  # a charger without a password beyond loopback: fix the file
            edge.close()
            print(f"wattwerk run: {args.config}: {exc}", file=sys.stderr)
            return EX_CONFIG
    try:
        asyncio.run(_main(edge))
    finally:
        edge.close()
    return edge.exit_code  # EX_RESTART after a maintenance ``restart``: systemd starts it again


async def _main(edge: Edge) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "%s: %d polled devices, %d meter streams",
        edge.cfg.site.name,
        len(edge.devices.polled),
        len(edge.devices.push),
    )
    await edge.run(stop)
