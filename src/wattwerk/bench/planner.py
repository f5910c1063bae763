"""``wattwerk bench planner``: planner solve time over sliding 48 h horizons of a real price year.

The window slides through the year in steps of ``--step-hours``; each window is one re-plan of a
house with a 10 kWh battery, an 11 kW charger with a commuter's EV and a heat pump on a buffer
tank, with real DE-LU day-ahead prices (SMARD 2024) in the typical German household tariff of
``market.defaults`` and the measured load and PV of the real household in ../shared/data/real.
Storage levels are carried from one window to the next (receding horizon), so the solver sees
the states it would see in operation. ``--futures`` adds the other futures of PV and load an edge
plans with once it has measured five days (``forecast.futures``). Prints p50/p95/max solve time (model
build included), the problem size and the process's peak RSS; never asserts anything about time.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wattwerk.control.plan_model import EV, Battery, Heater, Plan, PlanOptions, PlanRequest, ThermalStore
from wattwerk.control.planner import solve
from wattwerk.forecast.futures import FUTURE_DAYS, Future, day_factors, deficits, futures, persistence
from wattwerk.forecast.history import read_history_csv
from wattwerk.forecast.pv import fixed_fade
from wattwerk.forecast.site import LOAD_DECAY, RECENT_DECAY
from wattwerk.market.defaults import de_feed_in, de_household_dynamic
from wattwerk.market.smard import read_smard_csv
from wattwerk.market.tariff import FeedIn, Tariff, slot_index

REAL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "real"
PRICES = REAL / "prices_de_lu_2024_hourly_smard.csv"
HOUSE = REAL / "household_load_pv_fr_48.83N_6.86E_2024-02-28_2025-02-27_30min.csv"
TZ = "Europe/Berlin"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prices", type=Path, default=PRICES, help="SMARD price CSV (default: 2024 DE-LU)")
    parser.add_argument("--history", type=Path, default=HOUSE, help="household load/PV CSV")
    parser.add_argument("--step-hours", type=float, default=6.0, help="slide the window by this much")
    parser.add_argument("--horizon-hours", type=int, default=48)
    parser.add_argument("--slot-minutes", type=int, default=15, choices=(15, 60))
    parser.add_argument("--limit", type=int, default=0, help="stop after this many windows (0: whole year)")
    parser.add_argument("--integer", choices=("auto", "mip", "never"), default="auto")
    parser.add_argument("--strict-heaters", action="store_true", help="heat pump minimum power per slot")
    parser.add_argument(
        "--futures",
        action="store_true",
        help="also the other futures of PV and load, as an edge plans once it has measured 5 days",
    )
    parser.add_argument(
        "--compare-mip",
        type=int,
        default=0,
        metavar="N",
        help="also solve the first N windows as an exact MIP and report the gap",
    )


def _profile(history: pd.DataFrame, column: str, index: pd.DatetimeIndex) -> np.ndarray:
    """Slot means of the history at ``index``, the history's year repeated over other years."""
    step = index[1] - index[0]
    series = history[column].resample("15min").ffill(limit=1)
    series = series.interpolate(limit=4) if column == "load_w" else series.fillna(0.0)
    series = series.fillna(series.mean()).resample(step).mean()
    start, period = series.index[0], pd.Timedelta(days=366)
    offset = ((index - start) % period) // step
    return series.to_numpy()[np.minimum(offset, len(series) - 1)].clip(min=0.0)


