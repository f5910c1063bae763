"""SMA Energy Meter / Sunny Home Manager 2.0: the Speedwire multicast datagram (UDP 9522).

Layout (SMA "Energy Meter Protocol" TI, EMETER-Protokoll-TI-en-10), all big-endian::

    "SMA\\0"                           signature
    0x0004 0x02A0 <group u32>          tag 0: group (1)
    <len u16> 0x0010                   tag "data 2": len counts the bytes after the tag id
      0x6069                           protocol id: energy meter (0x6081: the same data after
                                       two more bytes, long words and control; Sunny Home
                                       Manager 2.0 firmware 2.07 sent this by unicast)
      <SUSy id u16> <serial u32> <ticker u32, ms>
      <channel u8> <index u8> <type u8> <tariff u8> <value>   repeated
    0x0000 0x0000                      end-of-data tag

``index`` is the OBIS value group C (1 = active import, 2 = active export, 3/4 reactive,
9/10 apparent, 13 power factor, 14 frequency, +20/+40/+60 for L1/L2/L3, 31/32/33 current,
voltage, power factor per phase); ``type`` 4 is a present value (u32), 8 a counter (u64),
0 with channel 144 the firmware version. Units: 0.1 W / 0.1 var / 0.1 VA, Ws (and var·s,
VA·s) for counters, mA, mV, 1/1000 for power factor and frequency.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from wattwerk.errors import BadInput
from wattwerk.protocols.base import Frame, Value
from wattwerk.protocols.meter import derive_totals

SIGNATURE = b"SMA\x00"
TAG0 = 0x02A0
TAG_DATA2 = 0x0010
TAG_END = 0x0000
PROTOCOL_EMETER = 0x6069
PROTOCOL_EMETER_EXTENDED = 0x6081  # long words (u8) and control (u8) precede the SUSy id
MULTICAST_GROUP = "239.12.255.254"
PORT = 9522
MAX_DATAGRAM = 1500
VERSION_CHANNEL = 144

ObisKey = tuple[int, int, int, int]  # (channel, index, type, tariff)

# ---------------------------------------------------------------- the channel table (data)

# index -> (quantity stem, present-value unit, divisor; counter unit, divisor)
_DIRECTIONAL: dict[int, tuple[str, str, str, float]] = {
    1: ("power_import", "energy_import", "W", 10.0),
    2: ("power_export", "energy_export", "W", 10.0),
    3: ("reactive_power_import", "reactive_energy_import", "var", 10.0),
    4: ("reactive_power_export", "reactive_energy_export", "var", 10.0),
    9: ("apparent_power_import", "apparent_energy_import", "VA", 10.0),
    10: ("apparent_power_export", "apparent_energy_export", "VA", 10.0),
}
_COUNTER_UNIT = {"W": "Wh", "var": "varh", "VA": "VAh"}
_PHASES = {0: "", 20: "_l1", 40: "_l2", 60: "_l3"}


@dataclass(frozen=True, slots=True)
class Channel:
    quantity: str
    unit: str
    divisor: float


def _build_table() -> dict[tuple[int, int], Channel]:
    """(index, type) -> our channel, for totals and the three phases."""
    table: dict[tuple[int, int], Channel] = {}
    for offset, suffix in _PHASES.items():
        for base, (power, energy, unit, div) in _DIRECTIONAL.items():
            table[(base + offset, 4)] = Channel(power + suffix, unit, div)
            table[(base + offset, 8)] = Channel(energy + suffix, _COUNTER_UNIT[unit], 3600.0)
        table[(13 + offset, 4)] = Channel("power_factor" + suffix, "", 1000.0)
    table[(14, 4)] = Channel("frequency", "Hz", 1000.0)
    for phase, suffix in ((1, "_l1"), (2, "_l2"), (3, "_l3")):
        table[(11 + 20 * phase, 4)] = Channel("current" + suffix, "A", 1000.0)
        table[(12 + 20 * phase, 4)] = Channel("voltage" + suffix, "V", 1000.0)
    return table


CHANNELS: dict[tuple[int, int], Channel] = _build_table()


def obis_code(index: int, kind: int) -> str:
    """SMA's (index, type) as the IEC OBIS code: type 4 is D = 7, type 8 is D = 8."""
    return f"1-0:{index}.{7 if kind == 4 else 8}.0"


# ---------------------------------------------------------------- datagram <-> structure


@dataclass(frozen=True, slots=True)
class EmeterDatagram:
    """The content of one energy meter datagram, values raw as sent (see module docstring)."""

    susy_id: int
    serial: int
    ticker: int
    values: dict[ObisKey, int] = field(default_factory=dict)
    group: int = 1

    @property
    def firmware(self) -> str | None:
        raw = self.values.get((VERSION_CHANNEL, 0, 0, 0))
        if raw is None:
            return None
        b = raw.to_bytes(4, "big")
        return f"{b[0]}.{b[1]}.{b[2]}.{chr(b[3]) if 65 <= b[3] <= 90 else b[3]}"


