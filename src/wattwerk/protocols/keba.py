"""KEBA KeContact P20/P30 UDP interface (port 7090): ASCII commands, JSON (or ``TCH-OK :done``) answers.

Facts from KEBA's "UDP Programmers Guide": the box listens on UDP 7090 and sends its answer to port
7090 of the sender, so a client normally binds 7090 itself (``local_port``; tests use 0 and the
emulator answers to the sender's port). One request at a time, at least 100 ms apart. ``report 1``
(identity), ``report 2`` (state, enable, currents in mA), ``report 3`` (U in V, I in mA, P in mW,
PF in 0.1 %, ``E pres``/``E total`` in 0.1 Wh); ``curr <mA>`` (6000..63000, 0 pauses), ``ena 0|1``,
``setenergy <0.1 Wh>``, ``display ...`` answer ``TCH-OK :done``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import time

from wattwerk.errors import BadInput, PermanentError, RetryableError

PORT = 7090
MIN_GAP_S = 0.1


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))


class KebaUdp:
    """A client for one box. ``request`` sends one command and returns its answer (a dict for
    ``report N``, the text for commands); RetryableError on timeout, BadInput on garbage."""

    def __init__(
        self,
        host: str,
        port: int = PORT,
        *,
        local_port: int = PORT,
        timeout: float = 2.0,
        min_gap: float = MIN_GAP_S,
    ) -> None:
        self.host = host
        self.port = port
        self.local_port = local_port
        self.timeout = timeout
        self.min_gap = min_gap
        self._lock = asyncio.Lock()
        self._last = 0.0
        self._transport: asyncio.DatagramTransport | None = None
        self._endpoint: _Endpoint | None = None

    async def _open(self) -> _Endpoint:
        if self._endpoint is None:
            loop = asyncio.get_running_loop()
            try:
                transport, endpoint = await loop.create_datagram_endpoint(
                    _Endpoint, local_addr=("0.0.0.0", self.local_port)
                )
            except OSError as exc:
                raise PermanentError(f"KEBA UDP: cannot bind local port {self.local_port}: {exc}") from None
            self._transport, self._endpoint = transport, endpoint
        return self._endpoint

    async def request(self, command: str) -> dict | str:
        async with self._lock:  # the box handles one request at a time
            endpoint = await self._open()
            wait = self._last + self.min_gap - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            while not endpoint.queue.empty():  # late answers to an earlier, timed-out request
                endpoint.queue.get_nowait()
            assert self._transport is not None
            self._transport.sendto(command.encode("ascii"), (self.host, self.port))
            try:
                deadline = time.monotonic() + self.timeout
                while True:
                    data, addr = await asyncio.wait_for(endpoint.queue.get(), deadline - time.monotonic())
                    if addr[0] == self.host or not _is_ip(self.host):  # ignore other boxes' datagrams
                        break
            except TimeoutError:
                raise RetryableError(
                    f"KEBA {self.host}: no answer to {command!r} within {self.timeout} s"
                ) from None
            finally:
                self._last = time.monotonic()
        return parse(command, data)

    async def report(self, number: int) -> dict:
        answer = await self.request(f"report {number}")
        if not isinstance(answer, dict):
            raise BadInput("keba", f"report {number}: expected JSON, got {answer!r}")
        return answer

    async def command(self, command: str) -> None:
        answer = await self.request(command)
        if answer != "TCH-OK :done":
            raise PermanentError(f"KEBA {self.host}: {command!r} refused: {answer!r}")

    def close(self) -> None:
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()
        self._transport = self._endpoint = None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse(command: str, data: bytes) -> dict | str:
    """An answer datagram: JSON object for reports, stripped text otherwise; BadInput for garbage."""
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise BadInput("keba", f"{command!r}: answer is not ASCII") from None
    if command.startswith("report"):
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise BadInput("keba", f"{command!r}: answer is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise BadInput("keba", f"{command!r}: answer is not a JSON object")
        return doc
    return text
