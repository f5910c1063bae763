"""The world of ``wattwerk bench control``: the site, the year's data on the slot grid, the meter.

Not a benchmark itself (helper of ``bench/control.py``). Everything here is known to the
simulator; what a strategy may *see* is decided in ``laws`` (no peeking).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from wattwerk.bench.year.datasets import DATASETS, lookup
from wattwerk.forecast.history import read_history_csv
from wattwerk.market.defaults import (
    FEED_IN_EEG_2024,
    GRID_FEE,
    LEVIES,
    SUPPLIER_MARGIN,
    VAT,
    de_feed_in,
    de_household_dynamic,
)
from wattwerk.market.energinet import is_elspot_csv, read_elspot_csv
from wattwerk.market.prices import PriceSeries
from wattwerk.market.smard import read_smard_csv
from wattwerk.market.tariff import FeedIn, Tariff, slot_index
from wattwerk.sim.params import (
    BatteryParams,
    EVParams,
    HeatPumpParams,
    HouseParams,
    Location,
    PVParams,
    SiteParams,
)
from wattwerk.sim.profiles import REAL_DATA, real_household_csv
from wattwerk.sim.weather import nearest_try_region, weather_at

SLOT_S = 1800  # the data's 30-min resolution is the control slot (prices are hourly, held)
STEP_S = 300  # the simulator steps and the real-time laws act every 5 minutes
DEFAULT_START = datetime(2024, 2, 28, 23, 0, tzinfo=UTC)  # 2024-02-29 00:00 local (CET)
DEFAULT_DAYS = 365  # .. 2025-02-27 23:00 UTC, the end of the household file
# the site's main fuse: 3 x 25 A; the check uses it, the planner is given a margin below it
IMPORT_LIMIT_W = 3 * 25 * 230.0
PV_KWP = 5.0  # the household's array (before --pv-scale)
EXPORT_LIMIT_W = 7_000.0  # feed-in limit of the connection (the measured PV peaks at 4.4 kW)


def default_prices() -> list[Path]:
    return sorted(REAL_DATA.glob("prices_de_lu_*_smard.csv"))


@dataclass(frozen=True)
class Setup:
    """What is simulated: site parameters, period, tariff and limits."""

    year_csv: Path
    price_files: tuple[Path, ...]
    start: datetime = DEFAULT_START
    days: int = DEFAULT_DAYS
    import_limit_w: float = IMPORT_LIMIT_W
    export_limit_w: float = EXPORT_LIMIT_W
    seed: int = 1
    emhass_python: str = ""  # Python of a venv with emhass ("" = the emhass strategy is not run)
    partial_dir: str = ""  # write figures so far every 10 days here ("" = not)
    emhass_replan_slots: int = 2  # EMHASS re-plans every this many slots (2 = hourly, as MPC runs)
    shift_heat: bool = False  # planner/oracle shift the heat pump via SG-Ready (else its own thermostat)
    pv_scale: float = 1.0  # the measured PV (and the array's kWp) times this
    feed_in_limit_pct: float | None = None  # export at most this % of the PV peak (kWp x pv_scale)
    # where the household is (its TRY weather region, night PV gaps) and its array before --pv-scale
    latitude: float = 48.83  # the default household file's site (Lorraine, near the German border)
    longitude: float = 6.86
    timezone: str = "Europe/Paris"
    base_kwp: float = PV_KWP

    @property
    def pv_kwp(self) -> float:
        return self.base_kwp * self.pv_scale

    @property
    def export_cap_w(self) -> float:
        """The export limit in force: the connection's, or the feed-in limit if that is tighter."""
        if self.feed_in_limit_pct is None:
            return self.export_limit_w
        return min(self.export_limit_w, self.feed_in_limit_pct / 100.0 * self.pv_kwp * 1000.0)

    @property
    def n_slots(self) -> int:
        return self.days * 86400 // SLOT_S

    def site(self) -> SiteParams:
        lat, lon = self.latitude, self.longitude
        loc = Location(lat, lon, 250.0, self.timezone, nearest_try_region(lat, lon))
        return SiteParams(
            location=loc,
            house=HouseParams(csv_path=self.year_csv),
            pv=(PVParams(kwp=self.pv_kwp, source="csv", csv_path=self.year_csv, csv_scale=self.pv_scale),),
            battery=BatteryParams(),
            evs=(EVParams(),),
            heat_pump=HeatPumpParams(),
            rod=None,
            seed=self.seed,
        )


