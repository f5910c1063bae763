"""The strategies of ``wattwerk bench control``, as small laws acting on the simulator.

Each law has ``act(sim, now)`` called before every simulator step (every ``STEP_S``); it reads
only what a real energy manager could read at that moment (the devices' last values, the
forecasts and prices known at ``now``) and sends the simulator's own commands.

The real-time laws here are small pure functions written for the benchmark (``ev_power_surplus``,
``battery_follow``, ``sgready_from_plan``); the control package's controllers need a live edge
snapshot and were not wired in for lack of time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from wattwerk.bench.year.fade import FadeRecord
from wattwerk.bench.year.rules import (
    HP_STORE_MAX_C,
    HP_STORE_MIN_C,
    ONE_PHASE_MIN_W,
    THREE_PHASE_MAX_W,
    StoreWorth,
    battery_follow,
    battery_rule,
    ev_commands,
    ev_power_surplus,
    fuse_guard,
    sgready_from_plan,
)
from wattwerk.bench.year.world import SLOT_S, STEP_S, Year
from wattwerk.control.plan_model import EV, Battery, Heater, Plan, PlanOptions, PlanRequest, ThermalStore
from wattwerk.control.planner import solve
from wattwerk.forecast.futures import Future, futures
from wattwerk.forecast.load import LoadForecaster, blend_recent
from wattwerk.forecast.pv import blend_intraday, fixed_fade, intraday_factor
from wattwerk.market.dayahead import fill_unpublished, known_until
from wattwerk.sim.battery import Battery as SimBattery
from wattwerk.sim.ev import EVCharger
from wattwerk.sim.heatpump import HeatPump, carnot_cop
from wattwerk.sim.house import House
from wattwerk.sim.pv import PVArray
from wattwerk.sim.site import SiteSim

HORIZON_SLOTS = 96  # 48 h of 30-min slots
DAY_SLOTS = 86_400 // SLOT_S
# a recorded PV forecast's share beside the week's mean of the same slot (a backtest on the
# benchmark year's PV: day-ahead MAE 505 W for the forecast alone, 474 W at 0.7, 474 W at 0.6)
PV_FORECAST_WEIGHT = 0.7
IMPORT_MARGIN_W = 1_000.0  # the planner plans this far below the fuse, the safety net acts at 500 W


def measured_now(sim: SiteSim, now: float) -> tuple[float, float]:
    """House load and PV power (W) as a real-time loop sees them at ``now``. The simulator replays
    30-min values held over their slot, so these are the coming step's values; the laws act every
    5 min only to keep the year fast, where a real loop acts within seconds of a change. PV is what the
    arrays offer (an inverter reports its available power also while curtailed): the laws place it in
    the battery and the loads first, and the export limiter cuts only the rest."""
    mid = now + STEP_S / 2
    house = sim.house.profile.at(mid)
    pv = sum(a.available.at(mid) for a in sim.pv)
    return house, pv


def _apply_ev(sim: SiteSim, power_w: float) -> None:
    enable, phases, current = ev_commands(power_w)
    ev = sim.evs[0]
    if ev.enabled != bool(enable):
        sim.command(ev.name, "enable", enable)
    if enable:
        if ev.phases != phases:
            sim.command(ev.name, "phases", phases)
        sim.command(ev.name, "current_limit", current)


# ------------------------------------------------------------------ strategies


class NoManager:
    """No energy manager: the simulator's own behaviour."""

    name = "none"

    def act(self, sim: SiteSim, now: float) -> None:
        return None


class Surplus:
    """Rule-based PV surplus: EV in PV mode with min+PV / full fallback before departure, battery in
    its own self-consumption mode (with priority below 50 % SoC), SG-Ready 3 on surplus."""

    name = "surplus"
    priority_soc = 50.0

    def act(self, sim: SiteSim, now: float) -> None:
        ev, bat, hp = sim.evs[0], sim.battery, sim.heat_pump
        assert bat is not None and hp is not None
        house, pv = measured_now(sim, now)
        spare = pv - house - hp.power
        bat_room = bat.params.max_charge_w if bat.soc < bat.params.soc_max - 1.0 else 0.0
        for_ev = spare - (bat_room if bat.soc < self.priority_soc else 0.0)
        power = 0.0
        if ev.plugged:
            dep = ev.departure
            left = dep.timestamp() - now if dep is not None else None
            power = ev_power_surplus(for_ev, ev.energy_needed_wh, left)
        _apply_ev(sim, power)
        left_over = spare - power - bat_room
        want = 3 if left_over > 1000.0 else 2
        if hp.sgready != want:
            sim.command(hp.name, "sgready", want)


