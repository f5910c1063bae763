"""``wattwerk decode FORMAT [FILE|-] [--key HEX] [--hex]``: captured bytes to JSON lines.

Each format module registers a decoder factory in ``DECODERS``; the factory takes the
optional key (bytes) and returns a fresh :class:`~wattwerk.protocols.base.Decoder`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable

from wattwerk.protocols.base import Decoder

# format name -> "module:factory"; the factory is called as factory(key: bytes | None)
DECODERS: dict[str, str] = {
    "dsmr": "wattwerk.protocols.dsmr:decoder",
    "dlms": "wattwerk.protocols.dlms:decoder",
    "sml": "wattwerk.protocols.sml:decoder",
    "speedwire": "wattwerk.protocols.speedwire:decoder",
    "tasmota": "wattwerk.protocols.tasmota:decoder",
}


def make_decoder(fmt: str, key: bytes | None = None) -> Decoder:
    module_name, factory_name = DECODERS[fmt].split(":")
    factory: Callable[[bytes | None], Decoder] = getattr(importlib.import_module(module_name), factory_name)
    return factory(key)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("format", choices=sorted(DECODERS))
    parser.add_argument("file", nargs="?", default="-", help="capture file, or - for standard input")
    parser.add_argument("--key", help="decryption key as hex (encrypted DSMR/DLMS)")
    parser.add_argument("--hex", action="store_true", help="the input is hex text, not raw bytes")
    # ``decode sml --hex FILE``: options between the positionals need intermixed parsing
    parser.parse_args = parser.parse_intermixed_args  # type: ignore[method-assign]


def _read_input(path: str, is_hex: bool) -> bytes:
    if path == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as fh:
            data = fh.read()
    if is_hex:
        text = data.decode("ascii", errors="replace")
        lines = (line.split("#", 1)[0] for line in text.splitlines())  # '#' starts a comment
        return bytes.fromhex("".join(ch for line in lines for ch in line if ch in "0123456789abcdefABCDEF"))
    return data


def run(args: argparse.Namespace) -> int:
    try:
        key = bytes.fromhex(args.key) if args.key else None
    except ValueError:
        print(f"wattwerk decode: --key must be hex, got {args.key!r}", file=sys.stderr)
        return 2
    try:
        data = _read_input(args.file, args.hex)
    except OSError as exc:
        print(f"wattwerk decode: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"wattwerk decode: {args.file} is not hex text: {exc}", file=sys.stderr)
        return 2
    decoder = make_decoder(args.format, key)
    frames = decoder.feed(data)
    flush = getattr(decoder, "flush", None)
    if flush is not None:
        frames += flush()
    for frame in frames:
        print(json.dumps(frame.to_json(), ensure_ascii=False))
    return 0 if any(f.ok and f.values for f in frames) else 1
