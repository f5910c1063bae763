"""``wattwerk bench control_cycle [--json] [--cycles N]``: time of one control cycle (every law
and the limiter) on a site with 20 controllable devices: 3 PV inverters, a battery, 8 charge
points (two circuits), a heat pump, 2 heating rods and 5 relay/setpoint devices (sockets, CHP,
electrolyser), under a fixed feed-in limit, peak shaving, ripple control and §14a.

Each cycle gets a fresh snapshot 1 s after the last, with seeded values in two regimes: "calm"
(random walks: loads and PV drift, grid signals switch now and then) and "stress" (every device
jumps every second, so the limiter sheds, curtails and often meets limits it cannot all hold).
Prints p50/p95/max in microseconds per regime and the share of cycles in which the limiter
changed a setpoint; never asserts anything about time.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from wattwerk.config.limits import ControlLimits
from wattwerk.control.base import Signals
from wattwerk.control.battery import BatteryConfig, BatteryControl
from wattwerk.control.cycle import ControlCycle
from wattwerk.control.devices import DeviceSpec
from wattwerk.control.ev import ChargePoint, EvCharging, EvConfig
from wattwerk.control.heating_rod import HeatingRodConfig, HeatingRodControl
from wattwerk.control.limiter import GridSpec, Limiter
from wattwerk.control.sgready import SgReadyConfig, SgReadyControl
from wattwerk.control.switch import SwitchConfig, SwitchControl
from wattwerk.snapshot import Snapshot

EVS = [f"ev{i}" for i in range(1, 9)]
SWITCHES = [
    SwitchConfig("plug1"),
    SwitchConfig("plug2"),
    SwitchConfig("plug3", power_w=2000),
    SwitchConfig("chp", kind="generator", power_w=5000),
    SwitchConfig("ely", command="power", power_w=4000, min_w=800),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cycles", type=int, default=5000, help="control cycles to time (default 5000)")
    parser.add_argument("--seed", type=int, default=1)


def build() -> ControlCycle:
    """The 20-device site: laws in priority order, battery last, one limiter."""
    points = tuple(
        ChargePoint(ev, mode="pv" if i % 2 else "now", phase_switching=i % 3 == 0, priority=i % 2)
        for i, ev in enumerate(EVS)
    )
    laws = [
        EvCharging(EvConfig(points)),
        SgReadyControl(SgReadyConfig()),
        HeatingRodControl(HeatingRodConfig("rod1")),
        HeatingRodControl(HeatingRodConfig("rod2", stages_w=(1000.0, 2000.0, 3000.0), name="rod2")),
        *[SwitchControl(c) for c in SWITCHES],
    ]
    battery = BatteryControl(BatteryConfig(max_charge_w=10_000, max_discharge_w=10_000))
    specs = [DeviceSpec(f"pv{i}", "pv", rated_w=10_000.0, ac_w=9000.0) for i in (1, 2, 3)]
    specs += [DeviceSpec("bat", "battery", max_charge_w=10_000, max_discharge_w=10_000, reserve_soc=10)]
    specs += [DeviceSpec(ev, "ev", phase_switching=i % 3 == 0, priority=i % 2) for i, ev in enumerate(EVS)]
    specs += [
        DeviceSpec("hp", "heat_pump", max_w=3000, min_on_s=600, min_off_s=600, max_switches_per_hour=3),
        DeviceSpec("rod1", "rod", max_w=3000),
        DeviceSpec("rod2", "rod", max_w=3000, stages_w=(1000.0, 2000.0, 3000.0)),
    ]
    specs += [
        DeviceSpec(
            c.id,
            "generator" if c.kind == "generator" else "load",
            max_w=c.power_w,
            command=c.command,
            min_on_s=300,
            min_off_s=300,
        )
        for c in SWITCHES
    ]
    limits = ControlLimits.model_validate(
        {
            "feed_in_limit_pct": 70,
            "peak_shaving_w": 30_000,
            "ripple": {
                "contacts": ["rcr.state_1", "rcr.state_2"],
                "levels": [{"pattern": "10", "feed_in_pct": 0}, {"pattern": "01", "feed_in_pct": 60}],
            },
            "para14a": {"signal": "sb.state"},
            "circuits": [
                {"name": "garage_a", "devices": EVS[:4], "max_current_a": 32},
                {"name": "garage_b", "devices": EVS[4:], "max_current_a": 32},
            ],
        }
    )
    grid = GridSpec(import_w=3 * 230 * 63, phase_import_w=230 * 63)
    return ControlCycle(laws, Limiter(grid, specs, limits), battery=battery)


def snapshots(n: int, seed: int, stress: bool):
    rng = random.Random(seed)
    t0 = datetime(2025, 6, 14, 10, 0, tzinfo=UTC)
    v: dict[str, float] = {"grid.power": 0.0, "bat.soc": 50.0, "hp.power": 0.0, "bat.power": 0.0}
    for pv in ("pv1", "pv2", "pv3"):
        v[f"{pv}.power"] = 6000.0
    for d in ("rod1", "rod2", "plug1", "plug2", "plug3", "ely", "chp", *EVS):
        v[f"{d}.power"] = 0.0
    walk = 800.0 if stress else 100.0

    def step(key: str, sd: float, lo: float, hi: float) -> None:
        v[key] = max(min(v[key] + rng.gauss(0, sd), hi), lo)

    for i in range(n):
        step("grid.power", walk, -30_000, 40_000)
        for k in (1, 2, 3):
            v[f"grid.power_l{k}"] = v["grid.power"] / 3 + rng.gauss(0, walk / 3)
        for pv in ("pv1", "pv2", "pv3"):
            step(f"{pv}.power", walk / 4, 0, 9000)
        step("bat.soc", 0.05, 0, 100)
        step("bat.power", walk, -10_000, 10_000)
        for ev in EVS:
            if stress:
                v[f"{ev}.power"] = rng.choice([0.0, 4140.0, 7000.0, 11040.0])
            elif rng.random() < 0.01:
                v[f"{ev}.power"] = rng.choice([0.0, 4140.0, 11040.0])
            v[f"{ev}.state"] = 2.0 if v[f"{ev}.power"] else 1.0
            v[f"{ev}.energy"] = 1000.0 * i
        for d in ("rod1", "rod2", "plug1", "plug2", "plug3", "ely", "chp"):
            step(f"{d}.power", walk / 2, 0, 3000)
        v["rod1.temperature"] = v["rod2.temperature"] = 55.0
        v["rcr.state_1"] = float(i % 600 < 60)
        v["rcr.state_2"] = float(300 <= i % 600 < 360)
        v["sb.state"] = float(i % 900 < 90)
        yield Snapshot(t0 + timedelta(seconds=i), MappingProxyType({k: (x, 0.0) for k, x in v.items()}), 30.0)


def measure(cycles: int, seed: int, stress: bool) -> dict[str, float]:
    cycle = build()
    state = cycle.initial()
    times: list[float] = []
    changed = 0
    for snap in snapshots(cycles, seed, stress):
        t = time.perf_counter()
        out = cycle.run(snap, state, Signals())
        times.append(time.perf_counter() - t)
        state = out.state
        changed += any(s.source == "limiter" for s in out.setpoints)
    us = sorted(x * 1e6 for x in times[10:])  # the first cycles warm caches
    q = statistics.quantiles(us, n=100)
    return {
        "cycles": len(us),
        "p50_us": round(q[49]),
        "p95_us": round(q[94]),
        "max_us": round(us[-1]),
        "limiter_acted_pct": round(100.0 * changed / cycles, 1),
    }


def run(args: argparse.Namespace) -> int:
    if args.cycles < 10:
        print("wattwerk bench control_cycle: --cycles must be >= 10")
        return 2
    logging.getLogger("wattwerk.control").setLevel(logging.WARNING)  # episodes are logged at INFO
    result = {
        "devices": 20,
        "calm": measure(args.cycles, args.seed, False),
        "stress": measure(args.cycles, args.seed, True),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"control cycle, 20 devices (all laws + limiter), {args.cycles} cycles per regime")
        for name in ("calm", "stress"):
            r = result[name]
            print(
                f"  {name:6s} p50 {r['p50_us']:6d} us   p95 {r['p95_us']:6d} us   max {r['max_us']:6d} us"
                f"   limiter changed a setpoint in {r['limiter_acted_pct']} % of cycles"
            )
    return 0
