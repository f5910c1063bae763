"""The planner in the running edge: prices, forecasts and the site's storage into a least-cost plan,
re-made every slot (and whenever the prices change); the current slot becomes the ``Signals`` of
the control cycle, and the plan is shown on the local page.

Planned: the batteries; each plugged car of ``strategy.ev_departures`` (its energy by the next
departure); each tank of ``strategy.heat_stores`` with its heat pump and heating rods. PV comes
from the weather forecast corrected by the plant's measured yield of the last days (bounded, see
``forecast.pv.PVForecaster``), the house load from its own history.

Nothing here blocks the control loop: the plan is solved in a worker thread and the last good plan
is kept. Without prices or without a plan covering now, ``signals()`` answers ``NO_SIGNALS`` and the
controllers run self-consumption. Every failure is logged once per streak.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pandas as pd

from wattwerk.config import SiteConfig
from wattwerk.config import Tariff as TariffConfig
from wattwerk.config.schema import WEEKDAYS, EvDeparture, HeatStore
from wattwerk.control.base import NO_SIGNALS, Signals
from wattwerk.control.plan_model import EV, Battery, Heater, Plan, PlanOptions, PlanRequest, ThermalStore
from wattwerk.control.planner import solve
from wattwerk.errors import RetryableError, WattwerkError
from wattwerk.flows import FLOW_ROLES
from wattwerk.forecast.load import LoadForecaster
from wattwerk.forecast.pv import Correction, PVArray, PVForecaster, blend_intraday, forecast, intraday_factor
from wattwerk.forecast.slots import to_slots
from wattwerk.forecast.weather import OpenMeteo, Site
from wattwerk.market.awattar import Awattar
from wattwerk.market.dayahead import known_until
from wattwerk.market.energy_charts import EnergyChartsPrice
from wattwerk.market.entsoe import Entsoe
from wattwerk.market.prices import PriceSeries
from wattwerk.market.source import CachedPrices, PriceCache, PriceProvider
from wattwerk.market.tariff import Dynamic, Fixed, Tariff, slot_index
from wattwerk.market.tibber import Tibber
from wattwerk.model import utcnow
from wattwerk.snapshot import Snapshot

log = logging.getLogger("wattwerk.planner")

SLOT_MINUTES = 15
EV_EFFICIENCY = 0.9  # AC energy into the car's battery, for SoC targets
RECENT_SLOTS = 8  # intraday PV: the last two hours ...
RECENT_DECAY = 0.92  # ... fading per 15-min slot (0.85 per 30 min, as measured in bench control)
MIN_SLOTS = 4  # fewer known prices than an hour: no plan
CLEAR_SKY_SHARE = 0.7  # without a weather forecast: this share of the clear-sky yield


@dataclass(frozen=True)
class Prices:
    """Buy and sell price (€/kWh) per slot from ``start``; ``fresh`` False when from the cache."""

    start: datetime
    buy: np.ndarray
    sell: np.ndarray
    source: str
    fresh: bool = True
    message: str = ""


class PriceSource(Protocol):
    async def prices(self, start: datetime, end: datetime) -> Prices: ...


def provider_of(t: TariffConfig) -> PriceProvider | None:
    """The day-ahead price provider of the ``tariff`` section; None for a fixed price."""
    token = t.token.get_secret_value() if t.token is not None else ""
    if t.provider == "awattar":
        return Awattar(t.country)
    if t.provider == "tibber":
        return Tibber(token)
    if t.provider == "entsoe":
        return Entsoe(token, t.zone)
    if t.provider == "energy_charts":
        return EnergyChartsPrice(t.zone)
    return None


class TariffPrices:
    """Prices per 15-min slot from the site's ``tariff`` section.

    Spot prices come from the provider through a disk cache (``CachedPrices``, which falls back
    to the last known prices and logs it); they are fetched again at most every ``refetch``,
    sooner when the day-ahead auction has published prices the held series lacks.
    """

    def __init__(self, t: TariffConfig, cache_path: Any, *,
                 client: Callable[[], httpx.AsyncClient] | None = None,
                 provider: PriceProvider | None = None, refetch: timedelta = timedelta(hours=1)) -> None:
        self.cfg = t
        self.provider = provider or provider_of(t)
        self.cached = CachedPrices(self.provider, PriceCache(cache_path)) if self.provider else None
        self.client = client or (lambda: httpx.AsyncClient(timeout=20.0))
        self.refetch = refetch
        self._held: tuple[PriceSeries, datetime, bool, str] | None = None

    async def _spot(self, start: datetime, end: datetime) -> tuple[PriceSeries, bool, str]:
        assert self.cached is not None
        held = self._held
        if held is not None:
            series, at, fresh, msg = held
            due = min(known_until(start), end)
            if fresh and start - at < self.refetch and series.end >= due:
                return series, fresh, msg
        fetch_from, fetch_to = start - timedelta(hours=1), known_until(start) + timedelta(days=1)
        async with self.client() as client:
            result = await self.cached.get(client, fetch_from, fetch_to, now=start)
        self._held = (result.series, start, result.fresh, result.message)
        return result.series, result.fresh, result.message

    async def prices(self, start: datetime, end: datetime) -> Prices:
        """Raises RetryableError when no price is known for ``start``."""
        t = self.cfg
        n = int((end - start) / timedelta(minutes=SLOT_MINUTES))
        starts = slot_index(start, n, SLOT_MINUTES)
        sell = np.full(n, t.feed_in_eur_per_kwh)
        if self.provider is None:
            fees = (Fixed("fees", t.grid_fees_eur_per_kwh),)
            tariff = Tariff(Fixed("energy", t.fixed_eur_per_kwh), fees, t.vat)
            return Prices(start, tariff.price(starts), sell, "fixed")
        spot, fresh, msg = await self._spot(start, end)
        if spot.slot_minutes != SLOT_MINUTES:
            spot = spot.resample(SLOT_MINUTES)
        if t.provider == "tibber":  # Tibber's total already holds energy tax and VAT
            buy = Dynamic("energy", spot).price(starts) + t.grid_fees_eur_per_kwh * (1 + t.vat)
        else:
            tariff = Tariff(Dynamic("energy", spot), (Fixed("fees", t.grid_fees_eur_per_kwh),), t.vat)
            buy = tariff.price(starts)
        known = int(np.argmax(np.isnan(buy))) if np.isnan(buy).any() else n  # up to the first gap
        if known < MIN_SLOTS:
            raise RetryableError(f"{self.provider.name}: no prices from {start.isoformat()}")
        return Prices(start, buy[:known], sell[:known], spot.source or self.provider.name, fresh, msg)


def pv_arrays(cfg: SiteConfig) -> list[PVArray]:
    return [PVArray(d.id, d.kwp * 1000.0, d.tilt, d.azimuth) for d in cfg.by_role("pv")]  # type: ignore[attr-defined]


def weather_site(cfg: SiteConfig) -> Site:
    loc = cfg.site.location
    return Site(loc.latitude, loc.longitude, loc.altitude_m, cfg.site.timezone)


def clear_sky_pv_w(cfg: SiteConfig, start: datetime, n: int) -> np.ndarray:
    """PV forecast (W) per slot without a weather forecast: pvlib clear sky, scaled down."""
    arrays = pv_arrays(cfg)
    if not arrays:
        return np.zeros(n)
    site = weather_site(cfg)
    index = pd.date_range(pd.Timestamp(start).floor("1h"), periods=n // 4 + 2, freq="1h")
    clear = site.location.get_clearsky(index + pd.Timedelta(minutes=30), model="ineichen")
    clear.index = index
    total = forecast(site, arrays, clear[["ghi", "dni", "dhi"]], CLEAR_SKY_SHARE)["total"]
    return to_slots(total, start, n, SLOT_MINUTES, fill=0.0)


def load_history_w(cfg: SiteConfig, store: Any, now: datetime, weeks: int = 6) -> pd.Series:
    """The house load (W, 15-min means) of the last weeks from the store: grid + PV + battery −
    EV − heat, or a household submeter when the site has one. Empty for a new site."""
    roles: dict[str, list[str]] = {flow: [] for flow in FLOW_ROLES}
    for d in cfg.devices:
        for flow, rs in FLOW_ROLES.items():
            if d.role in rs:
                roles[flow].append(d.id)
    if store is None or not (roles["house"] or roles["grid"]):
        return pd.Series(dtype=float)
    meters = roles["house"] or roles["grid"]
    if roles["house"]:
        signs = {"house": 1.0}
    else:
        signs = {"grid": 1.0, "pv": 1.0, "battery": 1.0, "ev": -1.0, "heat": -1.0}
    channels = {f"{d}.power": s for flow, s in signs.items() for d in roles[flow]}
    rows = store.query(list(channels), now - timedelta(weeks=weeks), now, "15m")
    parts = []
    for ch, sign in channels.items():
        r = rows.get(ch) or []
        index = pd.to_datetime([x.ts for x in r], utc=True)
        parts.append(pd.Series([x.mean * sign for x in r], index=index, name=ch, dtype=float))
    frame = pd.concat(parts, axis=1) if parts else pd.DataFrame()
    if frame.empty:
        return pd.Series(dtype=float)
    frame.index = frame.index.tz_convert("UTC")
    grid_cols = [f"{d}.power" for d in meters]
    load = frame.fillna(0.0).sum(axis=1)[frame[grid_cols].notna().all(axis=1)]  # a slot needs the meter
    return load.clip(lower=0.0)


def pv_history_w(cfg: SiteConfig, store: Any, now: datetime, days: int = 8) -> pd.Series:
    """The plant's measured power (W, 15-min means, UTC) of the last days: the sum of its PV
    devices, only where every one of them has a value. Empty without a store or PV."""
    ids = [d.id for d in cfg.by_role("pv")]
    if store is None or not ids:
        return pd.Series(dtype=float)
    rows = store.query([f"{i}.power" for i in ids], now - timedelta(days=days), now, "15m")
    parts = []
    for i in ids:
        r = rows.get(f"{i}.power") or []
        parts.append(pd.Series([x.mean for x in r], index=pd.to_datetime([x.ts for x in r], utc=True),
                               dtype=float))
    frame = pd.concat(parts, axis=1)
    if frame.empty:
        return pd.Series(dtype=float)
    frame.index = frame.index.tz_convert("UTC")
    return frame.dropna().sum(axis=1).clip(lower=0.0)


def pv_correction(cfg: SiteConfig, store: Any, weather: pd.DataFrame, now: datetime) -> Correction | None:
    """How the plant did against the model on the past days the weather frame covers (measured
    yield over modelled, bounded); None without measurements or past weather."""
    arrays = pv_arrays(cfg)
    past = weather[weather.index < pd.Timestamp(now).floor("D")]
    measured = pv_history_w(cfg, store, now)
    if not arrays or past.empty or measured.empty:
        return None
    hourly = measured.resample("1h").mean()  # the weather's intervals; a gap stays a gap
    fc = PVForecaster(weather_site(cfg), arrays)
    corr = fc.update(hourly, past)
    return corr if corr.days else None


def recent_pv(cfg: SiteConfig, store: Any, weather: pd.DataFrame, start: datetime, pv: np.ndarray,
              factor: float) -> tuple[np.ndarray, float]:
    """The PV forecast scaled by how the plant did against it in the last ``RECENT_SLOTS`` (clouds
    persist), fading by ``RECENT_DECAY`` per slot; (forecast, the recent ratio; 1 = unchanged)."""
    k = RECENT_SLOTS
    measured = pv_history_w(cfg, store, start, days=1)
    measured = measured[measured.index >= start - timedelta(minutes=k * SLOT_MINUTES)]
    if len(measured) < k:
        return pv, 1.0
    expected = weather_pv_w(cfg, weather, start - timedelta(minutes=k * SLOT_MINUTES), k, factor)
    ratio = intraday_factor(float(measured.sum()), float(expected.sum()), 75.0 * k)
    return blend_intraday(pv, ratio, RECENT_DECAY), ratio


def weather_pv_w(cfg: SiteConfig, weather: pd.DataFrame, start: datetime, n: int,
                 correction: float = 1.0) -> np.ndarray:
    """PV forecast (W) per slot from a weather forecast, scaled by the plant's ``correction``;
    slots it does not cover take clear sky."""
    arrays = pv_arrays(cfg)
    if not arrays:
        return np.zeros(n)
    total = forecast(weather_site(cfg), arrays, weather, correction)["total"]
    pv = to_slots(total, start, n, SLOT_MINUTES)
    gaps = np.isnan(pv)
    return np.where(gaps, clear_sky_pv_w(cfg, start, n), pv) if gaps.any() else pv


class OpenMeteoWeather:
    """The site's Open-Meteo forecast, fetched at most once an hour; the last one is kept."""

    def __init__(self, cfg: SiteConfig, client: Callable[[], httpx.AsyncClient] | None = None,
                 every: timedelta = timedelta(hours=1), past_days: int = 7) -> None:
        self.source = OpenMeteo(weather_site(cfg), past_days=past_days)
        self.client = client or (lambda: httpx.AsyncClient(timeout=20.0))
        self.every = every
        self._last: tuple[datetime, pd.DataFrame] | None = None

    async def __call__(self) -> pd.DataFrame:
        now = utcnow()
        if self._last is not None and now - self._last[0] < self.every:
            return self._last[1]
        async with self.client() as client:
            frame = await self.source.fetch(client)
        self._last = (now, frame)
        return frame


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


