"""MeterReader: range check, ledger, staleness, receive time; end to end from the P1 emulator
over TCP, and from a DLMS capture file."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import pytest

from wattwerk.model import Channel
from wattwerk.protocols.base import Frame, Value
from wattwerk.protocols.dlms import DlmsDecoder
from wattwerk.protocols.dsmr import DsmrDecoder
from wattwerk.protocols.meter import MeterReader, derive_totals, obis_value
from wattwerk.protocols.transport import P1_DSMR4, FileSource, SerialSource, TcpSource
from wattwerk.sim.emulators import MeterState, PhaseState
from wattwerk.sim.emulators.p1 import P1Emulator, telegram

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


class FrameDecoder:
    """A decoder that hands out prepared frames, one per feed."""

    def __init__(self, frames: list[Frame]) -> None:
        self.frames = list(frames)

    def feed(self, data: bytes) -> list[Frame]:
        return [self.frames.pop(0)] if self.frames else []


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def frame(*values: Value, ts: datetime | None = T0) -> Frame:
    return Frame(ts=ts, meter_id="M1", values=list(values))


def test_values_out_of_physical_range_are_dropped_and_counted():
    good = Value("1-0:32.7.0", "voltage_l1", 230.0, "V")
    bad_v = Value("1-0:52.7.0", "voltage_l2", 650.0, "V")
    bad_p = Value("1-0:1.7.0", "power_import", 2.5e6, "W")
    reader = MeterReader("grid", FrameDecoder([frame(good, bad_v, bad_p)]))
    (readings,) = reader.process(b"x")
    assert [(r.channel, r.value) for r in readings] == [("grid.voltage_l1", 230.0)]
    assert reader.ledger.by_kind("grid") == {"range": 2}
    assert reader.stats.dropped_values == 2


def test_rejected_frames_are_counted_per_kind_and_give_nothing():
    frames = [
        Frame(ts=None, errors=["CRC mismatch"], error_kind="crc"),
        Frame(ts=None, errors=["CRC mismatch"], error_kind="crc"),
        Frame(ts=None, errors=["no key"], error_kind="key"),
    ]
    reader = MeterReader("grid", FrameDecoder(frames))
    assert [reader.process(b"x") for _ in range(3)] == [[], [], []]
    assert reader.ledger.by_kind("grid") == {"crc": 2, "key": 1}
    assert reader.stats.rejected == 3


def test_notes_are_counted_but_the_frame_is_kept():
    f = frame(Value("1-0:1.8.0", "energy_import", 5.0, "Wh"))
    f.notes.append(("unknown_obis", "1-0:99.1.0 unknown"))
    reader = MeterReader("grid", FrameDecoder([f]))
    assert len(reader.process(b"x")) == 1
    assert reader.ledger.by_kind("grid") == {"unknown_obis": 1}


def test_meter_time_or_receive_time():
    received = T0 + timedelta(seconds=3)
    v = Value("1-0:1.7.0", "power_import", 100.0, "W")
    meter = MeterReader("grid", FrameDecoder([frame(v)]))
    assert meter.process(b"x", received)[0][0].ts == T0
    receive = MeterReader("grid", FrameDecoder([frame(v)]), use_receive_time=True)
    assert receive.process(b"x", received)[0][0].ts == received
    no_clock = MeterReader("grid", FrameDecoder([frame(v, ts=None)]))
    assert no_clock.process(b"x", received)[0][0].ts == received


async def test_staleness_is_reported_once_and_cleared_by_a_good_frame():
    clock = Clock()
    stale_calls: list[list[str]] = []
    v = Value("1-0:1.7.0", "power_import", 100.0, "W")
    reader = MeterReader(
        "grid",
        FrameDecoder([frame(v), frame(v)]),
        stale_after=10.0,
        monotonic=clock,
        on_stale=stale_calls.append,
    )
    reader.process(b"x")
    clock.now += 9.0
    assert not await reader.check_stale()
    clock.now += 2.0
    assert await reader.check_stale()
    assert await reader.check_stale()
    assert stale_calls == [["grid.power_import"]]
    reader.process(b"x")
    assert not reader.stale
    clock.now += 11.0
    await reader.check_stale()
    assert len(stale_calls) == 2
    assert reader.ledger.by_kind("grid")["stale"] == 2


async def test_silent_source_marks_channels_stale_while_running(shared_data):
    went_stale = asyncio.Event()
    seen: list[list[str]] = []

    async def one_telegram_then_silence():
        yield (shared_data / "dsmr" / "v5.txt").read_bytes()
        await asyncio.sleep(3600)

    def on_stale(channels: list[str]) -> None:
        seen.append(channels)
        went_stale.set()

    reader = MeterReader(
        "grid", DsmrDecoder(), one_telegram_then_silence(), stale_after=0.2, on_stale=on_stale
    )
    task = asyncio.create_task(reader.run())
    await asyncio.wait_for(went_stale.wait(), 10)
    task.cancel()
    assert "grid.power" in seen[0] and "grid.gas_volume" in seen[0]
    assert reader.stale


def test_unit_mapping_and_derived_totals():
    assert obis_value("1-0:1.8.1", 1.001, "kWh") == Value("1-0:1.8.1", "energy_import_t1", 1001.0, "Wh")
    assert obis_value("1-0:1.7.0", 0.244, "kW").value == 244.0
    assert obis_value("1-0:1.7.0", 5.0, "A") is None  # unit disagrees with the code
    assert obis_value("1-0:99.99.0", 1.0, "W") is None  # a code we do not map
    derived = {v.quantity: v.value for v in derive_totals([
        Value("a", "energy_import_t1", 10.0, "Wh"), Value("b", "energy_import_t2", 5.0, "Wh"),
        Value("c", "power_import", 100.0, "W"), Value("d", "power_export", 300.0, "W"),
    ])}  # fmt: skip
    assert derived["energy_import"] == 15.0 and derived["power"] == -200.0


STATE = MeterState(
    T0,
    -1234.0,
    5_000_123.0,
    2_000_456.0,
    (PhaseState(231.2, 3.0, 500.0), PhaseState(229.9, 8.0, -1734.0), PhaseState(230.0, 0.0, 0.0)),
)


def test_emulator_telegram_is_valid_dsmr5():
    frames = DsmrDecoder().feed(telegram(STATE) + telegram(STATE, bad_crc=True))
    assert [f.error_kind for f in frames] == [None, "crc"]
    for v in frames[0].values:
        Channel.of(f"grid.{v.quantity}")


async def test_end_to_end_p1_emulator_tcp_reader():
    async with P1Emulator(lambda: STATE, interval=0.02) as emulator:
        emulator.inject_garbage(b"\x00\xffline noise\r\n")
        emulator.inject_bad_crc()
        source = TcpSource("127.0.0.1", emulator.port)
        reader = MeterReader("grid", DsmrDecoder(), source)
        got: list[dict[str, float]] = []
        async for readings in reader:
            got.append({r.channel: r.value for r in readings})
            assert all(r.ts == T0 for r in readings)
            if len(got) == 3:
                break
        source.close()
    for values in got:
        assert values["grid.power"] == -1234.0
        assert values["grid.energy_import"] == 5_000_123.0 and values["grid.energy_export"] == 2_000_456.0
        assert values["grid.power_l1"] == 500.0 and values["grid.power_l2"] == -1734.0
        assert values["grid.voltage_l2"] == 229.9 and values["grid.current_l2"] == 8.0
    # the first telegram had a wrong CRC, with garbage before it: both counted, neither stored
    assert reader.ledger.by_kind("grid") == {"garbage": 1, "crc": 1}
    assert reader.stats.rejected == 2 and reader.meter_id == "WWK0000000001"


async def test_end_to_end_dlms_capture_file(shared_data):
    got: list = []
    source = FileSource(shared_data / "dlms" / "lg_e450_unencrypted_valid_data.hex", hex=True, chunk_size=17)
    reader = MeterReader("grid", DlmsDecoder(), source, on_readings=got.append)
    await reader.run()
    (readings,) = got
    assert {r.channel: r.value for r in readings}["grid.power_import"] == 28.0
    assert reader.ledger.by_kind("grid") == {"sequence": 1}


@pytest.mark.parametrize("kind", ["crc", "garbage"])
async def test_bad_input_never_reaches_the_callback(kind):
    emulator = P1Emulator(lambda: STATE)
    data = b"".join(emulator.next_bytes() for _ in range(2))
    if kind == "crc":
        emulator.inject_bad_crc(3)
    else:
        emulator.inject_garbage(b"\xfe" * 50)
    data += b"".join(emulator.next_bytes() for _ in range(3 if kind == "crc" else 1))
    got: list = []

    async def chunks():
        for i in range(0, len(data), 33):
            yield data[i : i + 33]

    reader = MeterReader("grid", DsmrDecoder(), chunks(), on_readings=got.append)
    await reader.run()
    assert len(got) == (2 if kind == "crc" else 3)
    assert reader.ledger.by_kind("grid")[kind] == (3 if kind == "crc" else 1)


def test_meter_clock_jumping_back_or_far_off_uses_receive_time():
    v = Value("1-0:1.7.0", "power_import", 100.0, "W")
    frames = [frame(v, ts=T0), frame(v, ts=T0 - timedelta(minutes=5)), frame(v, ts=T0 + timedelta(hours=3))]
    reader = MeterReader("grid", FrameDecoder(frames), max_clock_skew=600)
    received = T0 + timedelta(seconds=1)
    stamps = [reader.process(b"x", received)[0][0].ts for _ in range(3)]
    assert stamps == [T0, received, received]
    assert reader.ledger.by_kind("grid") == {"clock": 2}


async def test_end_to_end_p1_over_a_serial_pty():
    master, slave = os.openpty()
    try:
        source = SerialSource(os.ttyname(slave), P1_DSMR4, reconnect=False)
        reader = MeterReader("grid", DsmrDecoder(), source)
        wire = telegram(STATE) + b"\x00garbage" + telegram(STATE, bad_crc=True) + telegram(STATE)

        async def write() -> None:
            while not source.connected:
                await asyncio.sleep(0.01)
            for i in range(0, len(wire), 64):
                os.write(master, wire[i : i + 64])
                await asyncio.sleep(0)

        async def read() -> list[list]:
            got = []
            async for readings in reader:
                got.append(readings)
                if len(got) == 2:
                    source.close()
                    break
            return got

        got, _ = await asyncio.wait_for(asyncio.gather(read(), write()), 10)
    finally:
        os.close(master)
        os.close(slave)
    assert [{r.channel: r.value for r in rs}["grid.power"] for rs in got] == [-1234.0, -1234.0]
    assert reader.ledger.by_kind("grid") == {"garbage": 1, "crc": 1}
