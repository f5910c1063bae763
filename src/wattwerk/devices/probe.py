"""``wattwerk probe HOST[:PORT] [--unit ID] [--serial DEV]``: what answers at an address?

For each unit id tried, looks for a SunSpec model chain (base 40000, 0, 50000) and lists its
models and nameplate, then tries every catalogue entry that has identification registers. A unit
that does not answer costs one timeout; exception responses just mean "not this".
``--draft`` prints a draft user catalogue file for the first unit that answered instead
(``devices/draft.py``): its SunSpec models, or a scan of its registers (``--scan START:COUNT``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field

from wattwerk.devices.catalog import Item, load_catalog
from wattwerk.devices.device import ModbusDevice, SunSpecDevice
from wattwerk.errors import BadInput, PermanentError, RetryableError
from wattwerk.protocols import sunspec
from wattwerk.protocols.modbus import LinkConfig, ModbusLink

DEFAULT_UNITS = (1, 126, 3, 71, 100, 125, 2, 200, 240, 247)


@dataclass
class UnitReport:
    unit: int
    sunspec_models: list[dict] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)
    matches: list[str] = field(default_factory=list)
    answered: bool = False

    def to_json(self) -> dict:
        return {
            "unit": self.unit,
            "answered": self.answered,
            "sunspec": self.sunspec_models,
            "info": self.info,
            "matches": self.matches,
        }


MEASURING = frozenset({101, 102, 103, 111, 112, 113, 701, 201, 202, 203, 204, 211, 212, 213, 214, 124, 802})


def _sunspec_matches(models: set[int], info: dict[str, str], items: list[Item]) -> list[str]:
    """Candidate entries: a vendor entry when the manufacturer matches and one of its measuring
    models is present; a generic entry when all of its measuring models are."""
    maker = info.get("manufacturer", "").lower()
    out = []
    for item in items:
        spec = item.entry.sunspec
        if spec is None:
            continue
        measuring = set(spec.models) & MEASURING
        vendor = item.vendor.lower()
        if "generic" in vendor:
            if measuring and measuring <= models:
                out.append(item.entry.id)
        elif maker and (vendor in maker or maker in vendor) and measuring & models:
            out.append(item.entry.id)
    return out


async def probe_unit(link: ModbusLink, unit: int, items: list[Item], protocol: str) -> UnitReport:
    report = UnitReport(unit)
    device = SunSpecDevice(link, device_id="probe", unit=unit)
    try:
        found = await device.setup()
        report.answered = True
        report.sunspec_models = [
            {
                "id": m.mid,
                "address": m.address,
                "length": m.length,
                "label": sunspec.model_label(m.mid),
                "supported": m.supported,
            }
            for m in found
        ]
        report.info = device.info
        report.matches += _sunspec_matches({m.mid for m in found}, device.info, items)
    except RetryableError:
        return report  # nothing answers on this unit
    except (PermanentError, BadInput):
        report.answered = True  # it answered, but not SunSpec
    for item in items:
        e = item.entry
        if not e.identify or protocol not in e.protocols:
            continue
        try:
            if await ModbusDevice(e, link, device_id="probe", unit=unit).identify():
                report.matches.append(e.id)
        except (BadInput, PermanentError, RetryableError):
            continue
    return report


async def probe(cfg: LinkConfig, units: list[int], items: list[Item] | None = None) -> list[UnitReport]:
    items = list(load_catalog()) if items is None else items
    protocol = "modbus_rtu" if cfg.kind in ("rtu", "rtu_tcp") else "modbus_tcp"
    link = ModbusLink(cfg)
    try:
        return [await probe_unit(link, unit, items, protocol) for unit in units]
    finally:
        link.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", nargs="?", default="", help="HOST[:PORT] (port 502 by default)")
    parser.add_argument("--unit", type=int, action="append", help="unit id to try (repeatable)")
    parser.add_argument("--serial", help="serial device for Modbus RTU, e.g. /dev/ttyUSB0")
    parser.add_argument("--baudrate", type=int, default=9600)
    parser.add_argument("--parity", choices=["N", "E", "O"], default="N")
    parser.add_argument("--rtu-over-tcp", action="store_true", help="RTU frames through a TCP gateway")
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds per request")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--draft",
        action="store_true",
        help="print a draft user catalogue file (YAML) for the first unit that answers",
    )
    parser.add_argument(
        "--scan",
        default="0:200",
        metavar="START:COUNT",
        help="with --draft, for a device without SunSpec: registers to scan (default 0:200)",
    )


async def _draft(cfg: LinkConfig, reports: list[UnitReport], scan_range: str) -> str | None:
    """The draft file for the first unit that answered, or None when none did."""
    from wattwerk.devices import draft

    first = next((r for r in reports if r.answered), None)
    if first is None:
        return None
    if cfg.kind == "tcp":
        protocol, connection = "modbus_tcp", {"port": cfg.port, "unit": first.unit}
    else:
        protocol = "modbus_rtu"
        connection = {"unit": first.unit, "baudrate": cfg.baudrate, "parity": cfg.parity}
    note = f"wattwerk probe {cfg.label} --draft: a draft; check every value (docs/custom-devices.md)"
    if first.sunspec_models:
        doc = draft.sunspec_draft(first.sunspec_models, first.info, connection, protocol)
        return draft.to_yaml(doc, note=note)
    start, _, count = scan_range.partition(":")
    link = ModbusLink(cfg)
    try:
        found = await draft.scan(link, first.unit, int(start), int(count or 200))
    finally:
        link.close()
    scanned, raw = draft.scan_draft(found, connection, protocol)
    todo = "rename each register you need to a quantity, set its type, scale and channel: true"
    return draft.to_yaml(scanned, raw, f"{note}\n{todo}")


def _config(args: argparse.Namespace) -> LinkConfig:
    if args.serial:
        return LinkConfig(
            kind="rtu",
            serial=args.serial,
            baudrate=args.baudrate,
            parity=args.parity,
            timeout=args.timeout,
            retries=0,
        )
    host, _, port = args.address.partition(":")
    if not host:
        raise PermanentError("give HOST[:PORT] or --serial DEV")
    return LinkConfig(
        kind="rtu_tcp" if args.rtu_over_tcp else "tcp",
        host=host,
        port=int(port or 502),
        timeout=args.timeout,
        retries=0,
    )


def run(args: argparse.Namespace) -> int:
    import asyncio

    try:
        cfg = _config(args)
    except (PermanentError, ValueError) as exc:
        print(f"wattwerk probe: {exc}", file=sys.stderr)
        return 2
    units = args.unit or list(DEFAULT_UNITS)
    reports = asyncio.run(probe(cfg, units))
    if args.draft:
        if not re.fullmatch(r"\d+(:\d+)?", args.scan):
            print(f"wattwerk probe: --scan {args.scan!r}: expected START:COUNT, e.g. 0:200", file=sys.stderr)
            return 2
        text = asyncio.run(_draft(cfg, reports, args.scan))
        if text is None:
            print(f"wattwerk probe: nothing answers at {cfg.label}", file=sys.stderr)
            return 1
        sys.stdout.write(text)
        return 0
    if args.json:
        print(json.dumps({"address": cfg.label, "units": [r.to_json() for r in reports]}, indent=1))
        return 0 if any(r.answered for r in reports) else 1
    for r in reports:
        if not r.answered:
            print(f"unit {r.unit}: no answer")
            continue
        print(f"unit {r.unit}: answers")
        if r.sunspec_models:
            info = ", ".join(f"{k} {v}" for k, v in r.info.items())
            print(f"  SunSpec: {info}")
            for m in r.sunspec_models:
                flag = "" if m["supported"] else "  (not read by wattwerk)"
                where = f"at {m['address']}, {m['length']} registers"
                print(f"    model {m['id']:>5} {where}: {m['label']}{flag}")
        print(f"  catalogue matches: {', '.join(r.matches) or 'none'}")
    return 0 if any(r.answered for r in reports) else 1
