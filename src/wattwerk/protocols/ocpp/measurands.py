"""OCPP sampled values (1.6 and 2.0.1) → our quantities in our units.

The measurand table is data: measurand → (quantity, {unit: factor to our unit}). A value whose
unit is not in its row, that is not a finite number, or that is outside its physical range is
bad input (``BadInput``); a measurand we do not use (frequency of the grid, reactive power …)
is simply ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from wattwerk.errors import BadInput

# measurand -> (quantity, {OCPP unit: factor to W / Wh / A / V / % / °C}); the first unit is the default
MEASURANDS: dict[str, tuple[str, dict[str, float]]] = {
    "Power.Active.Import": ("power", {"W": 1.0, "kW": 1000.0}),
    "Power.Active.Export": ("power_export", {"W": 1.0, "kW": 1000.0}),
    "Energy.Active.Import.Register": ("energy", {"Wh": 1.0, "kWh": 1000.0}),
    "Current.Import": ("current", {"A": 1.0}),
    "Current.Offered": ("current_offered", {"A": 1.0}),
    "Voltage": ("voltage", {"V": 1.0}),
    "SoC": ("soc", {"Percent": 1.0}),
    "Temperature": ("temperature", {"Celsius": 1.0, "Celcius": 1.0}),  # 1.6 spells both
}
DEFAULT_MEASURAND = "Energy.Active.Import.Register"  # both versions: a sample without measurand

# OCPP phase -> our suffix; line-to-line voltages and the neutral are not kept
PHASES: dict[str, str] = {"L1": "_l1", "L2": "_l2", "L3": "_l3", "L1-N": "_l1", "L2-N": "_l2", "L3-N": "_l3"}

# quantity -> (low, high): anything outside is a wrong reading, not a fact
RANGES: dict[str, tuple[float, float]] = {
    "power": (-1e6, 1e6),
    "power_export": (0.0, 1e6),
    "energy": (0.0, 1e12),
    "current": (-1000.0, 1000.0),
    "current_offered": (0.0, 1000.0),
    "voltage": (0.0, 1000.0),
    "soc": (0.0, 100.0),
    "temperature": (-60.0, 200.0),
}

# the default location is Outlet; Inlet, Body and Cable are not the car
LOCATIONS_KEPT = frozenset({"Outlet", "EV"})


@dataclass(frozen=True, slots=True)
class Sample:
    """One sampled value in the charger's words, version independent."""

    value: Any
    measurand: str | None = None
    phase: str | None = None
    location: str | None = None
    unit: str | None = None
    multiplier: int = 0  # 2.0.1 unitOfMeasure.multiplier: value * 10**multiplier


def from_v16(sampled: Mapping[str, Any]) -> Sample:
    """A 1.6 SampledValue (snake_case keys, value is a string)."""
    return Sample(
        sampled.get("value"),
        sampled.get("measurand"),
        sampled.get("phase"),
        sampled.get("location"),
        sampled.get("unit"),
    )


def from_v201(sampled: Mapping[str, Any]) -> Sample:
    """A 2.0.1 SampledValueType (snake_case keys, value is a number, unit in unit_of_measure)."""
    uom = sampled.get("unit_of_measure") or {}
    return Sample(
        sampled.get("value"),
        sampled.get("measurand"),
        sampled.get("phase"),
        sampled.get("location"),
        uom.get("unit"),
        int(uom.get("multiplier", 0) or 0),
    )


def convert(sample: Sample) -> tuple[str, float] | None:
    """(quantity, value in our unit) for one sample; None when we do not use it; BadInput when wrong."""
    measurand = sample.measurand or DEFAULT_MEASURAND
    row = MEASURANDS.get(measurand)
    if row is None or (sample.location or "Outlet") not in LOCATIONS_KEPT:
        return None
    quantity, units = row
    suffix = ""
    if sample.phase is not None:
        if sample.phase not in PHASES:
            return None
        suffix = PHASES[sample.phase]
    unit = sample.unit or next(iter(units))
    if unit not in units:
        raise BadInput("unit", f"{measurand} in unit {unit!r}; expected one of {sorted(units)}")
    try:
        raw = float(sample.value)
    except (TypeError, ValueError, OverflowError):
        raise BadInput("value", f"{measurand} value {sample.value!r} is not a number") from None
    value = raw * units[unit] * 10.0**sample.multiplier
    low, high = RANGES[quantity]
    if not math.isfinite(value) or not low <= value <= high:
        raise BadInput("range", f"{measurand} = {value:g} is outside {low:g}..{high:g}")
    return quantity + suffix, value


def to_quantities(samples: Iterable[Sample], errors: list[BadInput] | None = None) -> dict[str, float]:
    """Our quantities from a batch of samples: per-phase power summed when no total was sent,
    export power netted against import (a charger is a load: + when consuming)."""
    out: dict[str, float] = {}
    for sample in samples:
        try:
            got = convert(sample)
        except BadInput as exc:
            if errors is not None:
                errors.append(exc)
            continue
        if got is not None:
            out[got[0]] = got[1]
    if "power" not in out and any(f"power{p}" in out for p in ("_l1", "_l2", "_l3")):
        out["power"] = sum(out.get(f"power{p}", 0.0) for p in ("_l1", "_l2", "_l3"))
    export = out.pop("power_export", None)
    if export is not None:
        out["power"] = out.get("power", 0.0) - export
    for p in ("_l1", "_l2", "_l3"):
        out.pop(f"power_export{p}", None)
    return out
