"""Issue 4's rule end to end: bad register values (out of range, NaN, exception codes 2, 4 and 6, a
timeout) from a catalogue device never reach the store, and the poll loop goes on reading the other
device on the same connection meanwhile.

Two catalogue entries share one Modbus TCP link (EMU Professional II, unit 1, which misbehaves phase by
phase; Eastron SDM630, unit 2, healthy), polled by the edge runtime into a SQLite store."""

from __future__ import annotations

import math
from datetime import timedelta

from wattwerk.devices.catalog import find
from wattwerk.devices.device import create
from wattwerk.edge.recorder import Recorder
from wattwerk.edge.runtime import EdgeRuntime, Polled, run_for
from wattwerk.errors import InputLedger
from wattwerk.model import utcnow
from wattwerk.protocols.modbus import LinkConfig, ModbusLink
from wattwerk.sim.emulators.modbus import CatalogEmulator, EmulatorServer
from wattwerk.store.buffer import BufferedWriter
from wattwerk.store.sqlite import SqliteStore

GOOD = {
    "power": 1834.0,
    "energy_import": 12_345_000.0,
    "energy_export": 1_000.0,
    "voltage_l1": 231.0,
    "voltage_l2": 232.0,
    "voltage_l3": 233.0,
    "current_l1": 2.5,
    "current_l2": 2.5,
    "current_l3": 2.5,
    "power_l1": 600.0,
    "power_l2": 600.0,
    "power_l3": 634.0,
    "frequency": 50.0,
}


class Sim:
    def __init__(self) -> None:
        self.v = dict(GOOD)

    def values(self) -> dict[str, float]:
        return self.v

    def apply(self, command: str, value: float) -> None:
        raise AssertionError("meters take no commands")


async def test_bad_values_never_reach_the_store_and_never_stall_the_loop(tmp_path) -> None:  # type: ignore[no-untyped-def]
    emu, sdm = find("emu-professional-2").entry, find("eastron-sdm630").entry
    bad_sim, ok_sim = Sim(), Sim()
    bad, ok = CatalogEmulator(emu, bad_sim, unit=1), CatalogEmulator(sdm, ok_sim, unit=2)
    store = SqliteStore(tmp_path / "s.sqlite")
    writer = BufferedWriter(store, max_readings=100_000, max_age_s=3600)
    ledger = InputLedger()
    t0 = utcnow() - timedelta(seconds=1)
    house_counts = []
    async with EmulatorServer([bad.bank, ok.bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=0.2, retries=0))
        try:
            meter = create(emu, link, device_id="meter", unit=1, ledger=ledger)
            house = create(sdm, link, device_id="house", unit=2, ledger=ledger)
            runtime = EdgeRuntime(
                [Polled("meter", meter, 0.02, timeout_s=1.0), Polled("house", house, 0.02)],
                recorder=Recorder(0.0, store=writer),
                max_backoff_s=0.05,
                ledger=ledger,
            )
            phases = [
                ("good", 0.0),
                ("nan", math.nan),
                ("range", 5e6),
                ("fault", 2),
                ("fault", 4),
                ("fault", 6),
                ("delay", 0.5),
            ]
            for kind, arg in phases:
                bad_sim.v = dict(GOOD)
                bad.bank.fault, bad.bank.delay = None, 0.0
                if kind in ("nan", "range"):
                    bad_sim.v["power"] = arg
                elif kind == "fault":
                    bad.bank.fault = int(arg)
                elif kind == "delay":
                    bad.bank.delay = arg
                before = len(_rows(store, writer, "house.power", t0))
                await run_for(runtime, 0.4)
                house_counts.append(len(_rows(store, writer, "house.power", t0)) - before)
        finally:
            link.close()
    powers = [r.mean for r in _rows(store, writer, "meter.power", t0)]
    store.close()
    assert powers and all(p == GOOD["power"] for p in powers), sorted(set(powers))
    assert all(n > 0 for n in house_counts), house_counts  # the healthy meter was read in every phase
    kinds = ledger.by_kind("meter")  # NaN is the f32 "absent" sentinel
    assert {"absent", "range", "exception_2", "exception_4", "exception_6", "timeout"} <= kinds.keys(), kinds
    assert ledger.by_kind("house") == {}


def _rows(store: SqliteStore, writer: BufferedWriter, channel: str, t0):  # type: ignore[no-untyped-def]
    writer.flush()
    return store.query([channel], t0, utcnow() + timedelta(seconds=1), "raw").get(channel, [])
