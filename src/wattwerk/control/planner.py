"""The planner: least-cost (or least-CO₂, most self-consumption) schedule of batteries, EVs and
heat stores over the slots of known prices, solved with HiGHS (highspy) as an LP or small MIP.

The model (built in ``plan_lp`` with highspy's bulk API, a few milliseconds for 192 slots)
works in kW and kWh. Per slot: grid import and export, PV curtailment, battery charge and
discharge, EV and heater power; storage levels at the end of each slot. Balance per slot:

    import − export + pv − curtail + Σ discharge − Σ charge − Σ ev − Σ heaters = load

Binaries are avoided where an LP is exact: with a round-trip efficiency below one and positive
prices, charging and discharging in one slot only loses energy, and importing and exporting at
once only pays while feed-in beats the buy price. Where that is not so (negative prices, feed-in
above the buy price) and for chargers with a minimum power, ``integer="auto"`` solves the LP and
re-solves from its basis with the few wrong choices fixed (see ``LpModel.solve``); ``"mip"``
adds binaries and semi-continuous columns and solves exactly under a time limit and gap. Unmet
EV energy, unmet heat and import above the grid limit are penalised slacks, so every request
yields a usable plan and the shortfall is reported instead of an "infeasible".
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import highspy
import numpy as np

from wattwerk.control.plan_lp import INF, LpModel
from wattwerk.control.plan_model import EV, Battery, Plan, PlanOptions, PlanRequest, ThermalStore
from wattwerk.forecast.futures import Future

K = 1000.0  # the model works in kW and kWh: coefficients near 1 keep HiGHS fast and exact
EPS_EUR = 1e-5  # €/kWh on grid and battery flows: breaks ties against pointless flows


def _per_slot(value: float | object, n: int, what: str) -> np.ndarray:
    a = np.asarray(value, dtype=float)
    a = np.full(n, float(a)) if a.ndim == 0 else a
    if a.shape != (n,):
        raise ValueError(f"{what}: {a.shape[0]} values for {n} slots")
    if not np.isfinite(a).all():
        raise ValueError(f"{what}: not finite in slot {int(np.argmin(np.isfinite(a)))}")
    return a


def _weights(req: PlanRequest, buy: np.ndarray, sell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Objective weight per kWh imported and per kWh exported (negative = earns)."""
    if req.objective == "cost":
        if req.co2_eur_per_kg and req.co2_g_per_kwh is not None:
            co2 = _per_slot(req.co2_g_per_kwh, req.n, "co2_g_per_kwh")
            return buy + co2 / 1000.0 * req.co2_eur_per_kg, -sell
        return buy, -sell
    tie = 1e-3  # money still breaks ties
    if req.objective == "co2":
        if req.co2_g_per_kwh is None:
            raise ValueError("objective 'co2' needs co2_g_per_kwh")
        co2 = _per_slot(req.co2_g_per_kwh, req.n, "co2_g_per_kwh")
        return co2 / 1000.0 + tie * buy, -tie * sell
    if req.objective == "self_consumption":
        return 1.0 + tie * buy, -tie * sell
    raise ValueError(f"unknown objective {req.objective!r}")


@dataclass
class _Model:
    """The LP of one request and the columns the plan is read from."""

    m: LpModel
    buy: np.ndarray
    sell: np.ndarray
    pv: np.ndarray
    load: np.ndarray
    imp: np.ndarray
    exp_: np.ndarray
    curt: np.ndarray
    excess: np.ndarray | None
    bats: list
    evs: list
    stores: list
    weight: float = 1.0  # this future's share of the expected cost
    futures: list[_Model] = field(default_factory=list)  # the other futures' copies


