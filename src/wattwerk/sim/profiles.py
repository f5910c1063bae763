"""Load and generation profiles as builders for :class:`~wattwerk.sim.series.YearlySeries`.

* BDEW H25 household standard load profile (demandlib, offline), scaled to an annual energy;
  defined in local time, so it is looked up by each instant's local wall-clock time.
* A measured CSV (``timestamp_utc`` plus value columns in W, e.g. ``load_w``, ``pv_w``), replayed
  onto the simulated calendar by month, day and time of day; gaps are interpolated and PV gaps
  at night are zero. Values are interval means, held over their interval.
"""

from __future__ import annotations

import logging
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib

from wattwerk.sim.series import Builder

CSV_STEP_S = 1800  # measured series come in 30-minute means
REAL_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "real"
log = logging.getLogger("wattwerk.sim")


def real_household_csv(folder: Path = REAL_DATA) -> Path | None:
    """The measured household load/PV series (``household_load_pv_*.csv``) if it is present
    (beside the repository, in ``../shared/data/real``); None on a bare machine."""
    found = sorted(folder.glob("household_load_pv_*.csv")) if folder.is_dir() else []
    return found[0] if found else None


def usable_csv(path: Path | str | None, what: str) -> Path | None:
    """``path`` if it names a readable file; else None, with one log line when a path was given."""
    if path is None:
        return None
    if Path(path).is_file():
        return Path(path)
    log.warning("%s: %s not found, using the built-in profile instead", what, path)
    return None


@cache
def _h25_local(year: int) -> pd.Series:
    """H25 (kW for 1 GWh/yr) on a naive local 15-min grid covering ``year`` plus a day either side."""
    from demandlib.bdew import H25

    index = pd.date_range(f"{year - 1}-12-28", f"{year + 1}-01-04 23:45", freq="15min")
    with warnings.catch_warnings():  # demandlib uses pandas APIs that newer pandas deprecates
        warnings.simplefilter("ignore")
        values = np.asarray(H25(index), dtype=float)
    return pd.Series(values, index=index)


def bdew_household(annual_kwh: float, timezone: str) -> Builder:
    """Builder of household load in W following BDEW H25, ``annual_kwh`` per year."""
    if annual_kwh < 0:
        raise ValueError(f"annual_kwh must be >= 0, got {annual_kwh}")

    def build(index: pd.DatetimeIndex) -> np.ndarray:
        local = index.tz_convert(timezone).tz_localize(None)
        mid_year = local[len(local) // 2].year
        profile = _h25_local(mid_year)
        # per year, H25 integrates to about 1 GWh: scale to the wanted annual energy
        scale = annual_kwh * 1000.0 / (profile[str(mid_year)].sum() * 0.25)  # W per kW of profile
        slot = local.floor("15min")
        values = profile.reindex(slot).to_numpy()
        return np.nan_to_num(values, nan=float(np.nanmean(values))) * scale

    return build


@cache
def _read_csv(path: str) -> pd.DataFrame:
    df = pd.read_csv(path)
    if "timestamp_utc" not in df.columns:
        raise ValueError(f"{path}: no timestamp_utc column")
    df.index = pd.to_datetime(df.pop("timestamp_utc"), utc=True)
    df = df.sort_index()
    step = (df.index[1:] - df.index[:-1]).median()
    if step != pd.Timedelta(seconds=CSV_STEP_S):
        raise ValueError(f"{path}: expected {CSV_STEP_S} s between rows, found {step}")
    return df


def _filled(path: str, column: str, latitude: float | None, longitude: float | None) -> pd.Series:
    df = _read_csv(path)
    if column not in df.columns:
        raise ValueError(f"{path}: no column {column!r} (have {', '.join(df.columns)})")
    s = df[column].astype(float).clip(lower=0.0)
    if latitude is not None and longitude is not None:
        # PV is only logged while producing: a gap with the sun below the horizon is zero
        elevation = pvlib.solarposition.get_solarposition(
            s.index + pd.Timedelta(minutes=15), latitude, longitude
        )["apparent_elevation"]
        s = s.mask(s.isna() & (elevation.to_numpy() < 0), 0.0)
    return s.interpolate(method="time", limit_direction="both")


def csv_column(
    path: Path | str,
    column: str,
    scale: float = 1.0,
    latitude: float | None = None,
    longitude: float | None = None,
) -> Builder:
    """Builder replaying ``column`` (W) of a measured CSV; pass the site's latitude/longitude
    for a PV column so night gaps become zero rather than interpolated. Each value is the mean
    of the interval starting at its timestamp: use it with a holding series on the CSV's grid."""
    series = _filled(str(path), column, latitude, longitude)
    t = series.index.as_unit("s").asi8.astype(float)
    v = series.to_numpy() * scale
    years = list(range(series.index[0].year, series.index[-1].year + 1))  # every year the data touches

    def build(index: pd.DatetimeIndex) -> np.ndarray:
        out = np.full(len(index), np.nan)
        best_gap = np.full(len(index), np.inf)
        # each sample moves by whole years from its OWN calendar year (a chunk's padding reaches into
        # the neighbouring years: moving those by the chunk's year put 1 January past the data's end)
        own = np.asarray(index.year)
        for year in np.unique(own):
            mine = own == year
            for data_year in years:
                shifted = index[mine] + pd.DateOffset(years=int(data_year - year))
                ts = shifted.as_unit("s").asi8.astype(float)
                gap = np.maximum(t[0] - ts, 0) + np.maximum(ts - t[-1], 0)  # distance outside the data
                take = np.zeros(len(index), bool)
                take[mine] = gap < best_gap[mine]
                out[take] = np.interp(ts[take[mine]], t, v)
                best_gap[take] = gap[take[mine]]
        return out

    return build
