"""RCT Power serial protocol over TCP (port 8899): a thin async client over ``rctclient``.

``rctclient`` (GPL-3.0, combinable with our AGPL-3.0 under section 13 of both) implements the frames
(start ``+``, escape ``-``, command, length, object id, payload, CRC16) and the object-id registry
with each object's data type; this module adds the connection: one request at a time, the answer
matched by object id (an RCT device also forwards answers meant for other clients, and sends nothing
for a write, so a write is confirmed by reading the object back), timeouts and typed errors.

Errors: no connection or no answer is ``RetryableError``; a frame with a bad CRC, a payload of the
wrong size or a string where a number belongs is ``BadInput``; an object the registry does not know
is ``PermanentError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import struct

from rctclient.exceptions import FrameCRCMismatch, FrameLengthExceeded, InvalidCommand
from rctclient.frame import ReceiveFrame, make_frame
from rctclient.registry import REGISTRY
from rctclient.types import Command, DataType
from rctclient.utils import decode_value, encode_value

from wattwerk.errors import BadInput, PermanentError, RetryableError

PORT = 8899
NUMERIC = frozenset(
    {
        DataType.BOOL,
        DataType.UINT8,
        DataType.INT8,
        DataType.UINT16,
        DataType.INT16,
        DataType.UINT32,
        DataType.INT32,
        DataType.ENUM,
        DataType.FLOAT,
    }
)


def object_id(name: str) -> int:
    """The object id of a registry name such as ``battery.soc``."""
    try:
        return REGISTRY.get_by_name(name).object_id
    except KeyError:
        raise PermanentError(f"RCT: no object {name!r} in the rctclient registry") from None


def data_type(oid: int) -> DataType:
    try:
        return REGISTRY.get_by_id(oid).response_data_type
    except KeyError:
        raise PermanentError(f"RCT: object 0x{oid:08X} is not in the rctclient registry") from None


def decode_number(oid: int, payload: bytes) -> float:
    """A numeric object's payload as a float; BadInput for a payload that is not one."""
    dtype = data_type(oid)
    if dtype not in NUMERIC:
        raise PermanentError(f"RCT: object 0x{oid:08X} is a {dtype.name}, not a number")
    try:
        value = decode_value(dtype, payload)
    except (struct.error, ValueError) as exc:
        raise BadInput("rct", f"object 0x{oid:08X}: {len(payload)} bytes: not {dtype.name}: {exc}") from None
    value = float(value)
    if not math.isfinite(value):
        raise BadInput("rct", f"object 0x{oid:08X}: {value}")
    return value


def encode_number(oid: int, value: float) -> bytes:
    dtype = data_type(oid)
    if dtype == DataType.FLOAT:
        return encode_value(DataType.FLOAT, float(value))
    if dtype == DataType.BOOL:
        return encode_value(DataType.BOOL, bool(value))
    if dtype in NUMERIC:
        return encode_value(dtype, round(value))  # type: ignore[call-overload]
    raise PermanentError(f"RCT: object 0x{oid:08X} is a {dtype.name}, not writable as a number")


class RctFrames:
    """Bytes in, complete frames out: ``feed`` returns ``(command, object id, payload)`` tuples.
    A frame with a bad CRC or an unknown command raises BadInput after it has been skipped."""

    def __init__(self) -> None:
        self._buf = b""
        self._frame = ReceiveFrame()

    def feed(self, data: bytes) -> list[tuple[Command, int, bytes]]:
        out: list[tuple[Command, int, bytes]] = []
        self._buf += data
        while self._buf:
            try:
                used = self._frame.consume(self._buf)
            except (FrameCRCMismatch, InvalidCommand, FrameLengthExceeded) as exc:
                self._buf = self._buf[max(exc.consumed_bytes, 1) :]
                self._frame = ReceiveFrame()
                raise BadInput(
                    "crc" if isinstance(exc, FrameCRCMismatch) else "rct", f"RCT frame dropped: {exc}"
                ) from None
            self._buf = self._buf[used:]
            if not self._frame.complete():
                break
            out.append((self._frame.command, self._frame.id, self._frame.data))
            self._frame = ReceiveFrame()
        return out


class RctTcp:
    """One device: ``read(name)`` -> value, ``write(name, value)`` (confirmed by reading back)."""

    def __init__(self, host: str, port: int = PORT, *, timeout: float = 3.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._lock = asyncio.Lock()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._frames = RctFrames()
        self._pending: list[tuple[Command, int, bytes]] = []

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            try:
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.timeout
                )
            except (OSError, TimeoutError) as exc:
                raise RetryableError(f"RCT {self.host}:{self.port}: cannot connect: {exc}") from None
            self._frames, self._pending = RctFrames(), []
        return self._reader, self._writer

    async def _answer(self, reader: asyncio.StreamReader, oid: int, deadline: float) -> bytes:
        loop = asyncio.get_running_loop()
        while True:
            for i, (command, got, payload) in enumerate(self._pending):
                if got == oid and command in (Command.RESPONSE, Command.LONG_RESPONSE):
                    del self._pending[: i + 1]
                    return payload
            self._pending.clear()  # answers for other objects (other clients' requests)
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError
            data = await asyncio.wait_for(reader.read(4096), left)
            if not data:
                raise ConnectionResetError("closed by the device")
            self._pending.extend(self._frames.feed(data))

    async def request(self, oid: int, command: Command = Command.READ, payload: bytes = b"") -> bytes:
        """Send one frame; for a read, wait for the object's answer and return its payload."""
        async with self._lock:
            reader, writer = await self._connect()
            try:
                writer.write(make_frame(command, oid, payload))
                await writer.drain()
                if command != Command.READ:
                    return b""
                deadline = asyncio.get_running_loop().time() + self.timeout
                return await self._answer(reader, oid, deadline)
            except TimeoutError:
                await self._drop()
                raise RetryableError(
                    f"RCT {self.host}: no answer for object 0x{oid:08X} within {self.timeout} s"
                ) from None
            except OSError as exc:
                await self._drop()
                raise RetryableError(f"RCT {self.host}: connection lost: {exc}") from None
            except BadInput:
                self._pending.clear()
                raise

    async def read(self, name: str) -> float:
        oid = object_id(name)
        return decode_number(oid, await self.request(oid))

    async def write(self, name: str, value: float) -> float:
        """Write a numeric object and read it back; PermanentError when the device kept another value."""
        oid = object_id(name)
        payload = encode_number(oid, value)
        await self.request(oid, Command.WRITE, payload)
        back = decode_number(oid, await self.request(oid))
        expected = decode_number(oid, payload)
        if not math.isclose(back, expected, rel_tol=1e-6, abs_tol=1e-6):
            raise PermanentError(f"RCT {self.host}: {name} = {expected} not taken (reads {back})")
        return back

    async def _drop(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def aclose(self) -> None:
        await self._drop()
