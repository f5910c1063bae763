"""SML decoder against the real samples, with smllib used directly as the oracle."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from smllib import SmlStreamReader
from smllib.errors import CrcError
from smllib.sml import SmlGetListResponse

from wattwerk.cli import main as cli_main
from wattwerk.model import OBIS, Channel
from wattwerk.protocols.base import Frame
from wattwerk.protocols.sml import SmlDecoder, SmlOptions, meter_number, obis_text

HEX_SAMPLES = [
    "smllib_frame1.hex",
    "smllib_frame2.hex",
    "smllib_frame_issue_15_fixed.hex",
    "smllib_frame_issue_26.hex",
    "smllib_frame_issue_28-1_fixed.hex",
    "smllib_frame_issue_28-2_fixed.hex",
    "smllib_frame_issue_8_fixed.hex",
]
STREAM = "dnt_stream_ttyUSB0-3.bin"


def read_hex(path: Path) -> bytes:
    return bytes.fromhex("".join(ch for ch in path.read_text() if ch in "0123456789abcdefABCDEF"))


def decode_all(
    data: bytes, chunks: list[int] | None = None, options: SmlOptions | None = None
) -> list[Frame]:
    dec = SmlDecoder(options)
    out: list[Frame] = []
    if chunks is None:
        out += dec.feed(data)
    else:
        pos = 0
        for size in chunks:
            out += dec.feed(data[pos : pos + size])
            pos += size
        out += dec.feed(data[pos:])
    return out + dec.flush()


def oracle(data: bytes, crc: str = "x25", chunk: int = 64) -> list[dict[str, float]]:
    """smllib on its own: per frame, the mapped OBIS codes (F = 255) and smllib's values."""
    reader = SmlStreamReader(crc=crc)
    frames: list[dict[str, float]] = []
    for i in range(0, len(data), chunk):
        reader.add(data[i : i + chunk])
        while True:
            try:
                frame = reader.get_frame()
            except CrcError:
                continue
            if frame is None:
                break
            values = {}
            entries = [
                e
                for m in frame.parse_frame()
                if isinstance(m.message_body, SmlGetListResponse)
                for e in m.message_body.val_list
            ]
            for entry in entries:
                code, f = obis_text(entry.obis)
                if f == 255 and (code in OBIS or code == "1-0:15.7.0") and isinstance(entry.value, int):
                    values[code] = entry.get_value()
            frames.append(values)
    return frames


def as_dict(frame: Frame) -> dict[str, float]:
    return {v.obis: v.value for v in frame.values}


@pytest.mark.parametrize("name", HEX_SAMPLES)
def test_hex_samples_match_smllib(shared_data: Path, name: str) -> None:
    data = read_hex(shared_data / "sml" / name)
    crc = "kermit" if "issue_8" in name else "x25"  # Holley DTZ541: see docs/meters.md
    expected = oracle(data, crc)
    frames = decode_all(data)
    assert len(frames) == len(expected) == 1
    assert frames[0].ok, frames[0].errors
    got = as_dict(frames[0])
    assert got.keys() == expected[0].keys()
    for code, value in expected[0].items():
        assert got[code] == pytest.approx(value, abs=1e-9), code