def _build(req: PlanRequest, options: PlanOptions) -> _Model:
    """The LP of the central forecast, plus one copy per other future whose first slot's device
    decisions are tied to the central one's (the rest of each copy adapts to its own future);
    costs weighted by each future's weight."""
    m = LpModel()
    futures = [Future(*f) for f in req.futures]
    if any(f.weight <= 0 for f in futures) or sum(f.weight for f in futures) >= 1.0:
        raise ValueError("futures: weights must be > 0 and sum to less than 1")
    central = _build_one(m, req, req.pv_w, req.load_w, options, 1.0 - sum(f.weight for f in futures))
    for f in futures:
        pv = np.array(f.pv_w, dtype=float)
        load = np.array(req.load_w if f.load_w is None else f.load_w, dtype=float)
        # the first slot's decisions are the same in every future: so are its PV and load (else a
        # full battery at zero export could not curtail alike in all)
        if len(pv) and len(load):
            pv[0], load[0] = req.pv_w[0], req.load_w[0]
        other = _build_one(m, req, pv, load, options, f.weight)
        for a, b in zip(_first_decisions(central), _first_decisions(other), strict=True):
            m.rows(0.0, 0.0, (a, 1.0), (b, -1.0), n=1)
        central.futures.append(other)
    return central


def _first_decisions(md: _Model) -> list[np.ndarray]:
    """The columns of slot 0 that a device is told now (the same in every future)."""
    cols = [md.curt[:1]]
    cols += [c[:1] for b in md.bats for c in b[:2]]
    cols += [p[:1] for p, _ in md.evs]
    cols += [h[:1] for heaters, *_ in md.stores for h in heaters]
    return cols


def _build_one(
    m: LpModel,
    req: PlanRequest,
    pv_w: Sequence[float],
    load_w: Sequence[float],
    options: PlanOptions,
    weight: float,
) -> _Model:
    first_cost = len(m.cost)
    n, dt = req.n, req.dt_h
    buy = _per_slot(req.buy_eur_per_kwh, n, "buy_eur_per_kwh")
    sell = _per_slot(req.sell_eur_per_kwh, n, "sell_eur_per_kwh")
    pv = np.maximum(_per_slot(pv_w, n, "pv_w"), 0.0)
    load = np.maximum(_per_slot(load_w, n, "load_w"), 0.0)
    w_imp, w_exp = _weights(req, buy, sell)
    k = dt  # kW over one slot → kWh
    pv_k, load_k = pv / K, load / K
    penalty = options.penalty_factor * max(float(np.abs(w_imp).max()), float(np.abs(w_exp).max()), 0.1) + 1.0

    # a hair of cost on every flow makes a fake flow strictly worse where it would tie
    imp = m.cols(n, 0.0, INF, k * (w_imp + EPS_EUR))
    max_export = req.max_export_w if req.max_export_w >= 1.0 else 0.0  # below 1 W: none
    exp_ = m.cols(n, 0.0, max_export / K, k * (w_exp + EPS_EUR))
    curt = m.cols(n, 0.0, pv_k if req.curtail else 0.0)
    excess = m.cols(n, 0.0, INF, k * penalty * 10) if math.isfinite(req.max_import_w) else None
    if excess is not None:
        m.rows(-INF, req.max_import_w / K, (imp, 1.0), (excess, -1.0), n=n)

    balance: list[tuple[np.ndarray, float | np.ndarray]] = [(imp, 1.0), (exp_, -1.0), (curt, -1.0)]
    bats = [_battery(m, b, n, dt, w_imp, pv_k, balance) for b in req.batteries]
    evs = [_ev(m, e, n, dt, penalty, balance) for e in req.evs]
    stores = [_thermal(m, s, n, dt, penalty, balance, options.strict_heaters) for s in req.thermal]
    m.rows(load_k - pv_k, load_k - pv_k, *balance, n=n)

    # importing and exporting at once pays only where feed-in beats buying: exclusive there
    both = np.flatnonzero(w_exp + w_imp < 0)
    if len(both):
        flex = load + sum(b.max_charge_w for b in req.batteries) + sum(e.max_power_w for e in req.evs)
        flex = flex + sum(h.max_power_w for s in req.thermal for h in s.heaters)
        top_imp = np.minimum(flex[both], req.max_import_w) / K
        top_exp = np.minimum(pv[both] + sum(b.max_discharge_w for b in req.batteries), max_export) / K
        m.exclusive(imp[both], top_imp, exp_[both], top_exp)
    if weight != 1.0:  # this future's share of the expected cost
        m.cost[first_cost:] = [c * weight for c in m.cost[first_cost:]]
    return _Model(m, buy, sell, pv, load, imp, exp_, curt, excess, bats, evs, stores, weight)


