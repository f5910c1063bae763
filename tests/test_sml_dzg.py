"""DZG sign encoding learned from the counters (issue 17): frames encoded by hand per SML 1.04,
independently of the emulator's encoder, read through the real decoder and ``MeterReader``.

* DWSB20.2TH (server id 1DZG0040051478) signs correctly: exporting 790 W it sends -78851 (scaler -2)
  in three bytes, exporting 310 W -31064 in two; its export register rises, import stands still.
* DVS-7412: +356.24 W in two bytes whose top bit is set (reads -299.12 signed); import rises.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from smllib.crc import x25

from wattwerk.errors import InputLedger
from wattwerk.protocols.meter import MeterReader
from wattwerk.protocols.plausibility import PowerBounds
from wattwerk.protocols.sml import SmlDecoder, SmlOptions

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NONE = b"\x01"  # an absent optional field


def tl(kind: int, payload: bytes) -> bytes:
    """Type-length byte (type in bits 4-6, length incl. the TL byte) and payload; short only."""
    assert len(payload) < 15
    return bytes([kind << 4 | (len(payload) + 1)]) + payload


def octets(raw: bytes) -> bytes:
    return tl(0, raw)


def uint(value: int, size: int) -> bytes:
    return tl(6, value.to_bytes(size, "big"))


def sint(value: int, size: int) -> bytes:
    return tl(5, value.to_bytes(size, "big", signed=True))


def lst(*items: bytes) -> bytes:
    return bytes([0x70 | len(items)]) + b"".join(items)


def message(tid: int, tag: int, body: bytes) -> bytes:
    """SML_Message; its CRC16 covers the message up to the CRC field."""
    head = bytes([0x76]) + octets(bytes([tid])) + uint(0, 1) + uint(0, 1) + lst(uint(tag, 4), body)
    crc = x25.get_crc(head)
    return head + uint(crc, 2) + b"\x00"


def entry(obis: str, unit: int, scaler: int, value: bytes) -> bytes:
    """SML_ListEntry: objName, status, valTime, unit, scaler, value, valueSignature."""
    return lst(octets(bytes.fromhex(obis)), NONE, NONE, uint(unit, 1), sint(scaler, 1), value, NONE)


def sml_frame(server: bytes, imp: int, exp: int, power: bytes) -> bytes:
    """Open, GetList (1.8.0, 2.8.0 in 0.1 Wh; 16.7.0 in 0.01 W), Close; padded; X.25 CRC."""
    values = lst(
        entry("0100010800ff", 30, -1, uint(imp, 8)),
        entry("0100020800ff", 30, -1, uint(exp, 8)),
        entry("0100100700ff", 27, -2, power),
    )
    body = message(1, 0x0101, lst(NONE, NONE, octets(b"\x01\x02\x03\x04"), octets(server), NONE, NONE))
    body += message(2, 0x0701, lst(NONE, octets(server), NONE, NONE, values, NONE, NONE))
    body += message(3, 0x0201, lst(NONE))
    pad = (-len(body)) % 4
    data = b"\x1b\x1b\x1b\x1b\x01\x01\x01\x01" + body + b"\x00" * pad + b"\x1b\x1b\x1b\x1b\x1a" + bytes([pad])
    return data + x25.get_crc(data).to_bytes(2, "big")


def dzg_id(serial: int) -> bytes:
    """DIN 43863-5: medium 1, 'DZG', block 0, serial: ``1DZG0040051478``."""
    return b"\x0a\x01DZG\x00" + serial.to_bytes(4, "big")


DWSB = dzg_id(40_051_478)
DVS = dzg_id(42_123_440)


def run(frames: list[bytes], **kw: object) -> tuple[list[float], InputLedger]:
    """The powers ``MeterReader`` publishes for frames one second apart, and its ledger."""
    ledger = InputLedger()
    reader = MeterReader("grid", SmlDecoder(kw.pop("options", None)), ledger=ledger, **kw)  # type: ignore[arg-type]
    powers = []
    for i, data in enumerate(frames):
        for readings in reader.process(data, T0.replace(second=i)):
            powers += [r.value for r in readings if r.channel == "grid.power"]
    return powers, ledger


def export_790(n: int) -> list[bytes]:
    # -78851 in three bytes (54 fe cb fd); the export register rises 0.2 Wh a second
    return [sml_frame(DWSB, 5_000_000, 300_000 + 2 * i, sint(-78851, 3)) for i in range(n)]


def export_310(n: int) -> list[bytes]:
    # -31064 in two bytes (53 86 a8); the export register rises 0.1 Wh a second
    return [sml_frame(DWSB, 5_000_000, 300_000 + i, sint(-31064, 2)) for i in range(n)]


def test_frames_are_what_the_meter_sends() -> None:
    assert b"\x54\xfe\xcb\xfd" in export_790(1)[0]
    assert b"\x53\x86\xa8" in export_310(1)[0]
    assert SmlDecoder().feed(export_310(1)[0])[0].meter_id == "1DZG0040051478"


def test_dwsb_three_byte_export_is_negative_from_the_first_frame() -> None:
    # +166,983.65 W (the unsigned reading) is beyond what a direct-connected meter can measure
    powers, ledger = run(export_790(6))
    assert powers == [-788.51] * 6
    assert ledger.by_kind("grid") == {}


def test_dwsb_two_byte_export_learned_from_the_export_counter() -> None:
    powers, ledger = run(export_310(8))
    # the first frame has no counter step yet: held back (counted), never +344.72
    assert powers == [-310.64] * 7
    assert ledger.by_kind("grid") == {"sign": 1}


def test_dwsb_learned_encoding_is_kept_when_the_counters_stand_still() -> None:
    dec = SmlDecoder()
    for data in export_310(5):
        dec.feed(data)
    assert dec.learners[DWSB.hex()].mode == "signed"
    still = sml_frame(DWSB, 5_000_000, 300_004, sint(-31064, 2))  # no counter step
    assert [v.value for v in dec.feed(still)[0].values if v.quantity == "power"] == [-310.64]


def test_dvs7412_positive_power_learned_from_the_import_counter() -> None:
    # 356.24 W is 0x8b28, sent as a signed 2-byte -29912 (-299.12 W); import rises 0.1 Wh a second
    frames = [sml_frame(DVS, 7_000_000 + i, 0, sint(-29912, 2)) for i in range(8)]
    assert b"\x53\x8b\x28" in frames[0]
    powers, ledger = run(frames)
    assert powers == [356.24] * 7
    assert ledger.by_kind("grid") == {"sign": 1}


def test_counters_veto_a_forced_wrong_encoding() -> None:
    # the old serial rule (dzg_fix=True) would read the DWSB's export as +344.72 W import:
    # the export counter rising contradicts it, so it is a counted range error, never published
    powers, ledger = run(export_310(6), options=SmlOptions(dzg_fix=True))
    assert powers == [344.72]  # the first frame: no counter step to compare with yet
    assert ledger.by_kind("grid") == {"range": 5}


def test_power_beyond_the_connection_is_a_range_error() -> None:
    # 35 A x 230 V x 3 = 24,150 W; the forced unsigned reading 166,983.65 W exceeds it
    bounds = PowerBounds.of_grid(35.0, 230.0, 3)
    powers, ledger = run(export_790(3), options=SmlOptions(dzg_fix=True), bounds=bounds)
    assert powers == []
    assert ledger.by_kind("grid") == {"range": 3}


def test_bound_from_the_site_decides_a_two_byte_value_at_once() -> None:
    # a 2-byte unsigned reading (+344.72 W) above a tiny connection's bound proves signed encoding
    options = SmlOptions(max_power_w=300.0)
    powers, _ = run(export_310(2), options=options)
    assert powers == [-310.64, -310.64]


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(-65_535, 65_535), st.booleans()), min_size=1, max_size=25),
    quirky=st.booleans(),
)
def test_published_power_never_has_the_sign_the_counters_deny(
    steps: list[tuple[int, bool]], quirky: bool
) -> None:
    """Any run of true powers (±655.35 W, 0.01 W steps) from a DZG meter that signs correctly or
    has the short-encoding bug: every power published is the true one; the counters move with it
    (0.1 Wh a frame when ``moves``)."""
    imp, exp, truth = 1_000_000, 500_000, []
    frames = []
    for power, moves in steps:
        if moves and power > 0:
            imp += 1
        elif moves and power < 0:
            exp += 1
        raw = power
        size = max(1, (abs(power).bit_length() + 8) // 8)  # the shortest signed field
        if quirky and power < 0:
            size = 4  # the buggy meters send true negatives in four bytes
        if quirky and power > 0 and power.bit_length() % 8 == 0:  # the bug: unsigned in a signed field
            size, raw = power.bit_length() // 8, power - (1 << power.bit_length())
        frames.append(sml_frame(DVS if quirky else DWSB, imp, exp, sint(raw, size)))
        truth.append(power / 100)
    dec = SmlDecoder()
    for data, true in zip(frames, truth, strict=True):
        [frame] = dec.feed(data)
        for v in frame.values:
            if v.quantity == "power":
                assert v.value == true


def test_a_list_entry_without_value_costs_only_that_entry() -> None:
    # EMH eHZ-IW8E2A5L0EK2P (libsml-testing "with_error" dump): its manufacturer register
    # 1-0:96.50.2*6 comes with valTime but no value, which SML 1.04 does not allow; the frame's
    # 1.8.0 and 16.7.0 are still good
    server = b"\x06EMH\x01\x07\x19\x7c\x24\x56"
    values = lst(
        entry("0100010800ff", 30, -1, uint(27_956_927, 5)),
        entry("0100100700ff", 27, -1, sint(1367, 4)),
        lst(
            octets(bytes.fromhex("010060320206")),
            NONE,
            lst(uint(1, 1), uint(0x01E8292F, 4)),
            NONE,
            NONE,
            NONE,
            NONE,
        ),
    )
    body = message(1, 0x0101, lst(NONE, NONE, octets(b"\x01\x02\x03\x04"), octets(server), NONE, NONE))
    body += message(2, 0x0701, lst(NONE, octets(server), NONE, NONE, values, NONE, NONE))
    body += message(3, 0x0201, lst(NONE))
    pad = (-len(body)) % 4
    data = b"\x1b\x1b\x1b\x1b\x01\x01\x01\x01" + body + b"\x00" * pad + b"\x1b\x1b\x1b\x1b\x1a" + bytes([pad])
    data += x25.get_crc(data).to_bytes(2, "big")
    dec = SmlDecoder()
    [frame] = dec.feed(data) + dec.flush()
    assert frame.ok and {v.quantity: v.value for v in frame.values} == {
        "energy_import": 2_795_692.7,
        "power": 136.7,
    }
