"""The planner in the running edge: prices, forecasts and the site's storage into a least-cost plan,
re-made every slot (and whenever the prices change); the current slot becomes the ``Signals`` of
the control cycle, and the plan is shown on the local page.

Planned: the batteries; each plugged car of ``strategy.ev_departures`` (its energy by the next
departure); each tank of ``strategy.heat_stores`` with its heat pump and heating rods. PV comes
from the weather forecast corrected by the plant's measured yield of the last days (bounded, see
``forecast.pv.PVForecaster``), the house load from its own history, with the deviation just
measured fading out. Beside the forecasts, other futures of PV and load (an equal share of the
outcomes each, from how the past days' PV and load strayed from their forecasts together,
``forecast.futures``) make the plan two-stage: what is done now suits them all.

Nothing here blocks the control loop: the plan is solved in a worker thread and the last good plan
is kept. Without prices or without a plan covering now, ``signals()`` answers ``NO_SIGNALS`` and the
controllers run self-consumption. Every failure is logged once per streak.

With ``strategy.co2`` the grid's CO₂ intensity per slot (``forecast.grid_signal.Co2Source``) joins
the objective: imported energy costs its price plus ``weight_eur_per_kg`` × its CO₂, or, with weight
0, ``CO2_TIE_EUR_PER_KG``, which only breaks ties between slots of the same price. The plan then
reports its expected kg CO₂ and €, and what the CO₂ term changed against a plan on price alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pandas as pd

from wattwerk.config import SiteConfig
from wattwerk.config.schema import WEEKDAYS, EvDeparture, HeatStore
from wattwerk.config.site_limits import site_limits, tightest
from wattwerk.control.base import NO_SIGNALS, Signals
from wattwerk.control.plan_model import EV, Battery, Heater, Plan, PlanOptions, PlanRequest, ThermalStore
from wattwerk.control.planner import solve
from wattwerk.errors import WattwerkError
from wattwerk.flows import SiteRoles, power_flows
from wattwerk.forecast.futures import FUTURE_DAYS, Future, day_factors, deficits, futures, persistence
from wattwerk.forecast.grid_signal import Co2Source, EnergyChartsCO2
from wattwerk.forecast.load import LoadForecaster, blend_recent, day_energies
from wattwerk.forecast.pv import Correction, fixed_fade
from wattwerk.forecast.site import (
    CLEAR_SKY_SHARE,
    LOAD_DECAY,
    NO_WEATHER,
    RECENT_DECAY,
    load_history_w,
    offline_pv_w,
    pv_arrays,
    pv_correction,
    recent_pv,
    weather_pv_w,
    with_week,
)
from wattwerk.market.site_prices import SLOT_MINUTES, Prices, PriceSource
from wattwerk.market.tariff import slot_index
from wattwerk.model import utcnow
from wattwerk.snapshot import Snapshot

log = logging.getLogger("wattwerk.planner")

EV_EFFICIENCY = 0.9  # AC energy into the car's battery, for SoC targets
DAY_SLOTS = 24 * 60 // SLOT_MINUTES  # a day ahead the futures keep their persistence
# €/kg CO₂ when strategy.co2 has weight 0: 800 g/kWh x 1e-4 €/kg = 0.008 ct/kWh, below any price step
# a tariff has (0.01 ct), above the planner's tie hair on every flow (0.001 ct): CO₂ decides only ties
CO2_TIE_EUR_PER_KG = 1e-4


def co2_source(cfg: SiteConfig) -> Co2Source | None:
    """The CO₂ signal of ``strategy.co2``, cached in the data folder; None without one."""
    c = cfg.strategy.co2
    if c is None:
        return None
    return Co2Source(EnergyChartsCO2(c.country), Path(cfg.store.data_dir) / "co2.json")


def next_departure(dep: EvDeparture, now: datetime, tz: str) -> datetime | None:
    """The next departure after ``now`` on one of its weekdays (local time, as aware datetime)."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    for ahead in range(8):
        day = (local + timedelta(days=ahead)).date()
        if WEEKDAYS[day.weekday()] in dep.days:
            at = datetime.combine(day, dep.time, tzinfo=zone)
            if at > now:
                return at
    return None


