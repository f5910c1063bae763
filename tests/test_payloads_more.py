"""Device payloads in the shapes their makers document, beyond the samples of the other tests.

Each payload is built here from the documented field names and layouts (SMA Energy Meter
protocol, Tasmota's energy and SML JSON, Shelly's RPC components) with realistic values.
"""

from __future__ import annotations

import struct

from wattwerk.protocols.speedwire import SpeedwireDecoder, parse_datagram

# ---------------------------------------------------------------- SMA Speedwire


def _shm_unicast_datagram(serial: int, channels: list[tuple[int, int, int, int, int]]) -> bytes:
    """A Sunny Home Manager 2.0 (firmware 2.07) unicast datagram: protocol 0x6081, whose header
    has two more bytes (long words, control) before the SUSy id than the 0x6069 multicast one."""
    body = b""
    for channel, index, kind, tariff, raw in channels:
        body += bytes([channel, index, kind, tariff]) + raw.to_bytes(8 if kind == 8 else 4, "big")
    length = 2 + 2 + 10 + len(body)  # protocol id, long words + control, header, channels
    data2 = struct.pack(">HBBHII", 0x6081, length // 4, 0, 372, serial, 123_456) + body
    return (
        b"SMA\x00"
        + struct.pack(">HHI", 4, 0x02A0, 1)
        + struct.pack(">HH", len(data2), 0x0010)
        + data2
        + struct.pack(">HH", 0, 0)
    )


def test_home_manager_extended_protocol_is_read() -> None:
    data = _shm_unicast_datagram(
        3004123456,
        [
            (0, 1, 4, 0, 12345),  # 1234.5 W import
            (0, 1, 8, 0, 3600 * 1_000_000),  # 1 MWh imported, in Ws
            (0, 2, 4, 0, 0),
            (0, 14, 4, 0, 50_012),  # 50.012 Hz (firmware 2.03.4 on)
            (144, 0, 0, 0, 0x02070452),  # firmware 2.7.4.R
        ],
    )
    d = parse_datagram(data)
    assert (d.susy_id, d.serial, d.firmware) == (372, 3004123456, "2.7.4.R")
    dec = SpeedwireDecoder(serial=3004123456, datagrams=True)
    (frame,) = dec.feed(data)
    v = {x.quantity: x.value for x in frame.values}
    assert v["power"] == 1234.5 and v["energy_import"] == 1_000_000.0 and v["frequency"] == 50.012
    assert dec.ignored == 0 and not frame.notes
