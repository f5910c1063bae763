"""``wattwerk bench control``: a year on the site simulator, strategy by strategy (issue 6).

The real household (measured 30-min load and PV, ../shared/data/real) with a 10 kWh battery, an
11 kW charger with a commuter's EV and a heat pump on the simulator's TRY weather; real DE-LU
day-ahead prices in a typical German household tariff (``market.defaults``). Strategies: ``none``,
``surplus``, ``planner`` (no peeking), ``oracle`` (perfect foresight) and ``emhass`` (reported as
not run, with the reason). See docs/benchmark-control.md for the method and the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from wattwerk.bench.year.curtail import ExportLimiter
from wattwerk.bench.year.futures import future_factors
from wattwerk.bench.year.laws import (
    Forecasts,
    NoManager,
    Planned,
    Surplus,
    actual_series,
    pv_correction,
    pv_forecast,
    pv_shape_correction,
    pv_week_mean,
)
from wattwerk.bench.year.meter import Meter, cost_eur
from wattwerk.bench.year.world import (
    DEFAULT_DAYS,
    SLOT_S,
    STEP_S,
    Setup,
    Year,
    build_year,
    default_setup,
    tariff_facts,
)
from wattwerk.market.dayahead import FORECAST_DISCOUNT
from wattwerk.progress import Progress
from wattwerk.sim.site import SiteSim

STRATEGIES = ("none", "surplus", "planner", "oracle", "emhass")
EMHASS_REASON = (
    "not run without --emhass-python (a venv with emhass: see docs/benchmark-control.md). Not in the "
    "project's venv: emhass 0.18.7 (the current release) pins numpy 2.2.6, pandas 2.3.3 and uvicorn "
    "0.30.6 (downgrades of the project's venv) and pulls the PyPI package 'asyncio' 4.0.0, which "
    "shadows the standard library; installing it would break the shared environment."
)


# what the planner does with the information of the moment, beyond the plain forecasts (measured on
# five 3-week windows, see docs/benchmark-control.md): intraday PV from the last two hours' yield,
# the load's last deviation fading out, and forecast prices a little below the persisted ones
PLANNER_TUNING: dict[str, Any] = {
    "pv_recent_slots": 4,
    "pv_recent_decay": 0.85,
    "load_recent_decay": 0.7,
    "forecast_price_discount": FORECAST_DISCOUNT,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--year",
        default=None,
        help="a data set (fr-2024: ../shared/data/real, the default; konstanz-2016: bench/data, the "
        "second one) or a household CSV (timestamp_utc, load_w, pv_w, pv_forecast_w; 30 min)",
    )
    parser.add_argument("--prices", type=Path, nargs="+", default=None, help="SMARD price CSVs (together)")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="simulate this many days")
    parser.add_argument(
        "--start",
        type=_date,
        default=None,
        help="first day (YYYY-MM-DD, local midnight CET); default: the household file's year",
    )
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="comma separated")
    parser.add_argument(
        "--shift-heat",
        action="store_true",
        help="planner/oracle also shift the heat pump via SG-Ready (default: it keeps its own thermostat)",
    )
    parser.add_argument(
        "--emhass-python",
        default=os.environ.get("WATTWERK_EMHASS_PYTHON", ""),
        help="Python of a separate venv with emhass installed (runs the emhass strategy)",
    )
    parser.add_argument(
        "--emhass-replan-slots",
        type=int,
        default=2,
        help="EMHASS re-plans every N slots (2 = hourly; 1 = every slot like the planner)",
    )
    parser.add_argument(
        "--export-limit-w",
        type=float,
        default=None,
        help="the connection's export limit in W (default 7000; 0: zero export)",
    )
    parser.add_argument(
        "--feed-in-limit-pct",
        type=float,
        default=None,
        help="export at most this %% of the PV peak (kWp x --pv-scale), e.g. 60",
    )
    parser.add_argument(
        "--pv-scale", type=float, default=1.0, help="scale the measured PV (and the array) by this factor"
    )
    parser.add_argument("--jobs", type=int, default=2, help="strategies simulated in parallel processes")
    parser.add_argument(
        "--partial",
        default="",
        metavar="DIR",
        help="every 10 simulated days write each run's figures so far to DIR",
    )
    parser.add_argument(
        "--chunks",
        type=int,
        default=1,
        help="split the period into N consecutive parts simulated in parallel, each from "
        "the simulator's initial state, figures merged (for the slow emhass strategy)",
    )


def _date(text: str) -> datetime:
    """``YYYY-MM-DD`` as the UTC instant of that day's local midnight (CET, UTC+1, as the default)."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--start {text!r}: expected YYYY-MM-DD") from exc
    return day.replace(tzinfo=UTC) - timedelta(hours=1)


