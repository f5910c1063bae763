"""Meter quirks (docs/meters.md), the SML encoder of the emulator, and fuzzing of the decoder."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smllib import SmlStreamReader
from smllib.sml import SmlGetListResponse

from wattwerk.model import Channel
from wattwerk.protocols.base import Frame
from wattwerk.protocols.sml import SmlDecoder, SmlOptions
from wattwerk.sim.emulators import MeterState, PhaseState
from wattwerk.sim.emulators.sml import WH, A, Entry, V, W, entries_for, server_id, sml_file

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def decode(data: bytes, options: SmlOptions | None = None) -> list[Frame]:
    dec = SmlDecoder(options)
    return dec.feed(data) + dec.flush()


def power_of(frame: Frame) -> float:
    return next(v.value for v in frame.values if v.quantity == "power")


# ---------------------------------------------------------------- DZG DVS74 / DWS76 power encoding


def dzg_frame(serial: int, raw: int, size: int, imp: int = 123456789, exp: int = 0) -> bytes:
    entries = [
        Entry("0100010800ff", imp, WH, -1, status=0x182),
        Entry("0100020800ff", exp, WH, -1),
        Entry("0100100700ff", raw, W, -2, size=size),
    ]
    return sml_file(server_id("DZG", serial), entries, 1000)


def test_dzg_positive_power_sent_with_signed_short_type() -> None:
    # DVS-7412 style: +350.00 W arrives as 53 88 b8, a signed 2-byte field whose top bit is set;
    # the import counter rising (0.1 Wh a second) teaches the decoder that the quirk applies
    frames = [dzg_frame(42_123_440, -30536, 2, imp=123456789 + i) for i in range(5)]
    assert b"\x53\x88\xb8" in frames[0]
    dec = SmlDecoder()
    out = [f for data in frames for f in dec.feed(data)]
    assert not any(v.quantity == "power" for v in out[0].values)  # no counter step yet: held back
    assert [k for k, _ in out[0].notes] == ["sign"]
    assert [power_of(f) for f in out[1:]] == [350.0] * 4
    assert dec.learners["0a01445a47000282c0b0"].mode == "unsigned"


def test_dzg_true_negative_uses_four_bytes() -> None:
    frame = dzg_frame(42_123_440, -30536, 4)  # 55 ff ff 88 b8 = -305.36 W (export)
    assert b"\x55\xff\xff\x88\xb8" in frame
    assert power_of(decode(frame)[0]) == -305.36


def test_dzg_serial_decides_nothing_and_other_makes_are_left_alone() -> None:
    # a DZG meter's short negative is ambiguous whatever its serial, until its counters move
    assert [k for k, _ in decode(dzg_frame(60_000_001, -30536, 2))[0].notes] == ["sign"]
    other = sml_file(server_id("EMH", 1234), [Entry("0100100700ff", -30536, W, -2, size=2)], 5)
    assert power_of(decode(other)[0]) == -305.36
    assert power_of(decode(dzg_frame(42_123_440, -30536, 2), SmlOptions(dzg_fix=False))[0]) == -305.36
    assert power_of(decode(dzg_frame(42_123_440, -30536, 2), SmlOptions(dzg_fix=True))[0]) == 350.0


# ---------------------------------------------------------------- power as a magnitude + status bit


def status_frame(status: int, power: int, code: str = "0100100700ff") -> bytes:
    entries = [
        Entry("0100010800ff", 5_000_000, WH, -1, status=status),
        Entry("0100020800ff", 7_000_000, WH, -1),
        Entry(code, power, W, 0),
    ]
    return sml_file(server_id("ESY", 777), entries, 77)


def test_sign_from_status_bit() -> None:
    opts = SmlOptions(sign_from_status=True)
    assert power_of(decode(status_frame(0x182, 900), opts)[0]) == 900.0
    assert power_of(decode(status_frame(0x1A2, 900), opts)[0]) == -900.0  # bit 0x20: export
    # without the option the meter's number is passed on unchanged
    assert power_of(decode(status_frame(0x1A2, 900))[0]) == 900.0


def test_absolute_power_becomes_signed_power_with_status() -> None:
    frame = decode(status_frame(0x1A2, 420, "01000f0700ff"), SmlOptions(sign_from_status=True))[0]
    assert [(v.obis, v.quantity, v.value) for v in frame.values if v.unit == "W"] == [
        ("1-0:16.7.0", "power", -420.0)
    ]
    plain = decode(status_frame(0x1A2, 420, "01000f0700ff"))[0]
    assert [(v.quantity, v.value) for v in plain.values if v.unit == "W"] == [("power_abs", 420.0)]


def test_wrong_unit_value_dropped_with_note() -> None:
    entries = [Entry("0100010800ff", 5, W, 0), Entry("0100020800ff", 7, WH, 0)]
    frame = decode(sml_file(server_id(), entries, 1))[0]
    assert frame.ok and [v.obis for v in frame.values] == ["1-0:2.8.0"]
    assert [k for k, _ in frame.notes] == ["unit"]


def test_absurd_scaler_is_dropped_not_infinite() -> None:
    entries = [Entry("0100010800ff", 2**900, WH, 127), Entry("0100020800ff", 1, WH, 0)]  # 113-byte int
    frame = decode(sml_file(server_id(), entries, 1))[0]
    assert [v.obis for v in frame.values] == ["1-0:2.8.0"]
    assert [k for k, _ in frame.notes] == ["range"]


# ---------------------------------------------------------------- the emulator's encoder


def meter_states() -> st.SearchStrategy[MeterState]:
    phase = st.builds(
        PhaseState,
        voltage_v=st.floats(180, 260).map(lambda x: round(x, 1)),
        current_a=st.floats(0, 63).map(lambda x: round(x, 2)),
        power_w=st.floats(-15000, 15000).map(lambda x: round(x, 2)),
    )
    return st.builds(
        MeterState,
        ts=st.just(T0),
        power_w=st.floats(-40000, 40000).map(lambda x: round(x, 2)),
        energy_import_wh=st.floats(0, 1e9).map(lambda x: round(x, 1)),
        energy_export_wh=st.floats(0, 1e9).map(lambda x: round(x, 1)),
        phases=st.lists(phase, min_size=0, max_size=3).map(tuple),
    )


@settings(max_examples=60, deadline=None)
@given(state=meter_states(), serial=st.integers(0, 2**32 - 1), crc=st.sampled_from(["x25", "kermit"]))
def test_encoder_round_trip_through_smllib(state: MeterState, serial: int, crc: str) -> None:
    data = sml_file(server_id("EMH", serial), entries_for(state), serial, crc=crc)
    reader = SmlStreamReader(crc=crc)
    reader.add(data)
    frame = reader.get_frame()
    assert frame is not None
    body = [m.message_body for m in frame.parse_frame() if isinstance(m.message_body, SmlGetListResponse)]
    values = {e.obis: e.get_value() for e in body[0].val_list}
    assert values["0100010800ff"] == state.energy_import_wh
    assert values["0100100700ff"] == state.power_w
    # and through our decoder, in our units
    ours = {v.quantity: v.value for v in decode(data)[0].values}
    assert ours["energy_export"] == state.energy_export_wh
    assert ours["power"] == state.power_w
    for i, ph in enumerate(state.phases, start=1):
        assert ours[f"voltage_l{i}"] == ph.voltage_v
        assert ours[f"current_l{i}"] == ph.current_a
        assert ours[f"power_l{i}"] == ph.power_w


def test_reduced_data_set_without_pin() -> None:
    state = MeterState(T0, 1234.0, 5_432_100.0, 99_600.0)
    frame = decode(sml_file(server_id("DZG", 70_000_000), entries_for(state, with_pin=False), 5))[0]
    assert {v.quantity: v.value for v in frame.values} == {
        "energy_import": 5_432_000.0,
        "energy_export": 100_000.0,
    }


def test_encoder_units_constants() -> None:
    # DLMS unit codes the emulator writes; the decoder maps them back
    assert (WH, W, V, A) == (30, 27, 35, 33)


# ---------------------------------------------------------------- fuzzing


def assert_sane(frames: list[Frame]) -> None:
    for f in frames:
        if not f.ok:
            assert f.values == [] and f.error_kind in {"crc", "truncated", "parse"}
        for v in f.values:
            assert math.isfinite(v.value)
            assert Channel.of(f"grid.{v.quantity}").unit == v.unit


GOOD = sml_file(
    server_id("EMH", 4242),
    entries_for(MeterState(T0, -812.5, 1_000_000.0, 2_000_000.0, (PhaseState(230.0, 3.5, -812.5),))),
    99,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(noise=st.binary(max_size=600))
def test_fuzz_random_bytes(noise: bytes) -> None:
    assert_sane(decode(noise))
    assert_sane(decode(noise + GOOD + noise))


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255), st.sampled_from(["set", "ins", "del"])),
        min_size=1,
        max_size=6,
    ),
    chunk=st.integers(1, 200),
)
def test_fuzz_mutated_frames(edits: list[tuple[int, int, str]], chunk: int) -> None:
    data = bytearray(GOOD)
    for pos, byte, op in edits:
        pos = min(pos, len(data) - 1)
        if op == "set":
            data[pos] = byte
        elif op == "ins":
            data.insert(pos, byte)
        elif len(data) > 1:
            del data[pos]
    dec = SmlDecoder()
    frames: list[Frame] = []
    for i in range(0, len(data), chunk):
        frames += dec.feed(bytes(data[i : i + chunk]))
    frames += dec.flush()
    assert_sane(frames)
    if bytes(data) != GOOD:
        # a changed frame never yields values unless the change left the CRC-checked bytes intact
        good_values = {v.obis: v.value for v in decode(GOOD)[0].values}
        for f in frames:
            if f.ok and f.values:
                assert {v.obis: v.value for v in f.values} == good_values


@settings(max_examples=100, deadline=None)
@given(state=meter_states(), garbage=st.binary(max_size=50), chunk=st.integers(1, 97))
def test_fuzz_stream_of_good_frames_with_garbage(state: MeterState, garbage: bytes, chunk: int) -> None:
    one = sml_file(server_id("EMH", 1), entries_for(state), 3)
    data = (garbage + one) * 3
    dec = SmlDecoder()
    frames: list[Frame] = []
    for i in range(0, len(data), chunk):
        frames += dec.feed(data[i : i + chunk])
    frames += dec.flush()
    good = [f for f in frames if f.ok]
    assert len(good) == 3
    assert_sane(frames)


# ---------------------------------------------------------------- totals the meter implies


def test_tariff_registers_and_import_power_give_totals_and_net_power() -> None:
    # EMH eHZ style (vzlogger's MeterSML test frame): 1.8.1, 1.8.2 and 1.7.0, no 1.8.0 or 16.7.0;
    # like DSMR and DLMS the frame yields energy_import = sum of tariffs and power = 1.7.0 - 2.7.0
    entries = [
        Entry("0100010801ff", 147_967_771, WH, -1, status=0x180),
        Entry("0100010802ff", 20_124, WH, -1, status=0x180),
        Entry("0100010700ff", 112, W, -1),
    ]
    [frame] = decode(sml_file(server_id("EMH", 2280816), entries, 9))
    v = {x.quantity: x.value for x in frame.values}
    assert v["energy_import_t1"] == 14_796_777.1 and v["energy_import_t2"] == 2012.4
    assert v["energy_import"] == pytest.approx(14_798_789.5)
    assert v["power_import"] == 11.2 and v["power"] == 11.2
