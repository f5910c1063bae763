"""The body of a DLMS push (``dlms.py``) as values: its layout read, registers scaled, OBIS mapped.

A body is either a push list (the first element lists the capture objects, as the VSE
configurations do), or values in a configured or known positional order (``han_lists.py``), or
OBIS octet strings followed by their values and optional scaler/unit structures (Austrian and
Kamstrup style). Registers are scaled by the scaler/unit the push carries, else by the meter
profile's table (pushes rarely carry scalers), and mapped to our quantities and units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from wattwerk.model import ObisName
from wattwerk.protocols.base import Frame, Value
from wattwerk.protocols.dlms_data import DlmsError, dlms_time, plain
from wattwerk.protocols.han_lists import layout as han_layout
from wattwerk.protocols.meter import derive_totals, lookup_obis

# Scaler (power of ten) per quantity prefix, for pushes that carry no scaler_unit.
# From the meters' documented push configurations (VSE 2026 lists, vendor manuals).
SCALER_PROFILES: dict[str, dict[str, int]] = {
    "default": {"current": -2, "power_factor": -3, "frequency": -2},
    "lg_e450": {"current": -2, "power_factor": -3, "frequency": -2},
    "lg_e360": {"current": -2, "power_factor": -3, "voltage": -1},
    "lg_e570": {"power_factor": -3},
    "iskra_am550": {"current": -2, "power_factor": -3, "voltage": -1},
    "kamstrup_han": {"current": -2, "energy": 1, "reactive_energy": 1},
    "kaifa_han": {"current": -3, "voltage": -1},  # Kaifa MA304 (list id KFM_001): mA, 0.1 V
}

# DLMS unit enumeration (Blue Book) -> (our unit, power-of-ten shift into it).
DLMS_UNITS: dict[int, tuple[str, int]] = {
    27: ("W", 0),
    28: ("VA", 0),
    29: ("var", 0),
    30: ("Wh", 0),
    31: ("VAh", 0),
    32: ("varh", 0),
    33: ("A", 0),
    35: ("V", 0),
    44: ("Hz", 0),
    13: ("m³", 0),
    14: ("m³", 0),
    255: ("", 0),
}

# Meter identity (logical device name, serial numbers; Kamstrup sends 1-1:0.0.5) and clock:
# compared by C.D.E, any channel B.
ID_CDE = ("42.0.0", "96.1.0", "96.1.1", "96.1.2", "0.0.5")
CLOCK_CDE = "1.0.0"


def _cde(obis: str) -> str:
    return obis.split(":", 1)[1].split("*", 1)[0]


def _is_id(obis: str) -> bool:
    return _cde(obis) in ID_CDE


def _is_clock(obis: str) -> bool:
    return obis.startswith("0-") and _cde(obis) == CLOCK_CDE


@dataclass
class _Capture:
    class_id: int
    obis: str
    attribute: int


def _obis_text(raw: bytes) -> str:
    a, b, c, d, e, f = raw
    code = f"{a}-{b}:{c}.{d}.{e}"
    return code if f == 255 else f"{code}*{f}"


def _looks_like_obis(raw: Any) -> bool:
    return isinstance(raw, (bytes, bytearray)) and len(raw) == 6 and raw[0] <= 9 and raw[1] <= 64


def _text(raw: Any) -> str | None:
    if isinstance(raw, (bytes, bytearray)):
        try:
            text = bytes(raw).decode("ascii")
        except UnicodeDecodeError:
            return bytes(raw).hex()
        return text if text.isprintable() else bytes(raw).hex()
    if isinstance(raw, str):
        return raw
    return None


@dataclass
class Push:
    """What one notification says, before mapping."""

    ts: datetime | None = None
    meter_id: str | None = None
    push_setup: str | None = None
    list_id: str | None = None  # the list identifier some meters push first
    registers: list[tuple[str, float, tuple[int, int] | None]] = field(default_factory=list)


def read_push(
    items: list[Any], ts: datetime | None, tz: ZoneInfo, capture_objects: list[str | None] | None
) -> Push:
    """The parsed data items of a notification (sent at ``ts``, if it says) by their layout."""
    push = Push(ts=ts)
    body = [plain(item) for item in items]
    if len(body) == 1 and isinstance(body[0], list):
        body = body[0]
    captures = _push_list(body)
    if captures is not None:
        if len(items) != 1 or len(captures) != len(body):
            raise DlmsError(
                "malformed", f"push list names {len(captures)} objects but {len(body)} values came"
            )
        _from_push_list(captures, body, push, tz)
    elif capture_objects is not None:
        _from_configured(body, push, capture_objects, tz)
    elif (positional := han_layout(body)) is not None:
        push.list_id = positional[0]
        _from_configured(body, push, positional[1], tz)
    else:
        _from_inline(body, push, tz)
    return push


def _from_push_list(captures: list[_Capture], body: list[Any], push: Push, tz: ZoneInfo) -> None:
    scalers: dict[str, tuple[int, int]] = {}
    pending: list[tuple[str, Any]] = []
    for capture, value in zip(captures, body, strict=False):
        if capture.class_id == 40:
            push.push_setup = capture.obis
            continue
        if _is_clock(capture.obis) and isinstance(value, (bytes, bytearray)):
            push.ts = dlms_time(bytes(value), tz) or push.ts
        elif _is_id(capture.obis) and capture.class_id == 1:
            push.meter_id = push.meter_id or _text(value)
        elif capture.class_id in (3, 4, 5) and capture.attribute == 3 and _scaler_unit(value):
            scalers[capture.obis] = _scaler_unit(value)  # type: ignore[assignment]
        elif capture.attribute == 2 and _number(value) is not None:
            pending.append((capture.obis, value))
    for obis, value in pending:
        push.registers.append((obis, float(_number(value)), scalers.get(obis)))  # type: ignore[arg-type]


def _from_configured(body: list[Any], push: Push, objects: list[str | None], tz: ZoneInfo) -> None:
    if len(body) != len(objects):
        raise DlmsError(
            "malformed", f"push has {len(body)} values but {len(objects)} capture objects are configured"
        )
    for obis, value in zip(objects, body, strict=True):
        if obis is None:
            continue
        if _is_clock(obis) and isinstance(value, (bytes, bytearray)):
            push.ts = dlms_time(bytes(value), tz) or push.ts
        elif _is_id(obis) and isinstance(value, (bytes, bytearray, str)):
            push.meter_id = push.meter_id or _text(value)
        elif _number(value) is not None:
            push.registers.append((obis, float(_number(value)), None))  # type: ignore[arg-type]


def _from_inline(body: list[Any], push: Push, tz: ZoneInfo) -> None:
    flat = list(_flatten(body))
    i = 0
    while i < len(flat):
        item = flat[i]
        if _looks_like_obis(item) and i + 1 < len(flat) and not _looks_like_obis(flat[i + 1]):
            obis, value = _obis_text(bytes(item)), flat[i + 1]
            i += 2
            scaler = None
            if i < len(flat) and isinstance(flat[i], list) and _scaler_unit(flat[i]):
                scaler = _scaler_unit(flat[i])
                i += 1
            if _is_clock(obis) and isinstance(value, (bytes, bytearray)):
                push.ts = dlms_time(bytes(value), tz) or push.ts
            elif _cde(obis) == "0.2.129" and isinstance(value, (bytes, bytearray, str)):
                push.list_id = push.list_id or _text(value)  # OBIS list version (KFM_001)
            elif _is_id(obis) and isinstance(value, (bytes, bytearray, str)):
                push.meter_id = push.meter_id or _text(value)
            elif _number(value) is not None:
                push.registers.append((obis, float(_number(value)), scaler))  # type: ignore[arg-type]
            continue
        if isinstance(item, (bytes, bytearray)) and len(item) == 12 and push.ts is None:
            push.ts = dlms_time(bytes(item), tz)
        elif isinstance(item, str) and push.list_id is None:
            push.list_id = item  # e.g. "Kamstrup_V0001"
        i += 1
    if not push.registers:
        raise DlmsError(
            "unsupported", "push has neither a push list nor OBIS codes; its layout must be configured"
        )


def _scalers(push: Push, profile: str | None) -> dict[str, int]:
    if profile:
        return SCALER_PROFILES[profile]
    meter = (push.meter_id or "").upper()
    if (push.list_id or "").startswith("Kamstrup"):
        return SCALER_PROFILES["kamstrup_han"]
    if (push.list_id or "").startswith("KFM_"):
        return SCALER_PROFILES["kaifa_han"]
    if meter.startswith("ISK"):
        return SCALER_PROFILES["iskra_am550"]
    if meter.startswith("LGZ") and push.push_setup and push.push_setup.startswith("0-6:"):
        return SCALER_PROFILES["lg_e360"]
    return SCALER_PROFILES["default"]


def to_frame(push: Push, profile: str | None) -> Frame:
    """The push's registers as our quantities and units; ``profile`` names the scaler table
    (None: chosen by the meter's id or list id)."""
    scalers = _scalers(push, profile)
    frame = Frame(ts=push.ts, meter_id=push.meter_id)
    values: list[Value] = []
    for obis, raw, scaler_unit in push.registers:
        name = lookup_obis(obis) or _mbus_name(obis, scaler_unit)
        if name is None:
            frame.notes.append(("unknown_obis", f"{obis} is not a quantity we map"))
            continue
        if scaler_unit is not None:
            scaler, unit_code = scaler_unit
            unit, shift = DLMS_UNITS.get(unit_code, (None, 0))
            if unit is not None and unit != name.unit and unit_code != 255:
                frame.notes.append(("unit", f"{obis} sent in unit {unit_code}, expected {name.unit}"))
                continue
            exponent = scaler + shift
        else:
            exponent = _profile_scaler(scalers, name.quantity)
        value = raw * 10.0**exponent if exponent >= 0 else raw / 10.0 ** (-exponent)
        values.append(Value(obis, name.quantity, round(value, 9), name.unit))
    frame.values = derive_totals(values)
    if not frame.values:
        frame.errors.append("push has no values we read")
        frame.error_kind = "empty"
    return frame


def _mbus_name(obis: str, scaler_unit: tuple[int, int] | None) -> ObisName | None:
    """An M-Bus channel's reading (0-n:24.2.1): gas volume or heat energy by the unit it states.

    Without a scaler/unit in the push the reading is not interpreted (noted as unknown)."""
    m = re.fullmatch(r"0-(\d+):24\.2\.[13]", obis)
    if not m or scaler_unit is None:
        return None
    unit = DLMS_UNITS.get(scaler_unit[1], (None, 0))[0]
    suffix = "" if m.group(1) == "1" else f"_ch{m.group(1)}"
    if unit == "m³":
        return ObisName(f"gas_volume{suffix}", "m³")
    if unit == "Wh":
        return ObisName(f"heat_energy{suffix}", "Wh")
    return None


def _profile_scaler(profile: dict[str, int], quantity: str) -> int:
    best, exponent = "", 0
    for prefix, exp in profile.items():
        if (quantity == prefix or quantity.startswith(prefix + "_")) and len(prefix) > len(best):
            best, exponent = prefix, exp
    return exponent


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _scaler_unit(value: Any) -> tuple[int, int] | None:
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and -128 <= value[0] <= 127
    ):
        return value[0], value[1]
    return None


def _flatten(items: list[Any]) -> Any:
    for item in items:
        if isinstance(item, list) and not _scaler_unit(item):
            yield from _flatten(item)
        else:
            yield item


def _push_list(body: list[Any]) -> list[_Capture] | None:
    """The capture objects when the first element is a push object list, else None."""
    if not body or not isinstance(body[0], list) or not body[0]:
        return None
    captures = []
    for entry in body[0]:
        if not (isinstance(entry, list) and len(entry) == 4 and _looks_like_obis(entry[1])):
            return None
        captures.append(_Capture(int(entry[0]), _obis_text(bytes(entry[1])), int(entry[2])))
    return captures