def make_law(name: str, year: Year, sim: SiteSim) -> Any:
    if name == "none":
        return NoManager()
    if name == "surplus":
        return Surplus()
    if name in ("planner", "oracle"):
        heat = year.setup.shift_heat
        if name == "oracle":
            load, pv = actual_series(year, sim)
            return Planned(year, Forecasts(load, pv, oracle=True), name="oracle", shift_heat=heat)
        scale, has = pv_correction(year)
        shape, (futures, keep), week = pv_shape_correction(year), future_factors(year), pv_week_mean(year)
        fc = Forecasts(None, pv_forecast(year), False, scale, has, shape, futures, week, keep)
        return Planned(year, fc, shift_heat=heat, **PLANNER_TUNING)
    if name == "emhass":
        from wattwerk.bench.year.emhass_runner import Emhass

        scale, has = pv_correction(year)
        week = pv_week_mean(year)
        return Emhass(
            year,
            Forecasts(None, pv_forecast(year), False, scale, has, pv_shape_correction(year), pv_week=week),
            name="emhass",
            replan_slots=year.setup.emhass_replan_slots,
            python=year.setup.emhass_python,
            **PLANNER_TUNING,
        )  # the same forecasts as the planner
    raise ValueError(f"unknown strategy {name!r}; have {', '.join(STRATEGIES)}")


def simulate(setup: Setup, name: str, year: Year | None = None, progress: bool = False) -> dict[str, Any]:
    """Run one strategy over the setup's period; the figures of :func:`figures`."""
    if name == "emhass" and not setup.emhass_python:
        return {"status": "not_run", "reason": EMHASS_REASON}
    wall = time.perf_counter()
    year = year or build_year(setup)
    sim, meter, law = start(setup, name, year)
    steps = setup.days * 86400 // STEP_S
    per_day = 86400 // STEP_S
    line = Progress(
        f"{name} from {setup.start:%Y-%m-%d}",
        steps,
        enabled=None if progress else False,
        where=lambda k: f"day {int(k) // per_day}/{setup.days}",
    )
    for k in range(steps):
        step(sim, meter, law)
        line.update(k + 1)
        if progress and setup.partial_dir and (k + 1) % (per_day * 10) == 0:
            part = figures(sim, meter, year, law, time.perf_counter() - wall)  # for a run that may not finish
            part["days_done"] = (k + 1) // per_day
            path = Path(setup.partial_dir) / f"{name}-{setup.start:%Y%m%dT%H%M}.json"
            path.write_text(json.dumps(part))
    line.close()
    if hasattr(law, "close"):
        law.close()
    return figures(sim, meter, year, law, time.perf_counter() - wall)


def start(setup: Setup, name: str, year: Year) -> tuple[SiteSim, Meter, Any]:
    """The simulator, its independent meter and the strategy's law, at the start of the period."""
    sim = SiteSim(setup.site(), setup.start)
    sim.pv_limiter = ExportLimiter(setup.export_cap_w)  # every strategy behind the same limiter
    law = make_law(name, year, sim)
    meter = Meter(
        sim, setup.n_slots, setup.start.timestamp(), SLOT_S, setup.import_limit_w, setup.export_cap_w
    )
    return sim, meter, law


def step(sim: SiteSim, meter: Meter, law: Any) -> None:
    """One control step: the law acts on what it sees, the simulator steps, the meter reads."""
    law.act(sim, sim.t)
    sim.step(STEP_S)
    meter.after_step(STEP_S)


