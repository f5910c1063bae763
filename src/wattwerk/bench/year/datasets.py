"""The household data sets ``wattwerk bench control --year NAME`` knows (helper of ``bench/control.py``).

``fr-2024`` is the benchmark year in ../shared/data/real (the one the planner was tuned on);
``konstanz-2016`` is the second, out-of-sample set in bench/data/konstanz-2016 (Open Power System
Data household_data, residential building 4 in Konstanz, with Energinet's DE day-ahead prices of
2016; see its SOURCES.md). ``--year FILE`` still takes any household CSV in the same format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from wattwerk.sim.profiles import REAL_DATA

BENCH_DATA = Path(__file__).resolve().parents[4] / "bench" / "data"


@dataclass(frozen=True)
class DataSet:
    """One household year: its files, period and site."""

    name: str
    folder: Path
    household_glob: str
    prices_glob: str
    start: datetime  # UTC instant of the first simulated day's local midnight
    latitude: float
    longitude: float
    timezone: str
    kwp: float
    about: str

    def household_csv(self) -> Path:
        found = sorted(self.folder.glob(self.household_glob)) if self.folder.is_dir() else []
        if not found:
            raise FileNotFoundError(f"data set {self.name!r}: no {self.household_glob} in {self.folder}")
        return found[0]

    def price_files(self) -> tuple[Path, ...]:
        found = tuple(sorted(self.folder.glob(self.prices_glob))) if self.folder.is_dir() else ()
        if not found:
            raise FileNotFoundError(f"data set {self.name!r}: no {self.prices_glob} in {self.folder}")
        return found


DATASETS: dict[str, DataSet] = {
    "fr-2024": DataSet(
        "fr-2024",
        REAL_DATA,
        "household_load_pv_*.csv",
        "prices_de_lu_*_smard.csv",
        datetime(2024, 2, 28, 23, 0, tzinfo=UTC),
        48.83,
        6.86,
        "Europe/Paris",
        5.0,
        "EMHASS author's home (Lorraine, FR), 7.8 MWh load, 5 kWp; SMARD DE-LU prices 2024/25",
    ),
    "konstanz-2016": DataSet(
        "konstanz-2016",
        BENCH_DATA / "konstanz-2016",
        "household_load_pv_de_kn_residential4_*.csv.gz",
        "prices_de_*_energinet_elspot.csv.gz",
        datetime(2015, 12, 31, 23, 0, tzinfo=UTC),  # 2016-01-01 00:00 CET
        47.66,
        9.18,
        "Europe/Berlin",
        10.0,  # not published; ~10.9 MWh/yr and an hourly peak of 8.5 kW suggest about 10 kWp
        "OPSD household_data, residential 4 in Konstanz (DE), 2.6 MWh house load, ~10 kWp; "
        "Energinet Elspot DE prices 2016",
    ),
}
DEFAULT = "fr-2024"


def lookup(name: str) -> DataSet | None:
    """The data set called ``name``, or None when ``name`` is not one (then it may be a file)."""
    return DATASETS.get(name)
