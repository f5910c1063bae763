"""``wattwerk bench reaction [--json] [--changes N] [--p1-interval S] [--cycle S]``: reaction time
from a meter change to the setpoint written, in real time on loopback.

The edge is the product's own: a site file (the P1 meter as ``tcp`` + ``format: dsmr``, the charger
as ``modbus_tcp`` with the KEBA P30 catalogue entry, ``site.grid.max_import_w`` 11 kW, EV mode
``now``) built by ``edge.assembly.assemble`` and run on the wall clock (``Edge.run``), the control
cycle every ``--cycle`` seconds. The simulated car stands behind the charger's emulator. The bench
steps the house load between 0 and 6 kW on the P1 emulator's meter and times
until the charger emulator receives a write of a *new* current value: "shed" (load up, the
limiter cuts the car within a cycle) and "restore" (load down, the law gives current back after
its own delays), reported apart. The figure is bounded by the telegram interval plus one control
cycle plus the Modbus write; prints p50/p95/max, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from wattwerk.config import SiteConfig
from wattwerk.devices.catalog import find
from wattwerk.edge.assembly import Edge, EdgeOptions, assemble
from wattwerk.model import utcnow
from wattwerk.sim import EVParams, SiteParams, SiteSim
from wattwerk.sim.emulators import MeterState
from wattwerk.sim.emulators.modbus import CatalogEmulator, EmulatorServer
from wattwerk.sim.emulators.p1 import P1Emulator

CHARGER = "keba-p30-modbus"
IMPORT_LIMIT_W = 11_000.0
STEP_W = 6_000.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--changes", type=int, default=20, help="load steps to time (default 20)")
    parser.add_argument("--p1-interval", type=float, default=1.0, help="telegram interval, s (DSMR 5: 1)")
    parser.add_argument("--cycle", type=float, default=1.0, help="control interval, s (default 1)")


class _Timer:
    """Watches the charger emulator's writes for a change of the current setpoint."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.changed = asyncio.Event()

    def wrap(self, on_write: Any) -> Any:
        def seen(written: dict[str, Any]) -> None:
            on_write(written)
            amps = next(
                (v for k, v in written.items() if "current" in k and isinstance(v, float | int)), None
            )
            if amps is not None and amps != self.last:
                self.last = float(amps)
                self.changed.set()

        return seen


async def _measure(changes: int, p1_interval: float, cycle_s: float) -> dict[str, Any]:
    sim = SiteSim(
        SiteParams(
            evs=(EVParams(soc_initial=20.0, phase_switching=False),),
            heat_pump=None,
            rod=None,
            battery=None,
            pv=(),
        ),
        start=datetime.fromisoformat("2025-06-14T18:00:00+00:00"),
    )
    ev = sim.evs[0]
    house = {"w": 0.0}

    def meter() -> MeterState:
        state = sim.meter_state()  # the simulated car and house, plus the bench's load step
        return MeterState(utcnow().replace(microsecond=0), state.power_w + house["w"], 1e6, 0.0)

    async def simulate() -> None:  # the site in real time
        while True:
            await asyncio.sleep(0.02)
            sim.step(0.02)

    emulator = CatalogEmulator(find(CHARGER).entry, ev)
    timer = _Timer()
    emulator.bank.on_write = timer.wrap(emulator.bank.on_write)
    times: dict[str, list[float]] = {"shed": [], "restore": []}
    async with (
        P1Emulator(meter, interval=p1_interval) as p1,
        EmulatorServer([emulator.bank]) as server,
        _edge(site_config(p1.port, server.port, emulator.bank.unit, cycle_s), cycle_s) as edge,
    ):
        stop = asyncio.Event()
        task = asyncio.create_task(edge.run(stop))
        stepping = asyncio.create_task(simulate())

        async def settle() -> None:
            timer.changed.clear()
            try:
                while True:  # the law ramps and the limiter settles: wait until writes stop changing
                    await asyncio.wait_for(timer.changed.wait(), 3 * (p1_interval + cycle_s))
                    timer.changed.clear()
            except TimeoutError:
                return

        try:
            await settle()
            for k in range(changes):
                house["w"] = STEP_W if k % 2 == 0 else 0.0
                timer.changed.clear()
                t0 = time.perf_counter()
                try:
                    await asyncio.wait_for(timer.changed.wait(), 10 * (p1_interval + cycle_s))
                except TimeoutError:
                    continue
                times["shed" if k % 2 == 0 else "restore"].append((time.perf_counter() - t0) * 1000)
                await settle()
        finally:
            stop.set()
            await task
            stepping.cancel()

    def figures(xs: list[float]) -> dict[str, float | int | None]:
        xs = sorted(xs)
        if not xs:
            return {"n": 0, "p50": None, "p95": None, "max": None}
        return {
            "n": len(xs),
            "p50": round(statistics.median(xs), 1),
            "p95": round(xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))], 1),
            "max": round(xs[-1], 1),
        }

    return {
        "changes": changes,
        "p1_interval_s": p1_interval,
        "cycle_s": cycle_s,
        "reaction_ms": {k: figures(v) for k, v in times.items()},
    }