def test_hand_checked_values(shared_data: Path) -> None:
    holley = decode_all(read_hex(shared_data / "sml" / "smllib_frame2.hex"))[0]
    v = as_dict(holley)
    # 1.8.0: value 44998962, scaler -1, unit 30 (Wh)  -> 4 499 896.2 Wh
    assert v["1-0:1.8.0"] == 4499896.2
    assert v["1-0:16.7.0"] == 137.0
    assert v["1-0:32.7.0"] == 234.4
    assert v["1-0:31.7.0"] == 0.41
    assert v["1-0:14.7.0"] == 50.0
    assert holley.meter_id == "1HLY0200271520"
    units = {x.quantity: x.unit for x in holley.values}
    assert units["energy_import"] == "Wh" and units["power"] == "W" and units["voltage_l1"] == "V"

    # DZG without PIN: reduced data set, whole kWh (13391 kWh, scaler 3), no power at all
    dzg = decode_all(read_hex(shared_data / "sml" / "smllib_frame1.hex"))[0]
    assert as_dict(dzg) == {"1-0:1.8.0": 13_391_000.0, "1-0:2.8.0": 0.0}
    assert dzg.meter_id == "1DZG0042123440"

    # ISKRA with per-phase power; server id is not DIN 43863-5 shaped and stays hex
    iskra = decode_all(read_hex(shared_data / "sml" / "smllib_frame_issue_28-1_fixed.hex"))[0]
    assert as_dict(iskra)["1-0:36.7.0"] == 113.0
    assert iskra.meter_id == "080535342d510177"


def test_channels_are_valid_model_channels(shared_data: Path) -> None:
    for name in HEX_SAMPLES:
        for frame in decode_all(read_hex(shared_data / "sml" / name)):
            for v in frame.values:
                assert Channel.of(f"grid.{v.quantity}").unit == v.unit


def test_holley_kermit_crc_is_learned_and_kept(shared_data: Path) -> None:
    data = read_hex(shared_data / "sml" / "smllib_frame_issue_8_fixed.hex")
    dec = SmlDecoder()
    assert dec.feed(data)[0].ok and dec.crc == "kermit"
    # fixed x25 rejects it: the DTZ541 really does use the other CRC
    strict = SmlDecoder(SmlOptions(crc="x25")).feed(data)
    assert [f.error_kind for f in strict] == ["crc"]
    # once a meter proved to use X.25, a KERMIT frame is a CRC error, not a second guess
    x25_frame = read_hex(shared_data / "sml" / "smllib_frame2.hex")
    dec2 = SmlDecoder()
    assert dec2.feed(x25_frame)[0].ok and dec2.crc == "x25"
    assert [f.error_kind for f in dec2.feed(data)] == ["crc"]


def test_unknown_obis_is_a_note_not_an_error(shared_data: Path) -> None:
    frame = decode_all(read_hex(shared_data / "sml" / "smllib_frame_issue_26.hex"))[0]
    assert frame.ok and frame.values == []
    assert [k for k, _ in frame.notes] == ["unknown_obis"]
    assert "1-0:1.17.0" in frame.notes[0][1]


def test_history_registers_are_not_taken_for_totals(shared_data: Path) -> None:
    # Holley sends 1-0:1.8.0*96..*100 (consumption of the last day/week/...) besides *255
    frame = decode_all(read_hex(shared_data / "sml" / "smllib_frame_issue_8_fixed.hex"))[0]
    totals = [v for v in frame.values if v.quantity == "energy_import"]
    assert [v.value for v in totals] == [10793898.7]


# ---------------------------------------------------------------- the real serial capture


