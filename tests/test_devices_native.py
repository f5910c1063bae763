"""Every catalogue entry with a protocol of its own (KEBA UDP, Hardy Barth eCB1, my-PV, KOSTAL PIKO and TQ
Energy Manager HTTP, RCT Power over TCP, relay switches over HTTP and UDP, pulse counters), read from and
controlled through an emulator built from the same entry.

This module is what makes such an entry ``tested`` (see ``wattwerk.devices.status``): it is
parametrised over exactly ``status.native(load_catalog())``. Further tests put the real site
simulator behind the emulators (a charger draws the current it was given, a heat pump changes its
SG-Ready state, a heating rod heats with the power it was sent) and feed the drivers bad answers.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from wattwerk.devices.catalog import Item, find, load_catalog
from wattwerk.devices.factory import create_for
from wattwerk.devices.native import NativeDevice
from wattwerk.devices.profile import Entry
from wattwerk.devices.status import native
from wattwerk.errors import BadInput, PermanentError
from wattwerk.sim.emulators import SimDevice
from wattwerk.sim.emulators.http_devices import (
    HardyBarthEmulator,
    KostalPikoEmulator,
    MyPvEmulator,
    TasmotaCounterEmulator,
)
from wattwerk.sim.emulators.keba import KebaEmulator
from wattwerk.sim.emulators.rct import RctEmulator
from wattwerk.sim.emulators.relay import KmtronicEmulator, SwitchEmulator
from wattwerk.sim.emulators.tq_em import TqEmEmulator

# packaged generic-template entries (go-e HTTP, Easee, Zaptec, SMA EV Charger, Tesla, openWB) and the
# Wattpilot are tested against their documented answers in test_catalog_owned_native.py
OWNED_ELSEWHERE = ("http_json", "mqtt_json", "wattpilot_ws")
ITEMS = [i for i in native(load_catalog()) if i.entry.native not in OWNED_ELSEWHERE]


class FakeSim:
    """A ``SimDevice`` test double: fixed values (off round numbers), records the commands it gets."""

    def __init__(self, **extra: float) -> None:
        self.v = {
            "power": 1834.0,
            "energy": 12_345_678.0,
            "energy_import": 7_654_321.0,
            "energy_export": 1_234_567.0,
            "temperature": 41.5,
            "state": 2.0,
            "current": 7.3,
            "current_limit": 10.0,
            "phases": 3.0,
            "relay": 1.0,
            "soc": 57.0,
        } | extra
        self.applied: list[tuple[str, float]] = []

    def values(self) -> dict[str, float]:
        return self.v

    def apply(self, command: str, value: float) -> None:
        self.applied.append((command, value))


@contextlib.asynccontextmanager
async def emulated(entry: Entry, sim: SimDevice, **kw: object) -> AsyncIterator[tuple[object, NativeDevice]]:
    """The entry's emulator on loopback and the entry's driver pointed at it."""
    if entry.native == "keba_udp":
        emulator: object = KebaEmulator(sim)
    elif entry.native == "hardy_barth":
        emulator = HardyBarthEmulator(sim, grid="charge_current" not in entry.capabilities)
    elif entry.native == "mypv_http":
        emulator = MyPvEmulator(sim, max_w=entry.rated_power or 3000.0)
    elif entry.native in ("kostal_dxs", "kostal_html"):
        emulator = KostalPikoEmulator(sim)
        kw = {"auth": emulator.auth} | kw  # type: ignore[assignment]
    elif entry.native == "rct":
        emulator = RctEmulator(sim)
    elif entry.native == "tq_em":
        emulator = TqEmEmulator(sim)
        kw = {"auth": ("", emulator.password)} | kw  # type: ignore[assignment]
    elif entry.native == "pulse_counter":
        assert entry.pulse is not None
        emulator = TasmotaCounterEmulator(sim, counter=entry.pulse.counter, per_kwh=entry.pulse.per_kwh)
    elif entry.relay is not None and entry.relay.dialect == "kmtronic_udp":
        emulator = KmtronicEmulator(entry, sim)
    else:
        emulator = SwitchEmulator(entry, sim)
    async with emulator as running:  # type: ignore[attr-defined]
        device = create_for(
            entry, host="127.0.0.1", port=running.port, device_id="dev", local_port=0, timeout=2.0, **kw
        )  # type: ignore[arg-type]
        try:
            yield running, device
        finally:
            await device.aclose()


class Clock:
    """An injected clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _last(sim: FakeSim, command: str) -> float | None:
    got = [v for c, v in sim.applied if c == command]
    return got[-1] if got else None


