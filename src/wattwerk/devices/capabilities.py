"""Capabilities as small interfaces: controllers ask for a capability, never for a vendor.

A device object implements the methods of every capability it may have; ``capability(device, P)``
returns the device typed as ``P`` only when its catalogue entry declares that capability.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable

from wattwerk.model import Reading


@runtime_checkable
class Meter(Protocol):
    """Reads power (W, in our sign convention) and energy counters (Wh)."""

    async def read(self, ts: datetime | None = None) -> list[Reading]: ...


@runtime_checkable
class PowerLimitable(Protocol):
    """A PV (or hybrid) inverter whose active power can be capped."""

    async def set_power_limit(self, watts: float) -> None: ...


@runtime_checkable
class BatteryControl(Protocol):
    """A battery that follows a power setpoint (W, + discharge, - charge)."""

    async def set_battery_setpoint(self, watts: float) -> None: ...


@runtime_checkable
class Charger(Protocol):
    """An EV charger: enabled or not, and a charge current per phase."""

    async def enable(self, on: bool) -> None: ...

    async def set_current_limit(self, amps: float) -> None: ...


@runtime_checkable
class PhaseSwitchable(Protocol):
    async def set_phases(self, phases: int) -> None: ...


@runtime_checkable
class SgReady(Protocol):
    """SG-Ready state 1 (blocked), 2 (normal), 3 (recommended on), 4 (forced on)."""

    async def set_sgready(self, state: int) -> None: ...


@runtime_checkable
class Relay(Protocol):
    async def set_relay(self, on: bool) -> None: ...


# interface -> the catalogue capability that grants it
GRANTS: dict[type, str] = {
    Meter: "read_power",
    PowerLimitable: "pv_power_limit",
    BatteryControl: "battery_setpoint",
    Charger: "charge_current",
    PhaseSwitchable: "phases",
    SgReady: "sgready",
    Relay: "relay",
}

P = TypeVar("P")


def capability(device: object, interface: type[P]) -> P | None:
    """``device`` as ``interface`` when its entry declares the capability, else None."""
    caps = getattr(device, "capabilities", ())
    if GRANTS.get(interface) in caps and isinstance(device, interface):
        return device  # type: ignore[return-value]
    return None