def test_stream_capture_all_frames(shared_data: Path) -> None:
    data = (shared_data / "sml" / STREAM).read_bytes()
    expected = oracle(data, chunk=64)
    frames = decode_all(data, chunks=[64] * (len(data) // 64))
    good = [f for f in frames if f.ok]
    assert len(expected) > 500
    assert [as_dict(f) for f in good] == expected
    # the capture ends inside a frame: reported as truncated at end of input, never as values
    assert [f.error_kind for f in frames if not f.ok] == ["truncated"]
    assert {f.meter_id for f in good} == {meter_number("0901444e540100002030")}
    # a feed-in meter: 2.8.0 and the absolute power 15.7.0 (no direction)
    assert {"1-0:2.8.0", "1-0:15.7.0"} <= as_dict(good[0]).keys()
    assert next(v for v in good[0].values if v.obis == "1-0:15.7.0").quantity == "power_abs"


def test_whole_file_in_one_call(shared_data: Path) -> None:
    """smllib alone keeps only 50 KiB; our decoder hands it the bytes in small pieces."""
    data = (shared_data / "sml" / STREAM).read_bytes()
    assert len(data) > 50 * 1024
    whole = [as_dict(f) for f in decode_all(data) if f.ok]
    assert whole == oracle(data, chunk=64)


def _jsons(frames: list[Frame]) -> list[str]:
    return [json.dumps(f.to_json(), sort_keys=True) for f in frames]


def test_byte_by_byte_and_random_chunks_agree(shared_data: Path) -> None:
    data = (shared_data / "sml" / STREAM).read_bytes()[:40_000]
    reference = _jsons(decode_all(data, chunks=[4096] * 10))
    assert len(reference) > 100
    assert _jsons(decode_all(data, chunks=[1] * len(data))) == reference
    rnd = random.Random(7)
    for _ in range(3):
        sizes = [rnd.randint(1, 300) for _ in range(len(data) // 50)]
        assert _jsons(decode_all(data, chunks=sizes)) == reference


@pytest.mark.parametrize("name", HEX_SAMPLES)
def test_every_byte_flip_is_rejected(shared_data: Path, name: str) -> None:
    data = read_hex(shared_data / "sml" / name)
    for pos in range(len(data)):
        for mask in (0x01, 0x80, 0xFF):
            broken = bytearray(data)
            broken[pos] ^= mask
            frames = decode_all(bytes(broken))
            assert not any(f.ok and f.values for f in frames), (pos, mask)


def test_truncated_frame_then_good_frame_resyncs(shared_data: Path) -> None:
    good = read_hex(shared_data / "sml" / "smllib_frame2.hex")
    stream = good[:150] + good + b"\x00\x17garbage" + good
    frames = decode_all(stream)
    assert [f.error_kind for f in frames] == ["truncated", None, None]
    assert as_dict(frames[1]) == as_dict(frames[2]) == oracle(good)[0]
    assert [k for k, _ in frames[2].notes] == ["garbage"]


def test_garbage_is_one_note_per_run_in_any_chunking(shared_data: Path) -> None:
    good = read_hex(shared_data / "sml" / "smllib_frame2.hex")
    stream = b"\x1b\x1b\x00noise" * 5 + good
    for size in (1, 3, len(stream)):
        frames = decode_all(stream, chunks=[size] * (len(stream) // size + 1))
        assert [f.error_kind for f in frames] == [None]
        assert frames[0].notes == [("garbage", "40 bytes outside SML frames skipped")]


def test_cut_frame_is_truncated_in_any_chunking(shared_data: Path) -> None:
    good = read_hex(shared_data / "sml" / "smllib_frame2.hex")
    stream = good[:300] + good
    for size in (1, 7, 64, len(stream)):
        frames = decode_all(stream, chunks=[size] * (len(stream) // size + 1))
        assert [f.error_kind for f in frames] == ["truncated", None]


# ---------------------------------------------------------------- the CLI


def test_cli_decode_hex(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["decode", "sml", "--hex", str(shared_data / "sml" / "smllib_frame2.hex")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert obj["meter_id"] == "1HLY0200271520" and obj["errors"] == []
    first = obj["readings"][0]
    assert first == {"obis": "1-0:1.8.0", "channel": "grid.energy_import", "value": 4499896.2, "unit": "Wh"}


def test_cli_decode_binary_capture(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["decode", "sml", str(shared_data / "sml" / STREAM)]) == 0
    objs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(objs) == len(oracle((shared_data / "sml" / STREAM).read_bytes())) + 1
    assert objs[-1]["readings"] == [] and "cut short" in objs[-1]["errors"][0]


def test_cli_decode_garbage_only_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "noise.bin"
    path.write_bytes(bytes(range(256)) * 4)
    assert cli_main(["decode", "sml", str(path)]) == 1
    assert capsys.readouterr().out == ""
