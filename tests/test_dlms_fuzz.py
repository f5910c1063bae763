"""Property-based fuzzing of the DLMS push decoder: random and mutated input never raises,
and a push is either exactly what the meter sent or rejected."""

from __future__ import annotations

import math
from pathlib import Path

from dlms_cosem.hdlc.address import HdlcAddress
from dlms_cosem.hdlc.frames import UnnumberedInformationFrame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattwerk.model import Channel
from wattwerk.protocols.dlms import DlmsDecoder
from wattwerk.protocols.transport import FileSource

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dlms"
SAMPLES = [
    "iskra_am550_unencrypted_valid_data",
    "lg_e360_unencrypted_valid_data_cfg2026",
    "lg_e450_unencrypted_valid_data",
    "lg_e570_unencrypted_valid_data_load_cfg2026",
    "lg_e450_encrypted_data_no_pushlist",
]
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load(name: str) -> bytes:
    return FileSource(DATA / f"{name}.hex", hex=True).data()


def run(data: bytes, cuts: list[int], key: bytes | None = None):
    dec = DlmsDecoder(key)
    frames, pos = [], 0
    for cut in sorted(set(cuts)):
        frames += dec.feed(data[pos:cut])
        pos = cut
    return frames + dec.feed(data[pos:]) + dec.flush()


def assert_sane(frame) -> None:
    if not frame.ok:
        assert frame.error_kind and not frame.values
        return
    for value in frame.values:
        assert math.isfinite(value.value)
        assert Channel.of(f"grid.{value.quantity}").unit == value.unit or value.unit == ""


@FUZZ
@given(data=st.binary(max_size=1500), cuts=st.lists(st.integers(0, 1500), max_size=8))
def test_random_bytes(data, cuts):
    for frame in run(data, cuts):
        assert_sane(frame)


PIECES = [b"\x7e", b"\xa0\x20", b"\xa8\x84", b"\xe6\xe7\x00", b"\xe0\x40\x00\x01\x00\x00", b"\x68",
          b"\x0f\x00\x00\x00\x01\x00", b"\x02\x02", b"\x01\x81\xff", b"\x09\x06", b"\xdb\x08"]  # fmt: skip


@FUZZ
@given(data=st.lists(st.sampled_from(PIECES)).map(b"".join), key=st.none() | st.just(bytes(16)))
def test_frame_shaped_noise(data, key):
    for frame in run(data, [], key):
        assert_sane(frame)


@FUZZ
@given(
    name=st.sampled_from(SAMPLES),
    edits=st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.sampled_from("sid")), max_size=3
    ),
    cuts=st.lists(st.integers(0, 1500), max_size=6),
    key=st.none() | st.just(bytes(16)),
)
def test_mutated_pushes_are_exact_or_rejected(name, edits, cuts, key):
    data = bytearray(load(name))
    for pos, byte, op in edits:
        pos %= len(data)
        if op == "s":
            data[pos] = byte
        elif op == "i":
            data.insert(pos, byte)
        else:
            del data[pos]
    want = [f.to_json() for f in run(load(name), [], key) if f.ok]
    for frame in run(bytes(data), cuts, key):
        assert_sane(frame)
        if frame.ok:
            assert frame.to_json() in want


def framed(apdu: bytes, size: int) -> bytes:
    """``apdu`` in valid HDLC frames (correct HCS/FCS), so the layers above framing get the bytes."""
    payload = b"\xe6\xe7\x00" + apdu
    parts = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
    client, server = HdlcAddress(0x67, None, "client"), HdlcAddress(1, 17, "server")
    out = b""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        out += UnnumberedInformationFrame(client, server, part, segmented=not last, final=last).to_bytes()
    return out


# structure of 4: 1-0:1.8.0 = 10000 Wh, 1-0:32.7.0 = 2500 (a valid push in inline-OBIS layout)
NOTIFICATION = bytes.fromhex("0f0000000100 0204 0906 0100010800ff 0600002710 0906 0100200700ff 1209c4")


def test_the_fuzzed_notification_is_valid():
    (frame,) = run(framed(NOTIFICATION, 20), [])
    assert frame.ok and {v.quantity: v.value for v in frame.values}["energy_import"] == 10000.0


@FUZZ
@given(
    apdu=st.one_of(
        st.binary(max_size=400),
        st.binary(max_size=300).map(lambda b: b"\x0f\x00\x00\x00\x01\x00" + b),
        st.binary(max_size=300).map(lambda b: b"\xe0\xc0\x00\x01\x00\x00" + bytes([len(b) % 128]) + b),
        st.binary(max_size=300).map(lambda b: b"\xdb\x08" + bytes(8) + bytes([len(b) % 128]) + b),
        st.tuples(st.integers(0, len(NOTIFICATION) - 1), st.integers(0, 255)).map(
            lambda e: NOTIFICATION[: e[0]] + bytes([e[1]]) + NOTIFICATION[e[0] + 1 :]
        ),
    ),
    size=st.integers(5, 200),
    key=st.none() | st.just(bytes(16)),
)
def test_random_apdus_in_valid_frames(apdu, size, key):
    for frame in run(framed(apdu, size), [], key):
        assert_sane(frame)