@dataclass
class Forecasts:
    """Per-slot inputs the planner is given. ``oracle``: the actual values and all prices."""

    load_w: np.ndarray | None  # None: forecast from past load only (LoadForecaster)
    pv_w: np.ndarray
    oracle: bool
    pv_scale: np.ndarray | None = None  # per slot: correction known at the start of its UTC day
    pv_scaled: np.ndarray | None = None  # per slot: the value is a forecast (scale it), not a fallback
    pv_shape: PvShape | None = None  # per time of day instead of ``pv_scale``: see pv_shape_correction
    futures: np.ndarray | None = None  # per slot: (PV, load) factor per future, see future_factors
    pv_week: np.ndarray | None = None  # per slot: the same slot's mean PV of the 7 days before (pv_week_mean)
    persistence: np.ndarray | None = None  # per slot: the share of its deviation a future keeps a day ahead

    def pv_at(self, i: int, n: int) -> np.ndarray:
        """PV forecast for slots ``i .. i+n``, corrected by the factor(s) known at slot ``i``; with
        ``pv_week``, a forecast is blended with the week's mean (``PV_FORECAST_WEIGHT``)."""
        pv = self.pv_w[i : i + n]
        if self.pv_scaled is None:
            return pv
        scaled = self.pv_scaled[i : i + n]
        if self.pv_shape is not None:
            s = self.pv_shape
            pv = pv * np.where(scaled, s.table[s.day[i], s.tod[i : i + n]], 1.0)
        elif self.pv_scale is not None:
            pv = pv * np.where(scaled, self.pv_scale[i], 1.0)
        if self.pv_week is None:
            return pv
        w = PV_FORECAST_WEIGHT
        return np.where(scaled, w * pv + (1.0 - w) * self.pv_week[i : i + n], pv)


@dataclass(frozen=True)
class PvShape:
    """Measured over forecast PV per UTC half hour of the day: ``table[day, tod]`` as known at the
    start of ``day``; ``day``/``tod`` per slot of the year."""

    table: np.ndarray
    day: np.ndarray
    tod: np.ndarray


