"""Emulators: servers and senders on loopback that speak the real protocols, driven by the simulator.

Two small interfaces connect an emulator to whatever drives it (the site simulator, or a
test that sets values by hand):

* a meter emulator asks a ``MeterSource`` for the meter's state at each frame;
* a device emulator (Modbus, HTTP, UDP) reads a ``SimDevice``'s values and forwards the
  commands written to it, so a curtailed inverter produces less and a battery follows its setpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, Self


@dataclass(frozen=True, slots=True)
class PhaseState:
    voltage_v: float
    current_a: float
    power_w: float  # + import


@dataclass(frozen=True, slots=True)
class MeterState:
    """What an electricity meter shows at one instant, in our units and signs."""

    ts: datetime
    power_w: float  # + import, - export
    energy_import_wh: float
    energy_export_wh: float
    phases: tuple[PhaseState, ...] = field(default=())


MeterSource = Callable[[], MeterState]


class SimDevice(Protocol):
    """A simulated device as an emulator sees it.

    ``values()`` gives quantity -> value in our units and signs (``power``, ``energy``,
    ``soc``, ``temperature`` ...); ``apply(command, value)`` takes a written command such
    as ``power_limit`` (W), ``battery_setpoint`` (W, + discharge), ``current_limit`` (A),
    ``enable`` (0/1), ``phases`` (1/3), ``sgready`` (1..4), ``power`` (W).
    """

    def values(self) -> dict[str, float]: ...

    def apply(self, command: str, value: float) -> None: ...


class PeriodicEmulator:
    """Base of emulators that send on their own schedule: ``_run`` loops until stopped.

    ``start``/``stop`` (or ``async with``) manage the task; ``_closed`` releases what the
    emulator holds (ports, sockets) after the task has ended.
    """

    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        raise NotImplementedError

    def _closed(self) -> None:
        """Release resources after the send loop has stopped."""

    async def start(self) -> Self:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._closed()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class UdpEmulator(asyncio.DatagramProtocol):
    """Base of emulators that answer UDP requests on loopback (``port=0``: a free port).

    Subclasses set ``host`` and ``port`` and implement ``datagram_received``.
    """

    host: str = "127.0.0.1"
    port: int = 0
    _transport: asyncio.DatagramTransport | None = None

    async def start(self) -> Self:
        loop = asyncio.get_running_loop()
        address = (self.host, self.port)
        self._transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=address)
        self.port = self._transport.get_extra_info("sockname")[1]
        return self

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