def figures(sim: SiteSim, meter: Meter, year: Year, law: Any, wall_s: float) -> dict[str, Any]:
    c = sim.channels()
    imp, exp_ = c["grid.energy_import"], c["grid.energy_export"]
    pv = sum(a.energy for a in sim.pv)
    hp = sim.heat_pump
    used = c["house.energy"] + sum(e.energy for e in sim.evs) + (hp.energy if hp else 0.0)
    pct, sessions, short = meter.ev_delivered_pct()
    requested = sum(x.requested_wh for x in meter.sessions)
    delivered = sum(min(x.delivered_wh, x.requested_wh) for x in meter.sessions)
    out: dict[str, Any] = {
        "status": "ok",
        "cost_eur": round(cost_eur(meter.slot_import_wh, meter.slot_export_wh, year.buy, year.sell), 2),
        "grid_import_kwh": round(imp / 1000, 1),
        "grid_export_kwh": round(exp_ / 1000, 1),
        "self_consumption_pct": round(100.0 * max(pv - exp_, 0.0) / pv, 1) if pv > 0 else 0.0,
        "autarky_pct": round(100.0 * (1.0 - imp / used), 1) if used > 0 else 0.0,
        "peak_import_kw": round(meter.peak_import_w / 1000, 2),
        "ev_energy_delivered_pct": round(pct, 2),
        "limit_violations": sum(meter.violations.values()),
        "violations_by_kind": dict(meter.violations),
        "ev_sessions": sessions,
        "ev_sessions_short": short,
        "ev_requested_kwh": round(requested / 1000, 3),
        "ev_delivered_kwh": round(delivered / 1000, 3),
        "ev_kwh": round(sum(e.energy for e in sim.evs) / 1000, 1),
        "heat_pump_kwh": round(hp.energy / 1000, 1) if hp else 0.0,
        "heat_delivered_kwh": round(hp.demand_energy / 1000, 1) if hp else 0.0,
        "pv_kwh": round(pv / 1000, 1),
        "curtailed_kwh": round(sim.pv_limiter.curtailed_wh / 1000, 1) if sim.pv_limiter else 0.0,
        "house_kwh": round(c["house.energy"] / 1000, 1),
        "battery_throughput_kwh": round(
            (c.get("bat.energy_charge", 0) + c.get("bat.energy_discharge", 0)) / 1000, 1
        ),
        "balance_error_wh": round(sim.balance_error_wh(), 3),
        "bad_commands": sim.ledger.total(),
        "wall_s": round(wall_s, 1),
    }
    if isinstance(law, Planned) and law.solve_ms:
        t = np.asarray(law.solve_ms)
        out["solve_ms_p50"] = round(float(np.percentile(t, 50)), 2)
        out["solve_ms_p95"] = round(float(np.percentile(t, 95)), 2)
        out["solve_ms_max"] = round(float(t.max()), 2)
        out["plans"] = len(t)
        out["plan_status"] = law.statuses
        out["fallback_pct"] = round(100.0 * law.statuses.get("fallback", 0) / len(t), 3)
        out["_solve_ms"] = law.solve_ms  # for merging chunks; dropped from the report
    return out


def _one(args: tuple[Setup, str]) -> tuple[str, dict[str, Any]]:
    setup, name = args
    return name, simulate(setup, name, progress=True)