def charger_power_w(cfg: SiteConfig, charger_id: str) -> tuple[float, float]:
    """(lowest, highest) charging power in W of a charger from its limits."""
    dev = cfg.device(charger_id)
    lim = dev.limits
    volts = cfg.site.grid.voltage_v
    phases = lim.phases or 3
    low_phases = 1 if getattr(dev, "phase_switching", False) else phases
    return (lim.min_current_a or 6.0) * low_phases * volts, (lim.max_current_a or 16.0) * phases * volts


def heat_store(
    cfg: SiteConfig, store: HeatStore, snap: Snapshot, n: int, slot_minutes: int, name: str
) -> ThermalStore:
    """A ``strategy.heat_stores`` tank as the planner's thermal store; without a temperature
    reading it is taken as half full."""
    heaters = []
    for dev_id in store.heaters:
        dev = cfg.device(dev_id)
        if dev.role == "heat_pump":
            heaters.append(Heater(dev_id, float(dev.limits.max_power_w or 0.0), store.cop))
        else:  # a rod on relay stages runs at least its lowest stage
            stages = getattr(dev, "stages", None) or ()
            heaters.append(
                Heater(
                    dev_id, float(getattr(dev, "max_power_w", 0.0)), 1.0, float(stages[0]) if stages else 0.0
                )
            )
    t_now = snap.get(store.temperature) if store.temperature else None
    if t_now is None or not math.isfinite(t_now):
        t_now = (store.min_c + store.max_c) / 2.0
    demand = np.full(n, store.heat_kwh_per_day * 1000.0 / 24.0)
    return ThermalStore.from_tank(
        store.volume_l, store.min_c, store.max_c, t_now, demand, tuple(heaters), name=name
    )


