"""The planner's schedule and the PV yield forecast, sent to the portal ahead of time.

Readings go through the outbox and ``/api/v1/ingest``, which rightly refuses timestamps from the
future. A plan is not a reading: it is about the future, and only the newest one matters. So it
has its own upload, ``POST /api/v1/plans`` (same edge token, same verified TLS as the uplink),
and no outbox: the newest plan is kept in memory and sent until the portal acknowledges it; a
newer plan replaces an unsent one. The portal replaces what it held for the plan's slots and
keeps the past slots, so it can show forecast against actual.

The document (JSON, gzipped)::

    {"site", "edge_id", "made_at_ms", "status", "message", "source", "pv_source", "currency",
     "slot_minutes", "cost_eur",
     "slots": [{"ts_ms", "price", "sell", "pv_w", "load_w", "grid_w", "cost_eur",
                "devices": {"bat": {"power_w": .., "soc_pct": ..}, "ev1": {"power_w": ..}}}],
     "pv_days": [{"day": "2026-11-22", "wh": 8123.4}],
     "tariff": {"name", "provider", "currency", "vat", "module3", "time_of_use",
                "import_per_kwh", "export_per_kwh", "published_until_ms"},
     "co2": {"source", "fresh", "weight_eur_per_kg", "kg", "effect": {"co2_kg_saved", "cost_eur_more"}}}

Units as everywhere: W, Wh, €/kWh; ``cost_eur`` of a slot is import × buy − export × sell over
the slot. ``pv_days`` are the site's local days from today, from the weather forecast when there
is one (else pvlib's clear sky, scaled down, said in ``pv_source``). ``tariff`` describes the site's
tariff (``market.site_tariff``) with its mean import and export price over the plan's published
prices, which the portal's cost widget uses, and where the published prices end (the plan's later
slots are priced by the edge's persistence forecast, ``market.dayahead.fill_unpublished``);
``co2`` (null without ``strategy.co2``) is the plan's expected kg CO₂ over its slots and what
following the signal changed against planning on price alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from typing import Any

import httpx
import numpy as np
import pandas as pd

from wattwerk.config import SiteConfig
from wattwerk.control.plan_model import Plan
from wattwerk.edge.planning import PlanService
from wattwerk.edge.uplink import Throttled, UplinkConfig, full_jitter, make_client, retry_after
from wattwerk.errors import PermanentError, RetryableError, WattwerkError
from wattwerk.forecast.monitor import daily_checks, performance_alert
from wattwerk.forecast.pv import daily_energy_wh, forecast
from wattwerk.forecast.site import (
    CLEAR_SKY_SHARE,
    clear_sky_pv_w,
    pv_arrays,
    pv_history_w,
    weather_pv_w,
    weather_site,
)
from wattwerk.market.site_tariff import SiteTariff
from wattwerk.model import utcnow

log = logging.getLogger(__name__)

PATH = "/api/v1/plans"
PV_DAYS = 3  # today and the next two: what Open-Meteo's default forecast covers
MIN_DAY_WH_PER_KWP = 1000.0  # duller days say little about the plant (as forecast.pv.PVForecaster)


def _r(v: float, digits: int = 1) -> float:
    return round(float(v), digits)


def plan_slots(plan: Plan) -> list[dict[str, Any]]:
    """Per slot: price, forecasts, grid, expected cost and what each device will do."""
    hours = plan.slot_minutes / 60
    out = []
    for i in range(plan.n):
        cost = (
            (plan.import_w[i] * plan.buy_eur_per_kwh[i] - plan.export_w[i] * plan.sell_eur_per_kwh[i])
            * hours
            / 1000
        )
        devices = {
            name: {key: _r(values[i], 2) for key, values in series.items()}
            for name, series in plan.devices.items()
        }
        out.append(
            {
                "ts_ms": int(plan.slot_start(i).timestamp() * 1000),
                "price": _r(plan.buy_eur_per_kwh[i], 5),
                "sell": _r(plan.sell_eur_per_kwh[i], 5),
                "pv_w": _r(plan.pv_w[i]),
                "load_w": _r(plan.load_w[i]),
                "grid_w": _r(plan.grid_w[i]),
                "cost_eur": _r(cost, 5),
                "devices": devices,
            }
        )
    return out


def local_days(cfg: SiteConfig, now: datetime, days: int, slot_minutes: int = 15) -> tuple[datetime, int]:
    """The first slot (local midnight today, in UTC) and the slot count of ``days`` local days
    (a DST day has 92 or 100 quarter hours)."""
    tz = cfg.site.tz
    today = now.astimezone(tz).date()
    start = datetime.combine(today, dt_time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(today + timedelta(days=days), dt_time(0), tzinfo=tz).astimezone(UTC)
    return start, int((end - start) / timedelta(minutes=slot_minutes))


def pv_days(
    cfg: SiteConfig, now: datetime, weather: pd.DataFrame | None, days: int = PV_DAYS, correction: float = 1.0
) -> list[dict[str, Any]]:
    """Expected PV energy (Wh) per local day from today: the weather forecast scaled by the
    planner's correction from the plant's recent yield, else clear sky."""
    start, n = local_days(cfg, now, days)
    w = clear_sky_pv_w(cfg, start, n) if weather is None else weather_pv_w(cfg, weather, start, n, correction)
    index = pd.date_range(pd.Timestamp(start), periods=n, freq="15min").tz_convert(cfg.site.tz)
    per_day = pd.Series(np.nan_to_num(w) * 0.25, index=index).groupby(index.date).sum()
    return [{"day": day.isoformat(), "wh": _r(wh)} for day, wh in per_day.items()]


def pv_alert(
    cfg: SiteConfig, store: Any, weather: pd.DataFrame | None, now: datetime
) -> dict[str, Any] | None:
    """``forecast.monitor``'s under-performance verdict on the past days the weather frame covers:
    the plant's measured yield against the yield modelled from the weather service's analysed
    irradiance of those same days (not a forecast), so a shortfall points at the plant. Only
    days measured through (nearly) all their daylight count. None without PV, past weather or
    measurements."""
    arrays = pv_arrays(cfg)
    if weather is None or not arrays:
        return None
    tz = cfg.site.timezone
    today, _ = local_days(cfg, now, 0)
    past = weather[weather.index < pd.Timestamp(today)]
    measured = pv_history_w(cfg, store, now)
    if past.empty or measured.empty:
        return None
    modelled = forecast(weather_site(cfg), arrays, past)["total"]
    hourly = measured.resample("1h").mean().reindex(modelled.index)  # the weather's intervals
    kwp = sum(a.peak_w for a in arrays) / 1000.0
    daylight = modelled > 10.0 * kwp
    day = modelled.tz_convert(tz).index.date
    coverage = (hourly.notna() & daylight).groupby(day).sum() / daylight.groupby(day).sum().clip(lower=1)
    measured_wh = daily_energy_wh(hourly.fillna(0.0), tz)
    measured_wh = measured_wh[coverage.reindex(measured_wh.index).fillna(0.0) >= 0.9]
    checks = daily_checks(daily_energy_wh(modelled, tz), measured_wh, MIN_DAY_WH_PER_KWP * kwp)
    alert = performance_alert(checks, name="pv")
    return {
        "active": alert.active,
        "ratio": None if math.isnan(alert.ratio) else round(alert.ratio, 4),
        "threshold": alert.threshold,
        "expected_wh": round(alert.expected_wh, 1),
        "measured_wh": round(alert.measured_wh, 1),
        "days": [d.isoformat() for d in alert.days],
        "message": alert.message,
    }


def plan_document(
    cfg: SiteConfig,
    plan: Plan,
    made_at: datetime,
    *,
    edge_id: str,
    source: str | None,
    pv_source: str,
    days: list[dict[str, Any]],
    alert: dict[str, Any] | None = None,
    co2: dict[str, Any] | None = None,
    published: int | None = None,
) -> dict[str, Any]:
    """The document (module docstring); the first ``published`` slots have published prices, the
    rest forecast ones (None: all published)."""
    site = cfg.portal.site if cfg.portal is not None else cfg.site.name
    known = plan.n if published is None else max(1, min(published, plan.n))
    tariff = SiteTariff(cfg.tariff, cfg.site.timezone).describe()
    tariff["import_per_kwh"] = _r(float(np.mean(plan.buy_eur_per_kwh[:known])), 5)  # published only
    tariff["export_per_kwh"] = _r(float(np.mean(plan.sell_eur_per_kwh[:known])), 5)
    tariff["published_until_ms"] = int(plan.slot_start(known).timestamp() * 1000)
    return {
        "site": site,
        "edge_id": edge_id,
        "made_at_ms": int(made_at.timestamp() * 1000),
        "status": plan.status,
        "message": plan.message,
        "source": source,
        "pv_source": pv_source,
        "currency": cfg.tariff.currency,
        "slot_minutes": plan.slot_minutes,
        "cost_eur": _r(plan.cost_eur, 4),
        "slots": plan_slots(plan),
        "pv_days": days,
        "pv_alert": alert,
        "tariff": tariff,
        "co2": co2,
    }


class PlanUploader:
    """Sends the planner's newest plan (and the PV days) whenever it changes; see the module doc."""

    def __init__(
        self,
        cfg: SiteConfig,
        planner: PlanService,
        config: UplinkConfig,
        *,
        client: httpx.AsyncClient | None = None,
        every_s: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.cfg = cfg
        self.planner = planner
        self.config = config
        self.client = client or make_client(config)
        self.every_s = every_s
        self.clock = clock
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.sent = 0
        self.failures = 0
        self._plan: Plan | None = None  # the plan of the last acknowledged upload
        self._made: tuple[Plan, datetime] | None = None  # when the edge first saw the current plan

    async def aclose(self) -> None:
        await self.client.aclose()

    async def document(self) -> dict[str, Any] | None:
        """The document for the planner's current plan, or None while there is none."""
        plan = self.planner.plan
        if plan is None:
            return None
        if self._made is None or self._made[0] is not plan:
            self._made = (plan, self.clock())
        weather = None
        pv_source = f"clear sky x {CLEAR_SKY_SHARE:.1f}"
        if self.planner.weather is not None:
            try:
                weather = await self.planner.weather()
                pv_source = "weather"
            except (WattwerkError, httpx.HTTPError, ValueError, OSError) as exc:
                log.info("PV days from clear sky: no weather forecast (%s)", exc)
        now = self.clock()
        corr = self.planner.pv_correction
        days = await asyncio.to_thread(pv_days, self.cfg, now, weather, PV_DAYS, corr.factor if corr else 1.0)
        alert = await asyncio.to_thread(pv_alert, self.cfg, self.planner.store, weather, now)
        prices = self.planner.prices
        return plan_document(
            self.cfg,
            plan,
            self._made[1],
            edge_id=self.config.edge_id,
            source=prices.source if prices else None,
            pv_source=pv_source,
            days=days,
            alert=alert,
            co2=self.planner.co2_json(plan, 0),
            published=self.planner.published_slots(plan, 0),
        )

    async def send(self, doc: dict[str, Any]) -> dict[str, Any]:
        """POST the document; the portal's answer on success. Raises Retryable/PermanentError."""
        body = gzip.compress(json.dumps(doc, separators=(",", ":")).encode(), self.config.gzip_level or 1)
        headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Authorization": f"Bearer {self.config.token}",
        }
        try:
            resp = await self.client.post(PATH, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise RetryableError(f"portal unreachable: {type(exc).__name__}: {exc}") from exc
        if resp.status_code == 429:
            raise Throttled(retry_after(resp.headers.get("retry-after"), time.time()))
        if resp.status_code in (400, 401, 403, 413):
            raise PermanentError(f"portal refused the plan ({resp.status_code}): {resp.text[:300]}")
        if resp.status_code != 200:
            raise RetryableError(f"portal answered {resp.status_code}: {resp.text[:200]}")
        return dict(resp.json())

    async def step(self) -> bool:
        """Send the current plan if the portal does not have it yet; True when one was sent."""
        plan = self.planner.plan
        if plan is None or plan is self._plan:
            return False
        doc = await self.document()
        if doc is None:
            return False
        answer = await self.send(doc)
        self._plan = plan
        self.sent += 1
        log.info(
            "plan from %s sent to the portal: %s slot(s) stored", plan.start.isoformat(), answer.get("stored")
        )
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: check every ``every_s``; back off with jitter on failures. Never raises
        for portal trouble; a refused plan is logged and not sent again (the next plan is)."""
        while not stop.is_set():
            delay = self.every_s
            try:
                await self.step()
                self.failures = 0
            except Throttled as exc:
                delay = exc.retry_after + self.rng.uniform(0, 0.1)
            except PermanentError as exc:
                log.error("%s", exc)
                self._plan = self.planner.plan  # the same document would be refused again
            except RetryableError as exc:
                self.failures += 1
                delay = full_jitter(
                    self.rng, self.config.backoff_base_s, self.config.backoff_max_s, self.failures
                )
                log.warning("plan upload failed (%s); retrying in %.1f s", exc, delay)
            if self.sleep is not None:
                await self.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)


def plan_uploader(cfg: SiteConfig, planner: PlanService) -> PlanUploader | None:
    """The uploader for an edge paired with a portal (None without a ``portal`` section)."""
    p = cfg.portal
    if p is None:
        return None
    return PlanUploader(
        cfg,
        planner,
        UplinkConfig(
            url=p.url,
            site=p.site,
            edge_id=p.edge_id,
            token=p.token.get_secret_value(),
            ca_file=p.ca_file,
            pin_sha256=p.pin_sha256,
        ),
    )
