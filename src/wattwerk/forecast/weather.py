"""Weather forecasts for PV: Open-Meteo's forecast API, and irradiance from cloud cover.

``GET https://api.open-meteo.com/v1/forecast?latitude=…&longitude=…&hourly=…&timezone=UTC``
answers ``{"latitude", "longitude", "utc_offset_seconds", "hourly_units": {...}, "hourly":
{"time": ["2024-06-10T00:00", …], "shortwave_radiation": […], …}}``. Radiation values are means
over the *preceding* hour, so the value stamped 10:00 belongs to the interval 09:00-10:00; we
index every interval by its start. Temperature and wind are instantaneous and taken as the
interval's value at its end (good enough at hourly steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pvlib (with SciPy) only where the sun is computed: see forecast.pv_process
    import pvlib

from wattwerk.errors import BadInput
from wattwerk.market.http import json_of, request

URL = "https://api.open-meteo.com/v1/forecast"
HOURLY = (
    "temperature_2m",
    "cloud_cover",
    "wind_speed_10m",
    "shortwave_radiation",
    "direct_normal_irradiance",
    "diffuse_radiation",
)
COLUMNS = {
    "shortwave_radiation": "ghi",
    "direct_normal_irradiance": "dni",
    "diffuse_radiation": "dhi",
    "temperature_2m": "temp_air",
    "wind_speed_10m": "wind_speed",
    "cloud_cover": "cloud_cover",
}


@dataclass(frozen=True)
class Site:
    latitude: float
    longitude: float
    altitude: float = 0.0
    tz: str = "Europe/Berlin"

    @property
    def location(self) -> pvlib.location.Location:
        import pvlib

        return pvlib.location.Location(self.latitude, self.longitude, self.tz, self.altitude)


def parse_open_meteo(payload: dict[str, Any]) -> pd.DataFrame:
    """Open-Meteo hourly forecast → frame indexed by UTC interval start with ``ghi``, ``dni``,
    ``dhi`` (W/m²), ``temp_air`` (°C), ``wind_speed`` (m/s), ``cloud_cover`` (%) where present."""
    try:
        hourly = payload["hourly"]
        offset = pd.Timedelta(seconds=int(payload.get("utc_offset_seconds", 0)))
        ends = pd.DatetimeIndex(pd.to_datetime(hourly["time"])) - offset
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput("garbage", f"open-meteo: no hourly times in response ({exc!r})") from exc
    wind_unit = payload.get("hourly_units", {}).get("wind_speed_10m", "m/s")
    frame = pd.DataFrame(index=(ends - pd.Timedelta(hours=1)).tz_localize("UTC"))
    for key, name in COLUMNS.items():
        if key in hourly:
            values = np.array([np.nan if v is None else float(v) for v in hourly[key]])
            if len(values) != len(frame):
                raise BadInput("garbage", f"open-meteo: {len(values)} values of {key} for {len(frame)} times")
            frame[name] = values
    if "wind_speed" in frame and wind_unit == "km/h":
        frame["wind_speed"] = frame["wind_speed"] / 3.6
    if "ghi" not in frame and "cloud_cover" not in frame:
        raise BadInput("garbage", "open-meteo: neither shortwave_radiation nor cloud_cover in response")
    return frame


def irradiance_from_clouds(site: Site, index: pd.DatetimeIndex, cloud_cover_pct: np.ndarray) -> pd.DataFrame:
    """GHI from clear-sky GHI and total cloud cover by Kasten & Czeplak (1980),
    GHI = GHI_clear · (1 − 0.75 · (cc/100)^3.4), split into DNI and DHI by Erbs et al. (1982).
    ``index`` holds hourly interval starts; the sun is taken at the interval middle."""
    import pvlib

    mid = index + (index[1] - index[0]) / 2 if len(index) > 1 else index + pd.Timedelta(minutes=30)
    clear = site.location.get_clearsky(mid, model="ineichen")
    cc = np.clip(np.asarray(cloud_cover_pct, float), 0, 100) / 100.0
    ghi = clear["ghi"].to_numpy() * (1 - 0.75 * cc**3.4)
    zenith = site.location.get_solarposition(mid)["zenith"]
    split = pvlib.irradiance.erbs(ghi, zenith, mid)
    return pd.DataFrame(
        {"ghi": ghi, "dni": split["dni"].to_numpy(), "dhi": split["dhi"].to_numpy()}, index=index
    )


def complete(site: Site, weather: pd.DataFrame) -> pd.DataFrame:
    """Fill in what a forecast lacks: irradiance from cloud cover, 12 °C and 1 m/s defaults."""
    out = weather.copy()
    if "ghi" not in out or out["ghi"].isna().all():
        out[["ghi", "dni", "dhi"]] = irradiance_from_clouds(site, out.index, out["cloud_cover"].to_numpy())
    elif "dni" not in out or "dhi" not in out:
        import pvlib

        mid = out.index + pd.Timedelta(minutes=30)
        zenith = site.location.get_solarposition(mid)["zenith"]
        split = pvlib.irradiance.erbs(out["ghi"].to_numpy(), zenith, mid)
        out["dni"], out["dhi"] = split["dni"].to_numpy(), split["dhi"].to_numpy()
    out[["ghi", "dni", "dhi"]] = out[["ghi", "dni", "dhi"]].fillna(0.0).clip(lower=0.0)
    out["temp_air"] = out["temp_air"].interpolate().fillna(12.0) if "temp_air" in out else 12.0
    out["wind_speed"] = out["wind_speed"].interpolate().fillna(1.0) if "wind_speed" in out else 1.0
    return out


@dataclass
class OpenMeteo:
    """Hourly weather forecast for a site, ``days`` ahead (Open-Meteo allows up to 16)."""

    site: Site
    days: int = 3
    url: str = URL
    name: str = "open-meteo"
    past_days: int = 0  # also the last days (Open-Meteo's own past forecasts): to correct PV by its yield

    async def fetch(self, client: httpx.AsyncClient, now: datetime | None = None) -> pd.DataFrame:
        params = {
            "latitude": self.site.latitude,
            "longitude": self.site.longitude,
            "hourly": ",".join(HOURLY),
            "forecast_days": self.days,
            "timezone": "UTC",
            "wind_speed_unit": "ms",
        }
        if self.past_days:
            params["past_days"] = self.past_days
        resp = await request(client, "GET", self.url, self.name, params=params)
        return complete(self.site, parse_open_meteo(json_of(resp, self.name)))
