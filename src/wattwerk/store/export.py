"""``wattwerk export DB [--channels a,b] [--from ISO] [--to ISO] [--resolution 1h]``: CSV to stdout.

Times without an offset are read in the store's timezone; the CSV carries UTC ISO times.
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from wattwerk.errors import PermanentError
from wattwerk.store.base import RESOLUTIONS
from wattwerk.store.buckets import zone
from wattwerk.store.sqlite import SqliteStore, stored_tz

COLUMNS = ["channel", "ts", "mean", "min", "max", "count", "energy", "last"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("db", help="store file (SQLite)")
    parser.add_argument("--channels", default="", help="comma-separated channel names (default: all)")
    parser.add_argument("--from", dest="start", default=None, help="ISO time (default: 30 days before --to)")
    parser.add_argument("--to", dest="end", default=None, help="ISO time, exclusive (default: now)")
    parser.add_argument("--resolution", default="1h", choices=RESOLUTIONS)


def parse_time(text: str, tz: str) -> datetime:
    """An ISO time; without an offset it is local time in ``tz``."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"bad time {text!r}: expected ISO 8601 such as 2024-05-01 or 2024-05-01T12:00+02:00"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone(tz))
    return when.astimezone(UTC)


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return repr(round(value, 6))


def run(args: argparse.Namespace) -> int:
    path = Path(args.db)
    tz = stored_tz(path)
    if tz is None:
        print(f"wattwerk export: {path}: no such store", file=sys.stderr)
        return 2
    try:
        end = parse_time(args.end, tz) if args.end else datetime.now(UTC)
        start = parse_time(args.start, tz) if args.start else end - timedelta(days=30)
    except ValueError as exc:
        print(f"wattwerk export: {exc}", file=sys.stderr)
        return 2
    try:
        store = SqliteStore(path, tz=tz)
    except PermanentError as exc:
        print(f"wattwerk export: {exc}", file=sys.stderr)
        return 2
    with store:
        known = [ch.name for ch in store.channels()]
        names = [n.strip() for n in args.channels.split(",") if n.strip()] or known
        missing = [n for n in names if n not in known]
        if missing:
            print(f"wattwerk export: {path}: no channel {', '.join(missing)}", file=sys.stderr)
            return 2
        rows = store.query(names, start, end, args.resolution)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(COLUMNS)
    for name in names:
        for row in rows[name]:
            writer.writerow(
                [
                    name,
                    row.ts.isoformat().replace("+00:00", "Z"),
                    _number(row.mean),
                    _number(row.min),
                    _number(row.max),
                    row.count,
                    _number(row.energy),
                    _number(row.last),
                ]
            )
    return 0
