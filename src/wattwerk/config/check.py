"""``wattwerk check CONFIG``: validate site files, print one line per problem, exit 1 if any."""

from __future__ import annotations

import argparse
import json
import sys

from wattwerk.config.loader import ConfigError, load_config
from wattwerk.config.schema import SiteConfig


def summary(filename: str, config: SiteConfig) -> str:
    n = len(config.devices)
    devices = ", ".join(f"{dev.role}: {dev.id}" for dev in config.devices)
    return f"{filename}: OK — {n} device{'' if n == 1 else 's'}" + (f" ({devices})" if devices else "")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="+", help="site file(s) to validate, e.g. site.yaml")
    parser.add_argument("--json", action="store_true",
                        help="print each valid configuration with all defaults filled in, as JSON")


def run(args: argparse.Namespace) -> int:
    status = 0
    for filename in args.config:
        try:
            config = load_config(filename)
        except ConfigError as e:
            print("\n".join(e.lines), file=sys.stderr)
            status = 1
            continue
        if args.json:
            print(json.dumps(config.model_dump(mode="json"), indent=2, ensure_ascii=False))
        else:
            print(summary(filename, config))
    return status
