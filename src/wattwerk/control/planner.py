"""The planner: least-cost (or least-CO₂, most self-consumption) schedule of batteries, EVs and
heat stores over the slots of known prices, solved with HiGHS (highspy) as an LP or small MIP.

The model is built with highspy's own bulk API (``addCols``/``addRows`` on numpy arrays), which
keeps model building for 192 slots at a few milliseconds. Decision variables per slot, in W:
grid import and export, PV curtailment, battery charge and discharge, EV and heater power; storage
levels in Wh at the end of each slot. Balance per slot:

    import − export + pv − curtail + Σ discharge − Σ charge − Σ ev − Σ heaters = load

Binaries are avoided where an LP is exact: with a charge/discharge round-trip efficiency below
one and positive prices, charging and discharging in the same slot only loses energy, and
importing and exporting at once only pays while the feed-in price exceeds the buy price. Where
that is not so — a negative buy price rewards burning energy in round trips, feed-in above the
buy price rewards buying to sell — ``integer="auto"`` adds a binary for exactly those slots. EV
chargers with a minimum current get semi-continuous power (0 or min..max). Unmet EV energy, unmet
heat and import above the grid limit are slack variables with a high penalty, so every request
yields a usable plan and the shortfall is reported instead of an "infeasible".
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import highspy
import numpy as np

from wattwerk.control.plan_model import (
    EV,
    Battery,
    Plan,
    PlanOptions,
    PlanRequest,
    ThermalStore,
)

INF = math.inf
K = 1000.0  # the model works in kW and kWh: coefficients near 1 keep HiGHS fast and exact
TOL = 1e-3  # kW: flows below 1 W count as zero when checking the LP
EPS_EUR = 1e-5  # €/kWh on grid and battery flows: breaks ties against pointless flows


@dataclass
class _Model:
    """Columns and rows collected as numpy arrays, handed to HiGHS in one call each; plus the two
    non-convex wishes — exclusive pairs (``a > 0`` only if ``b == 0``) and semi-continuous columns
    (0 or at least a minimum) — which ``solve`` meets by MIP or by LP relax-and-fix."""

    lb: list[np.ndarray] = field(default_factory=list)
    ub: list[np.ndarray] = field(default_factory=list)
    cost: list[np.ndarray] = field(default_factory=list)
    ncol: int = 0
    rlo: list[np.ndarray] = field(default_factory=list)
    rhi: list[np.ndarray] = field(default_factory=list)
    ri: list[np.ndarray] = field(default_factory=list)
    ci: list[np.ndarray] = field(default_factory=list)
    va: list[np.ndarray] = field(default_factory=list)
    nrow: int = 0
    pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    semis: list[tuple[np.ndarray, float, bool]] = field(default_factory=list)
    n_integer: int = 0

    def cols(
        self, n: int, lb: float | np.ndarray, ub: float | np.ndarray, cost: float | np.ndarray = 0.0
    ) -> np.ndarray:
        idx = np.arange(self.ncol, self.ncol + n)
        self.lb.append(np.broadcast_to(np.asarray(lb, float), n))
        self.ub.append(np.broadcast_to(np.asarray(ub, float), n))
        self.cost.append(np.broadcast_to(np.asarray(cost, float), n))
        self.ncol += n
        return idx

    def rows(
        self,
        lo: float | np.ndarray,
        hi: float | np.ndarray,
        *terms: tuple[np.ndarray, float | np.ndarray],
        n: int,
    ) -> None:
        """``n`` rows: row k is lo[k] ≤ Σ coef[k]·x[col[k]] ≤ hi[k]; a column −1 means no term."""
        base = np.arange(self.nrow, self.nrow + n)
        for cols, coef in terms:
            c = np.broadcast_to(np.asarray(cols), n)
            v = np.broadcast_to(np.asarray(coef, float), n)
            keep = c >= 0
            self.ri.append(base[keep])
            self.ci.append(c[keep])
            self.va.append(v[keep])
        self.rlo.append(np.broadcast_to(np.asarray(lo, float), n))
        self.rhi.append(np.broadcast_to(np.asarray(hi, float), n))
        self.nrow += n

    def exclusive(
        self, a: np.ndarray, a_max: np.ndarray, b: np.ndarray, b_max: np.ndarray, hull: bool = True
    ) -> None:
        """At most one of a[i], b[i] is non-zero. With ``hull``, adds a/a_max + b/b_max ≤ 1, the LP
        relaxation of the binary version (realisable by time-sharing within a slot); without, the
        pair is only checked after each LP (where the LP is not expected to break it)."""
        a_max, b_max = (
            np.broadcast_to(np.asarray(a_max, float), len(a)),
            np.broadcast_to(np.asarray(b_max, float), len(a)),
        )
        live = (a_max > 1e-6) & (b_max > 1e-6)  # where either cannot flow there is nothing to choose
        a, b, a_max, b_max = a[live], b[live], a_max[live], b_max[live]
        if len(a):
            self.pairs.append((a, a_max, b, b_max))
            if hull:
                self.rows(-INF, 1.0, (a, 1.0 / a_max), (b, 1.0 / b_max), n=len(a))

    def semi(self, cols: np.ndarray, minimum: float, local: bool = False) -> None:
        """Columns that are 0 or at least ``minimum``; ``local``: settle keeping energy near its
        time (a device feeding a store), else anywhere in the horizon (an EV's energy by departure)."""
        if len(cols):
            self.semis.append((cols, float(minimum), local))

    def _highs(self, options: PlanOptions) -> highspy.Highs:
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        if options.integer == "mip":  # an LP is always run to the end: it is the plan of last resort
            h.setOptionValue("time_limit", float(options.time_limit_s))
        h.setOptionValue("mip_rel_gap", float(options.mip_gap))
        h.setOptionValue("mip_abs_gap", float(options.mip_abs_gap))
        h.setOptionValue("threads", int(options.threads))
        inf = h.getInfinity()
        lb, ub, cost = (np.clip(np.concatenate(x), -inf, inf) for x in (self.lb, self.ub, self.cost))
        empty = np.zeros(0, np.int32)
        h.addCols(self.ncol, cost, lb, ub, 0, empty, empty, np.zeros(0))
        ri, ci, va = (np.concatenate(x) for x in (self.ri, self.ci, self.va))
        order = np.argsort(ri, kind="stable")
        ri, ci, va = ri[order], ci[order], va[order]
        starts = np.searchsorted(ri, np.arange(self.nrow)).astype(np.int32)
        lo, hi = (np.clip(np.concatenate(x), -inf, inf) for x in (self.rlo, self.rhi))
        h.addRows(self.nrow, lo, hi, len(va), starts, ci.astype(np.int32), va)
        return h

    def cost_of(self, sol: np.ndarray) -> float:
        return float(np.concatenate(self.cost) @ sol[: self.ncol])

    def _integer_pairs(self, h: highspy.Highs, which: list[np.ndarray]) -> None:
        """Binary z per chosen slot of each pair: a ≤ a_max·z and b ≤ b_max·(1 − z)."""
        inf = h.getInfinity()
        for (a, a_max, b, b_max), sel in zip(self.pairs, which, strict=True):
            if not len(sel):
                continue
            n = len(sel)
            z = np.arange(h.getNumCol(), h.getNumCol() + n)
            none = np.zeros(0, np.int32)
            h.addCols(n, np.zeros(n), np.zeros(n), np.ones(n), 0, none, none, np.zeros(0))
            h.changeColsIntegrality(n, z.astype(np.int32), np.ones(n, np.uint8))
            for x, top, sign in ((a[sel], a_max[sel], -1.0), (b[sel], b_max[sel], 1.0)):
                idx = np.column_stack((x, z)).ravel().astype(np.int32)
                val = np.column_stack((np.ones(n), sign * top)).ravel()
                hi = np.zeros(n) if sign < 0 else top
                h.addRows(
                    n, np.full(n, -inf), hi, len(idx), np.arange(0, len(idx), 2, dtype=np.int32), idx, val
                )
            self.n_integer += n

    def _integer_semis(self, h: highspy.Highs, which: list[np.ndarray]) -> None:
        """Chosen columns become semi-continuous: 0 or between the minimum and their upper bound."""
        upper = np.asarray(h.getLp().col_upper_)
        for (cols, minimum, _), sel in zip(self.semis, which, strict=True):
            live = cols[sel][upper[cols[sel]] >= minimum]
            if len(live):
                n = len(live)
                h.changeColsBounds(n, live.astype(np.int32), np.full(n, minimum), upper[live])
                h.changeColsIntegrality(n, live.astype(np.int32), np.full(n, 2, np.uint8))
                self.n_integer += n

    def _violations(self, sol: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        pairs = [np.flatnonzero((sol[a] > TOL) & (sol[b] > TOL)) for a, _, b, _ in self.pairs]
        semis = [np.flatnonzero((sol[c] > TOL) & (sol[c] < m - TOL)) for c, m, _ in self.semis]
        return pairs, semis

    def solve(self, options: PlanOptions) -> tuple[highspy.Highs, np.ndarray | None, object, int]:
        """Run HiGHS: an exact MIP (``mip``), one LP (``never``), or (``auto``) LPs that settle the
        non-convex choices the previous LP got wrong and re-solve from its basis: in a slot with
        both flows of a pair the smaller one is fixed to 0; a power below its minimum is fixed to
        0 (under half the minimum) or to at least the minimum; should that only move the fraction
        to another slot, the device is settled as a whole by ``_round_semi``. Fixings only accumulate, so this
        ends; each warm-started pass costs a few milliseconds."""
        h = self._highs(options)
        if options.integer == "mip":
            self._integer_pairs(h, [np.arange(len(a)) for a, *_ in self.pairs])
            self._integer_semis(h, [np.arange(len(c)) for c, _, _ in self.semis])
        else:  # LPs solve fastest without presolve, by primal simplex
            h.setOptionValue("presolve", "off")
            h.setOptionValue("simplex_strategy", 4)
        passes = 0
        deadline = time.perf_counter() + options.time_limit_s
        best: tuple[np.ndarray, object] | None = None
        cautious = False  # after an infeasible pass: only switch things off (always feasible)
        undo: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        while True:
            h.run()
            passes += 1
            status = h.getModelStatus()
            ok = h.getInfo().primal_solution_status == 2
            sol = np.asarray(h.getSolution().col_value)[: self.ncol] if ok else None
            if sol is None and best is not None and undo is not None:
                # switching on at the minimum overfilled something: take the pass back
                cols, lo, hi = undo
                h.changeColsBounds(len(cols), cols, lo, hi)
                undo = None
                if cautious or passes >= options.max_passes:
                    return h, best[0], best[1], passes
                cautious = True
                sol, status = best
            elif sol is not None:
                best = (sol, status)
            if sol is None or options.integer != "auto" or passes >= options.max_passes:
                return h, sol, status, passes
            pairs, semis = self._violations(sol)
            if not any(len(x) for x in pairs + semis):
                return h, sol, status, passes
            if time.perf_counter() > deadline:  # out of time: the best plan so far, flagged
                return h, sol, highspy.HighsModelStatus.kTimeLimit, passes
            cautious = cautious or passes >= options.max_passes - 2  # the last passes only switch off
            lp = h.getLp()
            lower, upper = np.asarray(lp.col_lower_).copy(), np.asarray(lp.col_upper_).copy()
            zero: list[np.ndarray] = []
            ons: list[tuple[np.ndarray, float]] = []
            for (a, _, b, _), sel in zip(self.pairs, pairs, strict=True):
                if cautious:  # every slot where the pair flows at all keeps its present direction
                    sel = np.flatnonzero((sol[a] > TOL) | (sol[b] > TOL))
                zero.append(np.where(sol[a[sel]] >= sol[b[sel]], b[sel], a[sel]))
            for (cols, minimum, local), sel in zip(self.semis, semis, strict=True):
                if not len(sel):
                    continue
                if cautious:  # the device as a whole: what runs at its minimum or more stays, the rest stops
                    on = sol[cols] >= minimum - TOL
                    zero.append(cols[~on])
                    ons.append((cols[on], minimum))
                else:  # the running and the fractional slots; idle ones stay free for the next LP
                    on, off = _round_semi(sol[cols], upper[cols], minimum, local)
                    moved = off & (sol[cols] > TOL)
                    zero.append(cols[moved])
                    ons.append((cols[on], minimum))
            changed = np.concatenate(zero + [c for c, _ in ons]).astype(np.int32)
            undo = (changed, lower[changed], upper[changed])
            for c, minimum in ons:
                h.changeColsBounds(len(c), c.astype(np.int32), np.full(len(c), minimum), upper[c])
            off = np.concatenate(zero).astype(np.int32)
            if len(off):
                h.changeColsBounds(len(off), off, lower[off], np.zeros(len(off)))


def _round_semi(
    v: np.ndarray, ub: np.ndarray, minimum: float, local: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Settle one device's slots from an LP that ran some below ``minimum``. Slots at or above it
    stay on (≥ minimum). Each fractional slot, in time order, is switched off when the slots that
    run can take its energy (room up to their maximum), or on when they can give up the extra
    (room down to the minimum); failing both, its energy is carried to the next fractional slot
    (on once the carry reaches half the minimum). With ``local`` only the carry rule applies, so
    energy stays close to when the LP wanted it. Returns (on, off) masks over every slot."""
    on = v >= minimum - TOL
    up_room = 0.0 if local else float((ub[on] - v[on]).sum())
    down_room = 0.0 if local else float((v[on] - minimum).sum())
    carry = 0.0
    for t in np.flatnonzero((v > TOL) & ~on):
        carry += v[t]
        if carry <= up_room + TOL:
            up_room -= carry
            carry = 0.0
        elif ub[t] >= minimum and minimum - carry <= down_room + TOL:
            on[t] = True
            down_room -= minimum - carry
            up_room += 0.0 if local else ub[t] - minimum
            carry = 0.0
        elif ub[t] >= minimum and carry >= minimum / 2:
            on[t] = True
            up_room += 0.0 if local else ub[t] - minimum
            carry -= minimum
    return on, ~on


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


def solve(req: PlanRequest, options: PlanOptions | None = None) -> Plan:
    """Plan the horizon of ``req``; never raises for a hard-to-meet request (see module docstring),
    only for malformed input (ValueError naming the field)."""
    options = options or PlanOptions()
    t0 = time.perf_counter()
    n, dt = req.n, req.dt_h
    buy = _per_slot(req.buy_eur_per_kwh, n, "buy_eur_per_kwh")
    sell = _per_slot(req.sell_eur_per_kwh, n, "sell_eur_per_kwh")
    pv = np.maximum(_per_slot(req.pv_w, n, "pv_w"), 0.0)
    load = np.maximum(_per_slot(req.load_w, n, "load_w"), 0.0)
    w_imp, w_exp = _weights(req, buy, sell)
    k = dt  # kW over one slot → kWh
    pv_k, load_k = pv / K, load / K
    penalty = options.penalty_factor * max(float(np.abs(w_imp).max()), float(np.abs(w_exp).max()), 0.1) + 1.0
    m = _Model()

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

    build_ms = (time.perf_counter() - t0) * 1000
    h, sol, status, passes = m.solve(options)
    solve_ms = (time.perf_counter() - t0) * 1000
    size = {
        "slots": n,
        "columns": m.ncol,
        "rows": m.nrow,
        "integer_columns": m.n_integer,
        "lp_passes": passes,
    }
    if sol is None:
        return _fallback(req, buy, sell, pv, load, f"HiGHS: {h.modelStatusToString(status)}", solve_ms, size)

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
        buy,
        sell,
        pv,
        load,
        sol[imp] * K,
        sol[exp_] * K,
        sol[curt] * K,
        size=size,
    )
    for b, cols in zip(req.batteries, bats, strict=True):
        ch, dis, soc = sol[cols[0]], sol[cols[1]], sol[cols[2]]
        plan.devices[b.name] = {"power_w": (dis - ch) * K, "soc_pct": soc * K / b.capacity_wh * 100.0}
        plan.wear_eur += float(b.wear_eur_per_kwh * k * (ch + dis).sum())
    for e, (p, short) in zip(req.evs, evs, strict=True):
        power = sol[p] * K
        plan.devices[e.name] = {"power_w": power, "energy_wh": np.cumsum(power) * dt * e.efficiency}
        plan.shortfall_wh[e.name] = float(sol[short].sum() * K)
    for s, (heaters, level, unmet, end_short) in zip(req.thermal, stores, strict=True):
        for heater, cols in zip(s.heaters, heaters, strict=True):
            plan.devices[heater.name] = {"power_w": sol[cols] * K}
        plan.devices[s.name] = {"energy_wh": sol[level] * K}
        plan.shortfall_wh[s.name] = float((sol[unmet].sum() * dt + sol[end_short].sum()) * K)
    plan.cost_eur = float(dt / 1000.0 * (buy @ plan.import_w - sell @ plan.export_w))
    plan.objective_value = float(m.cost_of(sol))
    if req.co2_g_per_kwh is not None:
        plan.co2_kg = float(dt / 1e6 * (_per_slot(req.co2_g_per_kwh, n, "co2") @ plan.import_w))
    if excess is not None:
        plan.import_excess_w = float(sol[excess].max(initial=0.0) * K)
    return plan


def _battery(
    m: _Model, b: Battery, n: int, dt: float, w_imp: np.ndarray, pv: np.ndarray, balance: list
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns charge, discharge (kW) and stored energy (kWh, end of slot); ``pv`` in kW."""
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
    # soc[t] − soc[t−1] − dt·ηc·ch[t] + dt/ηd·dis[t] = 0   (soc[−1] = e0 moves to the right side)
    m.rows(rhs, rhs, (soc, 1.0), (prev, -1.0), (ch, -dt * b.eff_charge), (dis, dt / b.eff_discharge), n=n)
    balance += [(dis, 1.0), (ch, -1.0)]
    # round trips in one slot pay where importing earns money (and where a battery above its band
    # must lose charge): exclusive everywhere, with the hull constraint where prices are negative
    neg = w_imp < 0
    m.exclusive(ch[neg], ch_ub[neg], dis[neg], np.full(int(neg.sum()), pd))
    m.exclusive(ch[~neg], ch_ub[~neg], dis[~neg], np.full(int((~neg).sum()), pd), hull=False)
    return ch, dis, soc


def _ev(m: _Model, e: EV, n: int, dt: float, penalty: float, balance: list) -> tuple[np.ndarray, np.ndarray]:
    plugged = np.asarray(e.plugged, dtype=bool)
    if plugged.shape != (n,):
        raise ValueError(f"{e.name}.plugged: {plugged.shape[0]} values for {n} slots")
    p = m.cols(n, 0.0, np.where(plugged, e.max_power_w / K, 0.0))
    if e.min_power_w > 0:
        m.semi(p[plugged], e.min_power_w / K)
    deadline = n if e.deadline is None else max(0, min(e.deadline, n))
    short = m.cols(1, 0.0, INF, penalty)
    # Σ_{t<deadline} dt·η·p[t] + shortfall ≥ energy;  Σ_t dt·η·p[t] ≤ room in the car
    _sum_row(m, p[:deadline], dt * e.efficiency, short, e.energy_wh / K, INF)
    over = m.cols(1, 0.0, INF, penalty)  # energy beyond the car's room: only if minimum powers force it
    _sum_row(m, p, dt * e.efficiency, over, -INF, max(e.energy_wh, e.max_energy_wh or 0.0) / K, -1.0)
    balance.append((p, -1.0))
    return p, short


def _sum_row(
    m: _Model,
    cols: np.ndarray,
    coef: float,
    slack: np.ndarray | None,
    lo: float,
    hi: float,
    sign: float = 1.0,
) -> None:
    """One row: lo ≤ coef·Σ x[cols] + sign·slack ≤ hi."""
    ci = cols if slack is None else np.concatenate((cols, slack))
    va = np.full(len(ci), coef)
    if slack is not None:
        va[-1] = sign
    m.ri.append(np.full(len(ci), m.nrow))
    m.ci.append(ci)
    m.va.append(va)
    m.rlo.append(np.array([lo]))
    m.rhi.append(np.array([hi]))
    m.nrow += 1


def _thermal(
    m: _Model, s: ThermalStore, n: int, dt: float, penalty: float, balance: list, strict_heaters: bool
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
    _sum_row(m, level[-1:], 1.0, end_short, end, INF)
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
