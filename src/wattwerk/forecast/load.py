"""Household load forecast from the site's own history, with a standard profile for new sites.

From history: a mean profile per slot of the local day for weekdays and for weekends (Saturday,
Sunday) over the last ``weeks`` weeks, scaled to the recent level (the last 7 days' energy over
what the profile would have given for them, bounded). Without a week of history: the BDEW H25
household standard load profile (demandlib, shipped with the package, no network), scaled to an
annual consumption — estimated from whatever history exists, else the given default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SLOTS_PER_DAY = 96  # profiles are kept in 15-min slots of local time


def _slot_of_day(local: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(local.hour * 4 + local.minute // 15)


def _weekend(local: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(local.day_of_week >= 5)


@dataclass
class LoadForecaster:
    """Fit on a history of load power (W, UTC index, any step ≤ 1 h); predict per UTC slot."""

    tz: str = "Europe/Berlin"
    weeks: int = 6
    level_bounds: tuple[float, float] = (0.7, 1.3)
    default_annual_kwh: float = 3500.0
    profiles: np.ndarray | None = None  # (2, 96): weekday, weekend
    level: float = 1.0
    annual_kwh: float = field(default=0.0)
    source: str = "none"

    def fit(self, history_w: pd.Series) -> LoadForecaster:
        h = history_w.dropna()
        h = h[h.index >= h.index.max() - pd.Timedelta(weeks=self.weeks)] if len(h) else h
        span_days = (h.index.max() - h.index.min()) / pd.Timedelta(days=1) if len(h) > 1 else 0.0
        if span_days < 7:
            self.annual_kwh = float(h.mean() * 8.766) if span_days >= 1 else self.default_annual_kwh
            self.profiles, self.level, self.source = None, 1.0, "bdew-h25"
            return self
        quarter = h.resample("15min").mean().interpolate(limit=4).dropna()
        local = quarter.index.tz_convert(self.tz)
        slot, weekend = _slot_of_day(local), _weekend(local)
        profiles = np.zeros((2, SLOTS_PER_DAY))
        overall = float(quarter.mean())
        for kind in (0, 1):
            sel = weekend == bool(kind)
            sums = np.bincount(slot[sel], weights=quarter.to_numpy()[sel], minlength=SLOTS_PER_DAY)
            counts = np.bincount(slot[sel], minlength=SLOTS_PER_DAY)
            profiles[kind] = np.where(counts > 0, sums / np.maximum(counts, 1), overall)
        self.profiles, self.level, self.source = profiles, 1.0, "history"
        recent = quarter[quarter.index >= quarter.index.max() - pd.Timedelta(days=7)]
        expected = self._profile_values(recent.index).sum()
        if expected > 0:
            self.level = float(np.clip(recent.sum() / expected, *self.level_bounds))
        self.annual_kwh = float(quarter.mean() * 8.766)
        return self

    def _profile_values(self, index: pd.DatetimeIndex) -> np.ndarray:
        assert self.profiles is not None
        local = index.tz_convert(self.tz)
        return self.profiles[_weekend(local).astype(int), _slot_of_day(local)]

    def predict(self, index: pd.DatetimeIndex) -> np.ndarray:
        """Mean load (W) for each slot start in ``index`` (UTC)."""
        if self.profiles is not None:
            return self._profile_values(index) * self.level
        return standard_profile_w(index, self.annual_kwh or self.default_annual_kwh, self.tz)


def blend_recent(forecast_w: np.ndarray, now_w: float, decay: float) -> np.ndarray:
    """The forecast with the load's deviation just measured fading out: slot k gets
    ``(now_w − forecast[0]) · decay^(k+1)`` more (at least 0 W): a household's evening, a guest,
    a cooking hour persist for a while."""
    f = np.asarray(forecast_w, dtype=float)
    if not len(f):
        return f
    return np.maximum(f + (now_w - f[0]) * decay ** np.arange(1, len(f) + 1), 0.0)


def standard_profile_w(index: pd.DatetimeIndex, annual_kwh: float, tz: str = "Europe/Berlin") -> np.ndarray:
    """BDEW H25 household profile (dynamic, with holidays left out) in W for an annual demand.

    The profile is defined in local time at 15-min steps; each UTC slot takes the value of its
    local quarter-hour (the repeated autumn hour repeats the value)."""
    from demandlib.bdew import H25  # imported here: building it takes ~0.2 s

    local = index.tz_convert(tz).tz_localize(None).floor("15min")
    years = range(local.min().year, local.max().year + 1)
    grid = pd.date_range(f"{years[0]}-01-01", f"{years[-1] + 1}-01-01", freq="15min", inclusive="left")
    profile = pd.Series(np.asarray(H25(grid), dtype=float), index=grid)  # kW per 1 GWh/a
    values = profile.reindex(local).to_numpy()
    return values * annual_kwh / 1e6 * 1000.0


def day_energies(
    history_w: pd.Series, day_starts: pd.DatetimeIndex, step: pd.Timedelta, tz: str, weeks: int = 6
) -> pd.DataFrame:
    """Per day of ``day_starts`` (columns ``measured``, ``forecast``, Wh): the load measured and what
    a ``LoadForecaster`` fit on the ``weeks`` before that day (past data only) expected, over the
    slots of ``step`` measured; days with under three quarters of their slots measured, or no
    history before them, left out. How far the past days strayed from their forecast
    (``forecast.futures``)."""
    out: dict[pd.Timestamp, tuple[float, float]] = {}
    hours = step / pd.Timedelta(hours=1)
    for day in day_starts if isinstance(history_w.index, pd.DatetimeIndex) else ():  # else: nothing measured
        before = (history_w.index < day) & (history_w.index >= day - pd.Timedelta(weeks=weeks))
        past = history_w[before].dropna()
        idx = pd.date_range(day, day + pd.Timedelta(days=1), freq=step, inclusive="left")
        measured = history_w.reindex(idx).to_numpy(dtype=float)
        seen = np.isfinite(measured)
        if past.empty or seen.sum() < 0.75 * len(idx):
            continue
        forecast = LoadForecaster(tz=tz, weeks=weeks).fit(past).predict(idx)
        out[day] = (float(measured[seen].sum() * hours), float(forecast[seen].sum() * hours))
    index = pd.DatetimeIndex(list(out), tz=day_starts.tz) if out else day_starts[:0]
    return pd.DataFrame(list(out.values()), index=index, columns=["measured", "forecast"], dtype=float)
