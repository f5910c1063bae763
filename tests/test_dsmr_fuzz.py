"""Property-based fuzzing of the DSMR decoder: random and mutated input never raises, and
nothing invalid comes out (a CRC-protected telegram is either exactly right or rejected)."""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattwerk.model import Channel
from wattwerk.protocols.dsmr import DsmrDecoder

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dsmr"
CRC_SAMPLES = ["v4_2", "v5", "v5_two_mbus", "fluvius_v171", "sagemcom_t210_d_r"]
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(data: bytes, cuts: list[int], key: bytes | None = None):
    dec = DsmrDecoder(key)
    frames, pos = [], 0
    for cut in sorted(set(cuts)):
        frames += dec.feed(data[pos:cut])
        pos = cut
    return frames + dec.feed(data[pos:]) + dec.flush()


def assert_sane(frame) -> None:
    if not frame.ok:
        assert frame.error_kind and not frame.values
        return
    assert frame.values
    for value in frame.values:
        assert math.isfinite(value.value)
        channel = Channel.of(f"grid.{value.quantity}")
        assert channel.unit == value.unit or value.unit == ""


def original(name: str):
    dec = DsmrDecoder()
    return [f.to_json() for f in dec.feed((DATA / f"{name}.txt").read_bytes()) if f.ok]


@FUZZ
@given(data=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_random_bytes(data, cuts):
    for frame in run(data, cuts):
        assert_sane(frame)


@FUZZ
@given(
    data=st.lists(
        st.sampled_from([b"/", b"!", b"\r\n", b"1-0:1.8.1(", b"*kWh)", b"0", b"\xdb\x08", b"(", b")"])
    ).map(b"".join),
    key=st.none() | st.just(bytes(16)),
)
def test_telegram_shaped_noise(data, key):
    for frame in run(data, [], key):
        assert_sane(frame)


@FUZZ
@given(
    name=st.sampled_from(CRC_SAMPLES),
    edits=st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.sampled_from("sid")), max_size=4
    ),
    cuts=st.lists(st.integers(0, 2000), max_size=6),
)
def test_mutated_telegrams_are_exact_or_rejected(name, edits, cuts):
    data = bytearray((DATA / f"{name}.txt").read_bytes() * 2)
    for pos, byte, op in edits:
        pos %= len(data)
        if op == "s":
            data[pos] = byte
        elif op == "i":
            data.insert(pos, byte)
        else:
            del data[pos : pos + 1 + byte % 40]
    want = original(name)
    for frame in run(bytes(data), cuts):
        assert_sane(frame)
        if frame.ok:
            assert frame.to_json() in want
