"""``wattwerk bench sim [--json] [--step 60] [--days 365]``: site simulator speed.

Prints steps per second and seconds per simulated year (setup, i.e. the vectorised
precomputation of profiles and PV, reported apart), plus the year's energy totals.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--step", type=float, default=60.0, help="step in seconds (default 60)")
    parser.add_argument("--days", type=float, default=365.0, help="simulated days (default 365)")
    parser.add_argument("--year", type=int, default=2025, help="calendar year to start in (UTC)")


def run(args: argparse.Namespace) -> int:
    from wattwerk.sim import SiteSim

    if args.step <= 0 or args.days <= 0:
        print("wattwerk bench sim: --step and --days must be > 0")
        return 2
    t0 = time.perf_counter()
    sim = SiteSim(start=datetime(args.year, 1, 1, tzinfo=UTC))
    sim.step(args.step)  # the first step loads the year's precomputed series
    t1 = time.perf_counter()
    sim.run(args.days * 86400.0 - args.step, args.step)
    t2 = time.perf_counter()
    steps = sim.steps - 1
    rate = steps / (t2 - t1)
    c = sim.channels()
    kwh = {
        k: round(c[k] / 1000.0, 1)
        for k in (
            "grid.energy_import",
            "grid.energy_export",
            "pv1.energy",
            "house.energy",
            "ev1.energy",
            "hp.energy",
            "rod.energy",
            "bat.energy_charge",
            "bat.energy_discharge",
        )
        if k in c
    }
    result = {
        "step_s": args.step,
        "days": args.days,
        "setup_s": round(t1 - t0, 3),
        "steps": steps,
        "steps_per_s": round(rate),
        "s_per_simulated_year": round(365 * 86400 / args.step / rate + (t1 - t0), 2),
        "balance_error_wh": sim.balance_error_wh(),
        "energy_kwh": kwh,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"site simulator, step {args.step:g} s, {args.days:g} days: {steps} steps")
        print(f"  setup (profiles, PV year) {result['setup_s']:.3f} s")
        rate, year = result["steps_per_s"], result["s_per_simulated_year"]
        print(f"  {rate:,} steps/s -> {year:.2f} s per simulated year")
        print(f"  balance error {result['balance_error_wh']:.3g} Wh")
        for k, v in kwh.items():
            print(f"  {k:24s} {v:10.1f} kWh")
    return 0
