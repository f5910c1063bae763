"""DLMS A-XDR data for the push decoder (``dlms.py``): bounded parsing, length fields, date-times,
and the error every layer of the decoder raises for a push it rejects."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dlms_cosem import dlms_data
from dlms_cosem.time import ClockStatus, datetime_from_bytes

MAX_PUSH = 64 * 1024


class DlmsError(Exception):
    """A push rejected; ``kind`` is the ledger's kind (crc, truncated, malformed, key, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _DataParser(dlms_data.DlmsDataParser):
    """dlms-cosem's data parser with bounds checks and the string/float types it lacks."""

    def get_bytes(self, length: int) -> bytearray:
        if self.pointer + length > len(self.buffer):
            raise DlmsError("truncated", "DLMS data ends inside a value")
        return super().get_bytes(length)

    def decode_variable_integer(self) -> int:
        n = super().decode_variable_integer()
        if n > len(self.buffer) - self.pointer:
            raise DlmsError("malformed", f"DLMS length {n} runs past the data")
        return n

    def parse_one_entry(self) -> Any:
        tag = self.buffer[self.pointer] if self.pointer < len(self.buffer) else None
        if tag in (10, 12):  # visible-string, utf8-string
            self.pointer += 1
            raw = bytes(self.get_bytes(self.decode_variable_integer()))
            return dlms_data.VisibleStringData(value=raw.decode("latin-1"))
        if tag in (23, 24):  # float32, float64
            self.pointer += 1
            size = 4 if tag == 23 else 8
            return dlms_data.Float64Data(
                value=struct.unpack(">f" if tag == 23 else ">d", self.get_bytes(size))[0]
            )
        if tag == 4:  # bit-string: length in bits
            self.pointer += 1
            bits = self.decode_variable_integer()
            return dlms_data.BitStringData(value=bytes(self.get_bytes((bits + 7) // 8)))
        if tag is None or tag not in dlms_data.DlmsDataFactory.MAP:
            raise DlmsError("malformed", f"unknown DLMS data tag {tag}")
        if tag == 19:
            raise DlmsError("unsupported", "compact-array data is not supported")
        return super().parse_one_entry()


def parse_data(body: bytes) -> list[Any]:
    parser = _DataParser()
    return parser.parse(body)


def plain(item: Any) -> Any:
    """Plain Python of a dlms-cosem data item (lists for arrays/structures)."""
    if isinstance(item, (dlms_data.DataArray, dlms_data.DataStructure)):
        return [plain(x) for x in item.value]
    return item.value


def axdr_length(data: bytes, pos: int) -> tuple[int, int]:
    """An A-XDR length field at ``pos``: (length, position after the field)."""
    if pos >= len(data):
        raise DlmsError("truncated", "length field missing")
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    n = first & 0x7F
    if n == 0 or n > 4 or pos + 1 + n > len(data):
        raise DlmsError("malformed", "bad length field")
    return int.from_bytes(data[pos + 1 : pos + 1 + n], "big"), pos + 1 + n


def dlms_time(raw: bytes, tz: ZoneInfo) -> datetime | None:
    """A 12-byte DLMS date-time in UTC; no deviation means local time of ``tz``."""
    if len(raw) != 12 or raw[:2] == b"\xff\xff":
        return None
    try:
        dt, status = datetime_from_bytes(raw)
    except (ValueError, TypeError, OverflowError):
        return None
    if raw[9:11] == b"\x00\x00":
        return dt.replace(tzinfo=UTC)
    if dt.tzinfo is not None:
        return dt.astimezone(UTC)
    dst = bool(status and isinstance(status, ClockStatus) and status.daylight_saving_active)
    return dt.replace(tzinfo=tz, fold=0 if dst else 1).astimezone(UTC)
