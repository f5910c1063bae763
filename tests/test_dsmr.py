"""DSMR P1: every shared sample against dsmr_parser as oracle, hand-checked values, framing,
CRC, encryption and the ``wattwerk decode dsmr`` command."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from dsmr_parser.parsers import TelegramParser
from dsmr_parser.telegram_specifications import MSN

from wattwerk.cli import main
from wattwerk.protocols.dsmr import SMARTY_AUTH_KEY, SPECIFICATIONS, DsmrDecoder, decode_all

SAMPLES = ["v2_2", "v3", "v4_2", "v5", "v5_two_mbus", "unpadded_crc", "fluvius_v171", "esy5q3db1024_v304",
           "sagemcom_t210_d_r"]  # fmt: skip
WITH_CRC = ["v4_2", "v5", "v5_two_mbus", "unpadded_crc", "fluvius_v171", "sagemcom_t210_d_r"]

# factor from the meter's unit to ours, written out here independently of the decoder
FACTOR = {"kWh": 1000, "Wh": 1, "kW": 1000, "W": 1, "V": 1, "A": 1, "kvarh": 1000, "varh": 1, "var": 1,
          "kvar": 1000, "m3": 1}  # fmt: skip


def sample(shared_data: Path, name: str) -> bytes:
    return (shared_data / "dsmr" / f"{name}.txt").read_bytes()


def good(frames):
    return [f for f in frames if f.ok]


def values(frame) -> dict[str, float]:
    return {v.quantity: v.value for v in frame.values}


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_matches_dsmr_parser(shared_data, name):
    raw = sample(shared_data, name)
    dec = DsmrDecoder()
    frames = good(dec.feed(raw) + dec.flush())
    assert len(frames) == 1, f"{name}: expected one telegram"
    frame = frames[0]
    text = raw.decode("latin-1")
    telegram_text = text[text.index("/") : text.index("!")]
    telegram_text += re.search(r"![0-9A-F]*\r\n", text[text.index("!") :]).group(0)
    spec = SPECIFICATIONS[dec.last_specification]
    oracle = TelegramParser(spec).parse(telegram_text)
    checked = 0
    for value in frame.values:
        if value.obis is None or (value.obis.startswith("0-") and ":24." in value.obis):
            continue
        line = next(ln for ln in telegram_text.split("\r\n") if re.match(re.escape(value.obis) + r"[(*]", ln))
        obj = next(o for o in spec["objects"] if re.match(o["obis_reference"], line + "\r\n", re.M))
        expected = oracle[obj["obis_reference"]]
        factor = FACTOR[expected.unit] if expected.unit else 1
        assert value.value == pytest.approx(float(expected.value) * factor, rel=1e-12), value.obis
        checked += 1
    for device in getattr(oracle, "MBUS_DEVICES", []):
        names = ("MBUS_METER_READING", "HOURLY_GAS_METER_READING", "GAS_METER_READING")
        reading = next((getattr(device, n) for n in names if hasattr(device, n)), None)
        if reading is None or not reading.unit:
            continue
        ours = [v for v in frame.values if v.obis and re.match(f"0-{device.channel_id}:24[.][23]", v.obis)]
        assert len(ours) == 1
        factor = 1e9 / 3600 if reading.unit == "GJ" else FACTOR[reading.unit]
        assert ours[0].value == pytest.approx(float(reading.value) * factor)
        checked += 1
    assert checked >= 1


def test_hand_checked_dsmr5(shared_data):
    (frame,) = good(decode_all(sample(shared_data, "v5")))
    v = values(frame)
    assert frame.meter_id == "K8EG004046395507"
    assert frame.ts == datetime(2017, 1, 2, 18, 20, 2, tzinfo=UTC)  # 19:20:02 CET
    assert v["energy_import_t1"] == 4426.0 and v["energy_import_t2"] == 2399.0
    assert v["energy_export_t1"] == 2444.0
    assert v["energy_import"] == 6825.0 and v["energy_export"] == 2444.0
    assert v["power"] == 244.0 and v["power_import"] == 244.0
    assert v["voltage_l3"] == 229.0 and v["current_l3"] == 0.86
    assert v["power_l3"] == 142.0
    assert v["gas_volume"] == 0.107


def test_hand_checked_fluvius_gas_and_water(shared_data):
    (frame,) = good(decode_all(sample(shared_data, "fluvius_v171")))
    v = values(frame)
    assert frame.ts == datetime(2020, 5, 12, 11, 54, 9, tzinfo=UTC)  # 13:54:09 summer time
    assert v["gas_volume"] == 112.384  # 0-1:24.2.3, device type 3
    assert v["water_volume"] == 872.234  # 0-2:24.2.1, device type 7
    assert v["energy_import_t2"] == 15758.0 and v["energy_import"] == 15792.0
    assert v["power_import_avg"] == 2351.0


def test_hand_checked_austria_heat_and_q3d(shared_data):
    (aut,) = good(decode_all(sample(shared_data, "sagemcom_t210_d_r")))
    assert values(aut)["energy_import"] == 6545766.0 and values(aut)["power"] == 286.0
    assert values(aut)["reactive_energy_export"] == 3897726.0
    (heat,) = good(decode_all(sample(shared_data, "unpadded_crc")))
    assert values(heat)["heat_energy"] == pytest.approx(240.860e9 / 3600)
    frames = decode_all(sample(shared_data, "esy5q3db1024_v304"))
    (q3d,) = good(frames)
    assert values(q3d)["energy_import"] == pytest.approx(52185782.5309)
    assert [f.error_kind for f in frames if not f.ok] == ["garbage"]  # the gateway's lines after '!'


def test_dsmr22_has_no_time_and_gas_on_two_lines(shared_data):
    (frame,) = good(decode_all(sample(shared_data, "v2_2")))
    assert frame.ts is None
    assert values(frame)["gas_volume"] == 1.001
    assert values(frame)["power"] == 1010.0


def test_timezone_is_configurable(shared_data):
    (ams,) = good(decode_all(sample(shared_data, "v5")))
    (lon,) = good(decode_all(sample(shared_data, "v5"), timezone="Europe/London"))
    assert lon.ts - ams.ts == (datetime(2000, 1, 1, 1) - datetime(2000, 1, 1, 0))


@pytest.mark.parametrize("name", SAMPLES)
def test_chunking_does_not_matter(shared_data, name):
    raw = sample(shared_data, name) * 2
    whole = [f.to_json() for f in decode_all(raw)]
    dec = DsmrDecoder()
    bytewise = [f.to_json() for b in raw for f in dec.feed(bytes([b]))] + [f.to_json() for f in dec.flush()]
    assert bytewise == whole
    rng = random.Random(name)
    dec = DsmrDecoder()
    pos, chunked = 0, []
    while pos < len(raw):
        n = rng.randint(1, 97)
        chunked += [f.to_json() for f in dec.feed(raw[pos : pos + n])]
        pos += n
    chunked += [f.to_json() for f in dec.flush()]
    assert chunked == whole
    assert sum(1 for f in whole if not f["errors"]) == 2


@pytest.mark.parametrize("name", WITH_CRC)
def test_any_changed_byte_is_rejected(shared_data, name):
    raw = sample(shared_data, name)
    end = raw.index(b"!")
    rng = random.Random(name)
    for pos in range(1, end):  # every byte after the '/' up to the '!'
        mutated = bytearray(raw)
        mutated[pos] = (mutated[pos] + rng.randint(1, 255)) % 256
        frames = decode_all(bytes(mutated))
        assert not any(f.ok and f.values for f in frames), f"byte {pos} changed but a frame was accepted"


def test_wrong_crc_says_crc(shared_data):
    raw = sample(shared_data, "v5").replace(b"!6EEE", b"!6EEF")
    (frame,) = decode_all(raw)
    assert frame.error_kind == "crc" and not frame.values


def test_garbage_between_telegrams_is_skipped_and_counted(shared_data):
    v5 = sample(shared_data, "v5")
    frames = decode_all(b"\x00\xffjunk" + v5 + b"noise\r\n" + v5)
    assert [f.error_kind for f in frames] == ["garbage", None, "garbage", None]


def test_truncated_telegram_resynchronises(shared_data):
    v5 = sample(shared_data, "v5")
    frames = decode_all(v5[:300] + v5)
    assert [f.error_kind for f in frames] == ["truncated", None]
    frames = decode_all(v5 + v5[:300])
    assert [f.error_kind for f in frames] == [None, "truncated"]


def _encrypt_smarty(plain: bytes, key: bytes, counter: int = 7) -> bytes:
    title = b"SAG\x11\x22\x33\x44\x55"
    sealed = AESGCM(key).encrypt(title + counter.to_bytes(4, "big"), plain, b"\x30" + SMARTY_AUTH_KEY)
    payload = b"\x30" + counter.to_bytes(4, "big") + sealed[:-16] + sealed[-16:-4]  # 12-byte tag
    return b"\xdb\x08" + title + b"\x82" + len(payload).to_bytes(2, "big") + payload


def test_encrypted_smarty_telegram(shared_data):
    key = bytes(range(16))
    plain = sample(shared_data, "v5")
    cipher = _encrypt_smarty(plain, key)
    (ours,) = decode_all(cipher, key)
    assert ours.ok
    (direct,) = decode_all(plain)
    assert values(ours) == values(direct)
    oracle = TelegramParser(MSN).parse(
        cipher.hex(), encryption_key=key.hex(), authentication_key=SMARTY_AUTH_KEY.hex()
    )
    assert values(ours)["power_import"] == float(oracle.CURRENT_ELECTRICITY_USAGE.value) * 1000
    # in pieces, twice, with garbage before
    dec = DsmrDecoder(key)
    stream = b"\x01\x02" + cipher + cipher
    frames = [f for i in range(0, len(stream), 13) for f in dec.feed(stream[i : i + 13])]
    assert [f.error_kind for f in frames] == ["garbage", None, None]


def test_encrypted_without_key_or_with_wrong_key_gives_no_numbers(shared_data):
    cipher = _encrypt_smarty(sample(shared_data, "v5"), bytes(range(16)))
    (no_key,) = decode_all(cipher)
    assert no_key.error_kind == "key" and not no_key.values and "no key" in no_key.errors[0]
    (wrong,) = decode_all(cipher, bytes(16))
    assert wrong.error_kind == "key" and not wrong.values and "wrong key" in wrong.errors[0]


def test_unknown_obis_line_is_noted_not_fatal(shared_data):
    text = sample(shared_data, "v2_2").replace(
        b"0-0:96.14.0(0001)\r\n", b"0-0:96.14.0(0001)\r\n1-0:99.1.0(7)\r\n"
    )
    (frame,) = decode_all(text)
    assert frame.ok and ("unknown_obis", "1-0:99.1.0 is not part of dsmr2.2/3") in frame.notes


def test_cli_decode_dsmr(shared_data, capsys):
    assert main(["decode", "dsmr", str(shared_data / "dsmr" / "v5.txt")]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    obj = json.loads(line)
    assert obj["meter_id"] == "K8EG004046395507" and obj["errors"] == []
    assert obj["ts"] == "2017-01-02T18:20:02+00:00"
    power = next(r for r in obj["readings"] if r["channel"] == "grid.power_import")
    assert power == {"obis": "1-0:1.7.0", "channel": "grid.power_import", "value": 244.0, "unit": "W"}


def test_cli_decode_dsmr_fails_with_exit_1(tmp_path, shared_data, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(sample(shared_data, "v5").replace(b"!6EEE", b"!0000"))
    assert main(["decode", "dsmr", str(bad)]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["readings"] == [] and "CRC" in json.loads(line)["errors"][0]


def _with_crc(lines: list[str]) -> bytes:
    body = "\r\n".join(lines) + "\r\n!"
    return f"{body}{TelegramParser.crc16(body):04X}\r\n".encode()


SWEDISH = [
    "/ELL5\\253833635_A", "", "0-0:1.0.0(221019143215W)",
    "1-0:1.8.0(00006678.394*kWh)", "1-0:2.8.0(00000000.000*kWh)",
    "1-0:3.8.0(00000021.988*kvarh)", "1-0:4.8.0(00001020.971*kvarh)",
    "1-0:1.7.0(0001.727*kW)", "1-0:2.7.0(0000.000*kW)",
    "1-0:21.7.0(0001.023*kW)", "1-0:41.7.0(0000.350*kW)", "1-0:61.7.0(0000.353*kW)",
    "1-0:22.7.0(0000.000*kW)", "1-0:42.7.0(0000.000*kW)", "1-0:62.7.0(0000.000*kW)",
    "1-0:23.7.0(0000.000*kvar)", "1-0:24.7.0(0000.009*kvar)",
    "1-0:32.7.0(240.3*V)", "1-0:52.7.0(240.1*V)", "1-0:72.7.0(241.3*V)",
    "1-0:31.7.0(004.2*A)", "1-0:51.7.0(001.6*A)", "1-0:71.7.0(001.7*A)",
]  # fmt: skip
HUNGARIAN = [
    "/SLB5\\253833635_B", "", "0-0:1.0.0(230228135009W)", "0-0:42.0.0(53414733303832323030303032313630)",
    "0-0:96.14.0(0001)", "1-0:1.8.0(000123.456*kWh)",
    "1-0:1.8.1(000100.000*kWh)", "1-0:2.8.0(000001.000*kWh)",
    "1-0:5.8.0(000010.000*kvarh)", "1-0:6.8.0(000000.100*kvarh)", "1-0:15.8.0(000124.456*kWh)",
    "1-0:32.7.0(229.9*V)", "1-0:31.7.0(002*A)", "1-0:13.7.0(0.998)", "1-0:33.7.0(0.997)",
    "1-0:14.7.0(50.01*Hz)", "1-0:1.7.0(00.450*kW)", "1-0:2.7.0(00.000*kW)",
]  # fmt: skip


def test_swedish_telegram_is_detected_and_mapped():
    dec = DsmrDecoder()
    (frame,) = dec.feed(_with_crc(SWEDISH))
    assert frame.ok and dec.last_specification == "sweden"
    v = values(frame)
    assert (v["energy_import"], v["reactive_energy_export"], v["power"]) == (6678394.0, 1020971.0, 1727.0)
    assert (v["reactive_power_export_l1"], v["current_l1"], v["voltage_l3"]) == (9.0, 4.2, 241.3)


def test_hungarian_telegram_is_detected_and_mapped():
    dec = DsmrDecoder()
    (frame,) = dec.feed(_with_crc(HUNGARIAN))
    assert frame.ok and dec.last_specification == "hungary_eon"
    v = values(frame)
    assert (v["energy_import"], v["energy_absolute"], v["reactive_energy_q1"]) == (
        123456.0,
        124456.0,
        10000.0,
    )
    assert (v["power_factor"], v["power_factor_l1"], v["frequency"], v["power"]) == (
        0.998,
        0.997,
        50.01,
        450.0,
    )
    assert frame.meter_id == "SAG3082200002160"


def test_lf_only_line_ends_are_read(shared_data):
    lf = b"\n".join(SWEDISH_LINE.encode() for SWEDISH_LINE in SWEDISH) + b"\n!"
    lf += f"{TelegramParser.crc16(lf.decode()):04X}\n".encode()
    (frame,) = decode_all(lf)
    assert frame.ok and values(frame)["energy_import"] == 6678394.0


# Lithuania (ESO): kV, kA and kHz, and registers no dsmr_parser specification lists
LITHUANIAN = [
    "/ESO5\\XxXxXxXxXxX", "", "0-0:1.0.0(230808113811S)",
    "1-0:1.8.0(00009548.086*kWh)", "1-0:2.8.1(00007251.697*kWh)",
    "1-0:32.7.0(0000.242*kV)", "1-0:31.7.0(0000.005*kA)", "1-0:52.7.0(0000.228*kV)",
    "1-0:51.7.0(0000.004*kA)", "1-0:91.7.0(0000.000*kA)", "1-0:14.7.0(0000.049*kHz)",
    "1-0:12.7.0(0000.242*kV)", "1-0:22.7.0(00000001.186*kW)",
]  # fmt: skip


def test_lithuanian_kilo_units_and_registers_outside_the_specification():
    (frame,) = good(decode_all(_with_crc(LITHUANIAN)))
    v = values(frame)
    assert (v["voltage_l1"], v["voltage_l2"]) == (242.0, 228.0)
    assert (v["current_l1"], v["current_l2"], v["current_n"]) == (5.0, 4.0, 0.0)
    assert v["frequency"] == 49.0
    assert v["power_export_l1"] == 1186.0 and v["energy_import"] == 9_548_086.0
    assert next(note for kind, note in frame.notes if kind == "unknown_obis").startswith("1-0:12.7.0 ")


def test_a_unit_we_do_not_convert_is_noted():
    lines = [*SWEDISH[:-3], "1-0:31.7.0(004.2*mA)", "1-0:51.7.0(001.6*V)", "1-0:71.7.0(001.7*A)"]
    (frame,) = good(decode_all(_with_crc(lines)))
    v = values(frame)
    assert v["current_l1"] == pytest.approx(0.0042) and v["current_l3"] == 1.7
    assert "current_l2" not in v and [k for k, _ in frame.notes] == ["unit"]


def test_telegram_without_line_end_after_its_crc_is_not_held_back():
    # P1 gateways that strip the last CRLF: "!" and four CRC digits end the telegram, so it is
    # handed out at once, not when the next telegram arrives (or reported as cut short at the end)
    raw = _with_crc(SWEDISH).rstrip(b"\r\n")
    dec = DsmrDecoder()
    (frame,) = dec.feed(raw)
    assert frame.ok and values(frame)["power_import"] == 1727.0
    assert dec.flush() == [] and [f.ok for f in dec.feed(b"\r\n" + raw)] == [True]
    # a DSMR 3 telegram has no CRC: its "!" alone ends it when the input ends
    v3 = b"/ISk5\\2MT382-1003\r\n\r\n1-0:1.8.1(01234.784*kWh)\r\n1-0:1.7.0(0000.36*kW)\r\n!"
    (old,) = decode_all(v3)
    assert old.ok and values(old)["energy_import"] == 1_234_784.0


def test_a_non_ascii_byte_is_accepted_only_under_a_valid_crc():
    # Fluvius captures in dsmr-reader's tests carry the header "/FLU5\253769484_A" with the
    # escape read as the byte 0xAB, and a CRC computed over it: the CRC vouches for the bytes
    body = "\r\n".join(["/FLU5\xab769484_A", "", *SWEDISH[2:]]) + "\r\n!"
    raw = body.encode("latin-1") + f"{TelegramParser.crc16(body):04X}\r\n".encode()
    (frame,) = decode_all(raw)
    assert frame.ok and values(frame)["energy_import"] == 6_678_394.0
    (bad,) = decode_all(raw.replace(b"6678.394", b"6678.395"))
    assert bad.error_kind == "malformed" and not bad.values
    (no_crc,) = decode_all(body.encode("latin-1") + b"\r\n")
    assert no_crc.error_kind == "malformed"
