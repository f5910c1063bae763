"""PV yield per array from weather (pvlib), and its correction by the measured yield.

The model per array: sun position at the interval middle, plane-of-array irradiance
(Hay-Davies sky diffuse, ground albedo), incidence-angle loss (ASHRAE), cell temperature
(Faiman), PVWatts DC power with a temperature coefficient, system losses, inverter clipping.
Powers are interval means in W; energies in Wh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from wattwerk.forecast.futures import FUTURE_DAYS
from wattwerk.forecast.weather import Site, complete


@dataclass(frozen=True)
class PVArray:
    """One orientation of modules: ``peak_w`` DC at STC, ``tilt`` from horizontal, ``azimuth``
    clockwise from north (180 = south). ``losses`` lumps wiring, soiling, mismatch (fraction)."""

    name: str
    peak_w: float
    tilt: float = 30.0
    azimuth: float = 180.0
    losses: float = 0.10
    gamma_pdc: float = -0.0037  # 1/K
    inverter_w: float | None = None  # AC limit of the inverter share of this array
    albedo: float = 0.2


def array_power(site: Site, array: PVArray, weather: pd.DataFrame) -> pd.Series:
    """Mean AC power (W) per weather interval. ``weather``: UTC interval starts with ghi/dni/dhi
    (W/m²), temp_air (°C), wind_speed (m/s); missing temperature or wind take defaults."""
    import pvlib  # here, not at the top: the edge runs this in a worker (forecast.pv_process)

    w = complete(site, weather)
    step = (w.index[1] - w.index[0]) if len(w.index) > 1 else pd.Timedelta(hours=1)
    mid = w.index + step / 2
    sun = site.location.get_solarposition(mid)
    dni_extra = pvlib.irradiance.get_extra_radiation(mid)
    poa = pvlib.irradiance.get_total_irradiance(
        array.tilt,
        array.azimuth,
        sun["apparent_zenith"],
        sun["azimuth"],
        w["dni"].to_numpy(),
        w["ghi"].to_numpy(),
        w["dhi"].to_numpy(),
        dni_extra=dni_extra,
        model="haydavies",
        albedo=array.albedo,
    )
    aoi = pvlib.irradiance.aoi(array.tilt, array.azimuth, sun["apparent_zenith"], sun["azimuth"]).to_numpy()
    iam = pvlib.iam.ashrae(aoi)
    direct, diffuse = poa["poa_direct"].to_numpy(), poa["poa_diffuse"].to_numpy()
    effective = np.nan_to_num(direct * iam + diffuse).clip(min=0.0)
    glob = np.nan_to_num(poa["poa_global"].to_numpy()).clip(min=0.0)
    cell = pvlib.temperature.faiman(glob, w["temp_air"].to_numpy(), w["wind_speed"].to_numpy())
    dc = pvlib.pvsystem.pvwatts_dc(effective, cell, array.peak_w, array.gamma_pdc) * (1 - array.losses)
    ac = np.asarray(dc, dtype=float)
    if array.inverter_w is not None:
        ac = np.minimum(ac, array.inverter_w)
    return pd.Series(np.clip(ac, 0.0, None), index=w.index, name=array.name)


def forecast(
    site: Site, arrays: Sequence[PVArray], weather: pd.DataFrame, correction: float = 1.0
) -> pd.DataFrame:
    """Per-array and ``total`` power (W) per weather interval, scaled by ``correction``."""
    frame = pd.DataFrame({a.name: array_power(site, a, weather) * correction for a in arrays})
    frame["total"] = frame.sum(axis=1)
    return frame


def daily_energy_wh(power_w: pd.Series, tz: str) -> pd.Series:
    """Energy per local calendar day from interval-mean power (step taken from the index)."""
    step_h = (power_w.index[1] - power_w.index[0]) / pd.Timedelta(hours=1)
    local = power_w.tz_convert(tz)
    return (local * step_h).groupby(local.index.date).sum()


@dataclass(frozen=True)
class Correction:
    """How the model compares with the plant: ``factor`` (bounded) scales the next forecasts;
    ``ratio`` is measured/modelled over ``days`` recent days with enough sun; ``day_wh`` the last
    ``FUTURE_DAYS`` such days' (local date, measured Wh, modelled Wh), oldest first: how far a day
    strays (``forecast.futures``)."""

    factor: float
    ratio: float
    days: int
    measured_wh: float
    modelled_wh: float
    day_wh: tuple[tuple[date, float, float], ...] = ()


def correction_factor(
    measured_wh: pd.Series,
    modelled_wh: pd.Series,
    bounds: tuple[float, float] = (0.6, 1.2),
    min_day_wh: float = 0.0,
    days: int = 7,
    keep_days: int = FUTURE_DAYS,
) -> Correction:
    """Bounded ratio of measured to modelled energy over the last ``days`` days both know; the
    last ``keep_days`` such days each (``Correction.day_wh``).

    Days the model expects less than ``min_day_wh`` on are skipped (a dull day says little).
    With no usable day the factor is 1.
    """
    judged = pd.concat({"m": measured_wh, "f": modelled_wh}, axis=1).dropna()
    judged = judged[judged["f"] > max(min_day_wh, 1e-9)]
    both, kept = judged.tail(days), judged.tail(max(days, keep_days))
    if both.empty:
        return Correction(1.0, float("nan"), 0, 0.0, 0.0)
    ratio = float(both["m"].sum() / both["f"].sum())
    return Correction(
        float(np.clip(ratio, *bounds)),
        ratio,
        len(both),
        float(both["m"].sum()),
        float(both["f"].sum()),
        tuple((d, float(m), float(f)) for d, m, f in zip(kept.index, kept["m"], kept["f"], strict=True)),
    )


@dataclass
class PVForecaster:
    """The PV owner's forecast for the coming days: model per array, scaled by how the plant did
    on recent days (measured yield against the model driven by those days' weather)."""

    site: Site
    arrays: Sequence[PVArray]
    bounds: tuple[float, float] = (0.6, 1.2)
    min_day_wh_per_kwp: float = 1000.0  # days the model expects less on are too dull to judge
    days: int = 7
    correction: Correction | None = None

    def update(self, measured_w: pd.Series, past_weather: pd.DataFrame) -> Correction:
        """Learn the factor from measured plant power (W, UTC interval means, NaN = unknown)
        and the weather of the same days (analysis or the forecasts made then)."""
        from wattwerk.forecast.pv_process import modelled as model  # pvlib in a worker for the edge

        modelled = model(self.site, self.arrays, past_weather)["total"]
        kwp = sum(a.peak_w for a in self.arrays) / 1000.0
        # judge only days with measurements for (nearly) all their daylight: loggers often
        # record nothing at night, and a gap by day would read as under-performance
        measured = measured_w.reindex(modelled.index)
        daylight = modelled > 10.0 * kwp
        day = modelled.tz_convert(self.site.tz).index.date
        coverage = (measured.notna() & daylight).groupby(day).sum() / daylight.groupby(day).sum().clip(
            lower=1
        )
        measured_days = daily_energy_wh(measured.fillna(0.0), self.site.tz)
        measured_days = measured_days[coverage.reindex(measured_days.index).fillna(0) >= 0.9]
        self.correction = correction_factor(
            measured_days,
            daily_energy_wh(modelled, self.site.tz),
            self.bounds,
            self.min_day_wh_per_kwp * kwp,
            self.days,
        )
        return self.correction

    def forecast(self, weather: pd.DataFrame) -> pd.DataFrame:
        """Per-array and total power (W) per weather interval, corrected."""
        factor = self.correction.factor if self.correction else 1.0
        return forecast(self.site, self.arrays, weather, factor)


def intraday_factor(
    measured_wh: float, forecast_wh: float, min_forecast_wh: float, bounds: tuple[float, float] = (0.3, 2.0)
) -> float:
    """Measured over forecast PV energy of the last hours, bounded: clouds (or a clear sky the
    forecast missed) persist for hours. 1 when the forecast expected too little to judge by."""
    if not (forecast_wh >= min_forecast_wh > 0) or not np.isfinite(measured_wh):
        return 1.0
    return float(np.clip(measured_wh / forecast_wh, *bounds))


def blend_intraday(forecast_w: np.ndarray, factor: float, fade: np.ndarray) -> np.ndarray:
    """The forecast for the coming slots scaled by the recent ``factor``, fading into the
    forecast's own value: ``forecast · (1 + (factor − 1) · fade[k])`` for slot k (``fade``: how much
    of the recent deviation slot k keeps, see :func:`fixed_fade` and :func:`fit_fade`)."""
    f = np.asarray(forecast_w, dtype=float)
    return f * (1.0 + (factor - 1.0) * np.asarray(fade, dtype=float)[: len(f)])


def fixed_fade(decay: float, n: int) -> np.ndarray:
    """``decay^k`` for the slots k = 0 … n − 1: a deviation that fades by ``decay`` per slot."""
    return decay ** np.arange(n, dtype=float)


def fit_fade(deviation: np.ndarray, error: np.ndarray, fallback: np.ndarray, min_rows: int) -> np.ndarray:
    """How long the intraday deviation persists, fitted on the site's own past: per lead k, the
    least-squares share ``β_k`` of the forecast's error explained by the deviation seen when the
    forecast was made, ``error[:, k] ≈ β_k · deviation[:, k]`` (rows: past moments; ``deviation``
    = (intraday factor − 1) × forecast, ``error`` = measured − forecast, W), bounded to 0 … 1 and
    never rising with the lead (what is seen now cannot tell more about later than about sooner).
    A crude forecast (a week's mean) keeps a cloudy morning's deviation all day; a weather forecast
    already knows part of it. ``fallback`` with fewer than ``min_rows`` rows, or where no row
    deviated at that lead."""
    x, y = np.asarray(deviation, dtype=float), np.asarray(error, dtype=float)
    fallback = np.asarray(fallback, dtype=float)
    if len(x) < min_rows:
        return fallback
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
    sxx = (x * x).sum(axis=0)
    beta = np.where(sxx > 0, (x * y).sum(axis=0) / np.where(sxx > 0, sxx, 1.0), fallback)
    return np.minimum.accumulate(np.clip(beta, 0.0, 1.0))