def solve(req: PlanRequest, options: PlanOptions | None = None) -> Plan:
    """Plan the horizon of ``req``; never raises for a hard-to-meet request (see module docstring),
    only for malformed input (ValueError naming the field)."""
    options = options or PlanOptions()
    t0 = time.perf_counter()
    md = _build(req, options)
    m = md.m
    build_ms = (time.perf_counter() - t0) * 1000
    h, sol, status, passes = m.solve(options)
    solve_ms = (time.perf_counter() - t0) * 1000
    size = {
        "slots": req.n,
        "columns": m.ncol,
        "rows": m.nrow,
        "integer_columns": m.n_integer,
        "lp_passes": passes,
    }
    if sol is None:
        why = f"HiGHS: {h.modelStatusToString(status)}"
        return _fallback(req, md.buy, md.sell, md.pv, md.load, why, solve_ms, size)

    pairs_left, semis_left = m._violations(sol)
    left = sum(len(x) for x in pairs_left) + sum(len(x) for x in semis_left)
    note = f"; {left} slot(s) with a simultaneous flow or sub-minimum power left" if left else ""
    size["unsettled_slots"] = left
    label = {highspy.HighsModelStatus.kOptimal: "optimal", highspy.HighsModelStatus.kTimeLimit: "time_limit"}
    plan = Plan(
        req.start,
        req.slot_minutes,
        label.get(status, h.modelStatusToString(status)),
        f"built in {build_ms:.1f} ms, {passes} solver pass(es){note}",
        solve_ms,
        req.objective,
        md.buy,
        md.sell,
        md.pv,
        md.load,
        sol[md.imp] * K,
        sol[md.exp_] * K,
        sol[md.curt] * K,
        size=size,
    )
    _read_devices(req, md, sol, plan)
    if h.getModelStatus() == highspy.HighsModelStatus.kOptimal and h.getInfo().dual_solution_status == 2:
        duals = np.asarray(h.getSolution().row_dual)
        for j, b in enumerate(req.batteries):  # −∂cost/∂(energy in store), in the central future
            value = -duals[md.bats[j][3]] / md.weight
            value[0] = -sum(duals[f.bats[j][3][0]] for f in (md, *md.futures))  # now: in every future
            plan.stored_value_eur_per_kwh[b.name] = value
    return plan


def _read_devices(req: PlanRequest, md: _Model, sol: np.ndarray, plan: Plan) -> None:
    """Each device's schedule, the shortfalls, costs and the import excess, from the solution."""
    dt, k = req.dt_h, req.dt_h
    for b, cols in zip(req.batteries, md.bats, strict=True):
        ch, dis, soc = sol[cols[0]], sol[cols[1]], sol[cols[2]]
        plan.devices[b.name] = {"power_w": (dis - ch) * K, "soc_pct": soc * K / b.capacity_wh * 100.0}
        plan.wear_eur += float(b.wear_eur_per_kwh * k * (ch + dis).sum())
    for e, (p, short) in zip(req.evs, md.evs, strict=True):
        power = sol[p] * K
        plan.devices[e.name] = {"power_w": power, "energy_wh": np.cumsum(power) * dt * e.efficiency}
        plan.shortfall_wh[e.name] = float(sol[short].sum() * K)
    for s, (heaters, level, unmet, end_short) in zip(req.thermal, md.stores, strict=True):
        for heater, cols in zip(s.heaters, heaters, strict=True):
            plan.devices[heater.name] = {"power_w": sol[cols] * K}
        plan.devices[s.name] = {"energy_wh": sol[level] * K}
        plan.shortfall_wh[s.name] = float((sol[unmet].sum() * dt + sol[end_short].sum()) * K)
    plan.cost_eur = float(dt / 1000.0 * (md.buy @ plan.import_w - md.sell @ plan.export_w))
    plan.objective_value = float(md.m.cost_of(sol))
    if req.co2_g_per_kwh is not None:
        plan.co2_kg = float(dt / 1e6 * (_per_slot(req.co2_g_per_kwh, req.n, "co2") @ plan.import_w))
    if md.excess is not None:
        plan.import_excess_w = float(sol[md.excess].max(initial=0.0) * K)


