"""``wattwerk probe HOST --draft``: a draft user catalogue file (YAML) from what a device answered.

A SunSpec device becomes an entry naming its model chain (category from its models, vendor and
model from its common block): usually usable as it is. Any other Modbus device gets a register scan:
every non-zero holding and input register in the scanned range is listed as a helper register
(``channel: false``, its raw value in a comment) for the user to rename to a quantity (``power``,
``energy_import`` ...), give a type and scale, and set ``channel: true``. Either draft loads as a user
catalogue file as printed (``docs/custom-devices.md``).
"""

from __future__ import annotations

import contextlib
import io
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from wattwerk.errors import BadInput, PermanentError, RetryableError
from wattwerk.protocols.modbus import ModbusLink

BLOCK = 50  # registers per request while scanning
# SunSpec models -> the category they make a device (the first match wins)
CATEGORIES: tuple[tuple[frozenset[int], str], ...] = (
    (frozenset({124, 802, 803, 804}), "hybrid_battery_inverter"),
    (frozenset({101, 102, 103, 111, 112, 113, 701}), "pv_inverter"),
    (frozenset({201, 202, 203, 204, 211, 212, 213, 214}), "electricity_meter"),
)


def _slug(*words: str) -> str:
    text = "-".join(w for w in words if w).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "device"


def sunspec_draft(
    models: list[dict[str, Any]],
    info: dict[str, str],
    connection: dict[str, Any],
    protocol: str = "modbus_tcp",
) -> dict[str, Any]:
    """A catalogue file (as data) for a SunSpec device with ``models`` (``{"id", "address"}``) found
    over ``protocol`` (``modbus_tcp`` or ``modbus_rtu``) with ``connection`` (unit, port or serial
    settings)."""
    ids = [int(m["id"]) for m in models]
    category = next((c for found, c in CATEGORIES if found & set(ids)), "pv_inverter")
    caps = ["read_power", "read_energy"]
    if category == "hybrid_battery_inverter":
        caps.append("read_soc")
    if category == "pv_inverter" and 123 in ids:
        caps.append("pv_power_limit")
    vendor = info.get("manufacturer") or "Unknown"
    model = info.get("model") or "SunSpec device"
    sunspec: dict[str, Any] = {"models": ids}
    base = min(int(m["address"]) for m in models) - 2  # the "SunS" marker precedes the first model
    if base != 40000:
        sunspec["base"] = base
    entry = {
        "id": _slug("my", vendor, model),
        "models": [model],
        "protocols": [protocol, "sunspec"],
        "connection": connection,
        "sunspec": sunspec,
        "capabilities": caps,
    }
    return {"category": category, "vendor": vendor, "entries": [entry]}


async def scan(link: ModbusLink, unit: int, start: int, count: int) -> dict[tuple[str, int], int]:
    """Non-zero registers of both tables in ``[start, start + count)``: (table, address) -> raw word.
    A block the device refuses (an exception: it spans a gap) is halved until the readable part is
    found; a device that stops answering ends the scan of that table."""
    found: dict[tuple[str, int], int] = {}
    for table in ("holding", "input"):
        with contextlib.suppress(RetryableError):
            for first in range(start, start + count, BLOCK):
                found |= await _read_block(link, unit, table, first, min(BLOCK, start + count - first))
    return found


async def _read_block(
    link: ModbusLink, unit: int, table: str, first: int, size: int
) -> dict[tuple[str, int], int]:
    try:
        words = await link.read(unit, table, first, size)  # type: ignore[arg-type]
    except (BadInput, PermanentError):
        if size == 1:
            return {}
        half = size // 2
        return await _read_block(link, unit, table, first, half) | await _read_block(
            link, unit, table, first + half, size - half
        )
    return {(table, first + i): w for i, w in enumerate(words) if w}


def scan_draft(
    found: dict[tuple[str, int], int], connection: dict[str, Any], protocol: str = "modbus_tcp"
) -> tuple[dict[str, Any], dict[str, int]]:
    """A catalogue file (as data) listing the scanned registers, and each register's raw value."""
    registers = []
    raw: dict[str, int] = {}
    for (table, address), word in sorted(found.items()):
        name = f"{table[0]}{address}"
        registers.append({"name": name, "address": address, "table": table, "type": "u16", "channel": False})
        raw[name] = word
    entry = {
        "id": "my-modbus-device",
        "models": ["My device"],
        "protocols": [protocol],
        "connection": connection,
        "registers": registers,
        "capabilities": [],
    }
    if not registers:
        entry["untested"] = "the scan found no non-zero register: widen --scan"
    return {"category": "electricity_meter", "vendor": "Unknown", "entries": [entry]}, raw


def to_yaml(doc: dict[str, Any], raw: dict[str, int] | None = None, note: str = "") -> str:
    """The draft as YAML: registers one per line with their raw value as a comment."""
    out = CommentedMap(doc)
    for entry in doc["entries"]:
        regs = CommentedSeq()
        for reg in entry.get("registers", []):
            item = CommentedMap(reg)
            item.fa.set_flow_style()
            regs.append(item)
            if raw and reg["name"] in raw:
                word = raw[reg["name"]]
                signed = word - 65536 if word > 32767 else word
                regs.yaml_add_eol_comment(f"raw {word} (0x{word:04X}, s16 {signed})", len(regs) - 1)
        if "registers" in entry:
            entry["registers"] = regs
    yaml = YAML()
    yaml.width = 110
    buf = io.StringIO()
    if note:
        buf.write("".join(f"# {line}\n" for line in note.splitlines()))
    yaml.dump(out, buf)
    return buf.getvalue()
