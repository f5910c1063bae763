"""SMA Energy Meter Speedwire: datagram layout, round trip, stream framing, fuzzing, UDP end to end."""

from __future__ import annotations

import asyncio
import json
import math
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattwerk.cli import main as cli_main
from wattwerk.model import OBIS, Channel
from wattwerk.protocols.base import Frame
from wattwerk.protocols.meter import MeterReader
from wattwerk.protocols.speedwire import (
    CHANNELS,
    PROTOCOL_EMETER,
    VERSION_CHANNEL,
    EmeterDatagram,
    SpeedwireDecoder,
    SpeedwireReceiver,
    build_datagram,
    obis_code,
    parse_datagram,
)
from wattwerk.sim.emulators import MeterState, PhaseState
from wattwerk.sim.emulators.speedwire import SpeedwireSender, datagram_values

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

# The first 196 bytes of a real SMA Energy Meter (SUSy 270) datagram as posted in a forum
# thread on decoding it (knx-user-forum.de, "Empfangenes IP-Telegramm auswerten", 2018),
# cut after the last complete channel (L1 export energy).
FORUM_PREFIX = bytes.fromhex(
    "534d4100000402a000000001024400106069010e7142cf5ff5645ace"
    "00010400000054e0"
    "000108000000000d20d52370"
    "0002040000000000"
    "00020800"
    "00000013658d6c60"
    "0003040000000757"
    "000308000000000421e82ab8"
    "0004040000000000"
    "00040800000000040c47bbb0"
    "0009040000005531"
    "000908000000000e37cac110"
    "000a040000000000"
    "000a080000000014606897b8"
    "000d0400000003e4"
    "0015040000000605"
    "001508000000000588b0a648"
    "0016040000000000"
    "0016080000000004abfb4578"
)


def forum_datagram() -> bytes:
    body_len = len(FORUM_PREFIX) - 16  # protocol id onwards
    return FORUM_PREFIX[:12] + struct.pack(">H", body_len) + FORUM_PREFIX[14:] + b"\x00\x00\x00\x00"


def values_of(frame: Frame) -> dict[str, float]:
    return {v.quantity: v.value for v in frame.values}


def test_forum_datagram_hand_checked() -> None:
    d = parse_datagram(forum_datagram())
    assert (d.susy_id, d.serial, d.ticker, d.group) == (270, 0x7142CF5F, 0xF5645ACE, 1)
    frame = SpeedwireDecoder().feed(forum_datagram())[0]
    assert frame.ok and frame.meter_id == "1900203871"
    v = values_of(frame)
    assert v["power_import"] == 2172.8  # 0x54e0 = 21728 x 0.1 W, as the forum post reads it
    assert v["power_export"] == 0.0
    assert v["power"] == 2172.8  # our sign: import positive
    assert v["energy_import"] == 15_662_615.0  # 0x0d20d52370 Ws / 3600
    assert v["energy_export"] == 23_141_151.6
    assert v["reactive_power_import"] == 187.9
    assert v["apparent_power_import"] == 2180.9
    assert v["power_factor"] == 0.996
    assert v["power_import_l1"] == 154.1
    assert v["power_l1"] == 154.1
    assert v["energy_export_l1"] == 5_573_677.9
    obis = {x.quantity: x.obis for x in frame.values}
    assert obis["energy_import"] == "1-0:1.8.0" and obis["power_import"] == "1-0:1.7.0"


def test_channel_table_agrees_with_shared_obis_names() -> None:
    for (index, kind), ch in CHANNELS.items():
        Channel.of(f"grid.{ch.quantity}")  # a valid quantity with a unit
        assert Channel.of(f"grid.{ch.quantity}").unit == ch.unit
        shared = OBIS.get(obis_code(index, kind))
        if shared is not None:
            assert (shared.quantity, shared.unit) == (ch.quantity, ch.unit)


keys = st.sampled_from(sorted(CHANNELS))


