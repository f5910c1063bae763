"""Common base of the simulated devices: a name, a power over the last step, an energy counter,
and command checking. Each device satisfies the emulators' ``SimDevice`` protocol."""

from __future__ import annotations

import math

from wattwerk.errors import BadInput


class BadCommand(BadInput):
    """A command a simulated device does not know, or a value it cannot take. Raised by ``apply``;
    nothing changes on the device. Emulators turn it into the protocol's own error reply."""

    def __init__(self, device: str, message: str, kind: str = "command") -> None:
        super().__init__(kind, f"{device}: {message}")
        self.device = device


class SimComponent:
    """``power`` (W, in the device's own sign convention) is held over the last step;
    ``energy`` (Wh) is the counter that integrates it."""

    commands: tuple[str, ...] = ()

    def __init__(self, name: str) -> None:
        self.name = name
        self.power = 0.0
        self.energy = 0.0

    def check(self, command: str, value: float) -> float:
        """The value as a finite float, or BadCommand for an unknown command or a non-number."""
        if command not in self.commands:
            known = ", ".join(self.commands) or "none"
            raise BadCommand(self.name, f"unknown command {command!r} (known: {known})", "unknown_command")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise BadCommand(self.name, f"{command}: not a number: {value!r}", "value") from None
        if not math.isfinite(number):
            raise BadCommand(self.name, f"{command}: not finite: {value!r}", "value")
        return number

    def apply(self, command: str, value: float) -> None:
        self.check(command, value)

    def values(self) -> dict[str, float]:
        return {"power": self.power, "energy": self.energy}