def chunked(setup: Setup, chunks: int) -> list[Setup]:
    """The period as ``chunks`` consecutive parts of whole days (the last takes the rest)."""
    size = max(1, setup.days // chunks)
    parts, day = [], 0
    while day < setup.days:
        days = size if len(parts) < chunks - 1 else setup.days - day
        days = min(days, setup.days - day)
        parts.append(replace(setup, start=setup.start + timedelta(days=day), days=days))
        day += days
    return parts


SUMMED = (
    "cost_eur",
    "curtailed_kwh",
    "grid_import_kwh",
    "grid_export_kwh",
    "ev_sessions",
    "ev_sessions_short",
    "ev_kwh",
    "heat_pump_kwh",
    "heat_delivered_kwh",
    "pv_kwh",
    "house_kwh",
    "battery_throughput_kwh",
    "balance_error_wh",
    "bad_commands",
    "limit_violations",
    "ev_requested_kwh",
    "ev_delivered_kwh",
)


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One strategy's figures over consecutive chunks: energies, costs and counts summed, ratios
    recomputed from the sums, peaks the highest, solve times over all re-plans."""
    bad = [p for p in parts if p.get("status") != "ok"]
    if bad:
        return bad[0]
    out: dict[str, Any] = {"status": "ok", "chunks": len(parts)}
    for key in SUMMED:
        out[key] = round(sum(p[key] for p in parts), 3)
    out["cost_eur"] = round(out["cost_eur"], 2)
    pv, exp_, imp = out["pv_kwh"], out["grid_export_kwh"], out["grid_import_kwh"]
    used = out["house_kwh"] + out["ev_kwh"] + out["heat_pump_kwh"]
    out["self_consumption_pct"] = round(100.0 * max(pv - exp_, 0.0) / pv, 1) if pv > 0 else 0.0
    out["autarky_pct"] = round(100.0 * (1.0 - imp / used), 1) if used > 0 else 0.0
    out["peak_import_kw"] = max(p["peak_import_kw"] for p in parts)
    req = out["ev_requested_kwh"]
    out["ev_energy_delivered_pct"] = round(100.0 * out["ev_delivered_kwh"] / req, 2) if req > 0 else 100.0
    kinds: dict[str, int] = {}
    for p in parts:
        for k, v in p["violations_by_kind"].items():
            kinds[k] = kinds.get(k, 0) + v
    out["violations_by_kind"] = kinds
    out["wall_s"] = round(sum(p["wall_s"] for p in parts), 1)
    times = [t for p in parts for t in p.get("_solve_ms", [])]
    if times:
        t = np.asarray(times)
        out["solve_ms_p50"] = round(float(np.percentile(t, 50)), 2)
        out["solve_ms_p95"] = round(float(np.percentile(t, 95)), 2)
        out["solve_ms_max"] = round(float(t.max()), 2)
        out["plans"] = len(t)
        status: dict[str, int] = {}
        for p in parts:
            for k, v in p.get("plan_status", {}).items():
                status[k] = status.get(k, 0) + v
        out["plan_status"] = status
        out["fallback_pct"] = round(100.0 * status.get("fallback", 0) / len(t), 3)
    return out


def goals(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Issue 6's "done when", measured."""
    ok = {k: v for k, v in results.items() if v.get("status") == "ok"}
    out: dict[str, Any] = {}
    if {"none", "planner", "oracle"} <= ok.keys():
        best = ok["none"]["cost_eur"] - ok["oracle"]["cost_eur"]
        got = ok["none"]["cost_eur"] - ok["planner"]["cost_eur"]
        out["planner_share_of_oracle_saving_pct"] = round(100.0 * got / best, 1) if best > 0 else None
    if "planner" in ok:
        p = ok["planner"]
        for other in ("surplus", "emhass"):
            if other in ok:
                out[f"planner_cheaper_than_{other}_eur"] = round(ok[other]["cost_eur"] - p["cost_eur"], 2)
        out["planner_ev_delivered_pct"] = p["ev_energy_delivered_pct"]
        out["planner_limit_violations"] = p["limit_violations"]
        out["planner_fallback_pct"] = p.get("fallback_pct")
        if "none" in ok:
            out["planner_cheaper_than_none_eur"] = round(ok["none"]["cost_eur"] - p["cost_eur"], 2)
        out["planner_solve_ms_p95"] = p.get("solve_ms_p95")
    return out


def run(args: argparse.Namespace) -> int:
    names = [s.strip() for s in args.strategies.split(",") if s.strip()]
    bad = [n for n in names if n not in STRATEGIES]
    if bad:
        print(f"unknown strategy {bad[0]!r}; have {', '.join(STRATEGIES)}", file=sys.stderr)
        return 2
    try:
        if min(args.days, args.emhass_replan_slots, args.chunks, args.jobs) < 1:
            raise ValueError("--days, --emhass-replan-slots, --chunks and --jobs must be at least 1")
        setup = default_setup(args.days, args.year, tuple(args.prices) if args.prices else None, args.start)
        if args.pv_scale <= 0 or (args.export_limit_w is not None and args.export_limit_w < 0):
            raise ValueError("--pv-scale must be > 0 and --export-limit-w >= 0")
        if args.feed_in_limit_pct is not None and not 0 <= args.feed_in_limit_pct <= 100:
            raise ValueError("--feed-in-limit-pct must be between 0 and 100")
        setup = replace(
            setup,
            shift_heat=args.shift_heat,
            emhass_python=args.emhass_python,
            emhass_replan_slots=args.emhass_replan_slots,
            partial_dir=args.partial,
            pv_scale=args.pv_scale,
            feed_in_limit_pct=args.feed_in_limit_pct,
        )
        if args.export_limit_w is not None:
            setup = replace(setup, export_limit_w=args.export_limit_w)
    except (FileNotFoundError, ValueError) as exc:
        print(f"wattwerk bench control: {exc}", file=sys.stderr)
        return 2
    wall = time.perf_counter()
    print(
        f"bench control: {setup.days} days from {setup.start:%Y-%m-%d %H:%M} UTC, strategies "
        f"{', '.join(names)}, {args.jobs} process(es)",
        file=sys.stderr,
        flush=True,
    )
    parts = chunked(setup, max(1, args.chunks))
    # the slow ones first, so they overlap with the quick ones
    order = sorted(names, key=lambda n: n not in ("emhass", "planner", "oracle"))
    tasks = [(part, n) for n in order for part in parts]
    found: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    if args.jobs > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for name, res in pool.map(_one, tasks):
                found[name].append(res)
    else:
        for task in tasks:
            name, res = _one(task)
            found[name].append(res)
    results = {n: merge(found[n]) if len(parts) > 1 else found[n][0] for n in names}
    for r in results.values():
        r.pop("_solve_ms", None)
    report = {
        "period": {
            "start": setup.start.isoformat(),
            "days": setup.days,
            "slot_minutes": SLOT_S // 60,
            "emhass_replan_slots": setup.emhass_replan_slots,
            "chunks": len(parts),
            "sim_step_s": STEP_S,
            "planner_shifts_heat_pump": setup.shift_heat,
            "year_csv": setup.year_csv.name,
            "prices": [p.name for p in setup.price_files],
        },
        "tariff_eur_per_kwh": tariff_facts(),
        "limits_w": {"import": setup.import_limit_w, "export": setup.export_cap_w},
        "pv": {"kwp": setup.pv_kwp, "scale": setup.pv_scale, "feed_in_limit_pct": setup.feed_in_limit_pct},
        "strategies": results,
        "goals": goals(results),
        "wall_s": round(time.perf_counter() - wall, 1),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(table(report))
    return 0


COLUMNS = (
    "cost_eur",
    "grid_import_kwh",
    "grid_export_kwh",
    "curtailed_kwh",
    "self_consumption_pct",
    "autarky_pct",
    "peak_import_kw",
    "ev_energy_delivered_pct",
    "limit_violations",
    "fallback_pct",
    "solve_ms_p50",
    "solve_ms_p95",
)


def table(report: dict[str, Any]) -> str:
    """The results as a Markdown table, then the goals."""
    lines = ["| strategy | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, r in report["strategies"].items():
        if r.get("status") != "ok":
            lines.append(f"| {name} | " + " | ".join("–" for _ in COLUMNS) + " |")
            continue
        lines.append(f"| {name} | " + " | ".join(str(r.get(c, "–")) for c in COLUMNS) + " |")
    for name, r in report["strategies"].items():
        if r.get("status") != "ok":
            lines.append(f"\n{name}: {r.get('reason')}")
    lines.append("\ngoals: " + json.dumps(report["goals"]))
    lines.append(f"tariff (€/kWh): {json.dumps(report['tariff_eur_per_kwh'])}")
    lines.append(f"wall time: {report['wall_s']} s")
    return "\n".join(lines)