def tariff_facts() -> dict[str, float]:
    """The tariff's numbers (€/kWh), printed with the results."""
    return {
        "supplier_margin": SUPPLIER_MARGIN,
        "grid_fee": GRID_FEE,
        **LEVIES,
        "vat": VAT,
        "feed_in": FEED_IN_EEG_2024,
    }


def read_prices(files: tuple[Path, ...]) -> PriceSeries:
    """The spot price series of all files together (later files win where they overlap)."""
    if not files:
        raise ValueError("no price files given (SMARD CSV, see ../shared/data/real)")
    series = _read_price_file(files[0])
    for f in files[1:]:
        series = series.merge(_read_price_file(f))
    return series


def _read_price_file(path: Path) -> PriceSeries:
    """A SMARD download, or Energinet's Elspot prices (its DE area) for the second data set."""
    return read_elspot_csv(path) if is_elspot_csv(path) else read_smard_csv(path)


@dataclass
class Year:
    """Per slot of the simulated period (index ``i`` starts at ``start + i * SLOT_S``)."""

    setup: Setup
    spot: PriceSeries
    tariff: Tariff
    feed_in: FeedIn
    starts: pd.DatetimeIndex
    buy: np.ndarray  # €/kWh incl. fees and VAT
    sell: np.ndarray  # €/kWh
    history: pd.DataFrame  # the measured CSV as read (NaN where no value)
    outdoor_c: np.ndarray  # the simulator's own (TRY) outdoor temperature per slot

    @property
    def n(self) -> int:
        return len(self.starts)

    def slot_at(self, t: float) -> int:
        return int((t - self.setup.start.timestamp()) // SLOT_S)


def build_year(setup: Setup, spot: PriceSeries | None = None, horizon_slots: int = 96) -> Year:
    """Everything per slot for ``setup`` plus ``horizon_slots`` beyond its end (for the planner's
    look-ahead). ``spot`` overrides the price files (tests poison it)."""
    spot = spot or read_prices(setup.price_files)
    tariff, feed_in = de_household_dynamic(spot), de_feed_in()
    starts = slot_index(setup.start, setup.n_slots + horizon_slots, SLOT_S // 60)
    buy, sell = tariff.price(starts), feed_in.price(starts)
    history = read_history_csv(setup.year_csv)
    if setup.pv_scale != 1.0:  # the strategies see (and forecast) the scaled array the simulator replays
        history = history.assign(
            pv_w=history["pv_w"] * setup.pv_scale, pv_forecast_w=history["pv_forecast_w"] * setup.pv_scale
        )
    region = setup.site().location.try_region
    outdoor = weather_at(region, starts + pd.Timedelta(seconds=SLOT_S / 2))["temp_air"].to_numpy()
    return Year(setup, spot, tariff, feed_in, starts, buy, sell, history, outdoor)


def default_setup(
    days: int = DEFAULT_DAYS,
    year_csv: Path | str | None = None,
    prices: tuple[Path, ...] | None = None,
    start: datetime | None = None,
) -> Setup:
    """The setup of a named data set (``datasets.DATASETS``: its files, first day and site) or of a
    household CSV (the default site); ``prices`` and ``start`` override the data set's."""
    named = lookup(str(year_csv)) if year_csv is not None else None
    if named is not None:
        setup = Setup(
            named.household_csv(),
            tuple(prices or named.price_files()),
            start=named.start,
            days=days,
            latitude=named.latitude,
            longitude=named.longitude,
            timezone=named.timezone,
            base_kwp=named.kwp,
        )
        return replace(setup, start=start) if start is not None else setup
    csv = Path(year_csv) if year_csv is not None else real_household_csv()
    if csv is None:
        raise FileNotFoundError(f"no household_load_pv_*.csv in {REAL_DATA}; pass --year FILE or a name")
    if not csv.is_file():
        raise FileNotFoundError(f"--year {csv}: neither a file nor a data set ({', '.join(DATASETS)})")
    setup = Setup(csv, tuple(prices or default_prices()), days=days)
    return replace(setup, start=start) if start is not None else setup
