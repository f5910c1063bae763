"""A site's PV and load forecasts for planning, from its site file and its store: the PV arrays of
the ``pv`` devices, clear-sky or weather-based yield per 15-min slot corrected by the plant's
measured yield (days and the last hours), the house load's history, and the site's Open-Meteo
weather forecast (fetched at most once an hour).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd

from wattwerk.config import SiteConfig
from wattwerk.flows import FLOW_ROLES
from wattwerk.forecast.futures import FUTURE_DAYS
from wattwerk.forecast.pv import (
    Correction,
    PVArray,
    PVForecaster,
    blend_intraday,
    fixed_fade,
    intraday_factor,
)
from wattwerk.forecast.pv_process import clear_sky, modelled
from wattwerk.forecast.slots import to_slots
from wattwerk.forecast.weather import OpenMeteo, Site
from wattwerk.model import utcnow

SLOT_MINUTES = 15
RECENT_SLOTS = 8  # intraday PV: the last two hours ...
RECENT_DECAY = 0.92  # ... fading per 15-min slot (0.85 per 30 min, as measured in bench control)
LOAD_DECAY = 0.84  # the load's deviation just measured: fading per 15-min slot (0.7 per 30 min, bench)
WEEK_SHARE = 0.3  # the last week's measured PV in the forecast (bench: PV_FORECAST_WEIGHT 0.7)
CLEAR_SKY_SHARE = 0.7  # without a weather forecast: this share of the clear-sky yield
NO_WEATHER = "(no weather)"  # the end of a PV source's name when there is no weather forecast


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
    clear = clear_sky(site, index + pd.Timedelta(minutes=30))
    clear.index = index
    total = modelled(site, arrays, clear[["ghi", "dni", "dhi"]])["total"] * CLEAR_SKY_SHARE
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
        parts.append(
            pd.Series([x.mean for x in r], index=pd.to_datetime([x.ts for x in r], utc=True), dtype=float)
        )
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
    measured = pv_history_w(cfg, store, now, days=FUTURE_DAYS + 1)  # the futures' days, judged too
    if not arrays or past.empty or measured.empty:
        return None
    hourly = measured.resample("1h").mean()  # the weather's intervals; a gap stays a gap
    fc = PVForecaster(weather_site(cfg), arrays)
    corr = fc.update(hourly, past)
    return corr if corr.days else None


def week_profile_w(cfg: SiteConfig, store: Any, start: datetime, n: int) -> np.ndarray | None:
    """The plant's measured mean of each 15 minutes of the day over the 7 days before ``start``, for
    the ``n`` slots from it (NaN where no day measured that quarter hour); None while the
    measurements span less than 3 days."""
    measured = pv_history_w(cfg, store, start, days=7)
    if measured.empty or measured.index.max() - measured.index.min() < timedelta(days=3):
        return None
    tod = measured.groupby(measured.index.hour * 4 + measured.index.minute // 15).mean()
    index = pd.date_range(start, periods=n, freq=f"{SLOT_MINUTES}min", tz="UTC")
    return tod.reindex(index.hour * 4 + index.minute // 15).to_numpy(dtype=float)


def with_week(cfg: SiteConfig, store: Any, start: datetime, pv: np.ndarray) -> np.ndarray:
    """The weather-based PV forecast blended with the plant's measured week (``week_profile_w``,
    ``WEEK_SHARE`` of it; the benchmark's choice, by a day-ahead backtest: a forecast alone errs
    more than the two together). Unchanged while the measurements span less than 3 days."""
    week = week_profile_w(cfg, store, start, len(pv))
    if week is None:
        return pv
    return np.where(np.isfinite(week), (1.0 - WEEK_SHARE) * pv + WEEK_SHARE * week, pv)


def offline_pv_w(cfg: SiteConfig, store: Any, start: datetime, n: int) -> tuple[np.ndarray, str]:
    """PV forecast (W) per slot without a weather forecast, and its source: the plant's measured
    week (``week_profile_w``, the benchmark's forecast where none was recorded: it errs less than a
    day before) once there is one, else ``CLEAR_SKY_SHARE`` of the clear-sky yield."""
    clear = clear_sky_pv_w(cfg, start, n)
    week = week_profile_w(cfg, store, start, n)
    if week is None:
        return clear, f"clear sky {NO_WEATHER}"
    return np.where(np.isfinite(week), week, clear), f"measured week {NO_WEATHER}"


def recent_pv(
    cfg: SiteConfig,
    store: Any,
    start: datetime,
    pv: np.ndarray,
    expected: Callable[[datetime, int], np.ndarray],
) -> tuple[np.ndarray, float]:
    """The PV forecast scaled by how the plant did in the last ``RECENT_SLOTS`` against what
    ``expected(start, n)`` forecast for them (clouds persist), fading by ``RECENT_DECAY`` per slot;
    (forecast, the recent ratio; 1 = unchanged)."""
    k = RECENT_SLOTS
    measured = pv_history_w(cfg, store, start, days=1)
    measured = measured[measured.index >= start - timedelta(minutes=k * SLOT_MINUTES)]
    if len(measured) < k:
        return pv, 1.0
    before = expected(start - timedelta(minutes=k * SLOT_MINUTES), k)
    ratio = intraday_factor(float(measured.sum()), float(before.sum()), 75.0 * k)
    return blend_intraday(pv, ratio, fixed_fade(RECENT_DECAY, len(pv))), ratio


def weather_pv_w(
    cfg: SiteConfig, weather: pd.DataFrame, start: datetime, n: int, correction: float = 1.0
) -> np.ndarray:
    """PV forecast (W) per slot from a weather forecast, scaled by the plant's ``correction``;
    slots it does not cover take clear sky."""
    arrays = pv_arrays(cfg)
    if not arrays:
        return np.zeros(n)
    total = modelled(weather_site(cfg), arrays, weather)["total"] * correction
    pv = to_slots(total, start, n, SLOT_MINUTES)
    gaps = np.isnan(pv)
    return np.where(gaps, clear_sky_pv_w(cfg, start, n), pv) if gaps.any() else pv


class OpenMeteoWeather:
    """The site's Open-Meteo forecast, fetched at most once an hour; the last one is kept."""

    def __init__(
        self,
        cfg: SiteConfig,
        client: Callable[[], httpx.AsyncClient] | None = None,
        every: timedelta = timedelta(hours=1),
        past_days: int = FUTURE_DAYS,  # the days the PV correction and the futures judge
    ) -> None:
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