def pv_shape_correction(year: Year, days: int = 21, bounds: tuple[float, float] = (0.5, 2.0)) -> PvShape:
    """The recorded forecast's error by time of day, from the ``days`` UTC days before each day
    (past data only): measured over forecast energy per half hour, bounded; where the forecast
    expected too little to judge by (a mean under 100 W), the whole day's ratio (0.7..1.6). This
    forecast puts the sun too early (March to June: 0.6 of the forecast at 7-8 h local, 1.1-1.5
    at 15-19 h), which a single daily factor cannot correct."""
    h = year.history
    both = h["pv_w"].notna() & h["pv_forecast_w"].notna()
    idx = h.index
    keys = [idx.floor("D"), (idx.hour * 60 + idx.minute) // (SLOT_S // 60)]
    per_day = DAY_SLOTS

    def table(col: str) -> pd.DataFrame:
        t = h[col].where(both, 0.0).clip(lower=0.0).groupby(keys).sum().unstack(fill_value=0.0)
        t = t.reindex(columns=range(per_day), fill_value=0.0)
        span = pd.date_range(t.index.min(), year.starts[-1].floor("D"), freq="D")
        return t.reindex(span, fill_value=0.0).rolling(days, min_periods=7).sum().shift(1)

    meas, fc = table("pv_w"), table("pv_forecast_w")
    ratio = (meas / fc.where(fc >= 100.0 * days)).clip(*bounds)
    whole = (meas.sum(axis=1) / fc.sum(axis=1)).replace([np.inf, -np.inf], np.nan).clip(0.7, 1.6)
    ratio = ratio.apply(lambda col: col.fillna(whole)).fillna(1.0)
    rows = ratio.index.get_indexer(year.starts.floor("D"))
    tod = ((year.starts.hour * 60 + year.starts.minute) // (SLOT_S // 60)).to_numpy()
    return PvShape(ratio.to_numpy(), np.where(rows < 0, 0, rows), tod)


def actual_series(year: Year, sim: SiteSim) -> tuple[np.ndarray, np.ndarray]:
    """The load and PV the simulator will replay, per slot (slot means: the values are held)."""
    p = sim.params
    house = House("h", p.house, p.location, p.seed)
    pv = PVArray("p", p.pv[0], p.location)
    mids = year.starts.as_unit("s").asi8.astype(float) + SLOT_S / 2
    return (np.array([house.profile.at(t) for t in mids]), np.array([pv.available.at(t) for t in mids]))


def pv_forecast(year: Year) -> np.ndarray:
    """The recorded ``pv_forecast_w`` per slot (a forecast made at the time); where it has no value,
    the mean measured PV of the same slot on the 7 days before (past data; a backtest on the
    benchmark year's measured PV: mean absolute error 573 W against 630 W for the day before
    alone), else 0."""
    return pv_forecast_at(year.history, year.starts)


def pv_forecast_at(h: pd.DataFrame, at: pd.DatetimeIndex, days: int = 7) -> np.ndarray:
    fc = h["pv_forecast_w"].reindex(at).to_numpy(dtype=float)
    out = np.where(np.isnan(fc), _week_mean(h, at, days), fc)
    return np.clip(np.nan_to_num(out, nan=0.0), 0.0, None)


def _week_mean(h: pd.DataFrame, at: pd.DatetimeIndex, days: int = 7) -> np.ndarray:
    """The mean measured PV of the same slot on the ``days`` days before (NaN where none)."""
    before = np.stack(
        [h["pv_w"].reindex(at - pd.Timedelta(days=d)).to_numpy(dtype=float) for d in range(1, days + 1)]
    )
    seen = np.isfinite(before)
    return np.where(seen.any(axis=0), np.nansum(before, axis=0) / np.maximum(seen.sum(axis=0), 1), np.nan)


def pv_week_mean(year: Year) -> np.ndarray:
    """Per slot, the same slot's mean measured PV of the 7 days before (past data; 0 where none):
    blended into a recorded forecast (``Forecasts.pv_week``)."""
    return np.clip(np.nan_to_num(_week_mean(year.history, year.starts), nan=0.0), 0.0, None)


def pv_correction(year: Year, days: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """(factor per slot, mask of slots with a recorded forecast): measured over forecast PV energy of
    the ``days`` UTC days before each slot's day (past data only), bounded to 0.7..1.6."""
    h = year.history
    both = h["pv_w"].notna() & h["pv_forecast_w"].notna()
    meas = h["pv_w"].where(both, 0.0).clip(lower=0.0).resample("D").sum()
    fc = h["pv_forecast_w"].where(both, 0.0).clip(lower=0.0).resample("D").sum()
    ratio = meas.rolling(days, min_periods=2).sum().shift(1) / fc.rolling(days, min_periods=2).sum().shift(1)
    ratio = ratio.replace([np.inf, -np.inf], np.nan).clip(0.7, 1.6)
    scale = ratio.reindex(year.starts.floor("D")).fillna(1.0).to_numpy()
    has = h["pv_forecast_w"].reindex(year.starts).notna().to_numpy()
    return scale, has


def known_slots(year: Year, i: int, now: datetime, oracle: bool = False) -> int:
    """How many slots from ``i`` on have prices known at ``now`` (at most the horizon)."""
    n = min(HORIZON_SLOTS, year.n - i)
    if oracle:
        return n
    until = known_until(now)
    return max(1, min(n, int((until - year.starts[i].to_pydatetime()).total_seconds() // SLOT_S)))


def price_horizon(
    year: Year, i: int, now: datetime, oracle: bool = False, extend: bool = True, discount: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Buy and sell prices (€/kWh) for the planning horizon at slot ``i``: the prices known at
    ``now``; with ``extend``, the rest of the 48 h filled with the known prices of the same time of
    day one (or two) days earlier (``market.dayahead.fill_unpublished``, as the edge's prices): a
    persistence forecast from published prices only. Those forecast buy prices are lowered by
    ``discount`` (a fraction): the real ones are published before they are needed, so energy bought
    now on the strength of a forecast should be clearly cheaper (the value of waiting)."""
    known = known_slots(year, i, now, oracle)
    full = min(HORIZON_SLOTS, year.n - i)
    if not extend or known >= full:
        return year.buy[i : i + known], year.sell[i : i + known]
    first = i + known - DAY_SLOTS  # a day of published prices before the first forecast slot
    lo, pad = max(0, min(first, i)), max(0, -first)

    def filled(values: np.ndarray, cut: float) -> np.ndarray:
        # at the very start of the data the missing past is the last known price
        past = np.concatenate((np.full(pad, values[i + known - 1]), values[lo : i + full]))
        return fill_unpublished(past, pad + i + known - lo, DAY_SLOTS, cut)[pad + i - lo :]

    return filled(year.buy, discount), filled(year.sell, 0.0)


def _plan_battery(bat: SimBattery) -> Battery:
    """The simulated battery as the planner sees it."""
    b = bat.params
    return Battery(
        b.capacity_wh,
        bat.soc,
        b.max_charge_w,
        b.max_discharge_w,
        soc_min_pct=b.soc_min,
        soc_max_pct=b.soc_max,
        eff_charge=b.charge_eff,
        eff_discharge=b.discharge_eff,
        wear_eur_per_kwh=0.01,
    )


def _plan_evs(ev: EVCharger, now: datetime, n: int) -> tuple[EV, ...]:
    """The car to charge in the horizon of ``n`` slots, if it is plugged in and needs energy.

    Leaving after the horizon: charge only where it pays, the requirement comes later.
    """
    need = ev.energy_needed_wh
    dep = ev.departure
    if not (ev.plugged and need > 1.0):
        return ()
    eff = ev.params.charge_eff
    deadline = max(1, int((dep - now).total_seconds() // SLOT_S)) if dep is not None else n
    if deadline < n:
        return (EV(np.arange(n) < deadline, need * eff, THREE_PHASE_MAX_W, ONE_PHASE_MIN_W, deadline, eff),)
    return (
        EV(np.ones(n, bool), 0.0, THREE_PHASE_MAX_W, ONE_PHASE_MIN_W, None, eff, max_energy_wh=need * eff),
    )


@dataclass
class Planned:
    """wattwerk's planner (or, with actual forecasts and all prices, the oracle): re-plan every
    slot, follow the current slot, absorb the forecast error in real time."""

    year: Year
    fc: Forecasts
    name: str = "planner"
    options: PlanOptions = field(default_factory=PlanOptions)
    extend_prices: bool = True  # fill the horizon beyond published prices with a persistence forecast
    forecast_price_discount: float = 0.0  # lower forecast (not yet published) buy prices by this share
    shift_heat: bool = False  # plan the heat pump through SG-Ready; False: it keeps its thermostat
    replan_slots: int = 1  # re-plan every this many slots (and when the EV plugs in or out)
    # intraday corrections from what was just measured (0 / 0.0: off): PV scaled by measured over
    # forecast of the last ``pv_recent_slots``, fading by ``pv_recent_decay`` per slot; the load's
    # deviation from its profile in the last slot, fading by ``load_recent_decay`` per slot
    pv_recent_slots: int = 0
    pv_recent_decay: float = 0.0
    load_recent_decay: float = 0.0
    value_aware: bool = True  # forecast errors into the battery only where the stored value says it pays
    spill_to_ev: bool = True  # PV the export limit would curtail goes into a car that needs energy
    solve_ms: list[float] = field(default_factory=list)
    plans: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    _plan: Plan | None = None
    _slot: int = -1
    _planned_at: int = -1  # the slot the current plan starts at
    _plugged: bool = False
    _loadf: LoadForecaster | None = None
    _load_day: int = -1
    _load_cache: np.ndarray | None = None
    _load_from: int = 0
    _hp_expected: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _pv: FadeRecord | None = None  # PV measured per slot, the forecasts and intraday factors made

    # ---------------------------------------------------------------- forecasts

    def _load_forecast(self, i: int, n: int, last_load_w: float) -> np.ndarray:
        if self.fc.load_w is not None:
            return self.fc.load_w[i : i + n]
        day = i // 48
        if day != self._load_day or self._load_cache is None:  # refit once a day on past data only
            start = self.year.starts[i]
            past = self.year.history["load_w"]
            past = past[(past.index < start) & (past.index >= start - pd.Timedelta(weeks=6))]
            self._loadf = LoadForecaster().fit(past)
            span = min(self.year.n - i, 48 + HORIZON_SLOTS)
            self._load_cache = self._loadf.predict(self.year.starts[i : i + span])
            self._load_day, self._load_from = day, i
        out = self._load_cache[i - self._load_from : i - self._load_from + n].copy()
        if last_load_w > 0 and len(out):
            if self.load_recent_decay > 0:  # the last deviation from the profile fades out
                return blend_recent(out, last_load_w, self.load_recent_decay)
            out[0] = 0.5 * out[0] + 0.5 * last_load_w  # persistence for the slot now starting
        return out

    def _pv_forecast(self, i: int, n: int) -> np.ndarray:
        """The PV forecast of the horizon; with ``pv_recent_slots``, scaled by how the measured PV
        of the last slots (past data) compared with the forecast for them, fading (``_fade``)."""
        pv = self.fc.pv_at(i, n)
        k = self.pv_recent_slots
        if self.fc.oracle or k <= 0 or i < k:
            return pv
        # what the site's inverters reported over the last slots (the file has gaps and no night
        # values; the site measures what the simulator replays)
        measured = self._record().measured[i - k : i]
        if np.isnan(measured).any():
            return pv
        expected = self.fc.pv_at(i - k, k)
        factor = intraday_factor(float(measured.sum()), float(expected.sum()), 75.0 * k)
        self._record().record(i, factor, pv)
        return blend_intraday(pv, factor, self._fade(i, n))

    def _record(self) -> FadeRecord:
        if self._pv is None:
            fixed = fixed_fade(self.pv_recent_decay, HORIZON_SLOTS)
            week = np.ones(self.year.n, bool) if self.fc.pv_scaled is None else ~self.fc.pv_scaled
            self._pv = FadeRecord(self.year.n, HORIZON_SLOTS, fixed, week)
        return self._pv

    def _fade(self, i: int, n: int) -> np.ndarray:
        """How much of the intraday deviation each coming slot keeps: ``pv_recent_decay`` per slot
        where the forecast is a recorded one; where it is the week's mean, as fitted on the site's
        own days before (``FadeRecord``; a backtest on the benchmark year's PV with the week's mean
        as its forecast: MAE 0.5-6 h ahead 425 W with 0.85 per slot, 410 W fitted; with the
        recorded forecast 379 and 376 W, too little to change it)."""
        fixed = fixed_fade(self.pv_recent_decay, n)
        if self.pv_recent_slots <= 0 or self.fc.oracle:
            return fixed
        week = np.ones(n, bool) if self.fc.pv_scaled is None else ~self.fc.pv_scaled[i : i + n]
        return np.where(week, self._record().fade(i)[:n], fixed)

    # ---------------------------------------------------------------- the request

    def _heat(self, hp: HeatPump, t_out: np.ndarray) -> tuple[tuple[ThermalStore, ...], np.ndarray | None]:
        """The heat pump in the plan: with ``shift_heat`` a thermal store to schedule (and no extra
        load); otherwise its expected thermostat power, which the caller adds to the load."""
        p = hp.params
        demand = np.clip(p.heat_loss_w_per_k * (p.heating_limit_c - t_out), 0.0, None)
        cop = np.array(
            [carnot_cop(t, HP_STORE_MAX_C + 5.0, p.carnot_fraction, p.cop_min, p.cop_max) for t in t_out]
        )
        if self.shift_heat:
            heater = Heater(hp.name, p.thermal_w / float(cop.mean()), cop)
            store = ThermalStore.from_tank(
                p.store_litres,
                HP_STORE_MIN_C,
                HP_STORE_MAX_C,
                hp.temperature,
                demand,
                (heater,),
                loss_w=p.store_loss_w_per_k * (HP_STORE_MIN_C + 5 - p.room_c),
            )
            return (store,), None
        own = np.array(
            [
                carnot_cop(
                    t, p.setpoint_c + 5.0 - p.hysteresis_k / 2, p.carnot_fraction, p.cop_min, p.cop_max
                )
                for t in t_out
            ]
        )
        loss = p.store_loss_w_per_k * (p.setpoint_c - p.hysteresis_k / 2 - p.room_c)
        self._hp_expected = (demand + loss) / own
        return (), self._hp_expected

    def request(self, sim: SiteSim, i: int) -> PlanRequest:
        """The planning problem at slot ``i`` from what is known then."""
        y = self.year
        now = y.starts[i].to_pydatetime()
        buy, sell = price_horizon(y, i, now, self.fc.oracle, self.extend_prices, self.forecast_price_discount)
        n = len(buy)
        house = self._load_forecast(i, n, sim.house.power if sim.steps else 0.0)
        bat, ev, hp = sim.battery, sim.evs[0], sim.heat_pump
        assert bat is not None and hp is not None
        thermal, hp_load = self._heat(hp, y.outdoor_c[i : i + n])
        # the heat pump keeps its own thermostat: its power is part of the load (none: the plan's)
        fixed = hp_load if hp_load is not None else 0.0
        load, pv = house + fixed, self._pv_forecast(i, n)
        others: tuple[Future, ...] = ()
        if self.fc.futures is not None and not self.fc.oracle:  # PV and house load; the heat pump as is
            fades = self._fade(i, n), self.load_recent_decay ** np.arange(n)
            keep = 1.0 if self.fc.persistence is None else float(self.fc.persistence[i])
            peak = y.setup.pv_kwp * 1000.0
            pv, load, others = futures(pv, house, self.fc.futures[i], *fades, peak, fixed, keep, DAY_SLOTS)
        return PlanRequest(
            now,
            SLOT_S // 60,
            buy,
            pv,
            load,
            sell,
            batteries=(_plan_battery(bat),),
            evs=_plan_evs(ev, now, n),
            thermal=thermal,
            max_import_w=y.setup.import_limit_w - IMPORT_MARGIN_W,
            max_export_w=y.setup.export_cap_w,
            futures=others,
        )

    def solve(self, req: PlanRequest) -> Plan:
        return solve(req, self.options)

    # ---------------------------------------------------------------- acting

    def _due(self, sim: SiteSim, i: int) -> bool:
        """A new plan at this slot: every ``replan_slots`` slots, and when the EV plugs in or out."""
        if self._plan is None or i - self._planned_at >= self.replan_slots:
            return True
        if i - self._planned_at >= self._plan.n:
            return True
        return sim.evs[0].plugged != self._plugged

    def act(self, sim: SiteSim, now: float) -> None:
        i = self.year.slot_at(now)
        if i != self._slot:
            if self._due(sim, i):
                plan = self.solve(self.request(sim, i))
                self._plan, self._planned_at = plan, i
                self._plugged = sim.evs[0].plugged
                self.solve_ms.append(plan.solve_ms)
                self.statuses[plan.status] = self.statuses.get(plan.status, 0) + 1
            self._slot = i
        plan = self._plan
        assert plan is not None
        k = i - self._planned_at  # the plan's slot now running (0 unless re-planned less often)
        ev, bat, hp = sim.evs[0], sim.battery, sim.heat_pump
        assert bat is not None and hp is not None
        # EV: the plan's power, with a last-resort full charge when the deadline is at risk
        ev_w = float(plan.devices["ev1"]["power_w"][k]) if "ev1" in plan.devices else 0.0
        need = ev.energy_needed_wh
        dep = ev.departure
        if not ev.plugged or need <= 0:
            ev_w = 0.0
        elif dep is not None and dep.timestamp() - now <= need / THREE_PHASE_MAX_W * 3600.0 + 2 * 300.0:
            ev_w = THREE_PHASE_MAX_W
        hp_plan, load0 = self._heat_pump(sim, plan, k)
        # battery: the plan, corrected by what the forecast got wrong where that pays
        house, pv = measured_now(sim, now)
        self._record().add_measured(i, pv * STEP_S / SLOT_S)
        base = house + hp.power - pv
        dev = (house - load0) + (hp.power - hp_plan) - (pv - plan.pv_w[k])
        bat_plan = float(plan.devices["bat"]["power_w"][k])
        worth = self._worth(plan, k, i, bat)
        bat_w = battery_follow(bat_plan, dev, base + ev_w, bat.params.max_discharge_w, worth)
        ev_w = self._spill(sim, base, ev_w, bat_w)
        # safety net for the fuse
        limit = self.year.setup.import_limit_w - IMPORT_MARGIN_W / 2 - heat_pump_headroom_w(hp)
        ev_w, _ = fuse_guard(base, ev_w, bat_w, limit, bat.soc > bat.params.soc_min + 0.5)
        _apply_ev(sim, ev_w)
        # the battery follows within the step, as the edge's loop reading the meter every second does
        planned = load0 + hp_plan + ev_w - float(plan.pv_w[k])  # the residual (W) the plan expects
        fuse = self.year.setup.import_limit_w - IMPORT_MARGIN_W / 2
        bat.rule = battery_rule(bat_plan, planned, bat.params.max_discharge_w, fuse, worth)

    def _spill(self, sim: SiteSim, base: float, ev_w: float, bat_w: float) -> float:
        """PV the export limit would curtail goes into the car (it needs the energy anyway), then
        into the heat pump's store (SG-Ready 3 while over 1 kW would be cut, its own draw counted
        while it boosts); returns the car's power."""
        ev, hp = sim.evs[0], sim.heat_pump
        assert hp is not None
        spill = -(base + ev_w - bat_w) - self.year.setup.export_cap_w
        if not self.spill_to_ev:
            return ev_w
        if spill > 0 and ev.plugged and ev.energy_needed_wh > 0 and ev_w + spill >= ONE_PHASE_MIN_W:
            added = min(spill, THREE_PHASE_MAX_W - ev_w)
            ev_w, spill = ev_w + added, spill - added
        if not self.shift_heat:
            want = 3 if spill + (hp.power if hp.sgready == 3 else 0.0) > 1000.0 else 2
            if hp.sgready != want:
                sim.command(hp.name, "sgready", want)
        return ev_w

    def _heat_pump(self, sim: SiteSim, plan: Plan, k: int) -> tuple[float, float]:
        """(the heat pump's planned power, the planned house load without it); with ``shift_heat``
        the plan's SG-Ready state is sent."""
        hp = sim.heat_pump
        assert hp is not None
        if self.shift_heat:
            hp_plan = float(plan.devices[hp.name]["power_w"][k])
            want = sgready_from_plan(hp_plan, hp.params.thermal_w / 3.0, hp.temperature)
            if hp.sgready != want:
                sim.command(hp.name, "sgready", want)
            return hp_plan, float(plan.load_w[k])
        hp_plan = float(self._hp_expected[k])
        return hp_plan, float(plan.load_w[k]) - hp_plan

    def _worth(self, plan: Plan, k: int, i: int, bat: SimBattery) -> StoreWorth | None:
        """The stored energy's value in the plan's slot ``k`` against the prices of slot ``i``."""
        value = plan.stored_value_eur_per_kwh.get("bat")
        if not self.value_aware or value is None or not np.isfinite(value[k]):
            return None
        p = bat.params
        y = self.year
        return StoreWorth(
            float(value[k]),
            float(y.buy[i]),
            float(y.sell[i]),
            p.charge_eff,
            p.discharge_eff,
            y.setup.export_cap_w,
        )


def heat_pump_headroom_w(hp: HeatPump) -> float:
    """Power a heat pump that is off now may draw if it switches on within the step."""
    if hp.on:
        return 0.0
    p = hp.params
    cop = carnot_cop(hp.outdoor_c, hp.temperature + 5.0, p.carnot_fraction, p.cop_min, p.cop_max)
    return p.thermal_w / cop
