"""``wattwerk bench cycle20 [--json] [--cycles N]``: one closed-loop cycle with 20 controllable
devices over loopback protocols: 3 PV inverters (SunSpec), a battery (GoodWe), 14 chargers (KEBA),
an SG-Ready relay board and a heating rod (my-PV), each with its own Modbus TCP server, plus the
grid meter over P1 (DSMR telegrams over TCP).

The edge is the product's own, assembled (``edge.assembly.assemble``) from the site file of the
emulated site (``sim.site_file``: the chargers on one 63 A circuit, EV mode ``now``) and stepped in
lock-step with the simulator (``sim.scenario_loop.ClosedLoop``). One cycle = one ``Edge.step()``: the
read round (every driver reads its device concurrently, then one telegram taken by the edge's P1
reader) and the control cycle (laws, limiter, setpoints written over Modbus, the store's buffer
polled). Prints p50/p95/max of the read round, the control cycle and both together, in
milliseconds; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import time
from datetime import datetime

from wattwerk.control.checker import LimitChecker
from wattwerk.sim import EVParams, PVParams, SiteParams, SiteSim
from wattwerk.sim.scenario_loop import ClosedLoop, no_limits

START = "2025-06-14T10:00:00+00:00"  # a Saturday morning: cars home, sun up


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cycles", type=int, default=300, help="cycles to time (default 300)")
    parser.add_argument("--evs", type=int, default=14, help="chargers (default 14: 20 devices in all)")


def _pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, round(q * (len(xs) - 1)))]


async def _measure(cycles: int, evs: int) -> dict[str, object]:
    params = SiteParams(
        pv=(PVParams(kwp=10.0), PVParams(kwp=8.0), PVParams(kwp=6.0)),
        evs=tuple(EVParams(soc_initial=30.0 + i, phase_switching=False) for i in range(evs)),
    )
    sim = SiteSim(params, start=datetime.fromisoformat(START))
    circuit = {"name": "garage", "devices": [ev.name for ev in sim.evs], "max_current_a": 63.0}
    loop = ClosedLoop(
        sim,
        lambda cycle: LimitChecker(no_limits),
        grid={"max_import_w": 3 * 230 * 100.0},
        control={"circuits": [circuit]},
        ev_mode="now",
        step_s=1.0,
    )
    reads: list[float] = []
    controls: list[float] = []
    async with loop:
        devices = len(loop.devices)
        for _ in range(3):  # warm up (SunSpec discovery, first connections)
            await loop.cycle()
        for _ in range(cycles):
            sim.step(1.0)
            t0 = time.perf_counter()
            await loop.edge.step()  # the read round ends where its telegram is taken (loop.read_done)
            t2 = time.perf_counter()
            reads.append((loop.read_done - t0) * 1000)
            controls.append((t2 - loop.read_done) * 1000)
        written = loop.edge.runtime.stats.setpoints_written
    total = [a + b for a, b in zip(reads, controls, strict=True)]
    return {
        "devices": devices,
        "cycles": cycles,
        "setpoints_written": written,
        **{
            f"{name}_ms": {
                "p50": round(statistics.median(xs), 2),
                "p95": round(_pct(xs, 0.95), 2),
                "max": round(max(xs), 2),
            }
            for name, xs in (("read_round", reads), ("control_cycle", controls), ("cycle", total))
        },
    }


def run(args: argparse.Namespace) -> int:
    if args.cycles < 1 or args.evs < 1:
        print("wattwerk bench cycle20: --cycles and --evs must be >= 1")
        return 2
    for name in ("wattwerk", "pymodbus"):
        logging.getLogger(name).setLevel(logging.ERROR)
    out = asyncio.run(_measure(args.cycles, args.evs))
    if args.json:
        print(json.dumps(out))
        return 0
    print(
        f"closed loop, {out['devices']} devices + P1 grid meter over loopback, {out['cycles']} cycles "
        f"({out['setpoints_written']} setpoints written)"
    )
    for name in ("read_round", "control_cycle", "cycle"):
        f = out[f"{name}_ms"]
        print(f"  {name:<14} p50 {f['p50']:7.2f} ms   p95 {f['p95']:7.2f} ms   max {f['max']:7.2f} ms")  # type: ignore[index]
    return 0
