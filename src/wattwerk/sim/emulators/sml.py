"""An SML 1.04 meter on a pseudo-terminal: what an optical read head on an eHZ delivers.

The encoder is deliberately minimal (Open, GetList, Close responses; the types a meter uses)
and is tested round-trip through smllib, the library the reader uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Iterable
from dataclasses import dataclass

from smllib.crc import kermit, x25

from wattwerk.sim.emulators import MeterSource, MeterState, PeriodicEmulator

ESC = b"\x1b\x1b\x1b\x1b"

# SML unit codes used below (DLMS enumeration)
WH, W, V, A = 30, 27, 35, 33


# ---------------------------------------------------------------- TL encoding


def _tl(kind: int, size: int) -> bytes:
    """Type-length field. For octet strings and ints ``size`` counts payload bytes."""
    total = size + 1
    if total < 16:
        return bytes([kind | total])
    total += 1  # a second TL byte
    if total >= 256:
        raise ValueError("SML field too long for this encoder")
    return bytes([0x80 | kind | (total >> 4), total & 0x0F])


def octets(data: bytes) -> bytes:
    return _tl(0x00, len(data)) + data


def unsigned(value: int, size: int | None = None) -> bytes:
    size = size or max(1, (value.bit_length() + 7) // 8)
    return _tl(0x60, size) + value.to_bytes(size, "big")


def signed(value: int, size: int | None = None) -> bytes:
    size = size or max(1, (value.bit_length() + 8) // 8)
    return _tl(0x50, size) + value.to_bytes(size, "big", signed=True)


def sml_list(items: Iterable[bytes]) -> bytes:
    items = list(items)
    if len(items) >= 16:
        raise ValueError("lists of 16 or more entries need a long TL, not needed here")
    return bytes([0x70 | len(items)]) + b"".join(items)


NONE = b"\x01"


# ---------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class Entry:
    """One SML list entry: OBIS as 6 bytes hex, raw integer value with unit and scaler."""

    obis_hex: str
    value: int | bytes
    unit: int | None = None
    scaler: int | None = None
    status: int | None = None
    size: int | None = None  # bytes for the value; None is the shortest


def _message(transaction: int, choice: int, body: bytes) -> bytes:
    """SML_Message: transactionId, groupNo, abortOnError, messageBody, crc16, endOfSmlMsg."""
    head = (
        bytes([0x76])
        + octets(transaction.to_bytes(4, "big"))
        + unsigned(0)  # groupNo
        + unsigned(0)  # abortOnError
        + sml_list([unsigned(choice, 2), body])
    )
    return head + unsigned(x25.get_crc(head), 2) + b"\x00"


def _entry(e: Entry) -> bytes:
    value = octets(e.value) if isinstance(e.value, bytes) else signed(e.value, e.size)
    return sml_list(
        [
            octets(bytes.fromhex(e.obis_hex)),
            NONE if e.status is None else unsigned(e.status),
            NONE,  # valTime
            NONE if e.unit is None else unsigned(e.unit, 1),
            NONE if e.scaler is None else signed(e.scaler, 1),
            value,
            NONE,  # valueSignature
        ]
    )


def sml_file(
    server_id: bytes, entries: list[Entry], seconds: int, transaction: int = 1, crc: str = "x25"
) -> bytes:
    """A complete SML transport frame: escape, start, Open/GetList/Close, padding, end, CRC."""
    open_res = sml_list([NONE, NONE, octets(seconds.to_bytes(4, "big")), octets(server_id), NONE, NONE])
    get_list = sml_list(
        [
            NONE,
            octets(server_id),
            octets(bytes.fromhex("0100620affff")),
            sml_list([unsigned(1), unsigned(seconds, 4)]),  # secIndex
            sml_list(_entry(e) for e in entries),
            NONE,
            NONE,
        ]
    )
    close_res = sml_list([NONE])
    body = (
        _message(transaction, 0x0101, open_res)
        + _message(transaction + 1, 0x0701, get_list)
        + _message(transaction + 2, 0x0201, close_res)
    )
    body = body.replace(ESC, ESC + ESC)
    padding = (-len(body)) % 4
    frame = ESC + b"\x01\x01\x01\x01" + body + b"\x00" * padding + ESC + bytes([0x1A, padding])
    crc_value = (kermit if crc == "kermit" else x25).get_crc(frame)
    return frame + crc_value.to_bytes(2, "big")


def server_id(flag: str = "EMH", serial: int = 12345678, block: int = 0) -> bytes:
    """A DIN 43863-5 server id: medium 1 (electricity), manufacturer flag, block, serial."""
    return bytes([0x0A, 0x01]) + flag.encode() + bytes([block]) + serial.to_bytes(4, "big")


def entries_for(state: MeterState, with_pin: bool = True) -> list[Entry]:
    """The values a meter shows for a state. Without the PIN a meter sends whole kWh only."""
    if not with_pin:
        return [
            Entry("0100010800ff", round(state.energy_import_wh / 1000), WH, 3, status=0x182),
            Entry("0100020800ff", round(state.energy_export_wh / 1000), WH, 3),
        ]
    out = [
        Entry("0100010800ff", round(state.energy_import_wh * 10), WH, -1, status=0x182),
        Entry("0100020800ff", round(state.energy_export_wh * 10), WH, -1),
        Entry("0100100700ff", round(state.power_w * 100), W, -2),
    ]
    for i, phase in enumerate(state.phases[:3]):
        c = (0x24, 0x38, 0x4C)[i]  # 36, 56, 76 .7.0: active power per phase
        out.append(Entry(f"0100{c:02x}0700ff", round(phase.power_w * 100), W, -2))
        out.append(Entry(f"0100{0x20 + 20 * i:02x}0700ff", round(phase.voltage_v * 10), V, -1))
        out.append(Entry(f"0100{0x1F + 20 * i:02x}0700ff", round(phase.current_a * 100), A, -2))
    return out


# ---------------------------------------------------------------- the pty emulator


class SmlPtyEmulator(PeriodicEmulator):
    """Writes one SML file per ``interval`` seconds to a pseudo-terminal's master side.

    ``path`` is the slave device a serial reader opens (raw mode, like a read head at 9600 8N1).
    ``chunk`` splits each frame into small writes, as a UART delivers it.
    """

    def __init__(
        self,
        source: MeterSource,
        interval: float = 1.0,
        meter: bytes | None = None,
        with_pin: bool = True,
        chunk: int = 64,
        crc: str = "x25",
    ) -> None:
        self.source = source
        self.interval = interval
        self.meter = meter or server_id()
        self.with_pin = with_pin
        self.chunk = chunk
        self.crc = crc
        self.frames_sent = 0
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self._started = 0.0

    def frame(self) -> bytes:
        state = self.source()
        seconds = int(state.ts.timestamp()) & 0xFFFFFFFF
        return sml_file(
            self.meter,
            entries_for(state, self.with_pin),
            seconds,
            transaction=self.frames_sent * 3 + 1,
            crc=self.crc,
        )

    async def _run(self) -> None:
        while True:
            data = self.frame()
            for i in range(0, len(data), self.chunk):
                with contextlib.suppress(BlockingIOError):  # nobody reading: the line drops bytes
                    os.write(self._master, data[i : i + self.chunk])
                await asyncio.sleep(0)
            self.frames_sent += 1
            await asyncio.sleep(self.interval)

    def _closed(self) -> None:
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