@st.composite
def datagrams(draw: st.DrawFn) -> EmeterDatagram:
    values: dict[tuple[int, int, int, int], int] = {}
    for index, kind in draw(st.lists(keys, unique=True, max_size=40)):
        values[(0, index, kind, 0)] = draw(st.integers(0, 2**64 - 1 if kind == 8 else 2**32 - 1))
    if draw(st.booleans()):
        values[(VERSION_CHANNEL, 0, 0, 0)] = draw(st.integers(0, 2**32 - 1))
    return EmeterDatagram(
        draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1)), values
    )


@settings(max_examples=150, deadline=None)
@given(d=datagrams())
def test_decode_encode_round_trip(d: EmeterDatagram) -> None:
    assert parse_datagram(build_datagram(d)) == d


def test_emulator_state_to_values() -> None:
    phases = (PhaseState(231.2, 4.0, -900.0), PhaseState(229.9, 3.1, -700.0), PhaseState(230.0, 3.9, -900.0))
    state = MeterState(T0, -2500.0, 1_234_567.8, 765_432.1, phases)
    d = EmeterDatagram(349, 3_000_000_001, 5, datagram_values(state))
    frame = SpeedwireDecoder().feed(build_datagram(d))[0]
    v = values_of(frame)
    assert v["power"] == -2500.0 and v["power_import"] == 0.0 and v["power_export"] == 2500.0
    assert v["energy_import"] == pytest.approx(1_234_567.8, abs=1e-6)
    assert v["energy_export"] == pytest.approx(765_432.1, abs=1e-6)
    assert (v["voltage_l1"], v["current_l2"], v["power_l3"]) == (231.2, 3.1, -900.0)
    assert v["frequency"] == 50.0
    assert d.firmware == "2.0.18.R"


def test_stream_of_datagrams_any_chunking() -> None:
    one = forum_datagram()
    other = build_datagram(EmeterDatagram(349, 42, 7, {(0, 1, 4, 0): 5, (0, 2, 4, 0): 0}))
    stream = b"\x00junk" + one + other + b"SM" + one
    ref = [json.dumps(f.to_json()) for f in SpeedwireDecoder().feed(stream)]
    assert len(ref) == 3
    for size in (1, 3, 50, 999):
        dec = SpeedwireDecoder()
        got: list[Frame] = []
        for i in range(0, len(stream), size):
            got += dec.feed(stream[i : i + size])
        assert [json.dumps(f.to_json()) for f in got + dec.flush()] == ref
        # one note per run of skipped bytes (b"\x00junk", b"SM"), however the bytes were chunked
        note = "{} bytes outside Speedwire datagrams skipped"
        assert [f.notes for f in got] == [[("garbage", note.format(5))], [], [("garbage", note.format(2))]]


def test_truncated_datagram_then_good() -> None:
    one = forum_datagram()
    frames = SpeedwireDecoder().feed(one[:100] + one)
    assert [f.error_kind for f in frames] == ["truncated", None]
    dec = SpeedwireDecoder(datagrams=True)
    assert [f.error_kind for f in dec.feed(one[:100])] == ["truncated"]
    assert [f.error_kind for f in dec.feed(one[:-4])] == ["truncated"]  # no end tag


def test_other_protocols_and_other_meters_are_skipped() -> None:
    inverter = bytearray(forum_datagram())
    inverter[16:18] = struct.pack(">H", 0x6065)
    dec = SpeedwireDecoder(serial=0x7142CF5F, datagrams=True)
    assert dec.feed(bytes(inverter)) == []
    other = build_datagram(EmeterDatagram(349, 1, 0, {(0, 1, 4, 0): 1}))
    assert dec.feed(other) == []
    assert dec.ignored == 2
    assert len(dec.feed(forum_datagram())) == 1
    assert PROTOCOL_EMETER == 0x6069


