"""Weather from the DWD test reference years (TRY 2010) that ship with demandlib.

Each TRY file holds one "average year" of hourly values for one of 15 German climate regions.
Hours are CET (UTC+1, no daylight saving) and numbered 1..24; each row is the mean over the
hour ending at HH, so row (MM, DD, HH) covers UTC [HH-2, HH-1) on that CET date. Simulated
times map onto the TRY calendar by month, day and hour (29 February reuses 28 February).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import demandlib
import numpy as np
import pandas as pd

TRY_DIR = Path(demandlib.__file__).parent / "vdi" / "resources_weather"
_CUM_DAYS = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334])


def try_path(region: int) -> Path:
    if not 1 <= region <= 15:
        raise ValueError(f"TRY region must be 1..15, got {region}")
    return TRY_DIR / f"TRY2010_{region:02d}_Jahr.dat"


@cache
def try_table(region: int) -> pd.DataFrame:
    """The TRY year as 8760 rows in calendar order: ghi, dhi (W/m²), temp_air (°C), wind_speed (m/s)."""
    path = try_path(region)
    lines = path.read_text(encoding="latin-1").splitlines()
    star = next(i for i, line in enumerate(lines) if line.startswith("***"))
    header = lines[star - 1].split()
    rows = [line.split() for line in lines[star + 1 :] if line.strip()]
    df = pd.DataFrame(rows, columns=header).astype(float)
    if len(df) != 8760:
        raise ValueError(f"{path}: expected 8760 hourly rows, got {len(df)}")
    return pd.DataFrame(
        {
            "ghi": (df["B"] + df["D"]).to_numpy(),
            "dhi": df["D"].to_numpy(),
            "temp_air": df["t"].to_numpy(),
            "wind_speed": df["WG"].to_numpy(),
        }
    )


def try_rows(index: pd.DatetimeIndex) -> np.ndarray:
    """Row numbers into :func:`try_table` for UTC instants (the TRY hour containing each)."""
    cet = index.tz_convert("UTC").tz_localize(None) + pd.Timedelta(hours=1)
    month = cet.month.to_numpy()
    day = cet.day.to_numpy()
    day = np.where((month == 2) & (day == 29), 28, day)
    doy0 = _CUM_DAYS[month - 1] + day - 1
    return doy0 * 24 + cet.hour.to_numpy()


def weather_at(region: int, index: pd.DatetimeIndex) -> pd.DataFrame:
    """TRY weather for UTC instants, indexed by ``index`` (hourly means, no interpolation)."""
    table = try_table(region)
    rows = try_rows(index)
    return pd.DataFrame({c: table[c].to_numpy()[rows] for c in table.columns}, index=index)


_LAGE = re.compile(r"(\d+)\D+?(\d+)'N\D+?(\d+)\D+?(\d+)'O\D+?(\d+) Meter")


@cache
def try_stations() -> dict[int, tuple[float, float, float]]:
    """Region -> (latitude, longitude, altitude m) of its reference station, from the file headers
    (``Lage: 49°31'N <- B.   8°33'O <- L.    96 Meter über NN``)."""
    out = {}
    for region in range(1, 16):
        header = try_path(region).read_text(encoding="latin-1").splitlines()[2]
        m = _LAGE.search(header)
        if m is None:
            raise ValueError(f"{try_path(region)}: no station position in {header!r}")
        lat_d, lat_m, lon_d, lon_m, alt = (int(g) for g in m.groups())
        out[region] = (lat_d + lat_m / 60.0, lon_d + lon_m / 60.0, float(alt))
    return out


def nearest_try_region(latitude: float, longitude: float, max_altitude_m: float = 500.0) -> int:
    """The TRY region whose reference station is nearest (stations above ``max_altitude_m``, the
    upland and mountain regions, are skipped). A stand-in for demandlib's polygon lookup, which needs
    geopandas; good enough for picking weather."""
    best, best_d = 12, float("inf")
    for region, (lat, lon, alt) in try_stations().items():
        if alt > max_altitude_m:
            continue
        d = (lat - latitude) ** 2 + ((lon - longitude) * np.cos(np.radians(latitude))) ** 2
        if d < best_d:
            best, best_d = region, d
    return best
