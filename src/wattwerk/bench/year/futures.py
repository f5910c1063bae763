"""The planner's futures in the benchmark: how the site's past days strayed from the forecasts the
planner made for them, per slot of the year (``forecast.futures``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from wattwerk.bench.year.laws import pv_forecast_at
from wattwerk.bench.year.world import SLOT_S, Year
from wattwerk.forecast.futures import FUTURE_DAYS, FUTURES, day_factors, deficits, persistence
from wattwerk.forecast.load import day_energies


def future_factors(year: Year, days: int = FUTURE_DAYS) -> tuple[np.ndarray, np.ndarray]:
    """Per slot, ``(FUTURES, 2)``: the PV and load factor of each of the planner's futures
    (``forecast.futures.day_factors``) from the ``days`` UTC days before the slot's day (past data
    only; at least 7); 1 where too few. And per slot, how much of its deviation a future keeps a
    day ahead (``forecast.futures.persistence`` of the same days). PV is judged against the
    forecast the planner starts from (the recorded one, else the week's mean), days forecast under
    5 % of the brightest so far left out (a dull day says little)."""
    h = year.history
    seen = h["pv_w"].notna()
    pv = (
        pd.DataFrame(
            {
                "pv_measured": h["pv_w"].where(seen, 0.0).clip(lower=0.0),
                "pv_forecast": pd.Series(pv_forecast_at(h, h.index), index=h.index).where(seen, 0.0),
            }
        )
        .resample("D")
        .sum()
    ) * (SLOT_S / 3600.0)  # Wh
    load = h["load_w"]
    first = max(load.index.min() + pd.Timedelta(weeks=1), year.starts[0].floor("D") - pd.Timedelta(days=35))
    judged = pd.date_range(first.ceil("D"), year.starts[-1].floor("D"), freq="D")
    both = pv.join(day_energies(load, judged, pd.Timedelta(seconds=SLOT_S), "Europe/Berlin"), how="inner")
    both = both[both["pv_forecast"] > 0.05 * both["pv_forecast"].cummax()]
    out, keep = np.ones((year.n, FUTURES, 2)), np.ones(year.n)
    dates = both.index
    slot_days = year.starts.floor("D")
    for day in slot_days.unique():
        win = both[(dates < day) & (dates >= day - pd.Timedelta(days=days))]
        energies = win["pv_measured"], win["pv_forecast"], win["measured"], win["forecast"]
        f = day_factors(*energies, min_days=7)
        if f is not None:
            out[slot_days == day] = f
            keep[slot_days == day] = persistence(deficits(*energies), win.index.date)
    return out, keep
