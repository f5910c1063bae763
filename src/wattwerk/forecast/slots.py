"""Putting forecasts on the planner's slot grid."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd


def to_slots(
    series: pd.Series, start: datetime, n: int, slot_minutes: int, fill: float = np.nan
) -> np.ndarray:
    """Interval means (any regular step, index = interval starts, UTC) → ``n`` slot means from
    ``start``: a finer grid repeats each value, a coarser one averages; unknown slots get ``fill``."""
    if series.empty:
        return np.full(n, fill)
    step = series.index[1] - series.index[0] if len(series) > 1 else pd.Timedelta(minutes=slot_minutes)
    fine = pd.Timedelta(minutes=min(slot_minutes, int(step / pd.Timedelta(minutes=1))))
    grid = pd.date_range(series.index[0], series.index[-1] + step, freq=fine, inclusive="left")
    held = series.reindex(grid, method="ffill", tolerance=step - pd.Timedelta(seconds=1))
    slots = pd.date_range(pd.Timestamp(start).tz_convert("UTC"), periods=n, freq=f"{slot_minutes}min")
    binned = held.groupby(held.index.floor(f"{slot_minutes}min")).mean()
    return binned.reindex(slots).fillna(fill).to_numpy(dtype=float)
