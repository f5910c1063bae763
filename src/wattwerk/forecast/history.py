"""Reading a site's measured history from CSV (``timestamp_utc`` + value columns in W)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def read_history_csv(path: str | Path) -> pd.DataFrame:
    """A CSV such as the household file in ../shared/data/real: ``timestamp_utc`` (ISO, UTC, start
    of each step) and columns in W (``load_w``, ``pv_w``, ``pv_forecast_w``); empty cells are NaN.

    Returns a frame with a UTC DatetimeIndex, sorted, duplicates dropped (first wins).
    """
    df = pd.read_csv(path)
    if "timestamp_utc" not in df.columns:
        raise ValueError(f"{path}: no 'timestamp_utc' column (have {', '.join(df.columns)})")
    index = pd.DatetimeIndex(pd.to_datetime(df.pop("timestamp_utc"), utc=True), name="ts")
    df.index = index
    df = df[~df.index.duplicated()].sort_index()
    return df.astype(float)
