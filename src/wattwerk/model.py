"""The one data model every layer shares: Reading, Channel, Setpoint, units, signs, OBIS names.

Conventions (see DESIGN.md):

* Power in W, energy in Wh, SoC in %, temperature in °C, voltage in V, current in A,
  time in UTC (timezone-aware) everywhere inside the program.
* Signs: grid power is positive when importing and negative when exporting; battery
  power is positive when discharging; PV power is positive when producing; loads are
  positive when consuming. Every driver converts to these at its boundary.
* Channel names are ``<device_id>.<quantity>``, e.g. ``grid.power``, ``bat.soc``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class Kind(StrEnum):
    """How a channel's values aggregate."""

    POWER = "power"  # instantaneous rate: aggregates keep mean/min/max
    COUNTER = "counter"  # monotonic total (energy, volume): aggregates keep exact deltas
    GAUGE = "gauge"  # a level (SoC, temperature, voltage): mean/min/max like power
    STATE = "state"  # a discrete state (SG-Ready, relay): last value, min, max


_NAME_PART = r"[a-z][a-z0-9_]*"
CHANNEL_NAME = re.compile(rf"^{_NAME_PART}\.{_NAME_PART}$")

# Quantity name (or prefix) -> (unit, kind). The longest matching prefix wins, so
# "energy_import_t1" is a counter in Wh and "power_l1" is a power in W.
QUANTITIES: dict[str, tuple[str, Kind]] = {
    "power": ("W", Kind.POWER),
    "reactive_power": ("var", Kind.POWER),
    "apparent_power": ("VA", Kind.POWER),
    "energy": ("Wh", Kind.COUNTER),
    "reactive_energy": ("varh", Kind.COUNTER),
    "apparent_energy": ("VAh", Kind.COUNTER),
    "gas_volume": ("m³", Kind.COUNTER),
    "water_volume": ("m³", Kind.COUNTER),
    "heat_energy": ("Wh", Kind.COUNTER),
    "heat_power": ("W", Kind.POWER),  # a heat meter's thermal power
    "flow_rate": ("m³/h", Kind.GAUGE),  # a heat or water meter's volume flow
    "soc": ("%", Kind.GAUGE),
    "temperature": ("°C", Kind.GAUGE),
    "voltage": ("V", Kind.GAUGE),
    "current": ("A", Kind.GAUGE),
    "frequency": ("Hz", Kind.GAUGE),
    "power_factor": ("", Kind.GAUGE),
    "cycle_time": ("s", Kind.GAUGE),
    "sgready": ("", Kind.STATE),
    "relay": ("", Kind.STATE),
    "state": ("", Kind.STATE),
    "phases": ("", Kind.STATE),
    "limit": ("W", Kind.GAUGE),
    "limit_pct": ("%", Kind.GAUGE),  # a limit in % (a marketer's feed-in limit of the PV power)
    "price": ("€/kWh", Kind.GAUGE),
}


def quantity_info(quantity: str) -> tuple[str, Kind]:
    """Unit and kind of a quantity name, by the longest known prefix."""
    best = ""
    for prefix in QUANTITIES:
        if (quantity == prefix or quantity.startswith(prefix + "_")) and len(prefix) > len(best):
            best = prefix
    if not best:
        raise ValueError(f"unknown quantity {quantity!r}")
    return QUANTITIES[best]


def split_channel(name: str) -> tuple[str, str]:
    """Split ``device.quantity``; raise ValueError with the reason for a bad name."""
    if not CHANNEL_NAME.match(name):
        raise ValueError(f"bad channel name {name!r}: expected <device>.<quantity> in lower case")
    device, quantity = name.split(".", 1)
    return device, quantity


@dataclass(frozen=True, slots=True)
class Channel:
    """A named series: which device, which quantity, its unit and how it aggregates."""

    device: str
    quantity: str
    unit: str
    kind: Kind
    obis: str | None = None

    @property
    def name(self) -> str:
        return f"{self.device}.{self.quantity}"

    @classmethod
    def of(cls, name: str, obis: str | None = None) -> Channel:
        """The channel for a name, with unit and kind from the quantity table."""
        device, quantity = split_channel(name)
        unit, kind = quantity_info(quantity)
        return cls(device, quantity, unit, kind, obis)


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one channel at one instant (UTC, timezone-aware)."""

    channel: str
    ts: datetime
    value: float

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None:
            raise ValueError(f"{self.channel}: timestamp {self.ts} has no timezone")
        if not math.isfinite(self.value):
            raise ValueError(f"{self.channel}: value {self.value} is not finite")

    @property
    def ts_ms(self) -> int:
        """Milliseconds since the Unix epoch: the store's integer time."""
        return ms(self.ts)


@dataclass(frozen=True, slots=True)
class Setpoint:
    """A request to a device: ``channel`` names device and command (``ev1.current_limit``).

    Controllers produce them; the limiter may lower them; drivers write them.
    ``source`` says which controller (or limit) decided the value, for the log and UI.
    """

    channel: str
    value: float
    ts: datetime
    source: str = ""
    meta: dict[str, str] = field(default_factory=dict, compare=False)


# ---------------------------------------------------------------- time helpers


def utcnow() -> datetime:
    return datetime.now(UTC)