@pytest.mark.parametrize("item", ITEMS, ids=[i.entry.id for i in ITEMS])
async def test_native_entry_reads_and_follows(item: Item) -> None:
    entry = item.entry
    sim = FakeSim()
    clock = Clock()
    async with emulated(entry, sim, clock=clock) as (_, device):
        if entry.native == "pulse_counter":  # power is the mean between two reads: 917 Wh in 30 min
            sim.v["energy"] -= 917.0
            assert {r.channel for r in await device.read()} == {"dev.energy"}
            sim.v["energy"] += 917.0
            clock.now += timedelta(minutes=30)
        readings = {r.channel: r.value for r in await device.read()}
        assert device.ledger.total() == 0, device.ledger.counts
        if "read_power" in entry.capabilities:
            assert math.isclose(readings["dev.power"], 1834.0, abs_tol=0.01), readings
        if "read_energy" in entry.capabilities:
            energy = readings.get("dev.energy", readings.get("dev.energy_import"))
            expected = sim.v["energy"] if "dev.energy" in readings else sim.v["energy_import"]
            resolution = 1000.0 if entry.native == "kostal_html" else 1.0  # the legacy page shows whole kWh
            assert energy is not None and math.isclose(energy, expected, abs_tol=resolution / 2), readings
        if "read_temperature" in entry.capabilities:
            assert readings["dev.temperature"] == 41.5
        if "read_soc" in entry.capabilities:
            assert math.isclose(readings["dev.soc"], 57.0, abs_tol=1e-3), readings
        if "battery_setpoint" in entry.capabilities:
            for watts in (-1500.0, 2200.0):
                await device.set_battery_setpoint(watts)
                assert _last(sim, "battery_setpoint") == watts
        if "battery_mode" in entry.capabilities:
            await device.command("battery_mode", 0.0)
            assert _last(sim, "mode") == 0.0
            await device.command("battery_mode", 1.0)
            assert sim.applied[-1][0] == "battery_setpoint"
        if "charge_current" in entry.capabilities:
            await device.set_current_limit(13.0)
            assert _last(sim, "current_limit") == 13.0
        if "enable" in entry.capabilities:
            await device.enable(False)
            assert _last(sim, "enable") == 0.0
            await device.enable(True)
            assert _last(sim, "enable") == 1.0
        if "power_setpoint" in entry.capabilities:
            await device.set_power(1750.0)
            assert _last(sim, "power") == 1750.0
        if "relay" in entry.capabilities:
            for on in (True, False, True):
                await device.set_relay(on)
                assert _last(sim, "relay") == float(on)
                assert {r.channel: r.value for r in await device.read()}["dev.relay"] == float(on)
        if "sgready" in entry.capabilities:
            for state in (3, 1, 4, 2):
                await device.set_sgready(state)
                assert _last(sim, "sgready") == float(state)
                assert {r.channel: r.value for r in await device.read()}["dev.sgready"] == float(state)
        assert device.ledger.total() == 0, device.ledger.counts


def test_every_native_entry_is_exercised() -> None:
    kinds = {i.entry.native for i in ITEMS}
    assert kinds == {
        "keba_udp",
        "hardy_barth",
        "mypv_http",
        "relay",
        "pulse_counter",
        "kostal_dxs",
        "kostal_html",
        "rct",
        "tq_em",
    }
    dialects = {i.entry.relay.dialect for i in ITEMS if i.entry.relay}
    assert dialects == {"shelly_gen1", "shelly_gen2", "tasmota", "kmtronic_udp"}


def _site():  # type: ignore[no-untyped-def]
    from wattwerk.sim import SiteSim

    return SiteSim(start=datetime(2025, 3, 3, 20, 0, tzinfo=UTC))  # a Monday evening: the car is home


