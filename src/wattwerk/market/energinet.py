"""Reader for Energinet's Energi Data Service "Elspot prices" CSV (Source: Energinet, CC BY 4.0).

Format (the dataset ``Elspotprices`` as downloaded): ``HourUTC,HourDK,PriceArea,SpotPriceDKK,
SpotPriceEUR``, one row per hour and price area, any order (downloads come newest first), prices in
€/MWh (and DKK/MWh), ``HourUTC`` the start of the hour in UTC (``YYYY-MM-DD HH:MM``). The ``DE``
area is the German (until Oct 2018 DE-AT-LU) day-ahead price as Nord Pool published it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from wattwerk.market.prices import PriceSeries

HEADER = "HourUTC"


def is_elspot_csv(path: str | Path) -> bool:
    """Whether ``path`` starts with the Elspot header (plain or gzip-compressed)."""
    try:
        head = pd.read_csv(path, nrows=0)
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return {HEADER, "PriceArea", "SpotPriceEUR"} <= set(head.columns)


def read_elspot_csv(path: str | Path, area: str = "DE") -> PriceSeries:
    """The ``area``'s hourly prices as €/kWh per slot.

    Raises ValueError naming the areas present when ``area`` is not one of them, and when its hours
    are duplicated or not one contiguous hourly grid (a missing hour is NaN, not skipped).
    """
    df = pd.read_csv(path, dtype={"PriceArea": str})
    missing = {HEADER, "PriceArea", "SpotPriceEUR"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: not an Elspot CSV, no column(s) {', '.join(sorted(missing))}")
    rows = df[df["PriceArea"] == area]
    if rows.empty:
        have = ", ".join(sorted(df["PriceArea"].dropna().unique()))
        raise ValueError(f"{path}: no rows for price area {area!r}; have {have}")
    starts = pd.DatetimeIndex(pd.to_datetime(rows[HEADER], utc=True, format="%Y-%m-%d %H:%M"))
    if starts.has_duplicates:
        raise ValueError(f"{path}: area {area!r} has the hour {starts[starts.duplicated()][0]} twice")
    values = pd.Series(pd.to_numeric(rows["SpotPriceEUR"], errors="coerce").to_numpy(), index=starts)
    values = values.sort_index()
    grid = pd.date_range(values.index[0], values.index[-1], freq="1h")
    prices = values.reindex(grid).to_numpy(dtype=float) / 1000.0
    return PriceSeries(grid[0].to_pydatetime(), 60, np.asarray(prices), "EUR/kWh", f"energinet:{area}")