def _weather(index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Outdoor temperature (°C) of a Central European year and the heat demand (W) of a
    house with UA 180 W/K heated to 20 °C plus 150 W hot water."""
    doy = index.day_of_year.to_numpy()
    hour = index.tz_convert(TZ).hour.to_numpy()
    t_out = 10.0 - 9.0 * np.cos((doy - 20) / 365 * 2 * np.pi) + 4.0 * np.sin((hour - 9) / 24 * 2 * np.pi)
    return t_out, 180.0 * np.clip(15.0 - t_out, 0, None) + 150.0


def _cop(t_out: np.ndarray, t_sink: float = 45.0) -> np.ndarray:
    return np.clip(0.45 * (t_sink + 273.15) / np.maximum(t_sink - t_out, 5.0), 1.5, 5.5)


def _ev_session(index: pd.DatetimeIndex) -> tuple[np.ndarray, int | None]:
    """Commuter: away 07:00-18:00 local on weekdays. Plugged in the current session only; its
    departure is the deadline (None at weekends without a departure in the horizon)."""
    local = index.tz_convert(TZ)
    away = (local.day_of_week < 5) & (local.hour >= 7) & (local.hour < 18)
    home = ~np.asarray(away)
    if not home[0]:
        arrive = int(np.argmax(home))
        plugged = np.zeros(len(index), bool)
        stop = arrive + int(np.argmax(~home[arrive:])) if (~home[arrive:]).any() else len(index)
        plugged[arrive:stop] = True
        return plugged, stop if stop < len(index) else None
    stop = int(np.argmax(~home)) if (~home).any() else len(index)
    plugged = np.zeros(len(index), bool)
    plugged[:stop] = True
    return plugged, stop if stop < len(index) else None


@dataclass
class _Tally:
    """What the windows' solves add up to."""

    times: list[float] = field(default_factory=list)
    passes: list[int] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    unsettled: int = 0
    mip_ms: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    size: dict[str, int] = field(default_factory=dict)

    def add(self, plan: Plan) -> None:
        self.times.append(plan.solve_ms)
        self.passes.append(plan.size.get("lp_passes", 1))
        self.statuses[plan.status] = self.statuses.get(plan.status, 0) + 1
        self.unsettled += plan.size.get("unsettled_slots", 0) > 0
        self.size = plan.size


def _request(
    args: argparse.Namespace,
    start: datetime | pd.Timestamp,
    index: pd.DatetimeIndex,
    prices: tuple[Tariff, FeedIn],
    history: pd.DataFrame,
    soc: float,
    tank: float | None,
) -> PlanRequest:
    """One window's re-plan of the house, from the battery and tank levels the last one left."""
    t_out, demand = _weather(index)
    plugged, deadline = _ev_session(index)
    store = ThermalStore.from_tank(
        300, 35, 55, 45, demand, (Heater("hp", 3000, _cop(t_out), min_power_w=900),), loss_w=40
    )
    if tank is not None:
        store = ThermalStore(store.capacity_wh, tank, demand, store.heaters, store.loss_w)
    tariff, feed_in = prices
    pv, load = _profile(history, "pv_w", index), _profile(history, "load_w", index)
    others: tuple[Future, ...] = ()
    if args.futures:
        pv, load, others = _futures(history, index, pv, load)
    return PlanRequest(
        start.to_pydatetime() if isinstance(start, pd.Timestamp) else start,
        args.slot_minutes,
        tariff.price(index),
        pv,
        load,
        feed_in.price(index),
        batteries=(Battery(10_000, soc, 5_000, 5_000, soc_min_pct=10.0, wear_eur_per_kwh=0.02),),
        evs=(EV(plugged, 12_000 if deadline is not None else 0.0, 11_000, 4_140, deadline=deadline),),
        thermal=(store,),
        max_import_w=25_000,
        max_export_w=7_000,
        futures=others,
    )


def _futures(
    history: pd.DataFrame, index: pd.DatetimeIndex, pv: np.ndarray, load: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[Future, ...]]:
    """The edge's other futures (``forecast.futures``) from how the PV and load of the
    ``FUTURE_DAYS`` days before the window strayed from their mean, PV capped at the measured peak;
    a day ahead each keeps what those days kept (``persistence``)."""
    per_day, days = 96, FUTURE_DAYS  # 15-min slots
    past = pd.date_range(index[0] - pd.Timedelta(days=days), periods=days * per_day, freq="15min")
    pv_days, load_days = (
        _profile(history, col, past).reshape(days, per_day).sum(axis=1) for col in ("pv_w", "load_w")
    )
    energies = pv_days, np.full(days, pv_days.mean()), load_days, np.full(days, load_days.mean())
    factors = day_factors(*energies)
    if factors is None:
        return pv, load, ()
    keep = persistence(deficits(*energies), list(past[::per_day].date))
    fades = fixed_fade(RECENT_DECAY, len(pv)), LOAD_DECAY ** np.arange(len(pv))
    day = int(pd.Timedelta(days=1) / (index[1] - index[0]))
    return futures(pv, load, factors, *fades, float(history["pv_w"].max()), 0.0, keep, day)


def run(args: argparse.Namespace) -> int:
    spot = read_smard_csv(args.prices)
    prices = de_household_dynamic(spot), de_feed_in()
    history = read_history_csv(args.history)
    n = args.horizon_hours * 60 // args.slot_minutes
    step = timedelta(hours=args.step_hours)
    carry = max(1, int(args.step_hours * 60 // args.slot_minutes))
    options = PlanOptions(integer=args.integer, strict_heaters=args.strict_heaters)
    soc, tank = 50.0, None
    tally = _Tally()
    start = spot.start
    wall = time.perf_counter()
    while start + timedelta(minutes=n * args.slot_minutes) <= spot.end:
        index = slot_index(start, n, args.slot_minutes)
        req = _request(args, start, index, prices, history, soc, tank)
        plan = solve(req, options)
        if plan.status == "fallback":
            print(f"{start}: {plan.message}")
        tally.add(plan)
        if len(tally.times) <= args.compare_mip:
            exact = solve(
                req, PlanOptions(integer="mip", time_limit_s=10.0, strict_heaters=args.strict_heaters)
            )
            tally.mip_ms.append(exact.solve_ms)
            tally.gaps.append(plan.objective_value - exact.objective_value)
        soc = float(plan.devices["bat"]["soc_pct"][carry - 1])
        tank = float(plan.devices["heat"]["energy_wh"][carry - 1])
        start += step
        if args.limit and len(tally.times) >= args.limit:
            break
    result = _result(args, tally, time.perf_counter() - wall)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>16}: {value}")
    return 0


def _result(args: argparse.Namespace, tally: _Tally, wall_s: float) -> dict[str, Any]:
    t = np.asarray(tally.times)
    result: dict[str, Any] = {
        "windows": len(t),
        "horizon_hours": args.horizon_hours,
        "slot_minutes": args.slot_minutes,
        "integer": args.integer,
        "strict_heaters": args.strict_heaters,
        "futures": args.futures,
        "solve_ms_p50": round(float(np.percentile(t, 50)), 2),
        "solve_ms_p95": round(float(np.percentile(t, 95)), 2),
        "solve_ms_max": round(float(t.max()), 2),
        "solve_ms_mean": round(float(t.mean()), 2),
        "passes_mean": round(float(np.mean(tally.passes)), 2),
        "passes_max": int(max(tally.passes)),
        "status": tally.statuses,
        "windows_with_unsettled_slots": tally.unsettled,
        "problem": tally.size,
        "wall_s": round(wall_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "prices": str(args.prices.name),
    }
    if tally.mip_ms:
        result["mip_windows"] = len(tally.mip_ms)
        result["mip_solve_ms_p50"] = round(float(np.percentile(tally.mip_ms, 50)), 1)
        result["mip_solve_ms_p95"] = round(float(np.percentile(tally.mip_ms, 95)), 1)
        result["auto_minus_mip_eur_mean"] = round(float(np.mean(tally.gaps)), 4)
        result["auto_minus_mip_eur_max"] = round(float(np.max(tally.gaps)), 4)
    return result
