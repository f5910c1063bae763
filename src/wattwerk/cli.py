"""The one entry point. Each command lives in its own module, imported only when used.

A command module provides ``add_arguments(parser)`` and ``run(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from wattwerk import __version__

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("wattwerk.demo", "run a simulated site with its edge and local web page"),
    "check": ("wattwerk.edge.check", "check a site file: everything `run` would refuse, nothing opened"),
    "run": ("wattwerk.edge.run", "run the edge for a site configuration"),
    "portal": ("wattwerk.portal.server", "run the portal server"),
    "devices": ("wattwerk.devices.listing", "list the device catalogue"),
    "probe": ("wattwerk.devices.probe", "find out what device answers at an address"),
    "decode": ("wattwerk.protocols.decode", "decode captured meter frames to JSON lines"),
    "bench": ("wattwerk.bench", "run a benchmark and print its figures"),
    "export": ("wattwerk.store.export", "export stored readings as CSV"),
}


def _usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = [f"usage: wattwerk COMMAND [options]   (wattwerk {__version__})", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "wattwerk COMMAND --help shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        print(__version__)
        return 0
    name = argv[0]
    if name not in COMMANDS:
        print(f"wattwerk: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"wattwerk {name}", description=text)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `wattwerk ... | head`: the reader left, that is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