@pytest.mark.parametrize("entry_id", ["keba-p30-udp", "hardy-barth-ecb1"])
async def test_simulated_charger_draws_the_current_it_was_given(entry_id: str) -> None:
    site = _site()
    ev = site.evs[0]
    site.step(60)
    assert ev.plugged
    async with emulated(find(entry_id).entry, ev) as (_, device):
        await device.set_current_limit(8.0)
        await device.enable(True)
        site.step(60)
        charging = {r.channel: r.value for r in await device.read()}
        await device.enable(False)
        site.step(60)
        paused = {r.channel: r.value for r in await device.read()}
    expected = ev.phases * ev.voltage * 8.0
    assert math.isclose(charging["dev.power"], expected, rel_tol=1e-3), charging
    assert charging["dev.state"] == 2.0
    assert paused["dev.power"] == 0.0 and paused["dev.state"] == 1.0
    assert paused["dev.energy"] > 0


async def test_simulated_heat_pump_follows_sgready_over_kmtronic_udp() -> None:
    site = _site()
    hp = site.heat_pump
    assert hp is not None
    async with emulated(find("sgready-kmtronic-udp").entry, hp) as (emulator, device):
        await device.set_sgready(4)
        assert hp.sgready == 4
        assert {r.channel: r.value for r in await device.read()}["dev.sgready"] == 4.0
        await device.set_sgready(1)
        site.step(3600)  # minimum run time passes; blocked: the compressor stops
        assert hp.sgready == 1 and not hp.on and hp.power == 0.0
        assert emulator.requests[-1] == "FF0000"  # type: ignore[attr-defined]  # read back after switching


async def test_simulated_heating_rod_heats_with_the_power_sent_over_http() -> None:
    site = _site()
    rod = site.rod
    assert rod is not None
    before = rod.temperature
    async with emulated(find("mypv-http").entry, rod) as (_, device):
        await device.set_power(2000.0)
        site.step(300)
        readings = {r.channel: r.value for r in await device.read()}
    assert readings["dev.power"] == round(rod.power) and rod.power > 0
    assert rod.setpoint_w == 2000.0
    assert readings["dev.temperature"] == round(rod.temperature * 10) / 10 and rod.temperature > before


async def test_keba_bad_answers_and_silence_are_counted_not_raised() -> None:
    entry = find("keba-p30-udp").entry
    sim = FakeSim()
    async with emulated(entry, sim) as (emulator, device):
        emulator.garbage = b"{not json"  # type: ignore[attr-defined]
        assert await device.read() == []
        assert device.ledger.by_kind("dev") == {"keba": 1}
        device.health.ok()  # skip the back-off
        sim.v["power"] = 5e9  # a value no wallbox has
        readings = {r.channel for r in await device.read()}
        assert "dev.power" not in readings and "dev.energy" in readings
        assert device.ledger.by_kind("dev")["range"] == 1
        await emulator.stop()  # type: ignore[attr-defined]
        device.client.timeout = 0.3  # type: ignore[attr-defined]
        assert await device.read() == []
        assert device.ledger.by_kind("dev")["timeout"] == 1
        assert await device.read() == []  # backed off: no second wait
        assert device.ledger.by_kind("dev")["timeout"] == 1


async def test_keba_refused_command_is_a_permanent_error() -> None:
    class Refusing(FakeSim):
        def apply(self, command: str, value: float) -> None:
            raise BadInput("value", f"{command} {value} refused")

    async with emulated(find("keba-p30-udp").entry, Refusing()) as (emulator, device):
        with pytest.raises(PermanentError, match="TCH-ERR"):
            await device.set_current_limit(10.0)
    assert emulator.requests == ["curr 10000"]  # type: ignore[attr-defined]


async def test_keba_requests_are_one_at_a_time() -> None:
    """Concurrent callers share one client: each gets the answer to its own request."""
    import asyncio

    async with emulated(find("keba-p30-udp").entry, FakeSim()) as (emulator, device):
        client = device.client  # type: ignore[attr-defined]
        answers = await asyncio.gather(*(client.report(n) for n in (2, 3, 1, 3, 2)))
    assert [a["ID"] for a in answers] == ["2", "3", "1", "3", "2"]
    assert emulator.requests == ["report 2", "report 3", "report 1", "report 3", "report 2"]  # type: ignore[attr-defined]


