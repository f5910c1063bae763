"""Register values <-> numbers: data types, word order, scale factors and "not implemented" sentinels.

Conversion itself is pymodbus' (``convert_from_registers`` / ``convert_to_registers``); this module
adds what the field needs on top: the register count of a type, the sentinels devices use to say
"no value" (SunSpec and most vendors: 0xFFFF, 0x8000, 0x7FFFFFFF, 0xFFFFFFFF, NaN ...), which become
``None``, and the scaling ``raw * scale * 10**sf``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pymodbus.client.mixin import ModbusClientMixin

DT = ModbusClientMixin.DATATYPE
WordOrder = Literal["big", "little"]
Table = Literal["holding", "input", "coil", "discrete"]

# our type name -> (pymodbus datatype, registers)
TYPES: dict[str, tuple[DT, int]] = {
    "u16": (DT.UINT16, 1),
    "s16": (DT.INT16, 1),
    "u32": (DT.UINT32, 2),
    "s32": (DT.INT32, 2),
    "u64": (DT.UINT64, 4),
    "s64": (DT.INT64, 4),
    "f32": (DT.FLOAT32, 2),
    "f64": (DT.FLOAT64, 4),
    "acc32": (DT.UINT32, 2),  # SunSpec accumulators: like u32 but 0 means "not implemented"
    "acc64": (DT.UINT64, 4),
    "sf": (DT.INT16, 1),  # SunSpec scale factor (sunssf)
    "bool": (DT.UINT16, 1),  # a coil or discrete input (one bit)
    "string": (DT.STRING, 0),
}

# Values meaning "not implemented / not available" per type.
SENTINELS: dict[str, frozenset[int]] = {
    "u16": frozenset({0xFFFF}),
    "s16": frozenset({-0x8000}),
    "sf": frozenset({-0x8000}),
    "u32": frozenset({0xFFFFFFFF}),
    "s32": frozenset({-0x80000000}),
    "acc32": frozenset({0}),
    "u64": frozenset({0xFFFFFFFFFFFFFFFF}),
    "s64": frozenset({-0x8000000000000000}),
    "acc64": frozenset({0}),
}

# The raw value a sentinel-aware writer uses for "absent" (emulators use it for missing values).
ABSENT: dict[str, int | float] = {
    "u16": 0xFFFF,
    "s16": -0x8000,
    "sf": -0x8000,
    "u32": 0xFFFFFFFF,
    "s32": -0x80000000,
    "acc32": 0,
    "u64": 0xFFFFFFFFFFFFFFFF,
    "s64": -0x8000000000000000,
    "acc64": 0,
    "f32": math.nan,
    "f64": math.nan,
    "bool": 0,
}

RANGES: dict[str, tuple[int, int]] = {
    "u16": (0, 0xFFFF),
    "s16": (-0x8000, 0x7FFF),
    "sf": (-10, 10),
    "u32": (0, 0xFFFFFFFF),
    "s32": (-0x80000000, 0x7FFFFFFF),
    "acc32": (0, 0xFFFFFFFF),
    "u64": (0, 0xFFFFFFFFFFFFFFFF),
    "s64": (-0x8000000000000000, 0x7FFFFFFFFFFFFFFF),
    "acc64": (0, 0xFFFFFFFFFFFFFFFF),
    "bool": (0, 1),
}


@dataclass(frozen=True, slots=True)
class Register:
    """One value in a device's register space, and how to turn it into our unit.

    ``value = raw * scale * 10**sf + offset`` where ``sf`` is the value of the scale-factor register named by
    ``sf`` (SunSpec ``_SF``). ``words`` is the register count of a string. ``sentinel=False`` turns
    the "not implemented" check off for registers whose full range is meaningful.
    """

    name: str
    address: int
    type: str = "u16"
    table: Table = "holding"
    scale: float = 1.0
    sf: str | None = None
    words: int = 0
    word_order: WordOrder = "big"
    min: float | None = None
    max: float | None = None
    sentinel: bool = True
    offset: float = 0.0  # added after scaling (a few devices shift signed values into unsigned registers)

    @property
    def size(self) -> int:
        return self.words if self.type == "string" else TYPES[self.type][1]

    @property
    def end(self) -> int:
        """One past the last register."""
        return self.address + self.size


def decode_raw(regs: list[int], type_: str, word_order: WordOrder = "big") -> int | float | str | None:
    """The raw value of ``regs`` as ``type_``; ``None`` for a "not implemented" sentinel or NaN."""
    if type_ == "bool":
        return int(bool(regs[0]))
    if type_ == "u16":  # the common case, without a round trip through bytes
        return None if regs[0] == 0xFFFF else regs[0]
    if type_ in ("s16", "sf"):
        value = regs[0] - 0x10000 if regs[0] & 0x8000 else regs[0]
        return None if value == -0x8000 else value
    dt = TYPES[type_][0]
    if type_ == "string":
        try:
            text = ModbusClientMixin.convert_from_registers(regs, dt, word_order)
        except UnicodeDecodeError:
            text = bytes(b for r in regs for b in r.to_bytes(2, "big")).decode("latin-1")
        text = str(text).replace("\x00", "").strip()
        return text or None
    value = ModbusClientMixin.convert_from_registers(regs, dt, word_order)
    assert isinstance(value, int | float)
    if isinstance(value, float):
        return None if not math.isfinite(value) else value
    if value in SENTINELS.get(type_, ()):
        return None
    return value


def encode_raw(
    value: int | float | str | None, type_: str, words: int = 0, word_order: WordOrder = "big"
) -> list[int]:
    """Registers holding ``value`` as ``type_`` (``None`` -> the type's "absent" sentinel)."""
    if type_ == "string":
        text = (value or "") if isinstance(value, str) else str(value or "")
        data = text.encode("utf-8")[: words * 2].ljust(words * 2, b"\x00")
        return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    dt, _ = TYPES[type_]
    if value is None:
        absent = ABSENT[type_]
        return ModbusClientMixin.convert_to_registers(absent, dt, word_order)  # type: ignore[arg-type]
    if type_ == "bool":
        return [1 if value else 0]
    if type_ in ("f32", "f64"):
        return ModbusClientMixin.convert_to_registers(float(value), dt, word_order)
    lo, hi = RANGES[type_]
    raw = max(lo, min(hi, round(float(value))))
    return ModbusClientMixin.convert_to_registers(raw, dt, word_order)


def scaled(raw: float, scale: float = 1.0, sf: int = 0) -> float:
    """``raw * scale * 10**sf`` with the float noise of decimal scaling rounded away."""
    value = raw * scale * (10.0**sf)
    return round(value, 9)
