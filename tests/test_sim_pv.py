"""PV yield on TRY weather against pvlib's own clear-sky model for the same place and system."""

from __future__ import annotations

import functools
import warnings
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pvlib
import pytest
from pvlib.modelchain import ModelChain
from pvlib.pvsystem import PVSystem
from pvlib.temperature import TEMPERATURE_MODEL_PARAMETERS

from wattwerk.sim import Location, PVParams, SiteParams, SiteSim

STEP = 300  # s
PER_DAY = 86400 // STEP


def clear_sky_ac(
    p: PVParams, where: Location, start: datetime, days: int, linke_turbidity: float | None
) -> np.ndarray:
    """AC power (W) per step under pvlib's Ineichen clear sky; ``linke_turbidity`` None = climatology."""
    site = pvlib.location.Location(where.latitude, where.longitude, tz="UTC", altitude=where.altitude_m)
    times = pd.date_range(start, periods=days * PER_DAY, freq=f"{STEP}s") + pd.Timedelta(seconds=STEP / 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sky = (
            site.get_clearsky(times, linke_turbidity=linke_turbidity)
            if linke_turbidity
            else site.get_clearsky(times)
        )
        eff = p.inverter_eff_pct / 100
        system = PVSystem(
            surface_tilt=p.tilt,
            surface_azimuth=p.azimuth,
            module_parameters={"pdc0": p.kwp * 1000, "gamma_pdc": p.gamma_pdc},
            inverter_parameters={"pdc0": p.kwp * 1000 / 1.1 / eff, "eta_inv_nom": eff},
            temperature_model_parameters=TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_polymer"],
            losses_parameters={
                "soiling": p.system_loss_pct,
                "shading": 0,
                "snow": 0,
                "mismatch": 0,
                "wiring": 0,
                "connections": 0,
                "lid": 0,
                "nameplate_rating": 0,
                "age": 0,
                "availability": 0,
            },
        )
        mc = ModelChain.with_pvwatts(system, site, losses_model="pvwatts")
        mc.run_model(sky.assign(temp_air=20.0, wind_speed=1.0))
    ac = mc.results.ac.clip(lower=0).fillna(0).to_numpy()
    return ac.reshape(days, PER_DAY)


def sun_down(where: Location, start: datetime, days: int) -> np.ndarray:
    """Steps whose middle, and the instants 15 minutes either side, have the sun below the horizon."""
    times = pd.date_range(start, periods=days * PER_DAY, freq=f"{STEP}s") + pd.Timedelta(seconds=STEP / 2)
    down = np.ones(len(times), dtype=bool)
    for shift in (-900, 0, 900):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pos = pvlib.solarposition.get_solarposition(
                times + pd.Timedelta(seconds=shift), where.latitude, where.longitude
            )
        down &= pos["apparent_elevation"].to_numpy() < 0
    return down


@functools.cache
def simulated_pv(params: SiteParams, start: datetime, days: int) -> np.ndarray:
    sim = SiteSim(params, start)
    out = np.empty((days, PER_DAY))
    for d in range(days):
        for i in range(PER_DAY):
            sim.step(STEP)
            out[d, i] = sim.pv[0].power
    assert sim.pv[0].energy == pytest.approx(out.sum() * STEP / 3600, rel=1e-9)
    return out


@pytest.mark.parametrize(
    ("label", "start", "days"),
    [
        ("summer", datetime(2025, 6, 1, tzinfo=UTC), 30),
        ("winter", datetime(2025, 12, 17, tzinfo=UTC), 30),  # crosses into the next year
    ],
)
@pytest.mark.parametrize("pv", [PVParams(), PVParams(kwp=5.0, tilt=45.0, azimuth=225.0)])
def test_pv_yield_is_bounded_by_clear_sky(label: str, start: datetime, days: int, pv: PVParams) -> None:
    params = SiteParams(pv=(pv,), battery=None, evs=(), heat_pump=None, rod=None)
    sim = simulated_pv(params, start, days)
    clean = clear_sky_ac(pv, params.location, start, days, linke_turbidity=2.0)  # very clean air
    typical = clear_sky_ac(pv, params.location, start, days, linke_turbidity=None)
    sim_day, clean_day, typical_day = sim.sum(1), clean.sum(1), typical.sum(1)
    ratio = sim_day / clean_day
    # no day beats a very clear sky by more than the hourly weather's smoothing allows
    assert ratio.max() < 1.12, f"{label}: {ratio.max():.2f}"
    # the clearest day of the season comes close to clear sky, and is at least a typical clear day
    best = int(ratio.argmax())
    assert ratio[best] > 0.8, f"{label}: clearest day only {ratio[best]:.2f} of clear sky"
    assert sim_day[best] > 0.9 * typical_day[best]
    # averaged over the season clouds take their share, but the sun still shines
    assert 0.2 < sim_day.sum() / clean_day.sum() < 0.85
    # the clearest day peaks near solar noon, as the clear sky does (catches time-zone mistakes)
    assert abs(int(sim[best].argmax()) - int(clean[best].argmax())) * STEP <= 5400
    # and nothing at night (15-min PV samples are interpolated: allow that much around sunset)
    assert sim.ravel()[sun_down(params.location, start, days)].max() == 0.0


def test_summer_yields_more_than_winter() -> None:
    params = SiteParams(battery=None, evs=(), heat_pump=None, rod=None)
    june = simulated_pv(params, datetime(2025, 6, 1, tzinfo=UTC), 30).sum()
    december = simulated_pv(params, datetime(2025, 12, 17, tzinfo=UTC), 30).sum()
    assert june > 3 * december