def test_cli_decode_speedwire_hex(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "em.hex"
    path.write_text(forum_datagram().hex() + "\n" + forum_datagram()[:50].hex() + "\n")
    assert cli_main(["decode", "speedwire", "--hex", str(path)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2
    assert lines[0]["meter_id"] == "1900203871"
    expected = {"obis": "1-0:1.7.0", "channel": "grid.power_import", "value": 2172.8, "unit": "W"}
    assert expected in lines[0]["readings"]
    assert lines[1]["readings"] == [] and "cut short" in lines[1]["errors"][0]


# ---------------------------------------------------------------- fuzzing


def assert_sane(frames: list[Frame]) -> None:
    for f in frames:
        if not f.ok:
            assert f.values == []
        for v in f.values:
            assert math.isfinite(v.value)
            assert Channel.of(f"grid.{v.quantity}").unit == v.unit


@settings(max_examples=300, deadline=None)
@given(noise=st.binary(max_size=700))
def test_fuzz_random(noise: bytes) -> None:
    assert_sane(SpeedwireDecoder().feed(noise))
    assert_sane(SpeedwireDecoder(datagrams=True).feed(noise))
    assert_sane(SpeedwireDecoder().feed(b"SMA\x00" + noise))


@settings(max_examples=300, deadline=None)
@given(pos=st.integers(0, 199), byte=st.integers(0, 255), cut=st.integers(0, 200))
def test_fuzz_mutated(pos: int, byte: int, cut: int) -> None:
    data = bytearray(forum_datagram())
    data[pos] = byte
    data = data[: len(data) - cut] if cut else data
    dec = SpeedwireDecoder()
    assert_sane(dec.feed(bytes(data)) + dec.flush())
    assert_sane(SpeedwireDecoder(datagrams=True).feed(bytes(data)))


# ---------------------------------------------------------------- UDP end to end


def source() -> MeterState:
    return MeterState(datetime.now(UTC), 1500.0, 10_000.0, 20_000.0, (PhaseState(230.0, 6.5, 1500.0),))


async def _read_two(receiver: SpeedwireReceiver) -> tuple[list[list], MeterReader]:
    reader = MeterReader("grid", SpeedwireDecoder(serial=3_001_234_567, datagrams=True), receiver)
    got = []
    async for readings in reader:
        got.append(readings)
        if len(got) == 2:
            break
    return got, reader


async def test_multicast_sender_to_receiver_to_reader() -> None:
    async with SpeedwireReceiver(port=0, interface="127.0.0.1") as receiver:
        assert receiver.multicast  # joined 239.12.255.254 on loopback
        async with SpeedwireSender(source, port=receiver.port, interval=0.05):
            got, reader = await asyncio.wait_for(_read_two(receiver), 10)
    values = {r.channel: r.value for r in got[0]}
    assert values["grid.power"] == 1500.0
    assert values["grid.energy_export"] == pytest.approx(20_000.0)
    assert values["grid.voltage_l1"] == 230.0
    assert reader.meter_id == "3001234567" and reader.ledger.total() == 0


async def test_unicast_datagrams_are_read() -> None:
    receiver = await SpeedwireReceiver(port=0, interface="127.0.0.1").start()
    try:
        async with SpeedwireSender(source, port=receiver.port, host="127.0.0.1", interval=0.05):
            got, _ = await asyncio.wait_for(_read_two(receiver), 10)
    finally:
        receiver.close()
    assert {r.channel: r.value for r in got[1]}["grid.power_import"] == 1500.0


async def test_receiver_falls_back_to_unicast_when_the_group_cannot_be_joined() -> None:
    # 192.0.2.1 (TEST-NET-1) is no local interface: joining the group there fails
    receiver = await SpeedwireReceiver(port=0, interface="192.0.2.1").start()
    try:
        assert receiver.multicast is False
        async with SpeedwireSender(source, port=receiver.port, host="127.0.0.1", interval=0.05):
            got, _ = await asyncio.wait_for(_read_two(receiver), 10)
    finally:
        receiver.close()
    assert {r.channel: r.value for r in got[0]}["grid.power"] == 1500.0