def site_config(p1_port: int, charger_port: int, unit: int, cycle_s: float) -> SiteConfig:
    """The site file of the bench: P1 meter over TCP, one KEBA charger, an 11 kW import limit."""
    return SiteConfig.model_validate(
        {
            "version": 1,
            "site": {
                "name": "Reaction bench",
                "location": {"latitude": 52.37, "longitude": 4.9},
                "timezone": "Europe/Amsterdam",
                "grid": {"phases": 3, "max_import_w": IMPORT_LIMIT_W},
            },
            "devices": [
                {
                    "id": "grid",
                    "role": "grid_meter",
                    "connection": {"type": "tcp", "host": "127.0.0.1", "port": p1_port, "format": "dsmr"},
                },
                {
                    "id": "ev1",
                    "role": "ev_charger",
                    "catalog": CHARGER,
                    "interval_s": cycle_s,
                    "connection": {
                        "type": "modbus_tcp",
                        "host": "127.0.0.1",
                        "port": charger_port,
                        "unit": unit,
                        "timeout_s": 1.0,
                    },
                    "limits": {"min_current_a": 6, "max_current_a": 16, "phases": 3},
                },
            ],
            "strategy": {"mode": "self_consumption", "ev_default_mode": "now"},
            "control": {"margin_w": 100.0},
            "tariff": {"provider": "fixed", "fixed_eur_per_kwh": 0.3},
        }
    )


@contextlib.asynccontextmanager
async def _edge(cfg: SiteConfig, cycle_s: float) -> AsyncIterator[Edge]:
    """The assembled edge, its store in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="wattwerk-reaction-") as folder:
        edge = assemble(cfg, EdgeOptions(data_dir=Path(folder), cycle_s=cycle_s))
        try:
            yield edge
        finally:
            edge.close()


def run(args: argparse.Namespace) -> int:
    if args.changes < 1 or args.p1_interval <= 0 or args.cycle <= 0:
        print("wattwerk bench reaction: --changes >= 1, --p1-interval and --cycle > 0")
        return 2
    for name in ("wattwerk", "pymodbus"):
        logging.getLogger(name).setLevel(logging.ERROR)
    out = asyncio.run(_measure(args.changes, args.p1_interval, args.cycle))
    if args.json:
        print(json.dumps(out))
        return 0
    print(
        f"meter change -> charger current written (loopback; P1 every {out['p1_interval_s']} s, "
        f"control every {out['cycle_s']} s)"
    )
    for k, r in out["reaction_ms"].items():
        print(f"  {k:<8} n {r['n']:3}   p50 {r['p50']} ms   p95 {r['p95']} ms   max {r['max']} ms")
    return 0