def _value_size(kind: int) -> int:
    if kind == 8:
        return 8
    if kind in (0, 4, 7):
        return 4
    raise BadInput("parse", f"unknown Speedwire value type {kind}")


def build_datagram(d: EmeterDatagram) -> bytes:
    """The bytes an energy meter sends for ``d`` (the emulator's encoder)."""
    body = struct.pack(">HHII", PROTOCOL_EMETER, d.susy_id, d.serial, d.ticker)
    for (channel, index, kind, tariff), raw in d.values.items():
        size = _value_size(kind)
        body += bytes([channel, index, kind, tariff]) + raw.to_bytes(size, "big")
    return (
        SIGNATURE
        + struct.pack(">HHI", 4, TAG0, d.group)
        + struct.pack(">HH", len(body), TAG_DATA2)
        + body
        + struct.pack(">HH", 0, TAG_END)
    )


class NotEmeter(Exception):
    """A valid Speedwire datagram that is not energy meter data (inverter, discovery)."""

    def __init__(self, protocol: int | None) -> None:
        super().__init__(f"not an energy meter datagram (protocol {protocol!r})")
        self.protocol = protocol


def datagram_length(buf: bytes) -> int | None:
    """Length of the datagram at the start of ``buf``, None if more bytes are needed.

    Raises BadInput for bytes that cannot be a datagram.
    """
    if len(buf) < 4:
        return None
    if buf[:4] != SIGNATURE:
        raise BadInput("garbage", "no SMA signature")
    pos = 4
    while True:
        if len(buf) < pos + 4:
            return None
        length, tag = struct.unpack_from(">HH", buf, pos)
        pos += 4 + length
        if pos > MAX_DATAGRAM:
            raise BadInput("parse", f"Speedwire tag 0x{tag:04x} claims {length} bytes")
        if tag == TAG_END and length == 0:
            return pos


def parse_datagram(data: bytes) -> EmeterDatagram:
    """Parse one datagram. Raises BadInput (truncated, parse, garbage) or NotEmeter."""
    if len(data) < 4 or data[:4] != SIGNATURE:
        raise BadInput("garbage", "datagram does not start with the SMA signature")
    pos, group, payload = 4, None, None
    while True:
        if len(data) < pos + 4:
            raise BadInput("truncated", f"Speedwire datagram cut short at {len(data)} bytes (no end tag)")
        length, tag = struct.unpack_from(">HH", data, pos)
        pos += 4
        if tag == TAG_END and length == 0:
            break
        if pos + length > len(data):
            raise BadInput(
                "truncated", f"Speedwire tag 0x{tag:04x} needs {length} bytes, {len(data) - pos} left"
            )
        chunk = data[pos : pos + length]
        pos += length
        if tag == TAG0 and length == 4:
            group = struct.unpack(">I", chunk)[0]
        elif tag == TAG_DATA2:
            payload = chunk
    if payload is None or len(payload) < 2:
        raise NotEmeter(None)
    protocol = struct.unpack_from(">H", payload)[0]
    if protocol not in (PROTOCOL_EMETER, PROTOCOL_EMETER_EXTENDED):
        raise NotEmeter(protocol)
    start = 2 if protocol == PROTOCOL_EMETER else 4
    if len(payload) < start + 10:
        raise BadInput("truncated", "energy meter header cut short")
    susy, serial, ticker = struct.unpack_from(">HII", payload, start)
    values: dict[ObisKey, int] = {}
    i = start + 10
    while i < len(payload):
        if i + 4 > len(payload):
            raise BadInput("truncated", f"OBIS header cut short at payload byte {i}")
        key = (payload[i], payload[i + 1], payload[i + 2], payload[i + 3])
        if key == (0, 0, 0, 0):  # end-of-data marker some firmware puts inside the payload
            break
        size = _value_size(key[2])
        if i + 4 + size > len(payload):
            raise BadInput("truncated", f"value of {key} cut short")
        values[key] = int.from_bytes(payload[i + 4 : i + 4 + size], "big")
        i += 4 + size
    return EmeterDatagram(susy, serial, ticker, values, group if group is not None else 1)


def to_values(d: EmeterDatagram) -> tuple[list[Value], list[tuple[str, str]]]:
    """Our values for a datagram (plus the net powers it implies), and notes on what was skipped."""
    values: list[Value] = []
    notes: list[tuple[str, str]] = []
    for (channel, index, kind, tariff), raw in d.values.items():
        if channel == VERSION_CHANNEL:
            continue
        ch = CHANNELS.get((index, kind))
        if ch is None or channel != 0 or tariff != 0:
            notes.append(("unknown_obis", f"Speedwire channel {channel}.{index}.{kind}.{tariff} not mapped"))
            continue
        values.append(Value(obis_code(index, kind), ch.quantity, raw / ch.divisor, ch.unit))
    return derive_totals(values), notes


