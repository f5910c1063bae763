"""Ripple-control and §14a contacts end to end: the real ``EdgeRuntime`` and ``CycleStep`` (controllers,
limiter, writes) with the contacts read from an emulated Modbus I/O module (pymodbus on loopback)
and from Shelly / Tasmota inputs on the real Mosquitto broker (127.0.0.1:1883).

The site is a toy: a PV inverter (6 kW available) and a house (500 W) behind a grid meter, as fake
polled drivers, so the only real protocol in play is the contacts'. Checked, cycle by cycle: the
first cycle whose snapshot has a contact closed already applies its limit (no extra cycle of delay);
the episode is logged with start, end and curtailed energy; when the contact source stops answering,
the configured ``on_stale`` fail-safe applies after ``fallback_after_s`` and is logged."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from wattwerk.config.limits import ControlLimits
from wattwerk.control.cycle import ControlCycle
from wattwerk.control.devices import DeviceSpec
from wattwerk.control.limiter import Event, GridSpec, Limiter
from wattwerk.devices.catalog import find
from wattwerk.edge.control_step import CycleStep
from wattwerk.edge.inputs import input_sources
from wattwerk.edge.runtime import EdgeRuntime, Polled
from wattwerk.errors import InputLedger
from wattwerk.model import Reading, utcnow
from wattwerk.protocols.modbus import LinkPool
from wattwerk.sim.emulators.modbus import CatalogEmulator, EmulatorServer
from wattwerk.sim.emulators.mqtt_inputs import MqttInputsEmulator
from wattwerk.snapshot import Snapshot

WAIT_S = 15.0  # wall seconds any awaited condition may take at most (a loaded machine), never asserted


@dataclass
class ToySite:
    """PV with 6 kW available and a 500 W house; the grid meter is the balance."""

    available_w: float = 6000.0
    house_w: float = 500.0
    limit_w: float = 8000.0

    @property
    def pv_w(self) -> float:
        return min(self.available_w, self.limit_w)


class PvDriver:
    def __init__(self, site: ToySite) -> None:
        self.site = site

    async def read(self, ts: datetime | None = None) -> list[Reading]:
        ts = ts or utcnow()
        site = self.site
        return [Reading("pv1.power", ts, site.pv_w), Reading("pv1.power_available", ts, site.available_w)]

    async def command(self, command: str, value: float) -> None:
        if command == "power_limit":
            self.site.limit_w = value


class GridDriver:
    def __init__(self, site: ToySite) -> None:
        self.site = site

    async def read(self, ts: datetime | None = None) -> list[Reading]:
        return [Reading("grid.power", ts or utcnow(), self.site.house_w - self.site.pv_w)]

    async def command(self, command: str, value: float) -> None:
        raise AssertionError("nothing is written to the grid meter")


@dataclass
class Cycle:
    contacts: tuple[float | None, ...]
    active: dict[str, float]
    events: tuple[Event, ...]


@dataclass
class Watched:
    """The control step, with what each cycle saw and decided."""

    step: CycleStep
    contacts: tuple[str, ...]
    cycles: list[Cycle] = field(default_factory=list)

    def __call__(self, snap: Snapshot) -> Any:
        out = self.step(snap)
        last = self.step.last
        assert last is not None
        self.cycles.append(Cycle(tuple(snap.get(c) for c in self.contacts), dict(last.active), last.events))
        return out

    def events(self) -> list[Event]:
        return [e for c in self.cycles for e in c.events]

    async def until(self, check: Callable[[], bool]) -> None:
        async def poll() -> None:
            while not check():
                await asyncio.sleep(0.02)

        await asyncio.wait_for(poll(), WAIT_S)


def limits_for(inputs: list[dict], contacts: list[str]) -> ControlLimits:
    return ControlLimits.model_validate(
        {
            "inputs": inputs,
            "ripple": {
                "contacts": contacts,
                "on_stale": "10",
                "levels": [{"pattern": "10", "feed_in_pct": 0}, {"pattern": "01", "feed_in_pct": 60}],
            },
            "fallback_after_s": 1.0,
            "margin_w": 100.0,
        }
    )


@contextlib.asynccontextmanager
async def running(
    limits: ControlLimits, extra: list[Polled] | None = None
) -> AsyncIterator[tuple[EdgeRuntime, Watched, ToySite]]:
    site = ToySite()
    limiter = Limiter(GridSpec(meter="grid"), [DeviceSpec("pv1", "pv", rated_w=8000.0, ac_w=8000.0)], limits)
    watched = Watched(CycleStep(ControlCycle([], limiter)), tuple(limits.ripple.contacts))  # type: ignore[union-attr]
    ledger = InputLedger()
    links = LinkPool()
    polled, push = input_sources(limits, ledger, links)
    runtime = EdgeRuntime(
        [Polled("grid", GridDriver(site), 0.1), Polled("pv1", PvDriver(site), 0.1), *polled, *(extra or [])],
        push=push,
        control=watched,
        cycle_s=0.2,
        stale_after_s=0.6,
        ledger=ledger,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.run(stop))
    try:
        yield runtime, watched, site
    finally:
        stop.set()
        await task
        links.close()


def assert_each_closed_cycle_limited(watched: Watched) -> None:
    """Every cycle that saw pattern "10" had the 0 % feed-in limit in force in that same cycle."""
    seen = [c for c in watched.cycles if c.contacts[:2] == (1.0, 0.0)]
    assert seen, "no cycle saw the contact closed"
    assert all(c.active.get("export:ripple") == 0.0 for c in seen)


async def exercise(
    watched: Watched,
    site: ToySite,
    close: Callable[[], Awaitable[None]],
    open_: Callable[[], Awaitable[None]],
    go_silent: Callable[[], Awaitable[None]],
) -> None:
    """Free, closed (0 % feed-in), open again (episode logged), then silent (fail-safe "10")."""
    await watched.until(lambda: sum(c.contacts[:2] == (0.0, 0.0) for c in watched.cycles) >= 3)
    assert all("export:ripple" not in c.active for c in watched.cycles if c.contacts[:2] == (0.0, 0.0))
    assert site.limit_w == 8000.0
    # (before the first read the contacts count as silent: the fail-safe held for the first cycles)
    before = len(watched.cycles)

    def since() -> list[Event]:
        return [e for c in watched.cycles[before:] for e in c.events]

    await close()
    await watched.until(lambda: sum(c.contacts[:2] == (1.0, 0.0) for c in watched.cycles) >= 5)
    assert_each_closed_cycle_limited(watched)
    assert site.pv_w <= site.house_w  # the inverter got the limit: no export
    starts = [e for e in since() if e.kind == "restriction_start" and e.subject == "ripple"]
    assert len(starts) == 1

    await open_()
    await watched.until(lambda: any(e.kind == "restriction_end" for e in since()))
    end = next(e for e in since() if e.kind == "restriction_end")
    assert end.subject == "ripple" and end.data["end"] > end.data["start"]
    assert end.data["curtailed_wh"] > 0.0  # PV held back while the limit was in force
    await watched.until(lambda: watched.cycles[-1].contacts[:2] == (0.0, 0.0))
    assert "export:ripple" not in watched.cycles[-1].active

    await go_silent()
    await watched.until(lambda: any(e.kind == "fallback_start" and e.subject == "ripple" for e in since()))
    silent = len(watched.cycles)
    await watched.until(lambda: len(watched.cycles) >= silent + 3)
    assert all(c.active.get("export:ripple") == 0.0 for c in watched.cycles[silent - 1 :])  # on_stale "10"


# ------------------------------------------------------------------ Modbus I/O module


class Inputs:
    """The I/O module's terminals (a ``SimDevice`` for the catalogue emulator)."""

    def __init__(self) -> None:
        self.v: dict[str, float] = {f"state_{k}": 0.0 for k in range(1, 9)}

    def values(self) -> dict[str, float]:
        return self.v

    def apply(self, command: str, value: float) -> None:
        raise AssertionError("an input module takes no commands")