def _battery(
    m: LpModel, b: Battery, n: int, dt: float, w_imp: np.ndarray, pv: np.ndarray, balance: list
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Columns charge, discharge (kW) and stored energy (kWh, end of slot), and the rows of the
    energy balance; ``pv`` in kW."""
    cap = b.capacity_wh / K
    pc, pd = b.max_charge_w / K, b.max_discharge_w / K
    e0 = min(max(b.soc_pct, 0.0), 100.0) / 100.0 * cap
    emin, emax = b.soc_min_pct / 100.0 * cap, b.soc_max_pct / 100.0 * cap
    ch_ub = np.full(n, pc) if b.grid_charge else np.minimum(pv, pc)
    # a battery outside its SoC band now may only move towards it (forcing it back at full power
    # could be impossible: no sink for the energy, no import headroom)
    lo = np.full(n, min(emin, e0))
    hi = np.full(n, max(emax, e0))
    wear = dt * (b.wear_eur_per_kwh + EPS_EUR)
    ch = m.cols(n, 0.0, ch_ub, wear)
    dis = m.cols(n, 0.0, pd, wear)
    value = b.terminal_value_eur_per_kwh
    if value is None:  # stored energy is worth what it saves later: the mean import weight, after losses
        value = max(float(np.mean(w_imp)), 0.0) * b.eff_discharge
    cost = np.zeros(n)
    cost[-1] = -value
    soc = m.cols(n, lo, hi, cost)
    prev = np.concatenate(([-1], soc[:-1]))
    rhs = np.zeros(n)
    rhs[0] = e0
    rows = np.arange(m.nrow, m.nrow + n)  # their duals: the value of a kWh stored, per slot
    # soc[t] − soc[t−1] − dt·ηc·ch[t] + dt/ηd·dis[t] = 0   (soc[−1] = e0 moves to the right side)
    m.rows(rhs, rhs, (soc, 1.0), (prev, -1.0), (ch, -dt * b.eff_charge), (dis, dt / b.eff_discharge), n=n)
    balance += [(dis, 1.0), (ch, -1.0)]
    # round trips in one slot pay where importing earns money (and where a battery above its band
    # must lose charge): exclusive everywhere, with the hull constraint where prices are negative
    neg = w_imp < 0
    m.exclusive(ch[neg], ch_ub[neg], dis[neg], np.full(int(neg.sum()), pd))
    m.exclusive(ch[~neg], ch_ub[~neg], dis[~neg], np.full(int((~neg).sum()), pd), hull=False)
    return ch, dis, soc, rows


def _ev(m: LpModel, e: EV, n: int, dt: float, penalty: float, balance: list) -> tuple[np.ndarray, np.ndarray]:
    plugged = np.asarray(e.plugged, dtype=bool)
    if plugged.shape != (n,):
        raise ValueError(f"{e.name}.plugged: {plugged.shape[0]} values for {n} slots")
    p = m.cols(n, 0.0, np.where(plugged, e.max_power_w / K, 0.0))
    if e.min_power_w > 0:
        m.semi(p[plugged], e.min_power_w / K)
    deadline = n if e.deadline is None else max(0, min(e.deadline, n))
    short = m.cols(1, 0.0, INF, penalty)
    # Σ_{t<deadline} dt·η·p[t] + shortfall ≥ energy;  Σ_t dt·η·p[t] ≤ room in the car
    m.sum_row(p[:deadline], dt * e.efficiency, short, e.energy_wh / K, INF)
    over = m.cols(1, 0.0, INF, penalty)  # energy beyond the car's room: only if minimum powers force it
    m.sum_row(p, dt * e.efficiency, over, -INF, max(e.energy_wh, e.max_energy_wh or 0.0) / K, -1.0)
    balance.append((p, -1.0))
    return p, short


def _thermal(
    m: LpModel, s: ThermalStore, n: int, dt: float, penalty: float, balance: list, strict_heaters: bool
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    demand = _per_slot(s.demand_w, n, f"{s.name}.demand_w") / K
    cap = s.capacity_wh / K
    heaters: list[np.ndarray] = []
    terms: list[tuple[np.ndarray, float | np.ndarray]] = []
    for h in s.heaters:
        p = m.cols(n, 0.0, h.max_power_w / K)
        if h.min_power_w > 0 and strict_heaters:
            m.semi(p, h.min_power_w / K, local=True)
        heaters.append(p)
        terms.append((p, -dt * _per_slot(h.cop, n, f"{h.name}.cop")))
        balance.append((p, -1.0))
    e0 = min(max(s.energy_wh / K, 0.0), cap)
    level = m.cols(n, 0.0, cap)
    unmet = m.cols(n, 0.0, INF, dt * penalty)  # heat the store could not deliver (kW thermal)
    prev = np.concatenate(([-1], level[:-1]))
    rhs = -dt * (demand + s.loss_w / K)
    rhs[0] += e0
    # level[t] − level[t−1] − dt·Σ cop·p[t] − dt·unmet[t] = −dt·(demand + loss)
    m.rows(rhs, rhs, (level, 1.0), (prev, -1.0), (unmet, -dt), *terms, n=n)
    end = e0 if s.end_energy_wh is None else min(s.end_energy_wh / K, cap)
    end_short = m.cols(1, 0.0, INF, penalty / 4)  # a soft wish, cheaper than unmet heat
    m.sum_row(level[-1:], 1.0, end_short, end, INF)
    return heaters, level, unmet, end_short


def _fallback(
    req: PlanRequest,
    buy: np.ndarray,
    sell: np.ndarray,
    pv: np.ndarray,
    load: np.ndarray,
    why: str,
    solve_ms: float,
    size: dict[str, int],
) -> Plan:
    """No solution in time: batteries idle, EVs charge at full power when plugged until their
    energy is in, heaters off; the real-time controllers carry on from there."""
    n, dt = req.n, req.dt_h
    net = load - pv
    devices: dict[str, dict[str, np.ndarray]] = {}
    for b in req.batteries:
        devices[b.name] = {"power_w": np.zeros(n), "soc_pct": np.full(n, b.soc_pct)}
    for e in req.evs:
        p = np.where(np.asarray(e.plugged, bool), e.max_power_w, 0.0)
        energy = np.minimum(np.cumsum(p) * dt * e.efficiency, e.energy_wh)
        p = np.diff(np.concatenate(([0.0], energy))) / (dt * e.efficiency)
        devices[e.name] = {"power_w": p, "energy_wh": energy}
        net = net + p
    for s in req.thermal:
        for h in s.heaters:
            devices[h.name] = {"power_w": np.zeros(n)}
        drawn = np.cumsum(np.asarray(s.demand_w, float) + s.loss_w) * dt
        devices[s.name] = {"energy_wh": np.clip(s.energy_wh - drawn, 0.0, s.capacity_wh)}
    imp, exp_ = np.maximum(net, 0.0), np.maximum(-net, 0.0)
    plan = Plan(
        req.start,
        req.slot_minutes,
        "fallback",
        why,
        solve_ms,
        req.objective,
        buy,
        sell,
        pv,
        load,
        imp,
        exp_,
        np.zeros(n),
        devices,
        size=size,
    )
    plan.cost_eur = float(dt / 1000.0 * (buy @ imp - sell @ exp_))
    return plan
