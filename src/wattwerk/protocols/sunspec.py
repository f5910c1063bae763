"""SunSpec over Modbus: model-chain discovery, register layout from the official model definitions,
and the mapping of SunSpec points onto our channels and signs.

The model definitions are read at run time from the JSON files pysunspec2 ships (the SunSpec
Alliance's own ``models`` repository), so repeating groups, scale factors and types come from the
source and are never transcribed here. What this module adds is the meaning: which point is which
of our quantities (``POINT_MAP``), and how a power limit or a battery setpoint is written.

Signs: SunSpec inverter ``W`` is + producing (our PV convention); SunSpec meter ``W`` is + import
(our grid convention); battery model 802 ``W`` is + discharging (our battery convention).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from wattwerk.errors import BadInput, PermanentError
from wattwerk.protocols.modbus import ModbusDeviceError, ModbusLink
from wattwerk.protocols.modbus_blocks import MAX_REGISTERS
from wattwerk.protocols.modbus_codec import Register

SUNS = (0x5375, 0x6E53)  # "SunS"
BASES = (40000, 0, 50000)
END = 0xFFFF
MAX_MODELS = 64

# models this module gives meaning to (others are listed by probe but not read); 160 (MPPT) only where
# an entry takes its PV power or its battery's flow from the modules (``SunSpecSpec.pv_power``,
# ``battery_power``)
SUPPORTED = (
    1,
    101,
    102,
    103,
    111,
    112,
    113,
    120,
    121,
    123,
    124,
    160,
    201,
    202,
    203,
    204,
    211,
    212,
    213,
    214,
    701,
    702,
    704,
    802,
)

TYPE_MAP = {
    "uint16": "u16",
    "int16": "s16",
    "acc16": "u16",
    "enum16": "u16",
    "bitfield16": "u16",
    "count": "u16",
    "uint32": "u32",
    "int32": "s32",
    "acc32": "acc32",
    "enum32": "u32",
    "bitfield32": "u32",
    "ipaddr": "u32",
    "uint64": "u64",
    "int64": "s64",
    "acc64": "acc64",
    "float32": "f32",
    "float64": "f64",
    "sunssf": "sf",
    "string": "string",
    "ipv6addr": "string",
}

_INVERTER = {
    "W": "power",
    "WH": "energy",
    "A": "current",
    "Hz": "frequency",
    "PhVphA": "voltage_l1",
    "PhVphB": "voltage_l2",
    "PhVphC": "voltage_l3",
    "TmpCab": "temperature",
    "DCW": "power_dc",
    "DCV": "voltage_dc",
    "DCA": "current_dc",
}
_METER = {
    "W": "power",
    "WphA": "power_l1",
    "WphB": "power_l2",
    "WphC": "power_l3",
    "TotWhImp": "energy_import",
    "TotWhExp": "energy_export",
    "PhVphA": "voltage_l1",
    "PhVphB": "voltage_l2",
    "PhVphC": "voltage_l3",
    "AphA": "current_l1",
    "AphB": "current_l2",
    "AphC": "current_l3",
    "Hz": "frequency",
    "PF": "power_factor",
}

# model id -> {point name: our quantity}; values keep SunSpec's sign (see the module docstring)
POINT_MAP: dict[int, dict[str, str]] = {
    **{m: _INVERTER for m in (101, 102, 103, 111, 112, 113)},
    **{m: _METER for m in (201, 202, 203, 204, 211, 212, 213, 214)},
    701: {
        "W": "power",
        "TotWhInj": "energy",
        "A": "current",
        "LNV": "voltage",
        "Hz": "frequency",
        "TmpCab": "temperature",
    },
    124: {"ChaState": "soc", "WChaMax": "limit_charge"},
    802: {"SoC": "soc", "W": "power", "V": "voltage_dc"},
    120: {"WRtg": "limit_rated"},
    121: {"WMax": "limit_max"},
    702: {"WMax": "limit_max"},
}

# points read for control and identification beside the mapped ones
CONTROL_POINTS: dict[int, tuple[str, ...]] = {
    1: ("Mn", "Md", "SN", "Vr"),
    123: ("Conn", "WMaxLimPct", "WMaxLim_Ena"),
    124: ("WChaMax", "StorCtl_Mod", "InWRte", "OutWRte"),
    704: ("WMaxLimPctEna", "WMaxLimPct"),
    702: ("WMax",),
    121: ("WMax",),
    120: ("WRtg",),
}


@cache
def model_definition(mid: int) -> dict[str, Any]:
    """The official definition of model ``mid`` (pysunspec2's JSON), or BadInput if unknown."""
    try:
        ref = resources.files("sunspec2") / "models" / "json" / f"model_{mid}.json"
        return json.loads(ref.read_text(encoding="utf-8"))
    except (FileNotFoundError, ModuleNotFoundError, OSError) as exc:
        raise BadInput("unknown_model", f"SunSpec model {mid} has no definition") from exc


def model_label(mid: int) -> str:
    try:
        group = model_definition(mid)["group"]
    except BadInput:
        return f"model {mid}"
    return str(group.get("label") or group["name"])


@dataclass(frozen=True, slots=True)
class Point:
    """One SunSpec point placed at its address: the register plus SunSpec's metadata."""

    model: int
    path: str  # "W", "module[0].DCW"
    register: Register
    access: str = "R"
    units: str | None = None


@dataclass
class ModelInstance:
    """One model found in a device's chain: id, address of its ID register, length L."""

    mid: int
    address: int
    length: int
    key: str = ""  # register name prefix: "103", or "160#2" for a second instance
    raw: list[int] = field(default_factory=list)  # the model's registers from ID on, when read

    @property
    def supported(self) -> bool:
        return self.mid in SUPPORTED


def _point_size(p: dict[str, Any]) -> int:
    return int(p["size"])


def _group_size(g: dict[str, Any], counts: dict[str, int]) -> int:
    total = sum(_point_size(p) for p in g["points"])
    for sub in g.get("groups", []):
        total += _group_size(sub, counts) * _repeat(sub, counts, 0, 0)
    return total


def _repeat(g: dict[str, Any], counts: dict[str, int], remaining: int, unit: int) -> int:
    count = g.get("count")
    if count is None:
        return 1
    if isinstance(count, str):
        return int(counts.get(count, 0))
    if count == 0:  # fill the rest of the model
        return remaining // unit if unit else 0
    return int(count)


def layout(
    mid: int, address: int, length: int | None = None, raw: list[int] | None = None, key: str | None = None
) -> list[Point]:
    """Every point of model ``mid`` whose ID register is at ``address``.

    ``length`` (the model's L) sizes "fill the rest" repeating groups; ``raw`` (the model's
    registers from ID on) gives the values of count points such as ``N``.
    """
    group = model_definition(mid)["group"]
    key = key or str(mid)
    points: list[Point] = []
    counts: dict[str, int] = {}
    end = address + 2 + (length if length is not None else _group_size(group, {}) - 2)

    def walk(g: dict[str, Any], start: int, prefix: str, sfs: dict[str, str]) -> int:
        at = start
        local = dict(sfs)
        for p in g["points"]:
            if p["type"] == "sunssf":
                local[p["name"]] = f"{key}.{prefix}{p['name']}"
        for p in g["points"]:
            size = _point_size(p)
            our = TYPE_MAP.get(p["type"])
            if our is not None:
                name = f"{key}.{prefix}{p['name']}"
                sf = p.get("sf")
                sf_name = local.get(sf) if isinstance(sf, str) else None
                reg = Register(
                    name,
                    at,
                    our,
                    "holding",
                    sf=sf_name,
                    words=size if our == "string" else 0,
                    sentinel=p["name"] not in ("ID", "L"),
                )
                points.append(Point(mid, f"{prefix}{p['name']}", reg, p.get("access", "R"), p.get("units")))
                if p["type"] == "count" and raw is not None and at - address < len(raw):
                    counts[p["name"]] = raw[at - address]
            at += size
        for sub in g.get("groups", []):
            unit = _group_size(sub, counts)
            n = _repeat(sub, counts, end - at, unit)
            if unit:  # a count that says more than the model holds (a bad or absent N) is cut to it
                n = max(0, min(n, (end - at) // unit))
            for i in range(n):
                label = f"{prefix}{sub['name']}" + (f"[{i}]" if sub.get("count") is not None else "")
                at = walk(sub, at, label + ".", local)
        return at

    walk(group, address, "", {})
    return points


def model_length(mid: int, repeats: int = 1) -> int:
    """L of model ``mid`` with each repeating group present ``repeats`` times (for emulators)."""

    def size(g: dict[str, Any]) -> int:
        total = sum(_point_size(p) for p in g["points"])
        for sub in g.get("groups", []):
            total += size(sub) * (1 if sub.get("count") is None else repeats)
        return total

    return size(model_definition(mid)["group"]) - 2


def is_suns(regs: list[int]) -> bool:
    return tuple(regs[:2]) == SUNS


def parse_chain(read_header: list[tuple[int, int, int]]) -> list[ModelInstance]:
    """Model instances from ``(address, ID, L)`` headers, naming repeated models ``mid#n``."""
    seen: dict[int, int] = {}
    out = []
    for address, mid, length in read_header:
        seen[mid] = seen.get(mid, 0) + 1
        key = str(mid) if seen[mid] == 1 else f"{mid}#{seen[mid]}"
        out.append(ModelInstance(mid, address, length, key))
    return out


def common_info(points: list[Point], values: dict[str, float | str]) -> dict[str, str]:
    """Manufacturer, model, serial, version from model 1's decoded values."""
    names = {"Mn": "manufacturer", "Md": "model", "SN": "serial", "Vr": "version"}
    out = {}
    for p in points:
        if p.model == 1 and p.path in names and p.register.name in values:
            out[names[p.path]] = str(values[p.register.name])
    return out


async def read_range(link: ModbusLink, unit: int, address: int, count: int) -> list[int]:
    """``count`` holding registers from ``address`` in requests of at most 125."""
    out: list[int] = []
    while count > 0:
        n = min(count, MAX_REGISTERS)
        out += await link.read(unit, "holding", address, n)
        address += n
        count -= n
    return out


async def find_base(link: ModbusLink, unit: int, bases: tuple[int, ...] = BASES) -> int:
    """The base address holding the ``SunS`` marker; PermanentError when none does."""
    for base in bases:
        try:
            regs = await link.read(unit, "holding", base, 2)
        except ModbusDeviceError:
            continue
        if is_suns(regs):
            return base
    raise PermanentError(f"unit {unit}: no SunSpec marker at {', '.join(map(str, bases))}")


async def discover(
    link: ModbusLink, unit: int, bases: tuple[int, ...] = BASES, read_models: bool = True
) -> list[ModelInstance]:
    """Walk the model chain from the ``SunS`` marker until ID 0xFFFF.

    With ``read_models`` the supported models' registers are read too (count points such as
    ``N`` size their repeating groups).
    """
    base = await find_base(link, unit, bases)
    address = base + 2
    headers: list[tuple[int, int, int]] = []
    for _ in range(MAX_MODELS):
        mid, length = await link.read(unit, "holding", address, 2)
        if mid in (END, 0):
            break
        headers.append((address, mid, length))
        address += 2 + length
        if address > 0xFFFF:
            raise BadInput("chain", f"unit {unit}: SunSpec chain runs past the address space")
    models = parse_chain(headers)
    if read_models:
        for m in models:
            if m.supported:
                m.raw = await read_range(link, unit, m.address, m.length + 2)
    return models
