"""The LP/MIP layer under the planner: columns and rows collected as numpy arrays and handed to
HiGHS (highspy) in one bulk call each, plus the two non-convex wishes a site model has —
exclusive pairs (charge or discharge, import or export) and semi-continuous columns (a charger
at 0 or at least its minimum) — met exactly by MIP or, fast, by LP relax-and-fix.

Everything here is in model units (kW, kWh, €); nothing knows about batteries or tariffs.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field

import highspy
import numpy as np

from wattwerk.control.plan_model import PlanOptions

INF = math.inf
TOL = 1e-3  # kW: flows below 1 W count as zero when checking the LP
_banner_done = False  # HiGHS prints its banner once per process


def quiet_highs() -> highspy.Highs:
    """A HiGHS instance that prints nothing (``output_flag``, ``log_to_console`` off).

    highspy >= 1.16 prints its banner on stdout as the process's first instance is made, before an
    option can be set, which broke ``--json`` output; that one construction runs with stdout (fd 1)
    pointed at stderr, so the banner stays visible in logs but never mixes with a command's result.
    """
    global _banner_done
    if _banner_done:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            os.dup2(2, 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            _banner_done = True
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    return h


@dataclass
class LpModel:
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

    def sum_row(
        self, cols: np.ndarray, coef: float, slack: np.ndarray | None, lo: float, hi: float, sign: float = 1.0
    ) -> None:
        """One row: lo ≤ coef·Σ x[cols] + sign·slack ≤ hi."""
        ci = cols if slack is None else np.concatenate((cols, slack))
        va = np.full(len(ci), coef)
        if slack is not None:
            va[-1] = sign
        self.ri.append(np.full(len(ci), self.nrow))
        self.ci.append(ci)
        self.va.append(va)
        self.rlo.append(np.array([lo]))
        self.rhi.append(np.array([hi]))
        self.nrow += 1

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
        h = quiet_highs()
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
        both flows of a pair the smaller one is fixed to 0; a device running below its minimum
        somewhere is settled by ``_round_semi`` (its idle slots stay free for the next LP). If a
        pass turns infeasible it is taken back and the rest only switches things off; so do the
        last two passes. Fixings only accumulate, so this ends; a warm-started pass costs a few
        milliseconds, and ``time_limit_s`` caps the passes (the first LP always completes)."""
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
        settled: set[int] = set()  # semi-continuous groups settled once already
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
            undo = self._fix(h, sol, pairs, semis, cautious, settled)

    def _fix(
        self,
        h: highspy.Highs,
        sol: np.ndarray,
        pairs: list[np.ndarray],
        semis: list[np.ndarray],
        cautious: bool,
        settled: set[int],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fix the choices ``sol`` got wrong for the next pass; returns what undoes it (columns and
        their former bounds)."""
        lp = h.getLp()
        lower, upper = np.asarray(lp.col_lower_).copy(), np.asarray(lp.col_upper_).copy()
        zero: list[np.ndarray] = []
        ons: list[tuple[np.ndarray, float]] = []
        for (a, _, b, _), sel in zip(self.pairs, pairs, strict=True):
            if cautious:  # every slot where the pair flows at all keeps its present direction
                sel = np.flatnonzero((sol[a] > TOL) | (sol[b] > TOL))
            zero.append(np.where(sol[a[sel]] >= sol[b[sel]], b[sel], a[sel]))
        for g, ((cols, minimum, local), sel) in enumerate(zip(self.semis, semis, strict=True)):
            if not len(sel):
                continue
            if g in settled:  # settled once, yet the LP moved a fraction elsewhere: idle slots stay off too
                on, _ = _round_semi(sol[cols], upper[cols], minimum, local)
                zero.append(cols[~on])
                ons.append((cols[on], minimum))
            elif cautious:  # the device as a whole: what runs at its minimum or more stays, the rest stops
                on = sol[cols] >= minimum - TOL
                zero.append(cols[~on])
                ons.append((cols[on], minimum))
            else:  # the running and the fractional slots; idle ones stay free for the next LP
                on, off = _round_semi(sol[cols], upper[cols], minimum, local)
                moved = off & (sol[cols] > TOL)
                zero.append(cols[moved])
                ons.append((cols[on], minimum))
                settled.add(g)
        changed = np.concatenate(zero + [c for c, _ in ons]).astype(np.int32)
        undo = (changed, lower[changed], upper[changed])
        for c, minimum in ons:
            h.changeColsBounds(len(c), c.astype(np.int32), np.full(len(c), minimum), upper[c])
        off = np.concatenate(zero).astype(np.int32)
        if len(off):
            h.changeColsBounds(len(off), off, lower[off], np.zeros(len(off)))
        return undo


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
