"""Extract the second benchmark data set (bench/data/konstanz-2016/) from its public sources.

Run once by hand (documented in bench/data/konstanz-2016/SOURCES.md), not by the benchmark:

    .venv/bin/python bench/extract_konstanz_2016.py HOUSEHOLD_CSV ELSPOT_CSV [OUT_DIR]

HOUSEHOLD_CSV: Open Power System Data "household_data" 60-min single-index CSV (cumulative kWh
counters per channel) with the ``DE_KN_residential4_*`` columns; ELSPOT_CSV: Energinet's
Energi Data Service "Elspot prices" CSV (HourUTC, HourDK, PriceArea, SpotPriceDKK, SpotPriceEUR)
with the ``DE`` price area. Writes the household's load and PV as 30-min means in W (the format
of ../shared/data/real, read by ``wattwerk.forecast.history.read_history_csv``) and the DE rows of
the price file for the same period, both gzip-compressed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

HOUSE = "DE_KN_residential4_"
FIRST, LAST = "2015-11-15", "2017-01-31 23:00"  # 6 weeks of history before 2016, a month after it
MAX_SPREAD_H = 3  # a counter gap up to this long is spread evenly over its hours; longer ones stay empty


def hourly_energy(counter_kwh: pd.Series) -> pd.Series:
    """Wh per hour (= mean W) from a cumulative kWh counter on an hourly grid: the energy between
    two readings, spread evenly over the hours between them when they are at most
    ``MAX_SPREAD_H`` apart; NaN for the hours of a longer gap (nothing is invented)."""
    valid = counter_kwh.dropna()
    out = pd.Series(np.nan, index=counter_kwh.index)
    pos = counter_kwh.index.get_indexer(valid.index)
    kwh = valid.to_numpy()
    for i0, i1, v0, v1 in zip(pos[:-1], pos[1:], kwh[:-1], kwh[1:], strict=True):
        hours = i1 - i0
        if hours <= MAX_SPREAD_H and v1 >= v0:
            out.iloc[i0:i1] = (v1 - v0) * 1000.0 / hours  # the value at i0 is the hour [i0, i0+1)
    return out


def household(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, parse_dates=["utc_timestamp"]).set_index("utc_timestamp")
    raw = raw.asfreq("1h")
    w = {k: hourly_energy(raw[HOUSE + k]) for k in ("grid_import", "grid_export", "pv", "heat_pump", "ev")}
    # the house alone: what the meter saw plus the PV, minus the heat pump and the car the simulator adds
    load = w["grid_import"] - w["grid_export"] + w["pv"] - w["heat_pump"] - w["ev"]
    df = pd.DataFrame({"load_w": load.clip(lower=0.0), "pv_w": w["pv"]}).loc[FIRST:LAST]
    half = df.loc[df.index.repeat(2)]  # each hourly mean held over its two 30-min slots
    half.index = df.index.repeat(2) + pd.to_timedelta(np.tile([0, 30], len(df)), unit="min")
    half["pv_forecast_w"] = np.nan  # no recorded forecast in this data set
    return half


def prices(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype=str)
    t = pd.to_datetime(raw["HourUTC"], utc=True)
    keep = (
        (raw["PriceArea"] == "DE")
        & (t >= pd.Timestamp(FIRST, tz="UTC"))
        & (t <= pd.Timestamp(LAST, tz="UTC"))
    )
    return raw[keep]


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[2]) if len(argv) == 3 else Path(__file__).parent / "data" / "konstanz-2016"
    out.mkdir(parents=True, exist_ok=True)
    house = household(Path(argv[0]))
    house.index = house.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    house.index.name = "timestamp_utc"
    name = f"household_load_pv_de_kn_residential4_{FIRST}_{LAST[:10]}_30min.csv.gz"
    house.to_csv(out / name, float_format="%.1f", compression={"method": "gzip", "mtime": 0})
    p = prices(Path(argv[1]))
    p.to_csv(
        out / f"prices_de_{FIRST}_{LAST[:10]}_hourly_energinet_elspot.csv.gz",
        index=False,
        compression={"method": "gzip", "mtime": 0},
    )
    print(f"{len(house)} household rows, {len(p)} price rows -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
