"""``wattwerk bench NAME [--json]``: benchmarks that print figures (never asserts on time).

Each benchmark is a module ``wattwerk.bench.<name>`` with ``add_arguments(parser)`` and
``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys


def available() -> list[str]:
    import wattwerk.bench as pkg

    # subpackages (e.g. ``year``) hold a benchmark's parts and are not benchmarks themselves
    found = pkgutil.iter_modules(pkg.__path__)
    return sorted(m.name for m in found if not m.ispkg and not m.name.startswith("_"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help=f"one of: {', '.join(available())}")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="the benchmark's own options")


def run(args: argparse.Namespace) -> int:
    if args.name not in available():
        have = ", ".join(available())
        print(f"wattwerk bench: unknown benchmark {args.name!r}; have {have}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"wattwerk.bench.{args.name}")
    parser = argparse.ArgumentParser(prog=f"wattwerk bench {args.name}")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(args.rest)) or 0)
