"""CRC-16/ARC (poly 0x8005, reflected, init 0), the checksum of DSMR P1 telegrams.

dsmr_parser computes it bit by bit in Python (about 0.75 ms for a 800-byte telegram, half of
decoding one); this table-driven version gives the same result about six times faster
(``wattwerk bench meters`` shows the effect). ``tests/test_crc.py`` checks it against
dsmr_parser's own function on every sample.
"""

from __future__ import annotations


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _table()


def crc16_arc(data: bytes) -> int:
    crc = 0
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc
