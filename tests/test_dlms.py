"""DLMS/COSEM push: every shared sample, cross-checked with dlms-cosem used directly and with
the values the sample's source states (smartmeter-datacollector's tests of the same captures);
framing, segmentation, block transfer, encryption, M-Bus frames and the CLI."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dlms_cosem.crc import CRCCCITT
from dlms_cosem.dlms_data import DlmsDataParser
from dlms_cosem.hdlc.address import HdlcAddress
from dlms_cosem.hdlc.frames import UnnumberedInformationFrame
from dlms_cosem.protocol.xdlms import DataNotification
from dlms_cosem.security import SecurityControlField, encrypt

from wattwerk.cli import main
from wattwerk.protocols.dlms import DlmsDecoder, decode_all
from wattwerk.protocols.transport import FileSource

ONE_PUSH = [
    "iskra_am550_unencrypted_valid_data",
    "iskra_am550_unencrypted_valid_data_cfg2026",
    "lg_e360_unencrypted_valid_data_cfg2026",
    "lg_e450_unencrypted_valid_data1",
    "lg_e450_unencrypted_valid_data_cfg2026",
    "lg_e570_unencrypted_valid_data_cfg2026",
    "lg_e570_unencrypted_valid_data_load_cfg2026",
]
PROFILE = {
    "lg_e570_unencrypted_valid_data_load_cfg2026": "lg_e570",
    "lg_e570_unencrypted_valid_data_cfg2026": "lg_e570",
}
SCALER = {"current": -2, "power_factor": -3}  # what the default/L+G E450 tables say; see per-test overrides


def load(shared_data: Path, name: str) -> bytes:
    return FileSource(shared_data / "dlms" / f"{name}.hex", hex=True).data()


def accepted(frames):
    return [f for f in frames if f.ok]


def values(frame) -> dict[str, float]:
    return {v.quantity: v.value for v in frame.values}


# ---------------------------------------------------------------- oracle: dlms-cosem directly


def hdlc_frames(data: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        length = ((data[i + 1] & 0x07) << 8) | data[i + 2]
        out.append(data[i : i + length + 2])
        i += length + 2
    return out


def info_of(frame: bytes) -> bytes:
    pos = 3
    for _ in range(2):  # destination and source address: up to the byte with the low bit set
        while not frame[pos] & 1:
            pos += 1
        pos += 1
    return frame[pos + 3 : -3]  # after control and HCS, before FCS and flag


def oracle_notification(data: bytes) -> DataNotification:
    """Reassemble with plain slicing (HDLC segments, block transfer) and parse with dlms-cosem."""
    apdu = b"".join(info_of(f) for f in hdlc_frames(data))
    if apdu.startswith(b"\xe6\xe7\x00"):
        apdu = apdu[3:]
    if apdu[0] == 0xE0:  # block transfer: blocks follow each other, each with its 7-byte header
        blocks, rest = [], apdu
        while rest:
            length = rest[6]
            blocks.append(rest[7 : 7 + length])
            rest = rest[7 + length :]
            if rest.startswith(b"\xe6\xe7\x00"):
                rest = rest[3:]
        apdu = b"".join(blocks)
    return DataNotification.from_bytes(apdu)


def oracle_registers(data: bytes) -> dict[str, int]:
    note = oracle_notification(data)
    (structure,) = DlmsDataParser().parse(note.body)
    push_list, *vals = structure.value
    out = {}
    for capture, value in zip(push_list.value, [push_list, *vals], strict=True):
        class_id, obis, attr = capture.value[0].value, capture.value[1].value, capture.value[2].value
        if class_id in (3, 4) and attr == 2:
            a, b, c, d, e, _ = obis
            out[f"{a}-{b}:{c}.{d}.{e}"] = value.value
    return out


@pytest.mark.parametrize("name", ONE_PUSH)
def test_sample_matches_dlms_cosem(shared_data, name):
    data = load(shared_data, name)
    (frame,) = accepted(decode_all(data, profile=PROFILE.get(name)))
    raw = oracle_registers(data)
    mapped = [v for v in frame.values if v.obis]
    assert len(mapped) >= 6
    for value in mapped:
        assert value.obis in raw
        scaled = [raw[value.obis] * 10.0**k for k in (-3, -2, -1, 0, 1)]
        assert any(value.value == pytest.approx(s, rel=1e-12) for s in scaled), value.obis
        if value.quantity.startswith(("energy", "power", "reactive")):
            assert value.value == raw[value.obis]  # W, Wh, var, varh: scaler 0 on these meters


# ---------------------------------------------------------------- hand-checked values


def test_lg_e450_vse_2026(shared_data):
    (frame,) = accepted(decode_all(load(shared_data, "lg_e450_unencrypted_valid_data_cfg2026")))
    v = values(frame)
    assert frame.meter_id == "LGZ1030653520967"
    assert frame.ts == datetime(2026, 5, 4, 9, 39, 21, tzinfo=UTC)
    assert (v["power_import"], v["power_export"], v["power"]) == (28.0, 0.0, 28.0)
    assert (v["energy_import"], v["energy_export"]) == (482939.0, 0.0)
    assert (v["reactive_energy_import"], v["reactive_energy_export"]) == (37.0, 344697.0)
    assert (v["voltage_l1"], v["voltage_l2"], v["voltage_l3"]) == (236.0, 236.0, 0.0)
    assert (v["current_l1"], v["current_l2"], v["current_l3"]) == (0.09, 0.08, 0.0)


def test_lg_e360_vse_2026(shared_data):
    (frame,) = accepted(decode_all(load(shared_data, "lg_e360_unencrypted_valid_data_cfg2026")))
    v = values(frame)
    assert frame.meter_id == "LGZ1030163598905"
    assert frame.ts.replace(microsecond=0) == datetime(2023, 6, 6, 15, 31, 20, tzinfo=UTC)
    assert (v["power_import"], v["energy_import"], v["energy_export"]) == (11.0, 21956.0, 4547.0)
    assert (v["reactive_energy_import"], v["reactive_energy_export"]) == (27256.0, 4432.0)
    assert (v["voltage_l1"], v["current_l1"]) == (235.7, 0.06)


def test_iskra_am550(shared_data):
    (frame,) = accepted(decode_all(load(shared_data, "iskra_am550_unencrypted_valid_data_cfg2026")))
    v = values(frame)
    assert frame.meter_id == "ISK1030783821282"
    assert frame.ts == datetime(2026, 5, 4, 17, 19, 30, tzinfo=UTC)
    assert (v["power_import"], v["energy_import"], v["energy_export"]) == (27.0, 15207.0, 8987.0)
    assert (v["reactive_energy_import"], v["reactive_energy_export"]) == (12784.0, 5654.0)
    assert (v["voltage_l1"], v["current_l1"]) == (234.7, 0.12)
    (old,) = accepted(decode_all(load(shared_data, "iskra_am550_unencrypted_valid_data")))
    assert old.meter_id == "ISK1030775213859"
    assert old.ts == datetime(2020, 8, 15, 4, 19, 45, tzinfo=UTC)


def test_lg_e570_under_load_with_its_profile(shared_data):
    (frame,) = accepted(
        decode_all(load(shared_data, "lg_e570_unencrypted_valid_data_load_cfg2026"), profile="lg_e570")
    )
    v = values(frame)
    assert frame.meter_id == "LGZ1030769231250"
    assert frame.ts == datetime(2026, 6, 9, 14, 4, 40, tzinfo=UTC)  # 16:04:40 in Zurich
    assert (v["power_import"], v["power_export"]) == (258874.0, 0.0)
    assert (v["energy_import"], v["energy_export"]) == (2607383.0, 641338.0)
    assert (v["reactive_energy_import"], v["reactive_energy_export"]) == (956364.0, 2329593.0)
    assert (v["voltage_l1"], v["voltage_l2"], v["voltage_l3"]) == (229.0, 230.0, 229.0)
    assert (v["current_l1"], v["current_l2"], v["current_l3"]) == (400.0, 200.0, 601.0)


def test_two_pushes_and_an_interrupted_one(shared_data):
    frames = decode_all(load(shared_data, "lg_e450_unencrypted_valid_data"))
    assert [f.error_kind for f in frames] == ["sequence", None]
    assert frames[1].meter_id == "LGZ1030655933512"
    assert frames[1].ts == datetime(2021, 7, 6, 12, 58, 18, tzinfo=UTC)
    assert {"power_import", "power_export", "energy_import", "power_factor"} <= set(values(frames[1]))
    assert values(frames[1])["power_factor"] == 0.941  # 0x03AD with scaler -3


def test_duplicated_and_reordered_blocks_are_rejected(shared_data):
    frames = decode_all(load(shared_data, "lg_e450_unencrypted_invalid_data"))
    assert frames and not accepted(frames)
    assert {f.error_kind for f in frames} == {"sequence"}


def test_encrypted_sample_without_or_with_wrong_key(shared_data):
    data = load(shared_data, "lg_e450_encrypted_data_no_pushlist")
    (frame,) = decode_all(data)
    assert frame.error_kind == "key" and not frame.values and "no key" in frame.errors[0]
    (frame,) = decode_all(data, bytes(range(16)))
    assert frame.error_kind == "key" and not frame.values and "wrong key" in frame.errors[0]


# ---------------------------------------------------------------- chunking and corruption


@pytest.mark.parametrize(
    "name", [*ONE_PUSH, "lg_e450_unencrypted_valid_data", "lg_e450_unencrypted_invalid_data"]
)
def test_chunking_does_not_matter(shared_data, name):
    data = load(shared_data, name) * 2
    whole = [f.to_json() for f in decode_all(data)]
    dec = DlmsDecoder()
    bytewise = [f.to_json() for b in data for f in dec.feed(bytes([b]))] + [f.to_json() for f in dec.flush()]
    assert bytewise == whole
    rng = random.Random(name)
    dec, pos, chunked = DlmsDecoder(), 0, []
    while pos < len(data):
        n = rng.randint(1, 80)
        chunked += [f.to_json() for f in dec.feed(data[pos : pos + n])]
        pos += n
    assert chunked + [f.to_json() for f in dec.flush()] == whole


@pytest.mark.parametrize("name", ONE_PUSH)
def test_any_changed_byte_is_rejected(shared_data, name):
    data = load(shared_data, name)
    rng = random.Random(name)
    for pos in range(len(data)):
        mutated = bytearray(data)
        mutated[pos] = (mutated[pos] + rng.randint(1, 255)) % 256
        frames = decode_all(bytes(mutated), profile=PROFILE.get(name))
        assert not accepted(frames), f"byte {pos} changed but the push was accepted"


def test_garbage_between_frames_is_counted(shared_data):
    data = load(shared_data, "lg_e360_unencrypted_valid_data_cfg2026")
    frames = decode_all(b"\x01\x02\x03" + data + b"\x55\x55" + data)
    assert [f.error_kind for f in frames] == ["garbage", None, "garbage", None]


# ---------------------------------------------------------------- encryption, segmentation, M-Bus

KEY = bytes.fromhex("101112131415161718191A1B1C1D1E1F")
AUTH = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
TITLE = b"ISK\x01\x02\x03\x04\x05"


def encrypted_apdu(plain: bytes, counter: int = 0x1234) -> bytes:
    sc = SecurityControlField(security_suite=0, authenticated=True, encrypted=True)
    sealed = encrypt(sc, TITLE, counter, KEY, plain, AUTH)
    content = sc.to_bytes() + counter.to_bytes(4, "big") + sealed
    length = bytes([len(content)]) if len(content) < 0x80 else b"\x82" + len(content).to_bytes(2, "big")
    return b"\xdb\x08" + TITLE + length + content


def hdlc_segments(apdu: bytes, size: int = 90) -> bytes:
    payload = b"\xe6\xe7\x00" + apdu
    parts = [payload[i : i + size] for i in range(0, len(payload), size)]
    out = b""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        frame = UnnumberedInformationFrame(
            HdlcAddress(0x67, None, "client"),
            HdlcAddress(1, 17, "server"),
            part,
            segmented=not last,
            final=last,
        )
        out += frame.to_bytes()
    return out


def plain_apdu(shared_data) -> bytes:
    note = oracle_notification(load(shared_data, "iskra_am550_unencrypted_valid_data_cfg2026"))
    return note.to_bytes()


def test_encrypted_push_decrypts_with_key(shared_data):
    plain = plain_apdu(shared_data)
    (reference,) = accepted(decode_all(hdlc_segments(plain)))
    stream = hdlc_segments(encrypted_apdu(plain))
    (with_key,) = accepted(decode_all(stream, KEY))
    (with_auth,) = accepted(decode_all(stream, KEY, auth_key=AUTH))
    assert values(with_key) == values(with_auth) == values(reference)
    assert with_key.meter_id == "ISK1030783821282"
    (bad_auth,) = decode_all(stream, KEY, auth_key=bytes(16))
    assert bad_auth.error_kind == "key" and not bad_auth.values
    (no_key,) = decode_all(stream)
    assert no_key.error_kind == "key" and not no_key.values
    (wrong,) = decode_all(stream, bytes(16))
    assert wrong.error_kind == "key" and not wrong.values


def test_hdlc_segments_of_any_size_reassemble(shared_data):
    plain = plain_apdu(shared_data)
    reference = values(accepted(decode_all(hdlc_segments(plain, 500)))[0])
    for size in (7, 31, 128):
        (frame,) = accepted(decode_all(hdlc_segments(plain, size)))
        assert values(frame) == reference


def mbus_frames(apdu: bytes, size: int = 120) -> bytes:
    parts = [apdu[i : i + size] for i in range(0, len(apdu), size)]
    out = b""
    for seq, part in enumerate(parts):
        ci = (seq & 0x0F) | (0x10 if seq == len(parts) - 1 else 0)
        body = bytes([0x53, 0xFF, ci, 0x01, 0x67]) + part
        out += bytes([0x68, len(body), len(body), 0x68]) + body + bytes([sum(body) & 0xFF, 0x16])
    return out


def test_mbus_long_frames_carry_the_same_push(shared_data):
    plain = plain_apdu(shared_data)
    reference = values(accepted(decode_all(hdlc_segments(plain)))[0])
    (frame,) = accepted(decode_all(mbus_frames(encrypted_apdu(plain)), KEY))
    assert values(frame) == reference
    broken = bytearray(mbus_frames(plain))
    broken[10] ^= 0x01
    assert not accepted(decode_all(bytes(broken)))
    assert any(f.error_kind == "crc" for f in decode_all(bytes(broken)))


def test_push_with_inline_obis_and_scaler_unit():
    """Austrian/Kamstrup style: OBIS octet strings followed by value and scaler/unit."""
    body = bytes.fromhex(
        "0205"  # structure of 5
        "0906 0100010800ff 0600002710 0202 0f00 161e"  # 1-0:1.8.0 = 10000, scaler 0, Wh
        "0906 0100020800ff 0600000064 0202 0f01 161e"  # 1-0:2.8.0 = 100 * 10 Wh
        "0906 0100100700ff 05fffffc18 0202 0f00 161b"  # 1-0:16.7.0 = -1000 W
        "0906 0100200700ff 1209c4 0202 0fff 1623"  # 1-0:32.7.0 = 2500 * 0.1 V
        "0906 0000600100ff 090431323334"  # 0-0:96.1.0 = "1234"
    )
    body = body.replace(b"\x02\x05", b"\x02\x06", 1) + bytes.fromhex(
        "0906 0001180201ff 0600001e61 0202 0ffd 160d"
    )
    apdu = b"\x0f\x00\x00\x00\x01\x00" + body
    (frame,) = accepted(decode_all(hdlc_segments(apdu)))
    v = values(frame)
    assert (v["energy_import"], v["energy_export"], v["power"], v["voltage_l1"]) == (
        10000.0,
        1000.0,
        -1000.0,
        250.0,
    )
    assert frame.meter_id == "1234"
    assert v["gas_volume"] == 7.777  # 0-1:24.2.1 = 7777 with scaler -3, unit 13 (m³)


def test_cli_decode_dlms_hex(shared_data, capsys):
    path = shared_data / "dlms" / "lg_e450_unencrypted_valid_data_cfg2026.hex"
    assert main(["decode", "dlms", "--hex", str(path)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    obj = json.loads(line)
    assert obj["meter_id"] == "LGZ1030653520967" and obj["ts"] == "2026-05-04T09:39:21+00:00"
    assert {"obis": "1-1:1.8.0", "channel": "grid.energy_import", "value": 482939.0, "unit": "Wh"} in obj[
        "readings"
    ]


def test_cli_decode_dlms_encrypted_without_key_exits_1(shared_data, capsys):
    path = shared_data / "dlms" / "lg_e450_encrypted_data_no_pushlist.hex"
    assert main(["decode", "dlms", "--hex", str(path)]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["readings"] == [] and "no key" in json.loads(line)["errors"][0]


def test_crc_helper_is_the_hdlc_fcs(shared_data):
    """The test oracle's frame split relies on the same FCS the decoder checks."""
    frame = hdlc_frames(load(shared_data, "lg_e360_unencrypted_valid_data_cfg2026"))[0]
    assert CRCCCITT().calculate_for(frame[1:-3]) == frame[-3:-1]


def test_kamstrup_style_list_uses_its_scalers():
    """Kamstrup HAN lists (Norwegian HAN documentation): a list id, then OBIS/value pairs
    without scalers; current in 0.01 A and energy in 10 Wh."""
    when = bytes.fromhex("07EA011504 0C1E00 FF 800000".replace(" ", ""))
    body = (
        bytes.fromhex("020d 0a0e") + b"Kamstrup_V0001"
        + bytes.fromhex("0906 0101000005ff 0a10") + b"5706567274389702"
        + bytes.fromhex("0906 0101010700ff 060000058c")  # P+ 1420 W
        + bytes.fromhex("0906 0101020700ff 0600000000")  # P- 0 W
        + bytes.fromhex("0906 01011f0700ff 06000002a5")  # I1 677 -> 6.77 A
        + bytes.fromhex("0906 0101200700ff 1200e6")  # U1 230 V
        + bytes.fromhex("0906 0001010000ff 090c") + when
        + bytes.fromhex("0906 0101010800ff 0600017ef5")  # A+ 98037 -> 980370 Wh
    )  # fmt: skip
    apdu = b"\x0f\x00\x00\x00\x01\x00" + body
    (frame,) = accepted(decode_all(hdlc_segments(apdu)))
    v = values(frame)
    assert frame.meter_id == "5706567274389702"
    assert frame.ts == datetime(2026, 1, 21, 11, 30, tzinfo=UTC)  # 12:30 CET, no deviation sent
    assert (v["power"], v["current_l1"], v["voltage_l1"], v["energy_import"]) == (
        1420.0,
        6.77,
        230.0,
        980370.0,
    )


def test_push_without_list_or_obis_needs_configured_capture_objects():
    when = bytes.fromhex("07EA0604040C1E00FF800080")  # 2026-06-04 12:30 local, summer time
    body = bytes.fromhex("0204 0910") + b"LGZ1030655933512" + bytes.fromhex("090c") + when
    body += bytes.fromhex("0600000bb8 0600001388")  # 3000 W import, 5000 Wh
    apdu = b"\x0f\x00\x00\x00\x01\x00" + body
    (plain,) = decode_all(hdlc_segments(apdu))
    assert plain.error_kind == "unsupported" and "configured" in plain.errors[0]
    layout = ["0-0:42.0.0", "0-0:1.0.0", "1-0:1.7.0", "1-0:1.8.0"]
    (frame,) = accepted(decode_all(hdlc_segments(apdu), capture_objects=layout))
    assert frame.meter_id == "LGZ1030655933512"
    assert frame.ts == datetime(2026, 6, 4, 10, 30, tzinfo=UTC)
    assert (values(frame)["power"], values(frame)["energy_import"]) == (3000.0, 5000.0)
    (short,) = decode_all(hdlc_segments(apdu), capture_objects=layout[:3])
    assert short.error_kind == "malformed" and not short.values


# ---------------------------------------------------------------- Austrian positional lists


def u32(n: int) -> bytes:
    return b"\x06" + n.to_bytes(4, "big")


def octets(raw: bytes) -> bytes:
    return b"\x09" + bytes([len(raw)]) + raw


AT_TIME = bytes.fromhex("07e50307070e372100ffc400")  # 2021-03-07 14:55:33, deviation -60 min
AT_REGISTERS = u32(2_946_830) + u32(0) + u32(887) + u32(2_116_972) + u32(73) + u32(0)


def at_notification(items: bytes, count: int) -> bytes:
    return b"\x0f\x00\x01\xa9\x28\x0c" + AT_TIME + b"\x02" + bytes([count]) + items


def test_austrian_p1_list_of_am550_and_im350():
    # Wiener Netze / Kärnten Netz / Linz: no OBIS codes, the push setup 0-6:25.9.0.255 first,
    # then meter number, time, date, +A -A +R -R +P -P and (not always) two customer strings
    head = octets(bytes([0, 6, 25, 9, 0, 255])) + octets(b"2221202033801")
    head += octets(bytes.fromhex("0e372100")) + octets(bytes.fromhex("07e5030707"))
    for tail, count in ((b"\x09\x00\x09\x00", 12), (b"", 10)):
        stream = hdlc_segments(encrypted_apdu(at_notification(head + AT_REGISTERS + tail, count)))
        (frame,) = accepted(decode_all(stream, KEY, timezone="Europe/Vienna"))
        v = values(frame)
        assert (v["energy_import"], v["energy_export"]) == (2_946_830.0, 0.0)
        assert (v["reactive_energy_import"], v["reactive_energy_export"]) == (887.0, 2_116_972.0)
        assert (v["power_import"], v["power"]) == (73.0, 73.0)
        assert frame.meter_id == "2221202033801"
        assert frame.ts == datetime(2021, 3, 7, 13, 55, 33, tzinfo=UTC)


def test_austrian_d0_list_of_am550():
    # the optical port's list: the date-time, then +A -A +R -R +P -P +Q -Q
    items = octets(AT_TIME) + AT_REGISTERS + u32(0) + u32(244)
    (frame,) = accepted(decode_all(hdlc_segments(at_notification(items, 9))))
    v = values(frame)
    assert (v["energy_import"], v["power_import"], v["reactive_power_export"]) == (2_946_830.0, 73.0, 244.0)
