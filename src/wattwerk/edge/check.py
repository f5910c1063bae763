"""``wattwerk check SITE.yaml``: everything ``wattwerk run`` would refuse, found before it runs.

First the schema (``config/``: types, ranges, unknown fields, sizes), then the one assembly
(``edge.assembly``) in its dry mode: every device's driver or reader, the control inputs, the
control cycle and the planner's settings are constructed exactly as ``run`` constructs them, but
nothing is opened (no socket, serial port, GPIO line or file). One line per problem,
``FILE:LINE: FIELD: MESSAGE``, every problem of a file.

``wattwerk run`` calls ``site_problems`` first and prints the very same lines; it then exits with
``EX_CONFIG`` (78), which the systemd unit does not restart on (a wrong file stays wrong).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from wattwerk.config import SiteConfig
from wattwerk.config.check import summary
from wattwerk.config.loader import ConfigError, load_document, problem_lines, validate_document
from wattwerk.config.messages import Loc

EX_CONFIG = 78  # sysexits.h: "configuration error"

# roles whose control law steers by the grid meter's power (surplus, import limit)
_STEERED_BY_GRID = ("battery", "ev_charger", "heating_rod")


def dry_check(cfg: SiteConfig, *, demo: bool = False, read_only: bool = False) -> list[tuple[Loc, str]]:
    """What keeps ``run`` from building the edge of a schema-valid site file, as (where, message)
    pairs; empty when it can be built. The one assembly's dry mode (``edge.assembly.check``: drivers,
    inputs, control cycle, planner settings; nothing opened) plus the rules only a running site needs
    (a grid meter). ``demo``: simulated devices (``connection: {type: sim}``) are fine, as in
    ``wattwerk demo``; ``read_only``: as ``wattwerk run --read-only`` (no control, no planner)."""
    from wattwerk.edge.assembly import EdgeOptions, check

    sim = {i for i, dev in enumerate(cfg.devices) if dev.connection.type == "sim"} if demo else set()
    problems: list[tuple[Loc, str]] = []
    for loc, message in check(cfg, EdgeOptions(read_only=read_only)):
        if loc[:1] == ("devices",) and len(loc) > 1 and loc[1] in sim:
            continue
        if loc == ("control",) and cfg.control.ripple is not None and "ripple" in message:
            loc = ("control", "ripple")
        problems.append((loc, message))
    problems += file_problems(cfg)
    return problems if read_only else problems + grid_meter_problems(cfg)


def file_problems(cfg: SiteConfig) -> list[tuple[Loc, str]]:
    """Files the site file names that ``run`` reads at start (a CA certificate) must exist and be
    readable by this user; the data folder must be creatable (stat and access: nothing opened)."""
    named: list[tuple[Loc, Path | None]] = [
        (("portal", "ca_file"), cfg.portal.ca_file if cfg.portal else None),
        (("mqtt", "ca_file"), cfg.mqtt.ca_file if cfg.mqtt else None),
    ]
    problems: list[tuple[Loc, str]] = []
    for loc, path in named:
        if path is None:
            continue
        if not path.is_file():
            where = "" if path.is_absolute() else f" (relative paths start in {Path.cwd()})"
            problems.append((loc, f"{path}: no such file{where}"))
        elif not os.access(path, os.R_OK):
            problems.append((loc, f"{path}: not readable by this user"))
    return problems + _data_dir_problems(cfg.store.data_dir)


def _data_dir_problems(data_dir: Path) -> list[tuple[Loc, str]]:
    """``run`` creates the data folder and its stores: it must be a folder this user may write in,
    or a path to one (checked with stat and access; nothing is created here)."""
    loc: Loc = ("store", "data_dir")
    existing = data_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return [(loc, f"{existing} is not a folder")]
    if not os.access(existing, os.W_OK | os.X_OK):
        return [(loc, f"{existing} is not writable by this user")]
    return []


def grid_meter_problems(cfg: SiteConfig) -> list[tuple[Loc, str]]:
    """Grid limits, peak shaving and the surplus laws all steer by the grid power: without a device
    of role grid_meter they would steer blind."""
    if cfg.grid_meter is not None:
        return []
    g = cfg.site.grid
    limits = [
        name
        for name in ("fuse_a", "max_import_w", "max_export_w", "max_phase_import_w", "max_phase_export_w")
        if getattr(g, name) is not None
    ]
    if limits:
        return [
            (
                ("site", "grid", limits[0]),
                f"{limits[0]} needs the grid power, but no device has role "
                "grid_meter (add the meter at the grid connection with role: grid_meter)",
            )
        ]
    if cfg.strategy.peak_shaving:
        return [
            (
                ("strategy", "peak_shaving"),
                "peak shaving needs the grid power, but no device has role grid_meter",
            )
        ]
    if cfg.strategy.mode == "off":
        return []
    for i, dev in enumerate(cfg.devices):
        if dev.role in _STEERED_BY_GRID:
            return [
                (
                    ("devices", i, "role"),
                    f'the {dev.role} "{dev.id}" is controlled by the grid power, '
                    "but no device has role grid_meter (or set strategy.mode: off to only read it)",
                )
            ]
    return []


def site_problems(
    path: str | Path, *, demo: bool = False, read_only: bool = False
) -> tuple[SiteConfig | None, list[str]]:
    """The site file validated and dry-built: (the configuration, []) when ``run`` can build it,
    else (None or the schema-valid configuration, one ``FILE:LINE: FIELD: MESSAGE`` line per problem)."""
    name = str(path)
    try:
        doc = load_document(path)
        cfg = validate_document(doc, name)
    except ConfigError as exc:
        return None, exc.lines
    return cfg, problem_lines(doc, name, dry_check(cfg, demo=demo, read_only=read_only))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="+", help="site file(s) to check, e.g. site.yaml")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print each valid configuration with all defaults filled in, as JSON",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="a file for `wattwerk demo`: simulated devices (connection type sim) are fine",
    )


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every file is fine, 1 when any has a problem (each printed on stderr)."""
    status = 0
    for filename in args.config:
        cfg, lines = site_problems(filename, demo=args.demo)
        if lines or cfg is None:
            print("\n".join(lines), file=sys.stderr)
            status = 1
        elif args.json:
            print(json.dumps(cfg.model_dump(mode="json"), indent=2, ensure_ascii=False))
        else:
            print(summary(filename, cfg))
    return status
