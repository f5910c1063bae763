"""Honest status for the page: each device's ok / stale / error with the cause in plain words and
what to check, and the site's overall level (red when the grid meter is not ok, amber when any
device is not, else green). The raw error stays in the row (``last_error``), one click away.

The texts are data: ``CAUSES`` maps a pattern of the raw error (the ledger's kind and message,
lower case) to a cause and a check; ``UNIT_HINTS`` adds what a vendor's Modbus unit usually is.
``{where}`` is the device's address (host:port or serial path), ``{port}`` its port. The page shows
each text in its language: a row carries ``kind`` and ``vars`` (``status.<kind>.cause`` / ``.check``
in ``static/i18n``; ``vendor`` names ``status.unit.<vendor>``), the header ``key`` and ``vars``.
"""

from __future__ import annotations

import os
import re
from typing import Any

# (pattern, key, cause, what to check): the first pattern that matches the kind + message wins
CAUSES: tuple[tuple[str, str, str, str], ...] = (
    (
        r"no such file|errno 2\b|could not open port",
        "no_such_file",
        "no serial port {where}",
        "is the USB/RS-485 adapter plugged in, and is the path right? `ls /dev/serial/by-id/` lists the "
        "adapters under names that stay the same",
    ),
    (
        r"permission denied|errno 13\b",
        "permission",
        "no permission to open {where}",
        "add the user wattwerk runs as to the group dialout (`sudo usermod -aG dialout wattwerk`), "
        "then restart",
    ),
    (
        r"connection refused|errno 111\b",
        "refused",
        "{where} refuses the connection",
        "the device is on, but nothing listens on port {port}: is Modbus TCP (or the device's API) enabled "
        "in its settings, and is the port right?{unit_hint}",
    ),
    (
        r"no route to host|host is unreachable|network is unreachable|errno 113\b",
        "unreachable",
        "{where} cannot be reached on the network",
        "is the device on, in the same network, and its IP address "
        "still {where}? A fixed address (DHCP reservation) in the router avoids changes",
    ),
    (
        r"name or service not known|nodename nor servname|getaddrinfo|temporary failure in name resolution",
        "dns",
        "the name in {where} is unknown",
        "use the device's IP address, or check the name in the router",
    ),
    (
        r"crc|checksum",
        "crc",
        "answers from {where} arrive garbled (CRC errors)",
        "on RS-485: baud rate and parity as in the device, A and B not swapped, a terminating resistor at "
        "both ends of a long bus",
    ),
    (
        r"exception code 1\b|illegal function",
        "modbus_1",
        "the device does not support this kind of read",
        "is the catalogue entry the right model (holding vs input registers)?",
    ),
    (
        r"exception code 2\b|illegal data address",
        "modbus_2",
        "the device has no register at the address asked",
        "is the catalogue entry the right model and firmware, and the unit id right?{unit_hint}",
    ),
    (
        r"exception code 3\b|illegal data value",
        "modbus_3",
        "the device refused the value or the length asked",
        "is the catalogue entry the right model and firmware?",
    ),
    (
        r"exception code 4\b|device failure",
        "modbus_4",
        "the device reports an internal failure",
        "look at the device's own display or app; restarting it often helps",
    ),
    (r"exception code 6\b|device busy", "modbus_6", "the device is busy", "nothing: wattwerk retries"),
    (
        r"exception code 1[01]\b|gateway",
        "modbus_gateway",
        "the gateway at {where} gets no answer behind it",
        "is the unit id right for the device behind the gateway, and is the RS-485 side wired?{unit_hint}",
    ),
    (
        r"timeout|timed out|no answer|no response|does not answer",
        "timeout",
        "no answer from {where}",
        "is Modbus TCP (or the device's API) enabled, and the unit id right?{unit_hint}",
    ),
)

