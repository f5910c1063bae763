"""RCT Power Storage AC/DC over the RCT serial protocol on TCP (``protocols/rct.py``).

What is read is the catalogue entry's ``values`` (object names of the rctclient registry): battery
power (+ discharge), SoC, grid power (+ import), the solar generators and the energy counters.

Battery control follows the device's external-power mode as public integrations use it:
``power_mng.battery_power_extern`` (W, + discharge) takes effect with ``power_mng.soc_strategy`` = 2
(external); strategy 4 (internal) hands the battery back to the device's own self-consumption.
Safety: each parameter is read first and written only when it differs (the device keeps them, so
needless writes are avoided), every write is read back, a setpoint is clamped to the rating, and no
setpoint is sent while the battery reports a non-zero ``battery.bat_status`` (calibration,
balancing). Charging from the grid additionally needs the device's own "use grid power" setting,
which this driver does not change.
"""

from __future__ import annotations

from wattwerk.devices.native import NativeDevice
from wattwerk.devices.profile import Entry
from wattwerk.errors import PermanentError, RetryableError
from wattwerk.protocols.rct import RctTcp
from wattwerk.vocabulary import Command

SETPOINT = "power_mng.battery_power_extern"
STRATEGY = "power_mng.soc_strategy"
STATUS = "battery.bat_status"
EXTERNAL, INTERNAL = 2, 4  # soc_strategy values


class RctDevice(NativeDevice):
    """One RCT Power inverter; ``max_w`` bounds a battery setpoint."""

    def __init__(self, entry: Entry, client: RctTcp, *, max_w: float = 6000.0, **kw: object) -> None:
        super().__init__(entry, **kw)  # type: ignore[arg-type]
        self.client = client
        self.max_w = max_w
        self.missing: set[str] = set()  # optional quantities this device does not answer

    async def fetch(self) -> dict[str, float]:
        """Required quantities first; an optional one that then gets no answer is dropped for good
        (the device answered a moment ago, so it lacks the object) and counted once."""
        out = {}
        for v in sorted(self.entry.values, key=lambda v: v.optional):
            if v.quantity in self.missing:
                continue
            try:
                total = 0.0
                for name in v.add:
                    total += await self.client.read(name)
                for name in v.subtract:
                    total -= await self.client.read(name)
            except RetryableError as exc:
                if not v.optional:
                    raise
                self.missing.add(v.quantity)
                self.ledger.record(self.device_id, "absent", f"{v.quantity}: {exc}; not read again")
                continue
            out[v.quantity] = total * v.scale
        return out

    async def _ensure(self, name: str, value: float) -> None:
        """Write ``name`` only when the device holds another value."""
        if await self.client.read(name) != value:
            await self.client.write(name, value)

    async def command(self, command: str, value: float) -> None:
        if command == Command.BATTERY_SETPOINT:
            watts = self._limit(command, value, -self.max_w, self.max_w)
            status = await self.client.read(STATUS)
            if status != 0:
                raise PermanentError(
                    f"{self.device_id}: battery status {status:.0f} (calibrating or balancing); no setpoint"
                )
            await self._ensure(SETPOINT, float(round(watts)))
            await self._ensure(STRATEGY, EXTERNAL)
        elif command == "battery_mode":
            if value not in (0, 1):
                raise PermanentError(f"{self.device_id}: battery_mode is 0 (device) or 1 (setpoint): {value}")
            if value:
                await self._ensure(STRATEGY, EXTERNAL)
            else:
                await self._ensure(STRATEGY, INTERNAL)
                await self._ensure(SETPOINT, 0.0)
        else:
            raise PermanentError(f"{self.device_id}: RCT Power has no {command} command")

    async def aclose(self) -> None:
        await self.client.aclose()