async def test_http_errors_and_garbage_are_counted_and_backed_off() -> None:
    entry = find("hardy-barth-ecb1").entry
    async with emulated(entry, FakeSim()) as (emulator, device):
        emulator.fail_next = 1  # type: ignore[attr-defined]
        assert await device.read() == []
        device.health.ok()
        emulator.garbage = True  # type: ignore[attr-defined]
        assert await device.read() == []
        device.health.ok()
        assert {r.channel for r in await device.read()} >= {"dev.power", "dev.energy", "dev.state"}
    assert device.ledger.by_kind("dev") == {"timeout": 1, "http": 1}


async def test_switch_with_wrong_dialect_is_a_permanent_failure_counted() -> None:
    """A Gen2 Shelly configured as Gen1 answers 404: counted as a device error, not a crash."""
    gen1 = find("shelly-plug-gen1").entry
    gen2 = find("shelly-plug-gen2").entry
    async with SwitchEmulator(gen2, FakeSim()) as emulator:
        device = create_for(gen1, host="127.0.0.1", port=emulator.port, device_id="plug", timeout=2.0)
        try:
            assert await device.read() == []
            with pytest.raises(PermanentError, match="404"):
                await device.set_relay(True)
        finally:
            await device.aclose()
    assert device.ledger.by_kind("plug") == {"device": 1}


def test_create_for_refuses_modbus_and_untested_entries() -> None:
    with pytest.raises(PermanentError, match="not a native"):
        create_for(find("keba-p30-modbus").entry, host="127.0.0.1", device_id="x")
    untested = next(i.entry for i in load_catalog() if i.entry.untested)
    with pytest.raises(PermanentError, match="not supported yet"):
        create_for(untested, host="127.0.0.1", device_id="x")


async def test_pulse_counter_reset_keeps_energy_monotonic() -> None:
    """A Tasmota rebooting without a saved counter starts from 0: energy continues, the reset is counted."""
    entry = find("pulse-meter-tasmota").entry
    sim = FakeSim(energy=5000.0)
    clock = Clock()
    async with emulated(entry, sim, clock=clock) as (emulator, device):
        first = {r.channel: r.value for r in await device.read()}
        emulator.reset()  # type: ignore[attr-defined]
        sim.v["energy"] += 250.0
        clock.now += timedelta(minutes=15)
        after_reset = {r.channel: r.value for r in await device.read()}
        sim.v["energy"] += 250.0
        clock.now += timedelta(minutes=15)
        later = {r.channel: r.value for r in await device.read()}
    assert first == {"dev.energy": 5000.0}
    assert after_reset == {"dev.energy": 5250.0}  # no power over a reset
    assert later == {"dev.energy": 5500.0, "dev.power": 1000.0}
    assert device.ledger.by_kind("dev") == {"counter_reset": 1}


async def test_create_for_takes_the_site_files_url() -> None:
    device = create_for(find("mypv-http").entry, host="http://127.0.0.1:8080/", device_id="rod")
    keba = create_for(find("keba-p30-udp").entry, host="udp://127.0.0.1", device_id="ev")
    try:
        assert device.http.base_url == "http://127.0.0.1:8080"  # type: ignore[attr-defined]
        assert (keba.client.host, keba.client.port) == ("127.0.0.1", 7090)  # type: ignore[attr-defined]
        with pytest.raises(PermanentError, match="no host"):
            create_for(find("mypv-http").entry, host="http://", device_id="rod")
    finally:
        await device.aclose()
        await keba.aclose()


@pytest.mark.parametrize("entry_id", ["kostal-piko-legacy", "kostal-piko-dxs"])
async def test_piko_switched_off_at_night_reads_zero_and_wrong_login_is_counted(entry_id: str) -> None:
    entry = find(entry_id).entry
    async with emulated(entry, FakeSim()) as (emulator, device):
        emulator.off = True  # type: ignore[attr-defined]
        readings = {r.channel: r.value for r in await device.read()}
        assert readings["dev.power"] == 0.0 and readings["dev.energy"] > 1e7
        emulator.garbage = True  # type: ignore[attr-defined]
        assert await device.read() == []
    assert device.ledger.total("dev") == 1
    if entry.native == "kostal_html":
        async with KostalPikoEmulator(FakeSim()) as emulator:
            wrong = create_for(
                entry, host="127.0.0.1", port=emulator.port, device_id="pv", auth=("pvserver", "x")
            )
            try:
                assert await wrong.read() == []
            finally:
                await wrong.aclose()
        assert wrong.ledger.by_kind("pv") == {"device": 1}  # 401: credentials refused, permanent
