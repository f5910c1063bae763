"""Parameters of a simulated site. Defaults describe a typical German house.

Units: W, Wh, kWh where the name says so, %, °C, A, V, seconds; angles in degrees
(azimuth 180 = south, as pvlib).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wattwerk.vocabulary import EV_DEFAULTS


@dataclass(frozen=True)
class Location:
    """Where the site is. Defaults: Mannheim, the station of DWD test reference year region 12."""

    latitude: float = 49.52
    longitude: float = 8.55
    altitude_m: float = 96.0
    timezone: str = "Europe/Berlin"  # for the local-time patterns (load profile, commute)
    try_region: int = 12  # DWD TRY 2010 region 1..15 (12: Oberrheingraben, south-west Germany)


@dataclass(frozen=True)
class HouseParams:
    """Household load: a measured series if ``csv_path`` names a file, else BDEW H25 scaled to
    ``annual_kwh`` (``wattwerk.sim.profiles.real_household_csv()`` finds the shared sample)."""

    annual_kwh: float = 4000.0
    csv_path: Path | None = None  # CSV with timestamp_utc and load_w (W, 30 min), gaps interpolated
    noise: float = 0.0  # relative standard deviation of per-step noise (seeded), 0 = none


@dataclass(frozen=True)
class PVParams:
    """One PV array with its inverter. ``source='try'`` models it with pvlib on the TRY weather;
    ``source='csv'`` replays the measured ``pv_w`` column of ``csv_path`` (scaled by ``csv_scale``),
    falling back to the TRY model when that file is missing."""

    kwp: float = 8.0
    tilt: float = 30.0
    azimuth: float = 180.0
    system_loss_pct: float = 14.0  # soiling, wiring, mismatch... (pvwatts losses)
    inverter_kw: float | None = None  # AC rating; default kwp / 1.1 (a common DC/AC ratio)
    inverter_eff_pct: float = 96.0
    gamma_pdc: float = -0.004  # 1/K, temperature coefficient of the modules
    source: str = "try"
    csv_path: Path | None = None
    csv_scale: float = 1.0


@dataclass(frozen=True)
class BatteryParams:
    capacity_wh: float = 10_000.0
    max_charge_w: float = 5_000.0
    max_discharge_w: float = 5_000.0
    charge_eff: float = 0.95  # AC -> stored
    discharge_eff: float = 0.95  # stored -> AC
    soc_min: float = 5.0
    soc_max: float = 100.0
    soc_initial: float = 50.0


@dataclass(frozen=True)
class EVParams:
    """A wallbox and the car that uses it. Times of day are local (``Location.timezone``)."""

    capacity_wh: float = 60_000.0
    soc_initial: float = 50.0
    soc_target: float = 100.0
    charge_eff: float = 0.90  # AC -> battery
    phases: int = EV_DEFAULTS.phases
    phase_switching: bool = True
    min_current_a: float = EV_DEFAULTS.min_a
    max_current_a: float = EV_DEFAULTS.max_a
    voltage_v: float = 230.0
    km_per_day: float = 40.0
    consumption_wh_per_km: float = 180.0
    departure: str = "07:30"
    arrival: str = "17:30"
    jitter_min: float = 30.0  # standard deviation of departure/arrival times (seeded)
    weekend_trips: bool = False  # weekdays only by default


@dataclass(frozen=True)
class HeatPumpParams:
    """Space heating: heat pump into a buffer store; demand from a degree-hour model."""

    thermal_w: float = 9_000.0
    heat_loss_w_per_k: float = 250.0  # building heat-loss coefficient
    heating_limit_c: float = 15.0  # no heating demand above this outdoor temperature
    store_litres: float = 500.0
    store_loss_w_per_k: float = 2.0
    store_initial_c: float = 40.0
    setpoint_c: float = 40.0
    boost_k: float = 8.0  # SG-Ready 3 raises the setpoint by this
    hysteresis_k: float = 5.0
    max_store_c: float = 60.0  # SG-Ready 4 heats up to this, never beyond
    carnot_fraction: float = 0.45
    cop_min: float = 1.5
    cop_max: float = 7.0
    min_run_s: float = 600.0
    min_pause_s: float = 600.0
    room_c: float = 20.0


@dataclass(frozen=True)
class RodParams:
    """Heating rod in a hot-water tank with a daily draw profile."""

    max_w: float = 3_000.0
    stages_w: tuple[float, ...] = ()  # relay stages (e.g. 1000, 2000, 3000); empty = continuous
    tank_litres: float = 300.0
    tank_initial_c: float = 50.0
    max_tank_c: float = 75.0  # thermostat cut-off
    hysteresis_k: float = 3.0
    cold_water_c: float = 10.0
    room_c: float = 20.0
    tank_loss_w_per_k: float = 1.5
    draw_kwh_per_day: float = 6.0
    keep_min_c: float | None = 45.0  # own thermostat: full power below this (None = only on command)


@dataclass(frozen=True)
class SiteParams:
    location: Location = field(default_factory=Location)
    house: HouseParams = field(default_factory=HouseParams)
    pv: tuple[PVParams, ...] = (PVParams(),)
    battery: BatteryParams | None = field(default_factory=BatteryParams)
    evs: tuple[EVParams, ...] = (EVParams(),)
    heat_pump: HeatPumpParams | None = field(default_factory=HeatPumpParams)
    rod: RodParams | None = field(default_factory=RodParams)
    grid_voltage_v: float = 230.0
    seed: int = 1
