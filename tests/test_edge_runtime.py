"""The edge runtime: concurrent polling with timeouts and backoff, control writes, recording."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from wattwerk.edge.recorder import Recorder
from wattwerk.edge.runtime import EdgeRuntime, Polled, run_for
from wattwerk.errors import PermanentError
from wattwerk.model import Reading, Setpoint, utcnow
from wattwerk.protocols.dsmr import decoder as dsmr_decoder
from wattwerk.protocols.meter import MeterReader
from wattwerk.protocols.transport import TcpSource
from wattwerk.sim.emulators import MeterState
from wattwerk.sim.emulators.p1 import P1Emulator
from wattwerk.store.buffer import BufferedWriter
from wattwerk.store.sqlite import SqliteStore


class Device:
    """A test device with a behaviour: answers, hangs, fails, or refuses for good."""

    def __init__(self, name: str, behaviour: str = "ok") -> None:
        self.name = name
        self.behaviour = behaviour
        self.reads = 0
        self.commands: list[tuple[str, float]] = []

    async def read(self, ts: datetime | None = None) -> list[Reading]:
        self.reads += 1
        if self.behaviour == "hang":
            await asyncio.sleep(3600)
        if self.behaviour == "fail":
            raise ConnectionError("connection refused")
        if self.behaviour == "permanent":
            raise PermanentError("bad credentials")
        return [Reading(f"{self.name}.power", ts or utcnow(), 100.0)]

    async def command(self, command: str, value: float) -> None:
        if self.behaviour == "readonly":
            raise PermanentError("read-only device")
        self.commands.append((command, value))


async def test_a_hanging_device_does_not_stall_the_others():
    good, hung, broken = Device("good"), Device("hung", "hang"), Device("broken", "fail")
    runtime = EdgeRuntime(
        [
            Polled("good", good, 0.01),
            Polled("hung", hung, 0.01, timeout_s=0.05),
            Polled("broken", broken, 0.01),
        ],
        max_backoff_s=10.0,
    )
    await run_for(runtime, 0.6)
    assert good.reads >= 10  # would be 1 or 2 if the hanging device blocked the loop
    # every finished read of the hung device timed out; the one in flight at the stop is cancelled
    assert runtime.ledger.by_kind("hung")["timeout"] in (hung.reads, hung.reads - 1)
    assert runtime.ledger.by_kind("broken")["ConnectionError"] == broken.reads
    # backed off: doubling from 10 ms, far fewer attempts than the healthy device's reads
    assert broken.reads < good.reads / 2
    snap = runtime.state.snapshot(utcnow())
    assert snap.get("good.power") == 100.0
    assert snap.get("hung.power") is None


async def test_a_permanent_error_stops_only_that_device():
    good, refused = Device("good"), Device("refused", "permanent")
    runtime = EdgeRuntime([Polled("good", good, 0.01), Polled("refused", refused, 0.01)])
    await run_for(runtime, 0.3)
    assert refused.reads == 1
    assert runtime.ledger.by_kind("refused") == {"permanent": 1}
    assert good.reads > 3


async def test_control_step_setpoints_are_written_and_failures_counted():
    ev, ro = Device("ev1"), Device("meter", "readonly")

    def control(snapshot):
        return [
            Setpoint("ev1.current_limit", 10.0, snapshot.now, "test"),
            Setpoint("meter.power_limit", 0.0, snapshot.now, "test"),
            Setpoint("ghost.enable", 1.0, snapshot.now, "test"),
        ]

    runtime = EdgeRuntime([Polled("ev1", ev, 1.0), Polled("meter", ro, 1.0)], control=control, cycle_s=0.05)
    written = await runtime.control_cycle()
    assert [sp.channel for sp in written] == ["ev1.current_limit", "meter.power_limit", "ghost.enable"]
    assert ev.commands == [("current_limit", 10.0)]
    assert runtime.stats.setpoints_written == 1 and runtime.stats.write_errors == 1
    assert runtime.ledger.by_kind("ghost") == {"no_driver": 1}
    assert runtime.ledger.by_kind("meter") == {"write": 1}
    assert runtime.state.snapshot(utcnow()).get("edge.cycle_time") is not None


async def test_resend_s_writes_changes_at_once_and_unchanged_setpoints_only_every_resend_s():
    ev = Device("ev1")
    clock = {"t": datetime(2025, 6, 21, 12, tzinfo=UTC)}
    amps = {"a": 10.0}

    def control(snapshot):
        return [Setpoint("ev1.current_limit", amps["a"], snapshot.now, "test")]

    runtime = EdgeRuntime([Polled("ev1", ev, 1.0)], control=control, clock=lambda: clock["t"], resend_s=30.0)
    for _ in range(3):  # the same value on three cycles 1 s apart: written once
        await runtime.control_cycle()
        clock["t"] += timedelta(seconds=1)
    assert ev.commands == [("current_limit", 10.0)]
    amps["a"] = 12.0  # a change goes out in the very next cycle
    await runtime.control_cycle()
    assert ev.commands[-1] == ("current_limit", 12.0)
    clock["t"] += timedelta(seconds=31)  # unchanged, but resend_s has passed: written again
    await runtime.control_cycle()
    assert ev.commands == [("current_limit", 10.0), ("current_limit", 12.0), ("current_limit", 12.0)]


async def test_a_failed_write_is_tried_again_in_the_next_cycle_with_resend_s():
    ro = Device("meter", "readonly")
    clock = {"t": datetime(2025, 6, 21, 12, tzinfo=UTC)}
    runtime = EdgeRuntime(
        [Polled("meter", ro, 1.0)],
        clock=lambda: clock["t"],
        resend_s=30.0,
        control=lambda snap: [Setpoint("meter.power_limit", 0.0, snap.now, "test")],
    )
    for _ in range(2):
        await runtime.control_cycle()
        clock["t"] += timedelta(seconds=1)
    assert runtime.stats.write_errors == 2  # not suppressed as "already sent"


def test_recorder_keeps_one_reading_per_channel_per_interval(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite")
    writer = BufferedWriter(store, max_readings=10_000, max_age_s=3600)
    rec = Recorder(10.0, store=writer)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    for s in range(60):  # one minute of 1-s telegrams
        rec.record(
            [
                Reading("grid.power", t0 + timedelta(seconds=s), float(s)),
                Reading("grid.energy_import", t0 + timedelta(seconds=s), 1000.0 + s),
            ]
        )
    writer.flush()
    rows = store.query(["grid.power"], t0, t0 + timedelta(minutes=1), "raw")["grid.power"]
    assert [r.mean for r in rows] == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    # the counter is decimated too, and still exact
    assert store.energy("grid.energy_import", t0, t0 + timedelta(minutes=1)) == pytest.approx(50.0)
    store.close()


async def test_p1_stream_end_to_end_into_the_store(tmp_path):
    """P1 emulator -> TCP -> DSMR decoder -> MeterReader -> runtime -> recorder -> store."""
    energy = {"import": 1_000_000.0}

    def meter() -> MeterState:
        energy["import"] += 1.0
        return MeterState(utcnow().replace(microsecond=0), 1234.0, energy["import"], 500_000.0)

    store = SqliteStore(tmp_path / "s.sqlite")
    writer = BufferedWriter(store, max_readings=10_000, max_age_s=3600)
    async with P1Emulator(meter, interval=0.05) as emu:
        emu.inject_bad_crc(1)
        source = TcpSource("127.0.0.1", emu.port)
        reader = MeterReader("grid", dsmr_decoder(), source, use_receive_time=True)
        runtime = EdgeRuntime([], push=[reader], recorder=Recorder(0.0, store=writer))
        await run_for(runtime, 0.8)
        source.close()
    writer.flush()
    latest = store.latest(["grid.power", "grid.energy_import", "grid.energy_export"])
    assert latest["grid.power"].value == pytest.approx(1234.0)
    assert latest["grid.energy_export"].value == pytest.approx(500_000.0)
    assert latest["grid.energy_import"].value > 1_000_000.0
    assert runtime.ledger.total() == 0  # the runtime itself saw nothing bad
    assert reader.ledger.by_kind("grid").get("crc") == 1  # the corrupted telegram was dropped
    store.close()