class PlanService:
    """Re-plans every slot; ``signals()`` for ``CycleStep``, ``plan_json()`` for the page."""

    def __init__(
        self,
        cfg: SiteConfig,
        snapshot: Callable[[], Snapshot],
        prices: PriceSource,
        *,
        store: Any = None,
        clock: Callable[[], datetime] = utcnow,
        horizon: timedelta = timedelta(hours=48),  # the benchmark's (bench.year.laws.HORIZON_SLOTS)
        weather: Callable[[], Awaitable[pd.DataFrame]] | None = None,
        options: PlanOptions | None = None,
        co2: Co2Source | None = None,
    ) -> None:
        self.cfg = cfg
        self.snapshot = snapshot
        self.source = prices
        self.store = store
        self.clock = clock
        self.horizon = horizon
        self.weather = weather
        self.pv_source = "clear sky"
        # strict heaters: a relay-staged rod is planned at 0 or at least its lowest stage per slot
        self.options = options or PlanOptions(time_limit_s=2.0, strict_heaters=True)
        self.plan: Plan | None = None
        self.prices: Prices | None = None
        self.failures = 0
        self._problem: str | None = None  # the failure being logged (once per streak)
        self._session_wh0: dict[str, float | None] = {}  # charger meter reading at plug-in
        self.pv_correction: Correction | None = None
        self._day_loads: dict[date, tuple[float, float]] = {}  # a judged day's load: measured, forecast (Wh)
        self.pv_recent = 1.0  # measured over forecast PV of the last two hours (intraday)
        self.owner_departures: dict[str, EvDeparture] = {}  # the owner's plans (page, MQTT, portal)
        self.co2 = co2 if co2 is not None else co2_source(cfg)
        self.co2_g: np.ndarray | None = None  # the plan's CO₂ signal per slot (g/kWh)
        self.co2_effect: dict[str, float] | None = None  # against the plan on price alone

    def departures(self) -> list[EvDeparture]:
        """The site file's departures, each replaced by the owner's plan for the same charger."""
        own = self.owner_departures
        return [d for d in self.cfg.strategy.ev_departures if d.charger not in own] + list(own.values())

    def ev_plan(self, charger: str) -> dict[str, Any] | None:
        """One car's part of the plan from now: energy (Wh), expected cost (EUR, its grid share at
        each slot's price), PV share (%) and the slots it charges in; None without a plan for it."""
        plan = self.plan
        i = self._slot(self.clock())
        if plan is None or i is None or charger not in plan.devices:
            return None
        hours = plan.slot_minutes / 60.0
        power = plan.devices[charger]["power_w"]
        energy = cost = grid = 0.0
        slots = []
        for k in range(i, plan.n):
            w = float(power[k])
            if w < 1.0:
                continue
            from_grid = min(w, max(float(plan.grid_w[k]), 0.0))
            energy += w * hours
            grid += from_grid * hours
            cost += from_grid * hours / 1000.0 * float(plan.buy_eur_per_kwh[k])
            slots.append(
                {
                    "start": plan.slot_start(k).isoformat(),
                    "w": round(w, 1),
                    "price": round(float(plan.buy_eur_per_kwh[k]), 4),
                }
            )
        share = None if energy <= 0 else round(100.0 * (1.0 - grid / energy), 1)
        return {
            "energy_wh": round(energy, 1),
            "cost_eur": round(cost, 2),
            "pv_share_pct": share,
            "slots": slots,
        }

    def _fail(self, message: str) -> None:
        self.failures += 1
        if self._problem != message.split(":")[0]:
            log.warning("planner: %s; controllers run self-consumption until there is a plan", message)
        self._problem = message.split(":")[0]

    def slot_start(self, now: datetime) -> datetime:
        minutes = now.minute - now.minute % SLOT_MINUTES
        return now.replace(minute=minutes, second=0, microsecond=0)

    async def _weather(self) -> pd.DataFrame | None:
        """The weather forecast, or None (PV from clear sky), said once per failure streak."""
        if self.weather is None or not pv_arrays(self.cfg):
            return None
        try:
            frame = await self.weather()
        except (WattwerkError, httpx.HTTPError, ValueError, OSError) as exc:
            if not self.pv_source.endswith(NO_WEATHER):  # request() names which offline source
                log.warning(
                    "planner: no weather forecast (%s); PV from the plant's measured week, before it has "
                    "one from clear sky x %.1f",
                    exc,
                    CLEAR_SKY_SHARE,
                )
                self.pv_source = f"clear sky {NO_WEATHER}"
            return None
        self.pv_source = "weather"
        return frame

    def ev_need_wh(self, dep: EvDeparture, snap: Snapshot) -> float | None:
        """AC energy (Wh) the plugged car on ``dep.charger`` still needs; None when no car is
        plugged. The session starts when the planner first sees the car plugged."""
        cid = dep.charger
        state = snap.get(f"{cid}.state")
        if state is None or state < 1:
            self._session_wh0.pop(cid, None)
            return None
        energy = snap.get(f"{cid}.energy")
        if self._session_wh0.get(cid) is None:
            self._session_wh0[cid] = energy
        if dep.target_soc is not None and dep.battery_kwh is not None:
            soc = snap.get(f"{cid}.soc")
            if soc is not None:
                return max(dep.target_soc - soc, 0.0) / 100.0 * dep.battery_kwh * 1000.0 / EV_EFFICIENCY
            return None  # the car's SoC is not known: its target cannot be planned
        wh0 = self._session_wh0.get(cid)
        done = energy - wh0 if energy is not None and wh0 is not None else 0.0
        return max(float(dep.energy_kwh or 0.0) * 1000.0 - max(done, 0.0), 0.0)

    def evs(self, snap: Snapshot, start: datetime, n: int) -> tuple[EV, ...]:
        """The plugged cars of ``strategy.ev_departures``: energy by the next departure when it
        falls within the horizon, else charged only where it pays (up to the need)."""
        out = []
        step = timedelta(minutes=SLOT_MINUTES)
        for dep in self.departures():
            need = self.ev_need_wh(dep, snap)
            if need is None or need < 1.0:
                continue
            low, high = charger_power_w(self.cfg, dep.charger)
            leave = next_departure(dep, start, self.cfg.site.timezone)
            deadline = None if leave is None else max(1, int((leave - start) // step))
            if deadline is not None and deadline <= n:
                out.append(EV(np.arange(n) < deadline, need, high, low, deadline, 1.0, name=dep.charger))
            else:
                out.append(
                    EV(np.ones(n, bool), 0.0, high, low, None, 1.0, max_energy_wh=need, name=dep.charger)
                )
        return tuple(out)

    def co2_weight(self) -> float:
        """€ per kg CO₂ imported in the objective (``strategy.co2``; its tie-breaker at weight 0)."""
        c = self.cfg.strategy.co2
        return 0.0 if c is None else (c.weight_eur_per_kg or CO2_TIE_EUR_PER_KG)

    def request(
        self,
        prices: Prices,
        snap: Snapshot,
        weather: pd.DataFrame | None = None,
        co2: np.ndarray | None = None,
    ) -> PlanRequest:
        """The planning problem: the slots of known prices, forecasts, batteries, cars by their
        departure, heat stores, grid limits; the CO₂ signal per slot when there is one."""
        cfg, start, n = self.cfg, prices.start, len(prices.buy)
        index = slot_index(start, n, SLOT_MINUTES)
        # the profile's 6 weeks before the oldest of the days the futures judge
        history = load_history_w(cfg, self.store, start, weeks=6 + FUTURE_DAYS // 7)
        forecaster = LoadForecaster(tz=cfg.site.timezone).fit(history)
        load = np.nan_to_num(forecaster.predict(index))
        roles = SiteRoles.from_pairs([(d.id, d.role) for d in cfg.devices])
        house_now = power_flows(roles, snap.get).get("house")
        if house_now is not None:  # what the house draws now persists for a while
            load = blend_recent(load, house_now, LOAD_DECAY)
        batteries = []
        for b in cfg.by_role("battery"):
            reserve = cfg.reserve_soc(b)  # type: ignore[arg-type]
            soc = snap.get(f"{b.id}.soc")
            batteries.append(
                Battery(
                    b.capacity_wh,
                    reserve if soc is None else soc,  # type: ignore[attr-defined]
                    b.max_charge_w,
                    b.max_discharge_w,
                    soc_min_pct=reserve,
                    name=b.id,  # type: ignore[attr-defined]
                )
            )
        limits = site_limits(cfg)  # the limiter's fixed limits: connection, fuse, feed-in, peak shaving
        imports, exports = tightest(limits, "import"), tightest(limits, "export")
        others: tuple[Future, ...] = ()
        if weather is None:  # offline: the plant's measured week where there is one
            pv, self.pv_source = offline_pv_w(cfg, self.store, start, n)
            pv, self.pv_recent = recent_pv(
                cfg, self.store, start, pv, lambda s, k: offline_pv_w(cfg, self.store, s, k)[0]
            )
        else:
            self.pv_correction = pv_correction(cfg, self.store, weather, start)
            factor = self.pv_correction.factor if self.pv_correction else 1.0
            pv = with_week(cfg, self.store, start, weather_pv_w(cfg, weather, start, n, factor))
            pv, self.pv_recent = recent_pv(
                cfg, self.store, start, pv, lambda s, k: weather_pv_w(cfg, weather, s, k, factor)
            )
            strayed = self.future_factors(history, self.pv_correction) if self.pv_correction else None
            if strayed is not None:  # other futures from how the past days strayed
                (factors, keep), peak = strayed, sum(a.peak_w for a in pv_arrays(cfg))
                fades = fixed_fade(RECENT_DECAY, n), LOAD_DECAY ** np.arange(n)
                pv, load, others = futures(pv, load, factors, *fades, peak, 0.0, keep, DAY_SLOTS)
        thermal = tuple(
            heat_store(cfg, s, snap, n, SLOT_MINUTES, f"heat{i}")
            for i, s in enumerate(cfg.strategy.heat_stores)
        )
        return PlanRequest(
            start,
            SLOT_MINUTES,
            prices.buy,
            pv,
            load,
            sell_eur_per_kwh=prices.sell,
            batteries=tuple(batteries),
            evs=self.evs(snap, start, n),
            thermal=thermal,
            max_import_w=imports if imports is not None else math.inf,
            max_export_w=exports if exports is not None else math.inf,
            co2_g_per_kwh=co2,
            co2_eur_per_kg=self.co2_weight() if co2 is not None else 0.0,
            futures=others,
        )

    def future_factors(self, history: pd.Series, correction: Correction) -> tuple[np.ndarray, float] | None:
        """``forecast.futures.day_factors`` of the days the PV correction judged (measured against
        the weather model) whose house load is known too (against the profile fit before each day),
        and how much of its deviation a future keeps a day ahead (``persistence``); None with fewer
        than five such days. A past day's load figures are kept: a re-plan fits only new days."""
        tz = self.cfg.site.timezone
        days = [d for d, _, _ in correction.day_wh]
        new = [d for d in days if d not in self._day_loads]
        if new:
            starts = pd.DatetimeIndex([pd.Timestamp(d).tz_localize(tz) for d in new]).tz_convert("UTC")
            loads = day_energies(history, starts, pd.Timedelta(minutes=SLOT_MINUTES), tz)
            for d, s in zip(new, starts, strict=True):
                if s in loads.index:
                    self._day_loads[d] = (float(loads.at[s, "measured"]), float(loads.at[s, "forecast"]))
        self._day_loads = {d: self._day_loads[d] for d in days if d in self._day_loads}  # judged days only
        known = self._day_loads
        rows = [(d, pv_m, pv_f, *known[d]) for d, pv_m, pv_f in correction.day_wh if d in known]
        if not rows:
            return None
        energies = np.array([r[1:] for r in rows], dtype=float).T
        factors = day_factors(*energies)
        return None if factors is None else (factors, persistence(deficits(*energies), [r[0] for r in rows]))

    def solve(
        self, prices: Prices, snap: Snapshot, weather: pd.DataFrame | None, co2: np.ndarray | None
    ) -> tuple[Plan, dict[str, float] | None]:
        """The plan and, with a CO₂ signal, its effect against the plan on price alone: kg CO₂ saved
        and € more over the horizon, each net of the energy left in the batteries at the end (worth
        what it saves later: the mean price and CO₂ after discharge losses, as the planner values
        it), since where prices tie the two plans may end with the batteries at different levels."""
        req = self.request(prices, snap, weather, co2)
        plan = solve(req, self.options)
        if co2 is None or plan.status == "fallback":
            return plan, None
        alone = solve(replace(req, co2_eur_per_kg=0.0), self.options)
        if alone.status == "fallback" or alone.co2_kg is None or plan.co2_kg is None:
            return plan, None
        (eur, kg), (eur0, kg0) = _net_of_stored(req, plan), _net_of_stored(req, alone)
        return plan, {"co2_kg_saved": round(kg0 - kg, 3), "cost_eur_more": round(eur - eur0, 4)}

    async def refresh(self) -> Plan | None:
        """Fetch prices and re-plan; on failure keep the last good plan (it is used while it covers
        now). Never raises."""
        start = self.slot_start(self.clock())
        try:
            prices = await self.source.prices(start, start + self.horizon)
        except (WattwerkError, httpx.HTTPError, ValueError, OSError) as exc:
            self._fail(f"no prices: {exc}")
            return None
        if not prices.fresh and prices.message:
            log.info("planner uses cached prices: %s", prices.message)
        changed = self.prices is not None and not _same(self.prices, prices)
        weather = await self._weather()
        co2 = await self.co2.per_slot(start, len(prices.buy), SLOT_MINUTES) if self.co2 is not None else None
        snap = self.snapshot()
        try:  # forecasts (store queries, profiles) and the solver off the event loop
            plan, effect = await asyncio.to_thread(self.solve, prices, snap, weather, co2)
        except Exception as exc:  # a broken plan must never stop the edge
            self._fail(f"plan failed: {exc!r}")
            return None
        if plan.status == "fallback":
            self._fail(f"plan failed: {plan.message}")
            return None
        if self._problem is not None:
            log.info("planner: planning again after %d failure(s)", self.failures)
        self._problem = None
        self.plan, self.prices, self.co2_g, self.co2_effect = plan, prices, co2, effect
        log.info(
            "plan %s from %s: %d slots, cost %.2f €, prices %s%s%s",
            plan.status,
            start.isoformat(),
            plan.n,
            plan.cost_eur,
            prices.source,
            "" if prices.fresh else " (cached)",
            ", prices changed" if changed else "",
        )
        return plan

    def _slot(self, now: datetime) -> int | None:
        plan = self.plan
        if plan is None:
            return None
        i = int((now - plan.start) // timedelta(minutes=plan.slot_minutes))
        return i if 0 <= i < plan.n else None

    def signals(self) -> Signals:
        """The plan's current slot: price, cheap/expensive (lowest/highest quarter of the plan's
        published prices), the battery setpoint (+ discharge) and hold while the plan keeps it from
        discharging. A slot that charges the battery without importing charges it from PV: no
        setpoint then, so a car charging from PV is not starved into the grid by it (the battery
        takes what is left); that PV is kept from the heaters the plan did not schedule
        (``battery_pv_w``)."""
        plan = self.plan
        i = self._slot(self.clock())
        if plan is None or i is None:
            return NO_SIGNALS
        price = float(plan.buy_eur_per_kwh[i])
        published = plan.buy_eur_per_kwh[: max(self.published_slots(plan, 0), i + 1)]  # not the forecast
        lo, hi = np.quantile(published, [0.25, 0.75])
        spread = hi - lo > 0.01
        bats = [b.id for b in self.cfg.by_role("battery") if b.id in plan.devices]
        battery_w = float(sum(plan.devices[b]["power_w"][i] for b in bats)) if bats else None
        hold = battery_w is not None and battery_w < 1.0
        battery_pv_w = 0.0
        if battery_w is not None and battery_w < -1.0 and float(plan.grid_w[i]) <= 1.0:
            battery_pv_w = -battery_w  # the heaters leave it to the battery
            battery_w = None  # charging from PV, not the grid: it takes the surplus the others leave
        planned = [d.charger for d in self.departures()]
        planned += [h for store in self.cfg.strategy.heat_stores for h in store.heaters]
        device_w = tuple(
            (d, round(float(plan.devices[d]["power_w"][i]), 1)) for d in planned if d in plan.devices
        )
        return Signals(
            price=price,
            cheap=bool(spread and price <= lo),
            expensive=bool(spread and price >= hi),
            battery_w=None if battery_w is None else round(battery_w, 1),
            hold_battery=hold,
            device_w=device_w,
            battery_pv_w=round(battery_pv_w, 1),
        )

    def plan_json(self) -> dict[str, Any]:
        """``{currency, status, message, source, fresh, published_slots, pv, pv_correction, cost_eur,
        slots: [{start, end, price, grid_w, battery_w, ev_w, heat_w, pv_w, load_w, curtail_w}],
        curtailed_kwh}`` from the current slot on (the shape ``RuntimeView`` shows); ``curtail_w`` is
        PV the plan holds back (feed-in limit, zero export, negative feed-in prices); the slots after
        the first ``published_slots`` are planned on forecast prices (not yet published)."""
        plan = self.plan
        i = self._slot(self.clock())
        if plan is None or i is None:
            why = self._problem or "no plan yet"
            return {"currency": None, "status": "none", "message": why, "slots": []}
        bats = [name for name, s in plan.devices.items() if "soc_pct" in s]
        evs = [n for n, s in plan.devices.items() if {"power_w", "energy_wh"} <= s.keys() and n not in bats]
        heaters = [h for store in self.cfg.strategy.heat_stores for h in store.heaters if h in plan.devices]
        step = timedelta(minutes=plan.slot_minutes)
        slots = []
        for k in range(i, plan.n):
            slots.append(
                {
                    "start": plan.slot_start(k).isoformat(),
                    "end": (plan.slot_start(k) + step).isoformat(),
                    "price": round(float(plan.buy_eur_per_kwh[k]), 4),
                    "grid_w": round(float(plan.grid_w[k]), 1),
                    "battery_w": round(float(sum(plan.devices[b]["power_w"][k] for b in bats)), 1),
                    "ev_w": round(float(sum(plan.devices[e]["power_w"][k] for e in evs)), 1),
                    "heat_w": round(float(sum(plan.devices[h]["power_w"][k] for h in heaters)), 1),
                    "pv_w": round(float(plan.pv_w[k]), 1),
                    "load_w": round(float(plan.load_w[k]), 1),
                    "curtail_w": round(float(plan.curtail_w[k]), 1),
                    "co2_g_per_kwh": None if self.co2_g is None else round(float(self.co2_g[k]), 1),
                }
            )
        p = self.prices
        return {
            "currency": self.cfg.tariff.currency,
            "status": plan.status,
            "message": plan.message,
            "source": p.source if p else None,
            "fresh": p.fresh if p else None,
            "published_slots": self.published_slots(plan, i),
            "pv": self.pv_source,
            "pv_correction": round(self.pv_correction.factor, 3) if self.pv_correction else None,
            "pv_recent": round(self.pv_recent, 3),
            "cost_eur": round(plan.cost_eur, 4),
            "slots": slots,
            "curtailed_kwh": round(float(plan.curtail_w[i:].sum()) * plan.slot_minutes / 60_000, 3),
            "co2": self.co2_json(plan, i),
        }

    def published_slots(self, plan: Plan, i: int) -> int:
        """How many of the plan's slots from ``i`` have published prices (the rest a forecast)."""
        p = self.prices
        if p is None:
            return plan.n - i
        offset = int((plan.start - p.start) // timedelta(minutes=SLOT_MINUTES))
        return max(0, min(p.published - offset, plan.n) - i)

    def co2_json(self, plan: Plan, i: int) -> dict[str, Any] | None:
        """The CO₂ side of the plan from slot ``i``: source, weight, expected kg CO₂ of the imported
        energy, and what the CO₂ term changed over the horizon (``effect``); None without a signal."""
        if self.co2 is None:
            return None
        out: dict[str, Any] = {"source": self.co2.name, "fresh": self.co2.fresh}
        out["weight_eur_per_kg"] = self.cfg.strategy.co2.weight_eur_per_kg if self.cfg.strategy.co2 else 0.0
        if self.co2_g is None:
            return out | {"kg": None, "effect": None, "message": "no CO₂ signal: planned on price alone"}
        kg = float(self.co2_g[i:] @ plan.import_w[i:]) * plan.slot_minutes / 60 / 1e6
        return out | {"kg": round(kg, 3), "effect": self.co2_effect}

    async def run(self, stop: asyncio.Event) -> None:
        """Plan now, then at every slot boundary until ``stop``."""
        while not stop.is_set():
            await self.refresh()
            now = self.clock()
            wait = (self.slot_start(now) + timedelta(minutes=SLOT_MINUTES) - now).total_seconds()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(wait, 1.0))


def _net_of_stored(req: PlanRequest, plan: Plan) -> tuple[float, float]:
    """(€, kg CO₂) of the plan less what the batteries' energy at the end saves later."""
    left_kwh = sum(
        b.capacity_wh * float(plan.devices[b.name]["soc_pct"][-1]) / 100.0 / 1000.0 * b.eff_discharge
        for b in req.batteries
    )
    co2 = np.asarray(req.co2_g_per_kwh, dtype=float)
    eur = plan.cost_eur - left_kwh * float(np.mean(plan.buy_eur_per_kwh))
    return eur, float(plan.co2_kg or 0.0) - left_kwh * float(np.mean(co2)) / 1000.0


def _same(a: Prices, b: Prices) -> bool:
    """Do two price sets agree on their published buy and sell prices from ``b``'s start on, with
    no more published in ``b`` (the forecast beyond follows from them)? A horizon that slides by a
    slot over prices all published, a fixed tariff's, is no change."""
    offset = int((b.start - a.start) / timedelta(minutes=SLOT_MINUTES))
    if offset < 0 or offset >= a.published:
        return False
    k = min(a.published - offset, b.published)
    more = b.published > a.published - offset and a.published < len(a.buy)
    agree = all(np.allclose(x[offset : offset + k], y[:k]) for x, y in ((a.buy, b.buy), (a.sell, b.sell)))
    return not more and agree
