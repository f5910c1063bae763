"""PV arrays: yield from pvlib (PVWatts chain) on TRY weather, or a measured series; curtailment."""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

import numpy as np
import pandas as pd
import pvlib
from pvlib.location import Location as PvlibLocation
from pvlib.modelchain import ModelChain
from pvlib.pvsystem import PVSystem
from pvlib.temperature import TEMPERATURE_MODEL_PARAMETERS

from wattwerk.sim.device import BadCommand, SimComponent
from wattwerk.sim.params import Location, PVParams
from wattwerk.sim.profiles import CSV_STEP_S, csv_column, usable_csv
from wattwerk.sim.series import YearlySeries
from wattwerk.sim.weather import weather_at

_NO_LOSSES = dict(
    soiling=0,
    shading=0,
    snow=0,
    mismatch=0,
    wiring=0,
    connections=0,
    lid=0,
    nameplate_rating=0,
    age=0,
    availability=0,
)


def pv_system(params: PVParams) -> PVSystem:
    """The pvlib system for an array: PVWatts DC and inverter models, SAPM cell temperature."""
    inverter_w = (params.inverter_kw if params.inverter_kw is not None else params.kwp / 1.1) * 1000.0
    eff = params.inverter_eff_pct / 100.0
    return PVSystem(
        surface_tilt=params.tilt,
        surface_azimuth=params.azimuth,
        module_parameters={"pdc0": params.kwp * 1000.0, "gamma_pdc": params.gamma_pdc},
        inverter_parameters={"pdc0": inverter_w / eff, "eta_inv_nom": eff},
        temperature_model_parameters=TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_polymer"],
        losses_parameters={**_NO_LOSSES, "soiling": params.system_loss_pct},
    )


def model_chain(params: PVParams, location: Location) -> ModelChain:
    site = PvlibLocation(location.latitude, location.longitude, tz="UTC", altitude=location.altitude_m)
    return ModelChain.with_pvwatts(pv_system(params), site, losses_model="pvwatts", aoi_model="physical")


def ac_power(params: PVParams, location: Location, weather: pd.DataFrame) -> np.ndarray:
    """AC power in W (>= 0) for weather with ghi, dhi (W/m²), temp_air (°C), wind_speed (m/s)
    at the instants of its index; dni is completed from ghi and dhi at each solar position."""
    with warnings.catch_warnings():  # pvlib uses pandas APIs that newer pandas deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        mc = model_chain(params, location)
        zenith = mc.location.get_solarposition(weather.index)["apparent_zenith"].to_numpy()
        cos_z = np.cos(np.radians(zenith))
        ghi = np.where(cos_z > 0.0, weather["ghi"].to_numpy(), 0.0)
        dhi = np.minimum(np.where(cos_z > 0.0, weather["dhi"].to_numpy(), 0.0), ghi)
        # a very low sun makes (ghi - dhi) / cos(z) explode: below 5° count that light as diffuse
        low = cos_z < 0.087
        dni = np.where(low, 0.0, (ghi - dhi) / np.maximum(cos_z, 0.087))
        dhi = np.where(low, ghi, dhi)
        mc.run_model(weather.assign(ghi=ghi, dhi=dhi, dni=np.minimum(dni, 1100.0)))
        ac = mc.results.ac.to_numpy(dtype=float)
    return np.nan_to_num(np.clip(ac, 0.0, None))


def try_weather(location: Location, index: pd.DatetimeIndex) -> pd.DataFrame:
    """TRY weather at sub-hourly instants: each hour's mean irradiance is spread over the hour
    following the clear-sky (Haurwitz) shape, so sunrise and sunset fall where the sun says
    while every hour keeps its energy; temperature and wind stay hourly."""
    weather = weather_at(location.try_region, index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        zenith = pvlib.solarposition.get_solarposition(
            index, location.latitude, location.longitude, location.altitude_m
        )["apparent_zenith"]
        shape = pvlib.clearsky.haurwitz(zenith)["ghi"].fillna(0.0)
    hour_mean = shape.groupby(index.floor("h")).transform("mean").to_numpy()
    k = np.divide(shape.to_numpy(), hour_mean, out=np.zeros(len(index)), where=hour_mean > 0)
    return weather.assign(ghi=weather["ghi"] * k, dhi=weather["dhi"] * k)


@lru_cache(maxsize=16)
def _try_year(params: PVParams, location: Location, start_ns: int, n: int, step_s: int) -> np.ndarray:
    index = pd.date_range(pd.Timestamp(start_ns, unit="ns", tz="UTC"), periods=n, freq=f"{step_s}s")
    return ac_power(params, location, try_weather(location, index))


PV_STEP_S = 900  # PV is computed every 15 minutes (at the middle of each quarter hour)


def pv_series(params: PVParams, location: Location) -> YearlySeries:
    """An array's available AC power (W) over time."""
    if params.source not in ("try", "csv"):
        raise ValueError(f"PV source must be 'try' or 'csv', got {params.source!r}")
    csv = usable_csv(params.csv_path, "PV") if params.source == "csv" else None
    if csv is not None:
        build = csv_column(csv, "pv_w", params.csv_scale, location.latitude, location.longitude)
        return YearlySeries(build, CSV_STEP_S, 0.0, hold=True)

    def build_try(index: pd.DatetimeIndex) -> np.ndarray:
        return _try_year(params, location, int(index[0].value), len(index), PV_STEP_S)

    return YearlySeries(build_try, PV_STEP_S, PV_STEP_S / 2)


class PVArray(SimComponent):
    """An array with its inverter. ``power`` is what it feeds in (after curtailment)."""

    commands = ("power_limit",)

    def __init__(self, name: str, params: PVParams, location: Location) -> None:
        super().__init__(name)
        self.params = params
        self.available = pv_series(params, location)
        self.power_limit = math.inf
        self.available_w = 0.0
        self.energy_available = 0.0  # Wh the array offered (before curtailment), integrated by the site
        self.rating_w = (params.inverter_kw if params.inverter_kw is not None else params.kwp / 1.1) * 1000.0

    def apply(self, command: str, value: float) -> None:
        value = self.check(command, value)
        if value < 0:
            raise BadCommand(self.name, f"power_limit must be >= 0 W, got {value}")
        self.power_limit = value

    def update(self, t_mid: float) -> float:
        self.available_w = self.available.at(t_mid)
        self.power = min(self.available_w, self.power_limit)
        return self.power

    def values(self) -> dict[str, float]:
        return {
            "power": self.power,
            "energy": self.energy,
            "power_available": self.available_w,
            "limit": min(self.power_limit, self.rating_w),
        }
