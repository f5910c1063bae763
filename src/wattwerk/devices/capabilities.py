"""Capabilities as small interfaces: controllers ask for a capability, never for a vendor.

A device object implements the methods of every capability it may have; ``capability(device, P)``
returns the device typed as ``P`` only when its catalogue entry declares that capability.

They are the runtime contract too: the edge writes every setpoint with ``send``, which finds the
capability that grants the command (``vocabulary.CAPABILITY_COMMAND``) and calls its typed method;
a command no declared capability grants is refused (``NotCapable``) before anything is written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from wattwerk.errors import PermanentError
from wattwerk.model import Reading
from wattwerk.vocabulary import CAPABILITY_COMMAND, Command


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


@runtime_checkable
class PowerSetpoint(Protocol):
    """A consumer that follows a power setpoint (W): a heating rod, an electrolyser."""

    async def set_power(self, watts: float) -> None: ...


# interface -> the catalogue capability that grants it
GRANTS: dict[type, str] = {
    Meter: "read_power",
    PowerLimitable: "pv_power_limit",
    BatteryControl: "battery_setpoint",
    Charger: "charge_current",
    PhaseSwitchable: "phases",
    SgReady: "sgready",
    Relay: "relay",
    PowerSetpoint: "power_setpoint",
}

Setter = Callable[[Any, float], Awaitable[None]]

# command -> the interface whose method carries it, and how the value becomes the method's argument
SETTERS: dict[Command, tuple[type, Setter]] = {
    Command.POWER_LIMIT: (PowerLimitable, lambda d, v: d.set_power_limit(v)),
    Command.BATTERY_SETPOINT: (BatteryControl, lambda d, v: d.set_battery_setpoint(v)),
    Command.ENABLE: (Charger, lambda d, v: d.enable(v >= 0.5)),
    Command.CURRENT_LIMIT: (Charger, lambda d, v: d.set_current_limit(v)),
    Command.PHASES: (PhaseSwitchable, lambda d, v: d.set_phases(int(v))),
    Command.SGREADY: (SgReady, lambda d, v: d.set_sgready(int(v))),
    Command.RELAY: (Relay, lambda d, v: d.set_relay(v >= 0.5)),
    Command.POWER: (PowerSetpoint, lambda d, v: d.set_power(v)),
}
GRANTED_BY: dict[Command, str] = {cmd: cap for cap, cmd in CAPABILITY_COMMAND.items()}


class NotCapable(PermanentError):
    """A setpoint for a command that none of the device's declared capabilities grants."""


P = TypeVar("P")


def capability(device: object, interface: type[P]) -> P | None:
    """``device`` as ``interface`` when its entry declares the capability, else None."""
    caps = getattr(device, "capabilities", ())
    if GRANTS.get(interface) in caps and isinstance(device, interface):
        return device  # type: ignore[return-value]
    return None


async def send(device: object, command: str, value: float) -> None:
    """Write one setpoint through the capability that grants ``command``.

    A device that declares ``capabilities`` (every catalogue device) takes only what they grant,
    through the typed method of the interface (``SETTERS``), or its ``command`` for a granted
    command without one (``battery_mode``). A device that declares none (a simulator's driver, a
    test double) takes the command as it is."""
    discover = getattr(device, "discover", None)  # a SunSpec device learns its capabilities on first contact
    if discover is not None:
        await discover()
    caps = getattr(device, "capabilities", None)
    if caps is None:
        await device.command(command, value)  # type: ignore[attr-defined]
        return
    try:
        cmd = Command(command)
    except ValueError:
        cmd = None
    cap = GRANTED_BY.get(cmd) if cmd is not None else None
    if cap is None or cap not in caps:
        have = ", ".join(sorted(caps)) or "none"
        raise NotCapable(f"no capability grants {command!r} (capabilities: {have})")
    interface, setter = SETTERS.get(cmd, (None, None))  # type: ignore[arg-type]
    if interface is not None and setter is not None and isinstance(device, interface):
        await setter(device, value)
    else:
        await device.command(command, value)  # type: ignore[attr-defined]