# ---------------------------------------------------------------- the Decoder


class SpeedwireDecoder:
    """Feed datagrams (``datagrams=True``: each ``feed`` is one UDP datagram) or a capture of
    concatenated datagrams; get one Frame per energy meter datagram.

    With ``serial`` set, datagrams of other meters (an EM and a Home Manager on one LAN) are
    skipped; datagrams that are not energy meter data are skipped too. Both are counted in
    ``ignored``, not reported as bad input.
    """

    def __init__(self, serial: int | None = None, datagrams: bool = False) -> None:
        self.serial = serial
        self.datagrams = datagrams
        self.ignored = 0
        self._buf = b""
        self._garbage_run = 0  # bytes skipped since the last frame handed out

    def feed(self, data: bytes) -> list[Frame]:
        if self.datagrams:
            frame = self.datagram(bytes(data))
            return [frame] if frame is not None else []
        self._buf += data
        out: list[Frame] = []
        while self._buf:
            start = self._buf.find(SIGNATURE)
            if start != 0:
                skipped = len(self._buf) - 3 if start == -1 else start
                if skipped > 0:
                    self._garbage_run += skipped
                    self._buf = self._buf[skipped:]
                if start == -1:
                    break
            nxt = self._buf.find(SIGNATURE, 4)
            try:
                length = datagram_length(self._buf)
            except BadInput as exc:
                length, error = -1, exc
            if nxt != -1 and (length is None or length < 0 or nxt < length):
                # a new datagram began before this one ended
                out.append(self._reject("truncated", f"Speedwire datagram cut short after {nxt} bytes"))
                self._buf = self._buf[nxt:]
                continue
            if length is None:
                break
            if length < 0:
                out.append(self._reject(error.kind, str(error)))
                self._buf = self._buf[1:]
                continue
            frame = self.datagram(self._buf[:length])
            self._buf = self._buf[length:]
            if frame is not None:
                out.append(frame)
        return out

    def flush(self) -> list[Frame]:
        rest, self._buf = self._buf, b""
        if rest.startswith(SIGNATURE):
            return [self._reject("truncated", f"Speedwire datagram cut short after {len(rest)} bytes")]
        return []

    def datagram(self, data: bytes) -> Frame | None:
        """One complete datagram to a Frame, or None when it is not ours to read."""
        try:
            d = parse_datagram(data)
        except NotEmeter:
            self.ignored += 1
            return None
        except BadInput as exc:
            return self._reject(exc.kind, str(exc))
        if self.serial is not None and d.serial != self.serial:
            self.ignored += 1
            return None
        values, notes = to_values(d)
        notes = self._take_notes() + notes
        return Frame(ts=None, meter_id=str(d.serial), values=values, notes=notes)

    def _reject(self, kind: str, message: str) -> Frame:
        return Frame(ts=None, errors=[message], error_kind=kind, notes=self._take_notes())

    def _take_notes(self) -> list[tuple[str, str]]:
        if not self._garbage_run:
            return []
        notes = [("garbage", f"{self._garbage_run} bytes outside Speedwire datagrams skipped")]
        self._garbage_run = 0
        return notes


def decoder(key: bytes | None = None) -> SpeedwireDecoder:
    """``wattwerk decode speedwire``: a capture of concatenated datagrams; no key involved."""
    return SpeedwireDecoder()


# ---------------------------------------------------------------- the UDP receiver


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, receiver: SpeedwireReceiver) -> None:
        self.receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self.receiver._queue.put_nowait(data)
        except asyncio.QueueFull:  # the reader fell behind; newer datagrams supersede these
            self.receiver.dropped += 1


class SpeedwireReceiver:
    """An async iterable of UDP datagrams from the energy meter multicast group.

    ``interface`` is the local address whose link joins the group (``0.0.0.0``: the default
    route's). When the group cannot be joined (no multicast on that link), the receiver says so
    in ``multicast`` and still takes unicast datagrams sent to its port. ``port=0`` picks a
    free port (tests); ``self.port`` is the bound one.
    """

    def __init__(self, group: str = MULTICAST_GROUP, port: int = PORT, interface: str = "0.0.0.0") -> None:
        self.group = group
        self.port = port
        self.interface = interface
        self.multicast = False
        self.dropped = 0
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1000)
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self) -> SpeedwireReceiver:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(AttributeError, OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("", self.port))
        self.port = sock.getsockname()[1]
        try:
            mreq = socket.inet_aton(self.group) + socket.inet_aton(self.interface)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            self.multicast = True
        except OSError:
            self.multicast = False
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self._transport = transport
        return self

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def __aenter__(self) -> SpeedwireReceiver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._transport is None:
            await self.start()
        while self._transport is not None:
            yield await self._queue.get()
