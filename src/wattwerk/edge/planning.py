"""The planner in the running edge: prices, forecasts and the site's storage into a least-cost plan,
re-made every slot (and whenever the prices change); the current slot becomes the ``Signals`` of
the control cycle, and the plan is shown on the local page.

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

import httpx
import numpy as np
import pandas as pd

from wattwerk.config import SiteConfig
from wattwerk.config import Tariff as TariffConfig
from wattwerk.control.base import NO_SIGNALS, Signals
from wattwerk.control.plan_model import Battery, Plan, PlanOptions, PlanRequest
from wattwerk.control.planner import solve
from wattwerk.edge.flows import FLOW_ROLES
from wattwerk.errors import RetryableError, WattwerkError
from wattwerk.forecast.load import LoadForecaster
from wattwerk.forecast.pv import PVArray, forecast
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
        index = pd.DatetimeIndex([x.ts for x in r])
        parts.append(pd.Series([x.mean * sign for x in r], index=index, name=ch, dtype=float))
    frame = pd.concat(parts, axis=1) if parts else pd.DataFrame()
    if frame.empty:
        return pd.Series(dtype=float)
    frame.index = frame.index.tz_convert("UTC")
    grid_cols = [f"{d}.power" for d in meters]
    load = frame.fillna(0.0).sum(axis=1)[frame[grid_cols].notna().all(axis=1)]  # a slot needs the meter
    return load.clip(lower=0.0)


def weather_pv_w(cfg: SiteConfig, weather: pd.DataFrame, start: datetime, n: int) -> np.ndarray:
    """PV forecast (W) per slot from a weather forecast; slots it does not cover take clear sky."""
    arrays = pv_arrays(cfg)
    if not arrays:
        return np.zeros(n)
    total = forecast(weather_site(cfg), arrays, weather)["total"]
    pv = to_slots(total, start, n, SLOT_MINUTES)
    gaps = np.isnan(pv)
    return np.where(gaps, clear_sky_pv_w(cfg, start, n), pv) if gaps.any() else pv


class OpenMeteoWeather:
    """The site's Open-Meteo forecast, fetched at most once an hour; the last one is kept."""

    def __init__(self, cfg: SiteConfig, client: Callable[[], httpx.AsyncClient] | None = None,
                 every: timedelta = timedelta(hours=1)) -> None:
        self.source = OpenMeteo(weather_site(cfg))
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
        self.options = options or PlanOptions(time_limit_s=2.0)
        self.plan: Plan | None = None
        self.prices: Prices | None = None
        self.failures = 0
        self._problem: str | None = None  # the failure being logged (once per streak)

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

    def request(self, prices: Prices, snap: Snapshot, weather: pd.DataFrame | None = None) -> PlanRequest:
        """The planning problem: the slots of known prices, forecasts, batteries, grid limits."""
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
        pv = clear_sky_pv_w(cfg, start, n) if weather is None else weather_pv_w(cfg, weather, start, n)
        return PlanRequest(
            start, SLOT_MINUTES, prices.buy, pv, np.nan_to_num(load),
            sell_eur_per_kwh=prices.sell, batteries=tuple(batteries),
            max_import_w=grid.max_import_w if grid.max_import_w is not None else math.inf,
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
        return Signals(
            price=price,
            cheap=bool(spread and price <= lo),
            expensive=bool(spread and price >= hi),
            battery_w=None if battery_w is None else round(battery_w, 1),
            hold_battery=battery_w is not None and battery_w < 1.0,
        )

    def plan_json(self) -> dict[str, Any]:
        """``{currency, status, message, source, fresh, slots: [{start, end, price, grid_w, battery_w,
        ev_w}]}`` from the current slot on (the shape ``RuntimeView`` shows)."""
        plan = self.plan
        i = self._slot(self.clock())
        if plan is None or i is None:
            why = self._problem or "no plan yet"
            return {"currency": None, "status": "none", "message": why, "slots": []}
        bats = [name for name, s in plan.devices.items() if "soc_pct" in s]
        evs = [n for n, s in plan.devices.items() if {"power_w", "energy_wh"} <= s.keys() and n not in bats]
        step = timedelta(minutes=plan.slot_minutes)
        slots = []
        for k in range(i, plan.n):
            slots.append({
                "start": plan.slot_start(k).isoformat(), "end": (plan.slot_start(k) + step).isoformat(),
                "price": round(float(plan.buy_eur_per_kwh[k]), 4), "grid_w": round(float(plan.grid_w[k]), 1),
                "battery_w": round(float(sum(plan.devices[b]["power_w"][k] for b in bats)), 1),
                "ev_w": round(float(sum(plan.devices[e]["power_w"][k] for e in evs)), 1),
                "pv_w": round(float(plan.pv_w[k]), 1), "load_w": round(float(plan.load_w[k]), 1),
            })
        p = self.prices
        return {"currency": "EUR", "status": plan.status, "message": plan.message,
                "source": p.source if p else None, "fresh": p.fresh if p else None, "pv": self.pv_source,
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
