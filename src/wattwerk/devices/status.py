"""Which catalogue entries count as supported, and why the others do not.

The rule (DESIGN.md, issue 4): an entry is ``tested`` only when a test in the suite reads it from an
emulator built from the same entry and, for a controllable entry, writes each of its commands and
sees the emulated device follow. ``tests/test_catalog_entries.py`` is parametrised over exactly
``emulated(items)``: every entry with a Modbus register map or a SunSpec model set, and no
``untested`` reason. So the status is derived from the data, and a failing entry fails the suite.
Entries with a protocol of their own (``native:`` KEBA UDP, Hardy Barth and my-PV HTTP, relay
switches) are covered the same way by ``tests/test_devices_native.py``, parametrised over exactly
``native(items)``, except the packaged HTTP/MQTT template entries (go-e, Easee, Zaptec, SMA EV
Charger, Tesla, openWB) and the Wattpilot's websocket, which ``tests/test_catalog_owned_native.py``
reads from their vendors' documented answers. Everything else is ``untested`` with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable

from wattwerk.devices.catalog import Item

EMULATED_PROTOCOLS = frozenset({"modbus_tcp", "modbus_rtu", "sunspec"})


def is_emulated(item: Item) -> bool:
    """A Modbus/SunSpec entry the register emulator test covers."""
    e = item.entry
    return (
        e.untested is None
        and e.native is None
        and bool(EMULATED_PROTOCOLS & set(e.protocols))
        and (bool(e.registers) or e.sunspec is not None)
    )


def emulated(items: Iterable[Item]) -> list[Item]:
    return [i for i in items if is_emulated(i)]


def is_native(item: Item) -> bool:
    """An entry with its own protocol's driver and emulator (``tests/test_devices_native.py``)."""
    return item.entry.untested is None and item.entry.native is not None


def native(items: Iterable[Item]) -> list[Item]:
    return [i for i in items if is_native(i)]


def status(item: Item) -> tuple[str, str]:
    """``("tested", "")`` or ``("untested", reason)``."""
    e = item.entry
    if e.untested is not None:
        return "untested", e.untested
    if is_emulated(item) or is_native(item):
        return "tested", ""
    other = ", ".join(sorted(set(e.protocols) - EMULATED_PROTOCOLS)) or "?"
    return "untested", f"no emulator for {other} in the catalogue tests yet"
