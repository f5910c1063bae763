"""Byte sources for meter readers: serial ports, TCP adapters, capture files.

A source is an async iterable of ``bytes`` chunks and never knows the format; the
``MeterReader`` puts a decoder behind it. Sources that can lose their peer (serial
adapters unplugged, TCP adapters rebooting) reconnect with exponential backoff and log
each outage once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import serial

log = logging.getLogger("wattwerk.transport")


@dataclass(frozen=True, slots=True)
class SerialSettings:
    baudrate: int = 115200
    bytesize: int = serial.EIGHTBITS
    parity: str = serial.PARITY_NONE
    stopbits: float = serial.STOPBITS_ONE


# The P1 port: DSMR 4/5 run 115200 8N1, DSMR 2.2 and 3 run 9600 7E1.
P1_DSMR4 = SerialSettings(115200, serial.EIGHTBITS, serial.PARITY_NONE, serial.STOPBITS_ONE)
P1_DSMR22 = SerialSettings(9600, serial.SEVENBITS, serial.PARITY_EVEN, serial.STOPBITS_ONE)
# SML optical heads: 9600 8N1. Swiss M-Bus customer interface (L+G E450/E570): 2400 8E1.
SML_OPTICAL = SerialSettings(9600, serial.EIGHTBITS, serial.PARITY_NONE, serial.STOPBITS_ONE)
MBUS_2400_8E1 = SerialSettings(2400, serial.EIGHTBITS, serial.PARITY_EVEN, serial.STOPBITS_ONE)


@dataclass
class Backoff:
    """Exponential backoff: ``initial`` doubling up to ``maximum`` seconds; reset on success."""

    initial: float = 0.5
    maximum: float = 30.0
    current: float = 0.0

    def next(self) -> float:
        self.current = self.initial if self.current == 0.0 else min(self.maximum, self.current * 2)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


class _Reconnecting:
    """Shared loop: open, read until the peer goes away, wait, open again, until closed."""

    name = "source"

    def __init__(self, backoff: Backoff | None = None, reconnect: bool = True) -> None:
        self.backoff = backoff or Backoff()
        self.reconnect = reconnect
        self.connected = False
        self.connects = 0
        self.last_error: str | None = None
        self._closed = asyncio.Event()

    def close(self) -> None:
        self._closed.set()

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless closed first; True when closed."""
        try:
            await asyncio.wait_for(self._closed.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def _failed(self, error: str) -> None:
        if error != self.last_error:
            log.warning("%s: %s (retrying with backoff)", self.name, error)
        self.last_error = error


class TcpSource(_Reconnecting):
    """A TCP client (P1 adapters such as gPlug, ser2net): yields what the peer sends."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        chunk_size: int = 4096,
        connect_timeout: float = 5.0,
        idle_timeout: float | None = 60.0,
        backoff: Backoff | None = None,
        reconnect: bool = True,
    ) -> None:
        super().__init__(backoff, reconnect)
        self.host, self.port = host, port
        self.chunk_size = chunk_size
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.name = f"tcp://{host}:{port}"

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self._closed.is_set():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.connect_timeout
                )
            except (OSError, TimeoutError) as exc:
                self._failed(f"cannot connect: {exc or type(exc).__name__}")
                if not self.reconnect or await self._sleep(self.backoff.next()):
                    return
                continue
            self.connected, self.last_error = True, None
            self.connects += 1
            self.backoff.reset()
            try:
                while not self._closed.is_set():
                    read = asyncio.ensure_future(reader.read(self.chunk_size))
                    closed = asyncio.ensure_future(self._closed.wait())
                    done, _ = await asyncio.wait(
                        {read, closed}, timeout=self.idle_timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                    closed.cancel()
                    if read not in done:
                        read.cancel()
                        if not self._closed.is_set():
                            self._failed(f"nothing received for {self.idle_timeout:g} s")
                        break
                    chunk = read.result()
                    if not chunk:
                        self._failed("connection closed by peer")
                        break
                    yield chunk
            except OSError as exc:
                self._failed(f"connection lost: {exc}")
            finally:
                self.connected = False
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            if not self.reconnect or await self._sleep(self.backoff.next()):
                return


class SerialSource(_Reconnecting):
    """A serial port (pyserial), read without blocking the event loop; reopens after errors."""

    def __init__(
        self,
        port: str,
        settings: SerialSettings = P1_DSMR4,
        *,
        chunk_size: int = 4096,
        backoff: Backoff | None = None,
        reconnect: bool = True,
    ) -> None:
        super().__init__(backoff, reconnect)
        self.port = port
        self.settings = settings
        self.chunk_size = chunk_size
        self.name = f"serial:{port}"
        self.serial: serial.Serial | None = None  # the open port, while connected

    def _open(self) -> serial.Serial:
        s = self.settings
        return serial.Serial(
            self.port, s.baudrate, bytesize=s.bytesize, parity=s.parity, stopbits=s.stopbits, timeout=0
        )

    async def __aiter__(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        while not self._closed.is_set():
            try:
                port = self._open()
            except (serial.SerialException, OSError) as exc:
                self._failed(f"cannot open: {exc}")
                if not self.reconnect or await self._sleep(self.backoff.next()):
                    return
                continue
            self.serial = port
            self.connected, self.last_error = True, None
            self.connects += 1
            self.backoff.reset()
            queue: asyncio.Queue[bytes | Exception] = asyncio.Queue()

            def readable(port: serial.Serial = port, queue: asyncio.Queue[bytes | Exception] = queue) -> None:
                try:
                    data = os.read(port.fileno(), self.chunk_size)
                except OSError as exc:
                    queue.put_nowait(exc)
                    return
                queue.put_nowait(data if data else OSError("port closed"))

            loop.add_reader(port.fileno(), readable)
            try:
                while not self._closed.is_set():
                    get = asyncio.ensure_future(queue.get())
                    closed = asyncio.ensure_future(self._closed.wait())
                    done, _ = await asyncio.wait({get, closed}, return_when=asyncio.FIRST_COMPLETED)
                    closed.cancel()
                    if get not in done:
                        get.cancel()
                        break
                    item = get.result()
                    if isinstance(item, Exception):
                        self._failed(f"read failed: {item}")
                        break
                    yield item
            finally:
                loop.remove_reader(port.fileno())
                port.close()
                self.connected, self.serial = False, None
            if not self.reconnect or await self._sleep(self.backoff.next()):
                return


class FileSource:
    """A capture file replayed in chunks (raw bytes, or hex text with ``hex=True``).

    ``interval`` seconds between chunks (0: as fast as the reader takes them); ``repeat``
    replays the file that many times (0: forever).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        chunk_size: int = 256,
        interval: float = 0.0,
        hex: bool = False,
        repeat: int = 1,
    ) -> None:
        self.path = Path(path)
        self.chunk_size = chunk_size
        self.interval = interval
        self.hex = hex
        self.repeat = repeat

    def data(self) -> bytes:
        raw = self.path.read_bytes()
        if not self.hex:
            return raw
        text = raw.decode("ascii", errors="replace")
        lines = (line.split("#", 1)[0] for line in text.splitlines())
        return bytes.fromhex("".join(ch for line in lines for ch in line if ch in "0123456789abcdefABCDEF"))

    async def __aiter__(self) -> AsyncIterator[bytes]:
        data = self.data()
        rounds = 0
        while self.repeat == 0 or rounds < self.repeat:
            rounds += 1
            for i in range(0, len(data), self.chunk_size):
                yield data[i : i + self.chunk_size]
                await asyncio.sleep(self.interval)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.1``, ``::1``): a bind reachable
    only from this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[] ")).is_loopback
    except ValueError:
        return False
