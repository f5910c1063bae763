"""An RCT Power inverter on loopback: the RCT serial protocol over TCP, driven by a ``SimDevice``.

Reads of the objects in the catalogue entry's ``values`` answer the simulator's values (unscaled to
the device's units; a sum of two objects is split 60/40 between them); the control objects keep
what is written: ``power_mng.battery_power_extern`` and ``power_mng.soc_strategy`` become the simulator's
``battery_setpoint`` (strategy 2, external) or ``mode`` 0 (strategy 4, internal). Like the device it
answers reads only (a write gets no answer) and, with ``chatter``, sends an answer meant for another
client before each of its own. ``garbage`` sends one frame with a broken CRC first; ``bat_status``
is what ``battery.bat_status`` reads; objects named in ``lacking`` get no answer (the AC model has no
solar generators).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Self

from rctclient.frame import make_frame
from rctclient.types import Command

from wattwerk.devices.catalog import find
from wattwerk.devices.profile import Entry
from wattwerk.devices.rct import EXTERNAL, INTERNAL, SETPOINT, STATUS, STRATEGY
from wattwerk.errors import BadInput
from wattwerk.protocols.rct import RctFrames, decode_number, encode_number, object_id
from wattwerk.sim.emulators import SimDevice

_SPLIT = (0.6, 0.4)


class RctEmulator:
    def __init__(
        self, sim: SimDevice, *, host: str = "127.0.0.1", port: int = 0, entry: Entry | None = None
    ) -> None:
        self.sim = sim
        self.host, self.port = host, port
        self.chatter = False
        self.garbage = False
        self.bat_status = 0.0
        self.lacking: set[str] = set()
        self.params = {object_id(SETPOINT): 0.0, object_id(STRATEGY): float(INTERNAL)}
        self.reads: dict[int, tuple[str, float, float]] = {}  # oid -> (quantity, share, scale)
        for v in (entry or find("rct-power-storage").entry).values:
            shares = _SPLIT if len(v.add) == 2 else (1.0,)
            for name, share in zip(v.add, shares, strict=True):
                self.reads[object_id(name)] = (v.quantity, share, v.scale)
        self.writes: list[tuple[int, float]] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def value(self, oid: int) -> float:
        if oid in {object_id(name) for name in self.lacking}:
            raise KeyError(oid)
        if oid == object_id(STATUS):
            return self.bat_status
        if oid in self.params:
            return self.params[oid]
        if oid not in self.reads:
            raise KeyError(oid)
        quantity, share, scale = self.reads[oid]
        return self.sim.values().get(quantity, 0.0) * share / scale

    def written(self, oid: int, value: float) -> None:
        self.writes.append((oid, value))
        if oid not in self.params:
            return  # a real device would take it; nothing the simulator models
        self.params[oid] = value
        strategy = self.params[object_id(STRATEGY)]
        if strategy == EXTERNAL:
            self.sim.apply("battery_setpoint", self.params[object_id(SETPOINT)])
        elif oid == object_id(STRATEGY) and strategy == INTERNAL:
            self.sim.apply("mode", 0.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = RctFrames()
        try:
            while data := await reader.read(4096):
                try:
                    received = frames.feed(data)
                except BadInput:
                    continue  # the device ignores a broken frame
                for command, oid, payload in received:
                    if command == Command.WRITE:
                        with contextlib.suppress(BadInput, KeyError):
                            self.written(oid, decode_number(oid, payload))
                    elif command == Command.READ:
                        writer.write(self._answer(oid))
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def _answer(self, oid: int) -> bytes:
        out = b""
        if self.garbage:
            self.garbage = False
            broken = bytearray(make_frame(Command.RESPONSE, oid, encode_number(oid, 1.0)))
            broken[-1] ^= 0x55  # CRC no longer matches
            out += bytes(broken)
        if self.chatter:  # another client's answer on the same connection
            other = object_id("battery.temperature")
            out += make_frame(Command.RESPONSE, other, encode_number(other, 21.5))
        try:
            value = self.value(oid)
        except KeyError:
            return out  # unknown objects get no answer
        return out + make_frame(Command.RESPONSE, oid, encode_number(oid, value))

    def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self) -> Self:
        self._server = await asyncio.start_server(self._track, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