def heat_store(cfg: SiteConfig, store: HeatStore, snap: Snapshot, n: int, slot_minutes: int,
               name: str) -> ThermalStore:
    """A ``strategy.heat_stores`` tank as the planner's thermal store; without a temperature
    reading it is taken as half full."""
    heaters = []
    for dev_id in store.heaters:
        dev = cfg.device(dev_id)
        if dev.role == "heat_pump":
            heaters.append(Heater(dev_id, float(dev.limits.max_power_w or 0.0), store.cop))
        else:  # a rod on relay stages runs at least its lowest stage
            stages = getattr(dev, "stages", None) or ()
            heaters.append(Heater(dev_id, float(getattr(dev, "max_power_w", 0.0)), 1.0,
                                  float(stages[0]) if stages else 0.0))
    t_now = snap.get(store.temperature) if store.temperature else None
    if t_now is None or not math.isfinite(t_now):
        t_now = (store.min_c + store.max_c) / 2.0
    demand = np.full(n, store.heat_kwh_per_day * 1000.0 / 24.0)
    return ThermalStore.from_tank(store.volume_l, store.min_c, store.max_c, t_now, demand, tuple(heaters),
                                  name=name)


class PlanService:
    """Re-plans every slot; ``signals()`` for ``CycleStep``, ``plan_json()`` for the page."""

    def __init__(self, cfg: SiteConfig, snapshot: Callable[[], Snapshot], prices: PriceSource, *,
                 store: Any = None, clock: Callable[[], datetime] = utcnow,
                 horizon: timedelta = timedelta(hours=36),
                 weather: Callable[[], Awaitable[pd.DataFrame]] | None = None,
                 options: PlanOptions | None = None) -> None:
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
        self.pv_recent = 1.0  # measured over forecast PV of the last two hours (intraday)

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
            if self.pv_source != "clear sky (no weather)":
                log.warning("planner: no weather forecast (%s); PV from clear sky x %.1f",
                            exc, CLEAR_SKY_SHARE)
            self.pv_source = "clear sky (no weather)"
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
        for dep in self.cfg.strategy.ev_departures:
            need = self.ev_need_wh(dep, snap)
            if need is None or need < 1.0:
                continue
            low, high = charger_power_w(self.cfg, dep.charger)
            leave = next_departure(dep, start, self.cfg.site.timezone)
            deadline = None if leave is None else max(1, int((leave - start) // step))
            if deadline is not None and deadline <= n:
                out.append(EV(np.arange(n) < deadline, need, high, low, deadline, 1.0, name=dep.charger))
            else:
                out.append(EV(np.ones(n, bool), 0.0, high, low, None, 1.0, max_energy_wh=need,
                              name=dep.charger))
        return tuple(out)

    def request(self, prices: Prices, snap: Snapshot, weather: pd.DataFrame | None = None) -> PlanRequest:
        """The planning problem: the slots of known prices, forecasts, batteries, cars by their
        departure, heat stores, grid limits."""
        cfg, start, n = self.cfg, prices.start, len(prices.buy)
        index = slot_index(start, n, SLOT_MINUTES)
        history = load_history_w(cfg, self.store, start)
        load = LoadForecaster(tz=cfg.site.timezone).fit(history).predict(index)
        batteries = []
        for b in cfg.by_role("battery"):
            reserve = cfg.reserve_soc(b)  # type: ignore[arg-type]
            soc = snap.get(f"{b.id}.soc")
            batteries.append(Battery(
                b.capacity_wh, reserve if soc is None else soc,  # type: ignore[attr-defined]
                b.max_charge_w, b.max_discharge_w, soc_min_pct=reserve, name=b.id,  # type: ignore[attr-defined]
            ))
        grid = cfg.site.grid
        if weather is None:
            pv = clear_sky_pv_w(cfg, start, n)
        else:
            self.pv_correction = pv_correction(cfg, self.store, weather, start)
            factor = self.pv_correction.factor if self.pv_correction else 1.0
            pv = weather_pv_w(cfg, weather, start, n, factor)
            pv, self.pv_recent = recent_pv(cfg, self.store, weather, start, pv, factor)
        thermal = tuple(heat_store(cfg, s, snap, n, SLOT_MINUTES, f"heat{i}")
                        for i, s in enumerate(cfg.strategy.heat_stores))
        return PlanRequest(
            start, SLOT_MINUTES, prices.buy, pv, np.nan_to_num(load),
            sell_eur_per_kwh=prices.sell, batteries=tuple(batteries), evs=self.evs(snap, start, n),
            thermal=thermal,
            max_import_w=grid.import_limit_w if grid.import_limit_w is not None else math.inf,
            max_export_w=grid.max_export_w if grid.max_export_w is not None else math.inf,
        )

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
        snap = self.snapshot()
        try:  # forecasts (store queries, profiles) and the solver off the event loop
            plan = await asyncio.to_thread(lambda: solve(self.request(prices, snap, weather), self.options))
        except Exception as exc:  # a broken plan must never stop the edge
            self._fail(f"plan failed: {exc!r}")
            return None
        if plan.status == "fallback":
            self._fail(f"plan failed: {plan.message}")
            return None
        if self._problem is not None:
            log.info("planner: planning again after %d failure(s)", self.failures)
        self._problem = None
        self.plan, self.prices = plan, prices
        log.info("plan %s from %s: %d slots, cost %.2f €, prices %s%s%s", plan.status, start.isoformat(),
                 plan.n, plan.cost_eur, prices.source, "" if prices.fresh else " (cached)",
                 ", prices changed" if changed else "")
        return plan

    def _slot(self, now: datetime) -> int | None:
        plan = self.plan
        if plan is None:
            return None
        i = int((now - plan.start) // timedelta(minutes=plan.slot_minutes))
        return i if 0 <= i < plan.n else None

    def signals(self) -> Signals:
        """The plan's current slot: price, cheap/expensive (lowest/highest quarter of the plan's
        prices), the battery setpoint (+ discharge) and hold while the plan keeps it from discharging."""
        plan = self.plan
        i = self._slot(self.clock())
        if plan is None or i is None:
            return NO_SIGNALS
        price = float(plan.buy_eur_per_kwh[i])
        lo, hi = np.quantile(plan.buy_eur_per_kwh, [0.25, 0.75])
        spread = hi - lo > 0.01
        bats = [b.id for b in self.cfg.by_role("battery") if b.id in plan.devices]
        battery_w = float(sum(plan.devices[b]["power_w"][i] for b in bats)) if bats else None
        planned = [d.charger for d in self.cfg.strategy.ev_departures]
        planned += [h for store in self.cfg.strategy.heat_stores for h in store.heaters]
        device_w = tuple((d, round(float(plan.devices[d]["power_w"][i]), 1)) for d in planned
                         if d in plan.devices)
        return Signals(
            price=price,
            cheap=bool(spread and price <= lo),
            expensive=bool(spread and price >= hi),
            battery_w=None if battery_w is None else round(battery_w, 1),
            hold_battery=battery_w is not None and battery_w < 1.0,
            device_w=device_w,
        )

    def plan_json(self) -> dict[str, Any]:
        """``{currency, status, message, source, fresh, pv, pv_correction, cost_eur, slots: [{start,
        end, price, grid_w, battery_w, ev_w, heat_w, pv_w, load_w}]}`` from the current slot on (the
        shape ``RuntimeView`` shows)."""
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
            slots.append({
                "start": plan.slot_start(k).isoformat(), "end": (plan.slot_start(k) + step).isoformat(),
                "price": round(float(plan.buy_eur_per_kwh[k]), 4), "grid_w": round(float(plan.grid_w[k]), 1),
                "battery_w": round(float(sum(plan.devices[b]["power_w"][k] for b in bats)), 1),
                "ev_w": round(float(sum(plan.devices[e]["power_w"][k] for e in evs)), 1),
                "heat_w": round(float(sum(plan.devices[h]["power_w"][k] for h in heaters)), 1),
                "pv_w": round(float(plan.pv_w[k]), 1), "load_w": round(float(plan.load_w[k]), 1),
            })
        p = self.prices
        return {"currency": "EUR", "status": plan.status, "message": plan.message,
                "source": p.source if p else None, "fresh": p.fresh if p else None, "pv": self.pv_source,
                "pv_correction": round(self.pv_correction.factor, 3) if self.pv_correction else None,
                "pv_recent": round(self.pv_recent, 3),
                "cost_eur": round(plan.cost_eur, 4), "slots": slots}

    async def run(self, stop: asyncio.Event) -> None:
        """Plan now, then at every slot boundary until ``stop``."""
        while not stop.is_set():
            await self.refresh()
            now = self.clock()
            wait = (self.slot_start(now) + timedelta(minutes=SLOT_MINUTES) - now).total_seconds()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(wait, 1.0))


def _same(a: Prices, b: Prices) -> bool:
    """Do two price sets agree where both know a price?"""
    offset = int((b.start - a.start) / timedelta(minutes=SLOT_MINUTES))
    if offset < 0 or offset >= len(a.buy):
        return False
    old = a.buy[offset:]
    k = min(len(old), len(b.buy))
    return len(b.buy) == len(old) and bool(np.allclose(old[:k], b.buy[:k]))
