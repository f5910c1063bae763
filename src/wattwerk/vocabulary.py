"""The device vocabulary: roles, device kinds, commands and EV modes as enums, and one table per kind.

Every enum is a ``StrEnum`` whose values are the wire values (site files, channel names, MQTT topics,
stored channels, JSON): ``Command.CURRENT_LIMIT == "current_limit"`` and ``f"ev1.{Command.ENABLE}"``
is ``"ev1.enable"``, so nothing outside the program sees a change.

``KINDS`` is the one per-kind table: which site-file roles make a device of that kind, the commands
the control sends it (and the catalogue capabilities that grant them), whether it is a §14a
consumer by default, and its defaults. The limiter's per-kind rules (``control/kinds.py``: envelope,
switching level, draw, fail-safe) are keyed by the same ``Kind``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Role(StrEnum):
    """A device's ``role`` in the site file."""

    GRID_METER = "grid_meter"
    PV = "pv"
    BATTERY = "battery"
    EV_CHARGER = "ev_charger"
    HEAT_PUMP = "heat_pump"
    HEATING_ROD = "heating_rod"
    SWITCH = "switch"
    CHP = "chp"
    FUEL_CELL = "fuel_cell"
    ELECTROLYSER = "electrolyser"
    SUBMETER = "submeter"


class Kind(StrEnum):
    """What the control knows a controllable device as."""

    EV = "ev"
    BATTERY = "battery"
    PV = "pv"
    HEAT_PUMP = "heat_pump"
    ROD = "rod"
    LOAD = "load"
    GENERATOR = "generator"


class Command(StrEnum):
    """A setpoint's command: the part of ``<device>.<command>`` after the dot."""

    POWER_LIMIT = "power_limit"  # W, a PV inverter's active power cap
    BATTERY_SETPOINT = "battery_setpoint"  # W, + discharge, - charge
    BATTERY_MODE = "battery_mode"  # 0: own control, 1: follow the setpoint (the "internal" fail-safe sends 0)
    MODE = "mode"  # a charger's (or another device's) own mode register
    CURRENT_LIMIT = "current_limit"  # A per phase
    ENABLE = "enable"  # 0/1
    PHASES = "phases"  # 1 or 3
    SGREADY = "sgready"  # SG-Ready state 1..4
    RELAY = "relay"  # 0/1
    POWER = "power"  # W, a continuous consumer's (heating rod, electrolyser) or generator's setpoint


class EvMode(StrEnum):
    """A charge point's mode as the owner sets it (``plan`` only as the control runs it)."""

    OFF = "off"
    NOW = "now"
    MINPV = "minpv"
    PV = "pv"
    PLAN = "plan"


# the modes an owner may choose (the page, MQTT, the site file's ev_default_mode)
OWNER_EV_MODES: tuple[EvMode, ...] = (EvMode.OFF, EvMode.NOW, EvMode.MINPV, EvMode.PV)


@dataclass(frozen=True, slots=True)
class EvDefaults:
    """A charge point's defaults when the site file does not say: A per phase, phases."""

    min_a: float = 6.0
    max_a: float = 16.0
    phases: int = 3


EV_DEFAULTS = EvDefaults()

# catalogue capability -> the command it grants (devices/profile.py checks entries against it)
CAPABILITY_COMMAND: MappingProxyType[str, Command] = MappingProxyType(
    {
        "pv_power_limit": Command.POWER_LIMIT,
        "battery_setpoint": Command.BATTERY_SETPOINT,
        "battery_mode": Command.BATTERY_MODE,
        "charge_current": Command.CURRENT_LIMIT,
        "enable": Command.ENABLE,
        "phases": Command.PHASES,
        "sgready": Command.SGREADY,
        "relay": Command.RELAY,
        "power_setpoint": Command.POWER,
    }
)

# commands whose change moves a relay or a contactor (counted as switches)
SWITCHING: frozenset[Command] = frozenset({Command.ENABLE, Command.PHASES, Command.SGREADY, Command.RELAY})


@dataclass(frozen=True, slots=True)
class KindInfo:
    """One row of the per-kind table: the site-file roles of the kind, the commands the control
    sends it, whether it is a §14a consumer unless the site file names the devices, and its
    defaults (only chargers have any)."""

    roles: tuple[Role, ...]
    commands: tuple[Command, ...]
    para14a: bool = False
    defaults: EvDefaults | None = None

    @property
    def capabilities(self) -> frozenset[str]:
        """The catalogue capabilities that grant its commands."""
        return frozenset(cap for cap, cmd in CAPABILITY_COMMAND.items() if cmd in self.commands)


KINDS: MappingProxyType[Kind, KindInfo] = MappingProxyType(
    {
        Kind.EV: KindInfo(
            (Role.EV_CHARGER,),
            (Command.ENABLE, Command.CURRENT_LIMIT, Command.PHASES),
            para14a=True,
            defaults=EV_DEFAULTS,
        ),
        Kind.BATTERY: KindInfo(
            (Role.BATTERY,), (Command.BATTERY_SETPOINT, Command.BATTERY_MODE), para14a=True
        ),
        Kind.PV: KindInfo((Role.PV,), (Command.POWER_LIMIT,)),
        Kind.HEAT_PUMP: KindInfo((Role.HEAT_PUMP,), (Command.SGREADY,), para14a=True),
        Kind.ROD: KindInfo((Role.HEATING_ROD,), (Command.POWER,)),
        Kind.LOAD: KindInfo((Role.SWITCH, Role.ELECTROLYSER), (Command.RELAY, Command.POWER)),
        Kind.GENERATOR: KindInfo((Role.CHP, Role.FUEL_CELL), (Command.RELAY, Command.POWER)),
    }
)

ROLE_KIND: MappingProxyType[Role, Kind] = MappingProxyType(
    {role: kind for kind, info in KINDS.items() for role in info.roles}
)


def kind_of(role: str) -> Kind | None:
    """The kind a site-file role controls as, or None (meters)."""
    try:
        return ROLE_KIND.get(Role(role))
    except ValueError:
        return None