def ms(ts: datetime) -> int:
    """Milliseconds since the epoch of a timezone-aware datetime."""
    return round(ts.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


# ---------------------------------------------------------------- signs


def grid_power(import_w: float, export_w: float) -> float:
    """Grid power in our sign convention from a meter's separate import/export registers."""
    return import_w - export_w


def battery_power(charge_w: float, discharge_w: float) -> float:
    """Battery power in our convention (+ discharging) from separate charge/discharge values."""
    return discharge_w - charge_w


# ---------------------------------------------------------------- OBIS


@dataclass(frozen=True, slots=True)
class ObisName:
    """How a meter's OBIS code maps onto our quantity and unit.

    ``scale`` converts the meter's customary unit into ours (kWh -> Wh is 1000).
    """

    quantity: str
    unit: str
    scale: float = 1.0


# Electricity (medium 1). Meters send energy in kWh or Wh and power in kW or W;
# readers scale by the unit the frame states, this table says what the code means.
OBIS: dict[str, ObisName] = {
    "1-0:1.8.0": ObisName("energy_import", "Wh"),
    "1-0:2.8.0": ObisName("energy_export", "Wh"),
    "1-0:1.8.1": ObisName("energy_import_t1", "Wh"),
    "1-0:1.8.2": ObisName("energy_import_t2", "Wh"),
    "1-0:1.8.3": ObisName("energy_import_t3", "Wh"),
    "1-0:1.8.4": ObisName("energy_import_t4", "Wh"),
    "1-0:2.8.1": ObisName("energy_export_t1", "Wh"),
    "1-0:2.8.2": ObisName("energy_export_t2", "Wh"),
    "1-0:2.8.3": ObisName("energy_export_t3", "Wh"),
    "1-0:2.8.4": ObisName("energy_export_t4", "Wh"),
    "1-0:3.8.0": ObisName("reactive_energy_import", "varh"),
    "1-0:4.8.0": ObisName("reactive_energy_export", "varh"),
    "1-0:1.7.0": ObisName("power_import", "W"),
    "1-0:2.7.0": ObisName("power_export", "W"),
    "1-0:16.7.0": ObisName("power", "W"),  # net active power, + import
    "1-0:3.7.0": ObisName("reactive_power_import", "var"),
    "1-0:4.7.0": ObisName("reactive_power_export", "var"),
    "1-0:21.7.0": ObisName("power_import_l1", "W"),
    "1-0:41.7.0": ObisName("power_import_l2", "W"),
    "1-0:61.7.0": ObisName("power_import_l3", "W"),
    "1-0:22.7.0": ObisName("power_export_l1", "W"),
    "1-0:42.7.0": ObisName("power_export_l2", "W"),
    "1-0:62.7.0": ObisName("power_export_l3", "W"),
    "1-0:36.7.0": ObisName("power_l1", "W"),
    "1-0:56.7.0": ObisName("power_l2", "W"),
    "1-0:76.7.0": ObisName("power_l3", "W"),
    "1-0:32.7.0": ObisName("voltage_l1", "V"),
    "1-0:52.7.0": ObisName("voltage_l2", "V"),
    "1-0:72.7.0": ObisName("voltage_l3", "V"),
    "1-0:31.7.0": ObisName("current_l1", "A"),
    "1-0:51.7.0": ObisName("current_l2", "A"),
    "1-0:71.7.0": ObisName("current_l3", "A"),
    "1-0:91.7.0": ObisName("current_n", "A"),
    "1-0:14.7.0": ObisName("frequency", "Hz"),
    "1-0:13.7.0": ObisName("power_factor", ""),
    "1-0:33.7.0": ObisName("power_factor_l1", ""),
    "1-0:53.7.0": ObisName("power_factor_l2", ""),
    "1-0:73.7.0": ObisName("power_factor_l3", ""),
    # Heat (medium 6, EN 13757-1): energy, volume, power, flow, temperatures
    "6-0:1.0.0": ObisName("heat_energy", "Wh"),
    "6-0:2.0.0": ObisName("water_volume_heat", "m³"),
    "6-0:8.0.0": ObisName("heat_power", "W"),
    "6-0:9.0.0": ObisName("flow_rate", "m³/h"),
    "6-0:10.0.0": ObisName("temperature_flow", "°C"),
    "6-0:11.0.0": ObisName("temperature_return", "°C"),
    "6-0:12.0.0": ObisName("temperature_difference", "°C"),
    # Gas (medium 7): meter volume (D 0), temperature-converted (D 1), at base conditions (D 2);
    # converted volume (C 13)
    "7-0:3.0.0": ObisName("gas_volume", "m³"),
    "7-0:3.1.0": ObisName("gas_volume_temperature_converted", "m³"),
    "7-0:3.2.0": ObisName("gas_volume_base", "m³"),
    "7-0:13.0.0": ObisName("gas_volume_converted", "m³"),
    "7-0:13.2.0": ObisName("gas_volume_converted_base", "m³"),
    "7-0:41.0.0": ObisName("temperature_gas", "°C"),
    # Water (cold: medium 8, hot: medium 9)
    "8-0:1.0.0": ObisName("water_volume", "m³"),
    "9-0:1.0.0": ObisName("water_volume_hot", "m³"),
}


def obis_key(code: str) -> str:
    """Normalise an OBIS code to ``A-B:C.D.E`` (drops a ``*255``/``.255`` F group)."""
    code = code.strip()
    for sep in ("*", "&"):
        if sep in code:
            code = code.split(sep, 1)[0]
    if code.count(".") == 3:  # C.D.E.F
        code = code.rsplit(".", 1)[0]
    return code