async def test_modbus_io_module_contacts_drive_the_limit_within_one_cycle() -> None:
    terminals = Inputs()
    entry = find("waveshare-modbus-rtu-io-8ch").entry
    server = await EmulatorServer([CatalogEmulator(entry, terminals, unit=3).bank]).start()
    limits = limits_for(
        [
            {
                "type": "modbus",
                "id": "rcr",
                "catalog": "waveshare-modbus-rtu-io-8ch",
                "interval_s": 0.1,
                "connection": {
                    "type": "modbus_tcp",
                    "host": "127.0.0.1",
                    "port": server.port,
                    "unit": 3,
                    "timeout_s": 0.3,
                },
            }
        ],
        ["rcr.state_1", "rcr.state_2"],
    )

    async def set_(k: int, v: float) -> None:
        terminals.v[f"state_{k}"] = v

    try:
        async with running(limits) as (_runtime, watched, site):
            await exercise(watched, site, lambda: set_(1, 1.0), lambda: set_(1, 0.0), server.close)
    finally:
        await server.close()


# ------------------------------------------------------------------ MQTT: Shelly and Tasmota


@pytest.mark.parametrize(("kind", "numbers"), [("shelly", [0, 1]), ("tasmota", [1, 2])])
async def test_mqtt_inputs_drive_the_limit_within_one_cycle(kind: str, numbers: list[int]) -> None:
    topic = f"wwtest-{kind}-{uuid.uuid4().hex[:8]}"
    device = await MqttInputsEmulator(kind, topic, {n: False for n in numbers}).start()  # type: ignore[arg-type]
    key = "inputs" if kind == "shelly" else "switches"
    limits = limits_for(
        [
            {
                "type": kind,
                "id": "box",
                key: numbers,
                "repeat_s": 0.2,
                "connection": {"type": "mqtt", "host": "127.0.0.1", "port": 1883, "topic": topic},
            }
        ],
        ["box.state_1", "box.state_2"],
    )
    try:
        async with running(limits) as (_runtime, watched, site):
            await exercise(
                watched,
                site,
                lambda: device.set(numbers[0], True),
                lambda: device.set(numbers[0], False),
                device.stop,
            )
        assert device.requests >= 1  # the stream asked for the state it could not know yet
    finally:
        await device.stop()