# a vendor named in the catalogue id -> the Modbus unit (and port) it usually answers on
UNIT_HINTS: dict[str, str] = {
    "sma": "SMA uses unit 3 (126 for SunSpec)",
    "fronius": "Fronius uses unit 1 for the inverter and 200 for its meter",
    "kostal": "Kostal uses unit 71 on port 1502",
    "solaredge": "SolarEdge uses unit 1 on port 1502 once Modbus TCP is enabled in SetApp",
}

LEVELS = {"ok": "ok", "stale": "warn", "error": "bad"}


def explain(kind: str, message: str, where: str, port: int | None, catalog: str | None) -> dict[str, str]:
    """Cause and check for a raw error (``kind``, ``message`` as the ledger noted them)."""
    text = f"{kind} {message}".lower()
    vendor = next((v for v in UNIT_HINTS if v in (catalog or "").lower()), None)
    fill = {
        "where": where or "the device",
        "port": port if port is not None else "?",
        "unit_hint": f" ({UNIT_HINTS[vendor]})" if vendor else "",
    }
    words = {"where": where, "port": str(fill["port"]), "vendor": vendor or ""}  # "": the page says it
    for pattern, key, cause, check in CAUSES:
        if re.search(pattern, text):
            return {"kind": key, "cause": cause.format(**fill), "check": check.format(**fill), "vars": words}
    first = message.splitlines()[0][:200] if message else kind
    return {"kind": "other", "cause": first, "check": "", "vars": {**words, "message": first}}


def path_problem(path: str) -> str:
    """What the system says about a serial path ("" when it can be opened for reading and writing):
    the Modbus client only says "cannot connect", the cause is only in pymodbus's log."""
    if not path.startswith("/"):
        return ""
    if not os.path.exists(path):
        return f"[Errno 2] No such file or directory: {path}"
    if not os.access(path, os.R_OK | os.W_OK):
        return f"[Errno 13] Permission denied: {path}"
    return ""


def device_status(
    state: str, last_error: dict[str, Any] | None, where: str, port: int | None, catalog: str | None
) -> dict[str, Any]:
    """ok / stale / error for a device row (``state`` as ``edge.live.device_rows`` tells it), with
    the cause and the check when it is not ok: an error when the device gives no values and the
    edge knows why (a failed read, a serial path that cannot be opened), else stale."""
    if state == "ok":
        return {"status": "ok", "cause": None, "check": None}
    system = path_problem(where)
    if last_error is not None or system:
        kind = last_error["kind"] if last_error else "OSError"
        message = " ".join(x for x in (system, last_error["message"] if last_error else "") if x)
        return {"status": "error"} | explain(kind, message, where, port, catalog)
    if state == "waiting":
        return {
            "status": "stale",
            "kind": "waiting",
            "cause": "no value from the device yet",
            "check": "wait a few seconds after a start; if it stays, check the connection settings",
        }
    return {
        "status": "stale",
        "kind": "stale",
        "cause": "no recent value from the device",
        "check": "is the device on and connected? Its values stopped arriving",
    }


def site_health(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The header's level: ``bad`` when a grid meter is not ok, ``warn`` when any device is not."""
    bad = [r for r in rows if r.get("status") != "ok"]
    grid = [r for r in bad if r.get("role") == "grid_meter"]
    if grid:
        r = grid[0]
        return {
            "level": "bad",
            "text": f"grid meter {r['name']}: {r['cause']}",
            "key": "health.grid",
            "vars": {"name": r["name"], "device": r.get("id", "")},
            "devices": [x["id"] for x in bad],
        }
    if bad:
        names = ", ".join(r["name"] for r in bad[:3]) + (" …" if len(bad) > 3 else "")
        word = "device" if len(bad) == 1 else "devices"
        return {
            "level": "warn",
            "text": f"{len(bad)} {word} not ok: {names}",
            "key": "health.warn_one" if len(bad) == 1 else "health.warn",
            "vars": {"n": str(len(bad)), "names": names},
            "devices": [x["id"] for x in bad],
        }
    return {
        "level": "ok",
        "text": "all devices answer" if rows else "no devices",
        "key": "health.ok" if rows else "health.none",
        "vars": {},
        "devices": [],
    }
